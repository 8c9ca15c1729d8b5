"""Checks for the learner's own functions: compare with the kit's reference on random inputs.

Every `check_*` prints ✓ or a hint and returns True/False; it never raises, so a notebook with an
unfinished exercise still runs from top to bottom (under papermill too).
"""
from __future__ import annotations

import traceback

import torch

OK, FAIL = "✓", "✗"


class _Hint(Exception):
    """A failed check, with what to look at."""


def _run(title: str, body, who: str = "yours", fn=None) -> bool:
    title = f"{title} [{who}]"  # whose function was checked: the learner's, or the notebook's reference
    if who == "yours" and str(getattr(fn, "__module__", "")).startswith("wellread"):
        print(f"{FAIL} {title}: that is the kit's own {fn.__module__}.{fn.__name__}, not yours: the exercise counts "
              "only your function (it is the one the run below uses), so write it in the cell above")
        return False
    try:
        body()
    except NotImplementedError:
        print(f"{FAIL} {title}: not written yet — replace `raise NotImplementedError` with your code "
              "(a solution is in the hidden cell below).")
        return False
    except _Hint as hint:
        print(f"{FAIL} {title}: {hint}")
        return False
    except Exception as e:  # the learner's code failed: show where, never stop the notebook
        frame = traceback.extract_tb(e.__traceback__)[-1]
        print(f"{FAIL} {title}: the function raised {type(e).__name__}: {e} (line {frame.lineno}: {frame.line})")
        return False
    print(f"{OK} {title}: matches the reference.")
    return True


def pick(mine, reference, mine_passed: bool, name: str):
    """The learner's function where it passed its check, else the reference (the kit's own function, where a cached
    run of the kit's should be reused); says which, so no number a later cell shows comes silently from the reference."""
    if mine_passed:
        print(f"using your {name}")
        return mine
    kit = getattr(reference, "__module__", "").startswith("wellread.")
    print(f"your {name} has not passed its check yet: using " + (
        f"the kit's {reference.__module__.removeprefix('wellread.')}.{reference.__name__}, which computes what the "
        "reference solution does" if kit else "the reference solution"))
    return reference


def _close(a, b, atol=1e-5) -> bool:
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                          atol=atol, rtol=1e-4)


def _tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except Exception:
            raise _Hint(f"{name} should be a tensor, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------------
# Notebook 1: masking

class _TinyTokenizer:
    """What masking needs from a tokenizer: special ids, the [MASK] id and the vocabulary size."""
    all_special_ids = [0, 100, 101, 102, 103]   # [PAD] [UNK] [CLS] [SEP] [MASK], as in BERT uncased
    mask_token_id = 103

    def __len__(self):
        return 30522


def check_masking(fn, tokenizer=None, *, who: str = "yours") -> bool:
    """`fn(input_ids, tokenizer, mask_prob, generator) -> (masked_ids, labels)`, BERT's 80/10/10 rule."""
    tok = tokenizer or _TinyTokenizer()

    def body():
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(1000, 2000, (64, 128), generator=g)
        ids[:, 0], ids[:, -1] = 101, 102   # [CLS] ... [SEP]
        ids[:4, 100:] = 0                   # some padding
        special = torch.zeros_like(ids, dtype=torch.bool)
        for s in tok.all_special_ids:
            special |= ids == s
        out = fn(ids.clone(), tok, 0.15, torch.Generator().manual_seed(1))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise _Hint("return two tensors: (masked input_ids, labels)")
        masked, labels = _tensor(out[0], "masked ids"), _tensor(out[1], "labels")
        if masked.shape != ids.shape or labels.shape != ids.shape:
            raise _Hint(f"both outputs should have the input's shape {tuple(ids.shape)}, got "
                        f"{tuple(masked.shape)} and {tuple(labels.shape)}")
        chosen = labels != -100
        if (chosen & special).any():
            raise _Hint("special tokens ([CLS], [SEP], [PAD]) must never be chosen: set their labels to -100")
        if not torch.equal(labels[chosen], ids[chosen]):
            raise _Hint("at chosen positions the label is the ORIGINAL token id")
        rate = chosen.sum().item() / (~special).sum().item()
        if abs(rate - 0.15) > 0.02:
            raise _Hint(f"{rate:.1%} of ordinary tokens were chosen; expected about 15% "
                        "(torch.rand(shape) < mask_prob, excluding special tokens; labels -100 elsewhere)")
        if not torch.equal(masked[~chosen], ids[~chosen]):
            raise _Hint("positions that were not chosen must keep their token")
        n = chosen.sum().item()
        to_mask = (masked[chosen] == tok.mask_token_id).sum().item() / n
        kept = (masked[chosen] == ids[chosen]).sum().item() / n
        if abs(to_mask - 0.8) > 0.05:
            raise _Hint(f"{to_mask:.0%} of chosen tokens became [MASK]; BERT uses 80% "
                        "(then 10% a random token, 10% left as they are)")
        if abs(kept - 0.1) > 0.05:
            raise _Hint(f"{kept:.0%} of chosen tokens were left unchanged; BERT keeps 10% (and 10% random)")
        if abs(1 - to_mask - kept - 0.1) > 0.05:
            raise _Hint("about 10% of chosen tokens should become a random token id")
    return _run("masking", body, who, fn)


# ---------------------------------------------------------------------------------------------------
# Notebook 2: accuracy

def check_accuracy(fn, *, who: str = "yours") -> bool:
    """`fn(logits [N, K], labels [N]) -> float`: the fraction of rows whose top logit is the label."""
    def body():
        g = torch.Generator().manual_seed(0)
        for n, k in ((50, 2), (37, 3), (1, 2)):
            logits, labels = torch.randn(n, k, generator=g), torch.randint(k, (n,), generator=g)
            want = (logits.argmax(-1) == labels).float().mean().item()
            got = fn(logits.clone(), labels.clone())
            try:
                got = float(got)
            except Exception:
                raise _Hint(f"return one number (a float), got {type(got).__name__}")
            if abs(got - 100 * want) < 1e-3 and want > 0:
                raise _Hint("return a fraction in [0, 1], not a percentage")
            if abs(got - want) > 1e-5:
                raise _Hint(f"got {got:.4f}, expected {want:.4f} on {n} rows of {k} classes — predict with "
                            "argmax over the LAST dimension (classes), compare with labels, then average")
    return _run("accuracy", body, who, fn)


# ---------------------------------------------------------------------------------------------------
# Notebook 3: soft labels and the distillation loss

def _softmax_t(logits, t):
    return torch.softmax(logits / t, dim=-1)


def check_softmax_temperature(fn, *, who: str = "yours") -> bool:
    """`fn(logits [N, K], T) -> probabilities [N, K]` = softmax(logits / T)."""
    def body():
        g = torch.Generator().manual_seed(0)
        logits = 3 * torch.randn(16, 3, generator=g)
        for t in (1.0, 2.0, 5.0, 0.5):
            got = _tensor(fn(logits.clone(), t), "the result")
            if got.shape != logits.shape:
                raise _Hint(f"return one probability per class: shape {tuple(logits.shape)}, got {tuple(got.shape)}")
            if not _close(got.sum(-1), torch.ones(len(logits))):
                raise _Hint("each row should sum to 1: softmax over the last dimension (dim=-1)")
            if not _close(got, _softmax_t(logits, t)):
                if _close(got, _softmax_t(logits, 1.0)):
                    raise _Hint(f"at T={t:g} you returned the plain softmax: divide the logits by T first")
                if _close(got, _softmax_t(logits, 1 / t)):
                    raise _Hint("divide the logits by T (higher T -> softer), do not multiply")
                raise _Hint(f"at T={t:g} the probabilities differ from softmax(logits / T)")
    return _run("softmax with temperature", body, who, fn)


def check_distill_loss(fn, *, who: str = "yours") -> bool:
    """`fn(student_logits, teacher_logits, T) -> scalar` = distill.soft_cross_entropy (with T^2)."""
    from .distill import soft_cross_entropy

    def body():
        g = torch.Generator().manual_seed(0)
        for t, classes in ((1.0, 2), (2.0, 2), (4.0, 2), (1.0, 3), (2.0, 5)):  # two classes, and more (MNLI has 3)
            s, te = torch.randn(32, classes, generator=g), 2 * torch.randn(32, classes, generator=g)
            want = soft_cross_entropy(s, te, t).item()
            got = _tensor(fn(s.clone(), te.clone(), t), "the loss")
            if got.numel() != 1:
                raise _Hint(f"return one number (average over the batch), got shape {tuple(got.shape)}")
            got = got.item()
            if abs(got - want) < 1e-4 * max(1, abs(want)):
                continue
            if abs(got + want) < 1e-4 * max(1, abs(want)):
                raise _Hint("the sign is flipped: the loss is MINUS sum p_teacher * log p_student")
            if t > 1 and abs(got * t * t - want) < 1e-4 * max(1, abs(want)):
                raise _Hint(f"at T={t:g} multiply by T² (= {t * t:g}) so gradients keep their size across temperatures")
            if abs(got - want * len(s)) < 1e-3 * max(1, abs(want * len(s))):
                raise _Hint("average over the batch (mean over rows), do not sum")
            p_teacher = torch.softmax(te / t, -1)
            entropy = -(p_teacher * torch.log_softmax(te / t, -1)).sum(-1).mean().item()
            if any(abs(got - k * (want - entropy * t * t)) < 1e-4 * max(1, abs(want)) for k in (1, 1 / (t * t))):
                raise _Hint("that is the KL divergence (e.g. F.kl_div): it differs from the cross-entropy by the "
                            "teacher's entropy, a constant, so its gradients are the same — but the paper's loss, "
                            "and the kit's, is the cross-entropy -sum p_teacher * log p_student (times T²)")
            raise _Hint(f"at T={t:g} got {got:.4f}, expected {want:.4f}: soft targets softmax(teacher/T), "
                        "log_softmax(student/T), sum over classes, mean over the batch, times T²")
    return _run("distillation loss", body, who, fn)


# ---------------------------------------------------------------------------------------------------
# Notebook 4: distillation with some hard labels (alpha)

def check_distill_loss_alpha(fn, *, who: str = "yours") -> bool:
    """`fn(student_logits, teacher_logits, labels (-1 = unlabeled), T, alpha)` = distill.distill_loss."""
    from .distill import distill_loss

    def body():
        g = torch.Generator().manual_seed(0)
        for classes in (2, 3):
            s, te = torch.randn(24, classes, generator=g), 2 * torch.randn(24, classes, generator=g)
            labels = torch.randint(classes, (24,), generator=g)
            labels[::3] = -1  # a third of the rows come from unlabeled transfer text
            for t, alpha in ((1.0, 0.0), (1.0, 0.5), (2.0, 0.3), (1.0, 1.0)):
                _compare_alpha(fn, s, te, labels, t, alpha)
        none = torch.full((24,), -1)
        want = distill_loss(s, te, none, 1.0, 0.5).item()
        got = _tensor(fn(s.clone(), te.clone(), none, 1.0, 0.5), "the loss").item()
        if abs(got - want) > 1e-4 * max(1, abs(want)):
            raise _Hint("with no labeled row in the batch, use the soft loss alone (no NaN from an empty mean)")
    return _run("distillation loss with hard labels", body, who, fn)


def _compare_alpha(fn, s, te, labels, t, alpha):
    from .distill import distill_loss
    want = distill_loss(s, te, labels, t, alpha).item()
    try:
        got = _tensor(fn(s.clone(), te.clone(), labels.clone(), t, alpha), "the loss")
    except (IndexError, RuntimeError) as error:
        if "-1" in str(error) or "out of bounds" in str(error) or "Target" in str(error):
            raise _Hint("cross-entropy was given the -1 marker: rows with label -1 are unlabeled transfer text; "
                        "keep only the rows with labels >= 0 for the hard part (labels[labels >= 0])") from None
        raise
    if got.numel() != 1:
        raise _Hint("return one number")
    if not torch.isfinite(got).all() or abs(got.item() - want) > 1e-4 * max(1, abs(want)):
        raise _Hint(f"T={t:g}, alpha={alpha:g}: got {got.item():.4f}, expected {want:.4f} — "
                    "(1 - alpha) * soft loss + alpha * cross-entropy on the rows whose label is >= 0 only")

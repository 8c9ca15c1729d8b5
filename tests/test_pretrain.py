"""Masked-LM pre-training: masking, the masked-only head, packing, WordPiece, caching, resume, determinism."""
import math
import random
from dataclasses import replace

import wellread  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads)
import pytest
import torch
from safetensors.torch import load_file

from wellread import cache, pretrain, vocab
from wellread.device import resolve
from wellread.pretrain import PretrainConfig

@pytest.fixture(scope="session")
def tokenizer():
    """The teacher's BERT uncased WordPiece, from the data pack."""
    from wellread import data
    return data.load_tokenizer()


def toy_texts(n=600, seed=0):
    """Small, learnable documents: a few templates with varied slots."""
    rng = random.Random(seed)
    animals = ["cat", "dog", "horse", "bird", "fish", "mouse"]
    places = ["house", "garden", "river", "forest", "city", "school"]
    verbs = ["sleeps", "runs", "eats", "sings", "waits", "plays"]
    out = []
    for _ in range(n):
        a, p, v = rng.choice(animals), rng.choice(places), rng.choice(verbs)
        out.append(f"The {a} {v} in the {p}. Every day the {a} {v} near the {p} with a friend.")
    return out


@pytest.fixture
def toy(monkeypatch, tmp_path, tokenizer):
    """Runs go to tmp_path; the corpus is toy_texts(); the 'teacher' tokenizer is the fixture."""
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    texts = toy_texts()
    monkeypatch.setattr(vocab, "_load_texts", lambda corpus, source="embedded": texts)
    monkeypatch.setattr(vocab, "_teacher_tokenizer", lambda: tokenizer)
    return texts


def small(**kw):
    base = dict(size="tiny", steps=12, batch_size=8, block_size=32, eval_blocks=16, eval_every=4, lr=1e-3)
    return PretrainConfig(**{**base, **kw})


# ---------------------------------------------------------------------------------------------------

def test_config_normalises_size():
    assert PretrainConfig(size="tiny").size == "L2/H128"
    assert cache.config_key(PretrainConfig(size="tiny")) == cache.config_key(PretrainConfig(size="2x128"))
    with pytest.raises(ValueError):
        PretrainConfig(corpus="nope")


def test_masked_head_equals_full_logits(tokenizer):
    torch.manual_seed(0)
    model = pretrain.build_model("tiny", len(tokenizer)).eval()
    ids = torch.randint(1000, len(tokenizer), (4, 24))
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    x, y = pretrain.mask_tokens(ids, tokenizer, 0.3, torch.Generator().manual_seed(0))
    where = y != -100
    with torch.no_grad():
        full = model(input_ids=x)
        hidden = model.bert(x).last_hidden_state
        torch.testing.assert_close(model.cls(hidden[where]), full.logits[where])
        loss = pretrain.mlm_loss(model, x, None, y)
        torch.testing.assert_close(loss, model(input_ids=x, labels=y).loss)


def test_a_batch_in_parts_takes_the_same_step_as_the_batch_whole(tokenizer, same_step):
    ids = torch.randint(1000, len(tokenizer), (8, 24), generator=torch.Generator().manual_seed(0))
    x, y = pretrain.mask_tokens(ids, tokenizer, 0.3, torch.Generator().manual_seed(1))
    parts = pretrain.split_batch(x, y, 2)
    assert [len(px) for px, _ in parts.parts] == [4, 4] and math.isclose(sum(parts.weights), 1.0)

    def tiny():
        torch.manual_seed(0)
        return pretrain.MaskedOnlyLM(pretrain.build_model("tiny", len(tokenizer)))
    same_step(tiny, lambda m, b: m(*b), (x, y), parts)
    with pytest.raises(ValueError, match="gradient_accumulation_steps=3 does not divide batch_size=32"):
        PretrainConfig(batch_size=32, gradient_accumulation_steps=3)


def test_mask_statistics(tokenizer):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, len(tokenizer), (40, 128), generator=g)
    ids[:, 0], ids[:, -1], ids[:, 64] = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.sep_token_id
    ids[:5, 100:] = tokenizer.pad_token_id
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    masked, labels = pretrain.mask_tokens(ids, tokenizer, 0.15, g)
    chosen = labels != -100
    assert not (chosen & special).any(), "special tokens must never be masked"
    assert (masked[special] == ids[special]).all()
    assert (labels[chosen] == ids[chosen]).all()
    rate = chosen.sum() / (~special).sum()
    assert 0.13 < rate < 0.17
    n = chosen.sum()
    as_mask = (masked[chosen] == tokenizer.mask_token_id).sum() / n
    kept = (masked[chosen] == ids[chosen]).sum() / n
    assert 0.76 < as_mask < 0.84
    assert 0.07 < kept < 0.13  # ~10% left as is (plus the odd random draw of the same token)
    assert 0.07 < 1 - as_mask - kept < 0.13  # ~10% random tokens
    assert ((masked != ids) & ~chosen).sum() == 0  # nothing outside the chosen positions changes


def test_tokenizer_is_real_and_packing(toy, tokenizer):
    words = tokenizer.tokenize("The students read many books before the exam.")
    assert len(words) > 5 and words.count("[UNK]") == 0
    assert len(tokenizer) == 30522
    blocks = vocab.tokenize_corpus("general", tokenizer, 32)
    assert blocks.shape[1] == 32 and len(blocks) > 100
    assert (blocks[:, 0] == tokenizer.cls_token_id).all() and (blocks[:, -1] == tokenizer.sep_token_id).all()
    assert (blocks == tokenizer.unk_token_id).float().mean() < 0.01
    again = vocab.tokenize_corpus("general", tokenizer, 32)  # from the cache now
    assert torch.equal(blocks, again)
    assert len(list((cache.runs_dir() / "tokens").glob("*.safetensors"))) == 1
    _, labels = pretrain.mask_tokens(blocks, tokenizer, 0.15, torch.Generator().manual_seed(0))
    special = torch.isin(blocks, torch.tensor(tokenizer.all_special_ids))
    assert 0.13 < (labels != -100).sum() / (~special).sum() < 0.17


def test_train_wordpiece(toy, monkeypatch):
    rng = random.Random(1)  # varied made-up words, so the vocabulary can fill up to the size asked for
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 8))) for _ in range(400)]
    texts = [" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(800)]
    monkeypatch.setattr(vocab, "_load_texts", lambda corpus, source="embedded": texts)
    tok = vocab.train_wordpiece("general", 500)
    assert len(tok) == 500
    assert tok.mask_token_id is not None and tok.cls_token_id is not None
    text = texts[0]
    assert tok.decode(tok(text.upper(), add_special_tokens=False)["input_ids"]) == text.replace(".", " .").replace(" .", ".")
    assert tok.unk_token_id not in tok(text)["input_ids"]
    assert len(list((cache.runs_dir() / "vocab").iterdir())) == 1
    assert vocab.train_wordpiece("general", 500).get_vocab() == tok.get_vocab()  # cached
    assert [tok.convert_ids_to_tokens(i) for i in range(5)] == list(vocab.SPECIAL_TOKENS)


def test_a_vocabulary_trained_on_two_machines_numbers_its_tokens_alike(tmp_path, monkeypatch):
    # the trainer numbers the tokens it learns in an order that changes from run to run (and breaks ties between equal
    # counts by it, so on a toy corpus even the tokens can differ); on the kit's movie text they agree, ids included
    trained = []
    for machine in ("one", "two"):
        monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / machine))
        trained.append(vocab.train_wordpiece("movie", 1000).get_vocab())
    assert len(trained[0]) == 1000 and trained[0] == trained[1]


def test_unigram_entropy_by_hand():
    train = torch.tensor([[0, 1, 1, 2]])  # counts + 1: [2, 3, 2, 1] over a vocabulary of 4; total 8
    labels = torch.tensor([[-100, 1, 3, -100]])
    got = pretrain.unigram_entropy(train, torch.zeros_like(labels), labels, 4)
    assert got == pytest.approx(-(math.log(3 / 8) + math.log(1 / 8)) / 2)


def test_pretrain_artifact_and_metrics(toy, tokenizer, monkeypatch):
    built = []
    real_build = pretrain.build_model
    monkeypatch.setattr(pretrain, "build_model", lambda *a: built.append(real_build(*a)) or built[-1])
    path = pretrain.pretrain(small(steps=8), quiet=True)
    assert path.parent.name == "pretrain" and not path.with_name(path.name + ".partial").exists()
    assert not (path / "checkpoint.pt").exists()
    m = cache.metrics(path)
    for key in ("heldout_loss", "unigram_entropy", "curve", "eval_curve", "tokens_seen", "train_tokens",
                "params", "steps", "wall_s", "tokens_per_s"):
        assert key in m, key
    assert math.isfinite(m["heldout_loss"]) and math.isfinite(m["unigram_entropy"])
    assert m["tokens_seen"] == 8 * 8 * 32 and m["params"] == sum(p.numel() for p in built[0].parameters())

    # The unigram baseline is scored on exactly the held-out masked tokens the model is scored on.
    blocks = vocab.tokenize_corpus("general", tokenizer, 32)
    train, held = pretrain.split_blocks(blocks, 16)
    ids, labels = pretrain.mask_tokens(held, tokenizer, 0.15, torch.Generator().manual_seed(pretrain.EVAL_SEED))
    assert m["unigram_entropy"] == pytest.approx(pretrain.unigram_entropy(train, ids, labels, len(tokenizer)), abs=1e-4)
    assert m["train_tokens"] == train.numel()
    # held-out blocks are never trained on
    assert not any(torch.equal(h, t) for h in held[:4] for t in train)

    # The saved weights are the trained ones.
    saved = load_file(path / "model.safetensors")
    for name, p in built[0].state_dict().items():
        if name in saved:
            torch.testing.assert_close(saved[name], p, rtol=0, atol=0)
    preds = pretrain.fill_mask(built[0], "the cat sleeps in the [MASK].", top_k=3, tokenizer=tokenizer)
    assert len(preds) == 1 and len(preds[0]) == 3 and all(0 <= p <= 1 for _, p in preds[0])


def test_pretrain_dir_loads_with_auto_classes(toy, monkeypatch):
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    built = []
    real_build = pretrain.build_model
    monkeypatch.setattr(pretrain, "build_model", lambda *a: built.append(real_build(*a)) or built[-1])
    path = pretrain.pretrain(small(steps=4), quiet=True)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    x = tok(["the dog runs in the garden."], return_tensors="pt")
    # The trained object's forward is wrapped in bf16 autocast by accelerate: compare to a plain copy.
    plain = pretrain.build_model("tiny", len(tok)).eval()
    plain.load_state_dict(built[0].state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(**x).logits, plain(**x).logits, rtol=0, atol=0)
    assert pretrain.fill_mask(path, "the dog [MASK] in the garden.")[0]


def test_resume_equals_uninterrupted_and_seeds(toy, tmp_path, monkeypatch):
    config = small(steps=12, eval_every=2)
    full = pretrain.pretrain(config, quiet=True, checkpoint_every=4)
    weights = load_file(full / "model.safetensors")

    # Interrupt at step 6 (after the step-4 checkpoint), then run again: it resumes from step 4.
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "other"))

    def stop(step, train_loss, held):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain(config, quiet=True, checkpoint_every=4, on_eval=stop)
    partial = next((tmp_path / "other" / "pretrain").glob("*.partial"))
    assert torch.load(partial / "checkpoint.pt", weights_only=True)["state"]["step"] == 4
    steps_seen = []
    resumed = pretrain.pretrain(config, quiet=True, checkpoint_every=4, on_eval=lambda s, *_: steps_seen.append(s))
    assert steps_seen == [6, 8, 10, 12]
    for name, p in load_file(resumed / "model.safetensors").items():
        assert torch.equal(p, weights[name]), name
    assert cache.metrics(resumed)["eval_curve"] == cache.metrics(full)["eval_curve"]
    assert cache.metrics(resumed)["curve"] == cache.metrics(full)["curve"]

    # A third run with the same seed (forced rebuild) is identical; another seed is not.
    again = pretrain.pretrain(config, quiet=True, force=True)
    assert all(torch.equal(p, weights[n]) for n, p in load_file(again / "model.safetensors").items())
    other = pretrain.pretrain(small(steps=12, eval_every=2, seed=1), quiet=True)
    assert not torch.equal(load_file(other / "model.safetensors")["bert.embeddings.word_embeddings.weight"],
                           weights["bert.embeddings.word_embeddings.weight"])


def test_loss_decreases(toy):
    seen = []
    path = pretrain.pretrain(small(steps=40, batch_size=16, eval_every=10, lr=2e-3), quiet=True,
                             on_eval=lambda step, train, held: seen.append((step, train, held)))
    m = cache.metrics(path)
    assert [s for s, _, _ in seen] == [10, 20, 30, 40]
    assert m["eval_curve"][-1]["heldout_loss"] < m["eval_curve"][0]["heldout_loss"] - 0.5
    assert m["curve"][-1]["loss"] < m["curve"][0]["loss"]
    assert m["heldout_loss"] < math.log(30522)


def test_an_unreadable_checkpoint_is_discarded_and_the_stage_starts_over(toy):
    config = small(steps=4)
    resolved = replace(config, precision=resolve(config.precision))  # what the stage keys on
    partial = cache.runs_dir() / "pretrain" / f"{cache.config_key(resolved)}.partial"
    partial.mkdir(parents=True)
    (partial / "checkpoint.pt").write_bytes(b"")  # a 0-byte checkpoint, as a full disk or a kill can leave
    cache.mark_resumable(partial, step=2)
    with pytest.warns(UserWarning, match="unreadable"):
        path = pretrain.pretrain(config, quiet=True)
    assert cache.metrics(path)["steps"] == 4 and not partial.exists()


def test_snapshots_of_a_long_run_equal_short_runs_on_its_schedule(toy, tmp_path, monkeypatch):
    long = small(steps=12, schedule_steps=12)
    pretrain.pretrain(long, snapshots=(4, 8), quiet=True)
    snapshot = cache.runs_dir() / "pretrain" / cache.config_key(replace(long, steps=4, precision=resolve("auto")))
    assert (snapshot / "stage.json").exists()
    assert cache.metrics(snapshot)["tokens_seen"] == 4 * 8 * 32 and cache.metrics(snapshot)["steps"] == 4
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "alone"))
    alone = pretrain.pretrain(replace(long, steps=4), quiet=True)  # the same config, built on its own
    assert alone.name == snapshot.name
    a, b = load_file(snapshot / "model.safetensors"), load_file(alone / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a schedule as long as the run is the plain run: one key
    assert pretrain.pretrain(replace(long, schedule_steps=None), quiet=True).name == \
        cache.config_key(replace(long, schedule_steps=None, precision=resolve("auto")))
    with pytest.raises(ValueError, match="schedule_steps"):
        small(steps=12, schedule_steps=6)
    with pytest.raises(ValueError, match="snapshots"):
        pretrain.pretrain(long, snapshots=(12,), quiet=True)


def test_a_learners_masking_function_is_its_own_pre_training(tmp_path, monkeypatch, add_corpus_tokens):
    from wellread import recipes
    from wellread.cache import function_id
    from wellread.pretrain import mask_tokens
    monkeypatch.setenv("WELLREAD_RUNS", str(add_corpus_tokens(tmp_path / "runs")))
    used = []

    def mine(input_ids, tokenizer, mask_prob=0.15, generator=None):
        used.append(len(input_ids))
        return mask_tokens(input_ids, tokenizer, mask_prob, generator)

    kit = recipes.pretrained_student("tiny", "smoke", quiet=True, pretrain__steps=3)
    assert used == []
    yours = recipes.pretrained_student("tiny", "smoke", quiet=True, mask_fn=mine, pretrain__steps=3)
    assert yours != kit and len(used) >= 3  # every training batch masked by the learner's function
    assert function_id(mine, mask_tokens).startswith("learner:") and function_id(None, mask_tokens) == "kit"
    with pytest.raises(ValueError, match="pretrain__masking='kit' but the masking function given is 'learner:"):
        pretrain.pretrain(PretrainConfig(size="tiny", steps=3), mask_fn=mine)

"""Masked-LM pre-training of a compact BERT: text packed into blocks, BERT's masking, a masked-only vocabulary
head, and the pre-training run (resumable from checkpoints) on the kit's one training loop."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import checks, data, train
from .cache import (CHECKPOINT_RECORD, atomic_path, checkpoint_record, config_key, discard_unreadable, function_id,
                    mark_resumable, runs_dir, stage)
from .device import autocast, check_precision, processes, resolve, seed_everything
from .models import build_model
from .sizes import parse_size
from .vocab import CORPORA, get_tokenizer, tokenize_corpus

EVAL_SEED = 1234  # held-out blocks are masked the same way in every run, so losses compare across runs
ADAM = {"betas": (0.9, 0.98), "eps": 1e-6}  # RoBERTa's settings for MLM: steadier with large learning rates


@dataclass(frozen=True)
class PretrainConfig:
    size: str = "tiny"             # anything parse_size reads; stored as "L2/H128" so spellings share a cache key
    steps: int = 1500
    schedule_steps: int | None = None  # the learning-rate schedule's length (None: steps); longer: a snapshot of a longer run
    batch_size: int = 32
    gradient_accumulation_steps: int = 1  # forward-backward the batch in this many parts: the same step, less memory
    block_size: int = 128
    lr: float = 1e-3
    warmup_frac: float = 0.06
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    corpus: str = "general"        # embedded: "general", "movie" (in-domain transfer text) or "mixed" (both)
    source: str = "embedded"       # "hub": corpus is a WikiText name (data.HUB_CORPORA), read from the hub
    vocab_size: int | None = None  # None: the teacher's BERT uncased WordPiece; an int: a fresh WordPiece
    precision: str = "auto"        # "auto" (what this device runs fast), "fp32", "bf16" or "fp16"
    compile: bool = False
    eval_blocks: int = 256         # held-out blocks, never trained on
    eval_every: int = 100
    seed: int = 0
    masking: str = "kit"           # who masks the training batches: "kit" (mask_tokens) or a learner's function's id

    def __post_init__(self):
        object.__setattr__(self, "size", parse_size(self.size).short)
        for name in ("steps", "batch_size", "gradient_accumulation_steps", "eval_blocks", "eval_every"):
            checks.whole(getattr(self, name), f"PretrainConfig.{name}")
        train.check_parts(self)
        checks.whole(self.schedule_steps, "PretrainConfig.schedule_steps", self.steps, none="as many as steps")
        checks.whole(self.block_size, "pretrain block_size", 8, why="tokens per block")
        checks.whole(self.vocab_size, "PretrainConfig.vocab_size", 100, none="the teacher's WordPiece")
        checks.seed(self.seed, "PretrainConfig.seed")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0) or not 0 < self.mask_prob < 1:
            raise ValueError(f"pretrain lr={self.lr!r} must be > 0 and mask_prob={self.mask_prob!r} in (0, 1)")
        check_precision(self.precision)
        if self.source == "embedded" and self.corpus not in CORPORA:
            raise ValueError(f"corpus={self.corpus!r}: use one of {list(CORPORA)}")
        if self.source == "hub" and self.corpus not in data.loaders.HUB_CORPORA:
            raise ValueError(f"hub corpus={self.corpus!r}: use one of {data.loaders.HUB_CORPORA}")
        data.loaders.check_source(self.source)


# ---------------------------------------------------------------------------------------------------
# Token blocks -> training and held-out

def split_blocks(blocks: torch.Tensor, eval_blocks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out): evenly spaced held-out blocks, so every source of the corpus is represented."""
    eval_blocks = min(eval_blocks, len(blocks) // 2)
    held = torch.linspace(0, len(blocks) - 1, eval_blocks).round().long().unique()
    keep = torch.ones(len(blocks), dtype=torch.bool)
    keep[held] = False
    return blocks[keep], blocks[held]


# ---------------------------------------------------------------------------------------------------
# Masking and the loss

def mask_tokens(input_ids, tokenizer, mask_prob=0.15, generator=None):
    """BERT masking: pick mask_prob of the non-special tokens; of those 80% [MASK], 10% random, 10% kept."""
    input_ids = input_ids.long()
    labels = input_ids.clone()
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for token_id in tokenizer.all_special_ids:
        special |= input_ids == token_id

    # Which positions the model must predict.
    chosen = torch.rand(input_ids.shape, generator=generator) < mask_prob
    chosen &= ~special
    labels[~chosen] = -100  # cross_entropy ignores -100

    # One draw decides the fate of each chosen token: [MASK], a random token, or left as it is
    # (so the model cannot learn that only [MASK] positions matter).
    fate = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (fate < 0.8)
    to_random = chosen & (fate >= 0.8) & (fate < 0.9)
    masked = input_ids.clone()
    masked[to_mask] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    masked[to_random] = random_ids[to_random]
    return masked, labels


def mlm_loss(model, input_ids, attention_mask, labels):
    """Masked-LM cross-entropy that runs the vocabulary head only at the ~15% masked positions."""
    hidden = model.bert(input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, H]
    where = labels != -100
    # The head projects H -> 30,522: at every position it costs more than the whole Tiny encoder.
    # Gathering the masked positions first (hidden[where]: [N, H]) skips ~85% of that work.
    picked, targets = hidden[where], labels[where]
    # N changes every step; rounded up to a multiple of 32 (the extra rows are ignored, -100), the head sees a few
    # shapes instead of hundreds, and the matmul library does not cache kernels and buffers for each (+1 GB).
    pad = -len(targets) % 32
    if pad:
        picked, targets = F.pad(picked, (0, 0, 0, pad)), F.pad(targets, (0, pad), value=-100)
    logits = model.cls(picked)  # [N, V]
    return F.cross_entropy(logits.float(), targets)


class MaskedOnlyLM(torch.nn.Module):
    """A BertForMaskedLM whose forward is `mlm_loss`, so data-parallel wrappers see the whole step."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids, labels, attention_mask=None):
        return mlm_loss(self.mlm, input_ids, attention_mask, labels)


@torch.no_grad()
def heldout_loss(model, blocks, tokenizer, mask_prob=0.15, seed=EVAL_SEED, batch_size=16, precision="auto") -> float:
    """Masked-LM loss (nats per masked token) on `blocks`, masked the same way every call. In batches of 16 blocks:
    the head's logits over 30,522 tokens for 64 blocks took ~370 MB at once."""
    ids, labels = mask_tokens(blocks, tokenizer, mask_prob, torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(ids), batch_size):
        x, y = ids[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)
        n = int((y != -100).sum())
        if n == 0:
            continue
        with autocast(precision, device.type):
            loss = mlm_loss(model, x, None, y)
        total, count = total + loss.item() * n, count + n  # weight by masked tokens, not by batch
    model.train(was_training)
    return total / max(count, 1)


def unigram_entropy(train_blocks, eval_input_ids, eval_labels, vocab_size) -> float:
    """Cross-entropy (nats) of add-one-smoothed training token frequencies on the held-out masked targets.

    The floor a model beats only by using context: it knows which words are common, nothing more.
    """
    assert eval_input_ids.shape == eval_labels.shape
    counts = torch.bincount(train_blocks.flatten().long(), minlength=vocab_size).double() + 1.0
    log_p = counts.log() - counts.sum().log()
    targets = eval_labels[eval_labels != -100].long()
    return float(-log_p[targets].mean())


# ---------------------------------------------------------------------------------------------------
# The pre-training run

def masked_batches(blocks: torch.Tensor, tokenizer, batch_size: int, mask_prob: float, generator, device,
                   share: tuple[int, int] = (0, 1), mask_fn=None):
    """nanoGPT-style batches: random blocks drawn from the seeded generator, masked afresh each time. With `share`
    (rank, processes) a data-parallel process keeps every processes-th row: together they train on the same batch."""
    rank, processes = share
    while True:
        idx = torch.randint(len(blocks), (batch_size,), generator=generator)
        x, y = (mask_fn or mask_tokens)(blocks[idx], tokenizer, mask_prob, generator)
        yield x[rank::processes].to(device), y[rank::processes].to(device)


def split_batch(x: torch.Tensor, y: torch.Tensor, parts: int) -> train.MicroBatches:
    """(x, y) in `parts` micro-batches of rows, each weighted by its share of the masked tokens, so that the parts'
    weighted losses add up to the whole batch's (mlm_loss is a mean over masked tokens)."""
    xs, ys = x.chunk(parts), y.chunk(parts)
    return train.MicroBatches.by_count(list(zip(xs, ys)), [int((part != -100).sum()) for part in ys])


def pretrain(config: PretrainConfig, *, force=False, quiet=False, on_eval=None, checkpoint_every=200,
             snapshots=(), mask_fn=None) -> Path:
    """Pre-train a student with masked LM; returns runs/pretrain/<key>/ (a BertForMaskedLM + tokenizer).

    `on_eval(step, train_loss, heldout_loss)` is called at each evaluation (for live plots). An
    interrupted run resumes from its last checkpoint when called again with the same config. At each step in
    `snapshots` the student so far is saved as the artifact of `replace(config, steps=step)` on this run's
    schedule: the same weights a run of that config alone would reach, so a reading curve costs one run. `mask_fn`:
    the masking function config.masking names (None: mask_tokens); the held-out loss is always masked by the kit.
    """
    config = canonical(config)
    given = function_id(mask_fn, mask_tokens)
    if given != config.masking:
        raise ValueError(f"pretrain__masking={config.masking!r} but the masking function given is {given!r}: pass it "
                         "with pretrained_student(..., mask_fn=fn), which sets both")
    bad = [s for s in snapshots if not isinstance(s, int) or not 1 <= s < config.steps]
    if bad:
        raise ValueError(f"snapshots {bad}: use step counts between 1 and steps - 1 ({config.steps - 1})")
    snapshots = sorted(set(snapshots))
    launched = processes()  # this one, or those `accelerate launch` started
    if launched.num_processes > 1:
        return _data_parallel(config, launched, force, quiet, on_eval, checkpoint_every, snapshots, mask_fn)
    return stage("pretrain", config,
                 lambda work: _run(config, work, quiet, on_eval, checkpoint_every, snapshots, mask_fn), force=force)


def _data_parallel(config: PretrainConfig, processes, force, quiet, on_eval, checkpoint_every, snapshots,
                   mask_fn=None) -> Path:
    """Under `accelerate launch`: the main process builds the stage as one process would (the lock, checkpoints,
    snapshots, the artifact) while the others train beside it on their share of every batch and write nothing."""
    if config.batch_size % processes.num_processes:
        raise ValueError(f"pretrain batch_size={config.batch_size} does not split over {processes.num_processes} "
                         f"processes: use a multiple of {processes.num_processes}")
    final = runs_dir() / "pretrain" / config_key(config)
    work = final.with_name(final.name + ".partial")
    if force and processes.is_main_process:
        shutil.rmtree(work, ignore_errors=True)  # before anyone reads its checkpoint
    processes.wait_for_everyone()
    if not final.exists() or force:
        if processes.is_main_process:
            stage("pretrain", config, lambda w: _run(config, w, quiet, on_eval, checkpoint_every, snapshots, mask_fn),
                  force=force)
        else:
            _run(config, work, True, None, checkpoint_every, snapshots, mask_fn)
    processes.wait_for_everyone()
    return final


def canonical(config: PretrainConfig) -> PretrainConfig:
    """The config as its cache key holds it: the precision resolved, a schedule as long as the run left unsaid."""
    config = replace(config, precision=resolve(config.precision))  # the key says which precision ran
    return replace(config, schedule_steps=None) if config.schedule_steps == config.steps else config


def is_built(config: PretrainConfig) -> bool:
    """Whether this pre-training (or a snapshot of a longer run with it) is in the cache, without building it."""
    return (runs_dir() / "pretrain" / config_key(canonical(config))).is_dir()


def _load_checkpoint(path: Path):
    """The checkpoint in a work folder, or None when there is none, it is unreadable or it is not this stage's (then
    it is discarded). Loaded as tensors and plain values only: nothing in it can run code."""
    if not path.exists():
        return None
    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # a 0-byte or truncated file, or one holding anything but tensors and plain values
        discard_unreadable(path, e)
        return None
    work = path.parent
    record = saved.get("record") if isinstance(saved, dict) else None
    state = saved.get("state") if isinstance(saved, dict) else None
    # the record inside the file names this stage, key and step; the one beside it (checkpoint.json), stage and key
    if not isinstance(record, dict) or record.get("key") != work.name.removesuffix(".partial") \
            or record.get("stage") != work.parent.name or checkpoint_record(work) is None \
            or not isinstance(state, dict) or record.get("step") != state.get("step"):
        discard_unreadable(path, ValueError("it is not this stage's checkpoint (no matching record of the kit)"))
        return None
    return saved


def _run(config: PretrainConfig, work: Path, quiet: bool, on_eval, checkpoint_every: int, snapshots: list,
         mask_fn=None) -> dict:
    # Data: tokenize once (cached), hold out evenly spaced blocks, mask the held-out set once.
    tokenizer = get_tokenizer(config.vocab_size, config.corpus)
    blocks = tokenize_corpus(config.corpus, tokenizer, config.block_size, config.source)
    train_blocks, eval_blocks = split_blocks(blocks, config.eval_blocks)
    eval_ids, eval_labels = mask_tokens(eval_blocks, tokenizer, config.mask_prob, torch.Generator().manual_seed(EVAL_SEED))
    baseline = unigram_entropy(train_blocks, eval_ids, eval_labels, len(tokenizer))

    gen = seed_everything(config.seed)  # seeds the init and dropout; `gen` drives batches and masking
    student = build_model(config.size, len(tokenizer))
    schedule = config.schedule_steps or config.steps
    trainer = train.trainer(MaskedOnlyLM(student), schedule, lr=config.lr, weight_decay=config.weight_decay,
                            warmup_frac=config.warmup_frac, precision=config.precision, desc=f"pretrain {config.size}",
                            lr_field="pretrain__lr", **ADAM)
    acc, optimizer, scheduler = trainer.acc, trainer.optimizer, trainer.scheduler
    main, processes = acc.is_main_process, acc.num_processes  # only the main process evaluates and writes
    if config.compile:
        # Compile only the encoder: its shapes are fixed ([B, T]); the head sees a different number of
        # masked positions every step and would recompile. Module.compile() keeps state_dict names.
        student.bert.compile()

    state = {"step": 0, "curve": [], "eval_curve": [], "tokens_seen": 0, "train_s": 0.0, "smooth": None}
    ckpt = work / "checkpoint.pt"

    def record(step: int) -> dict:
        return {"stage": work.parent.name, "key": work.name.removesuffix(".partial"), "step": step}

    saved = _load_checkpoint(ckpt)
    if saved is not None:  # resume: weights, optimizer moments, schedule, and every random state
        student.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        gen.set_state(saved["gen"])
        torch.set_rng_state(saved["torch_rng"])
        if saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        state = saved["state"]

    def save_checkpoint():
        with atomic_path(ckpt) as tmp:  # a crash mid-save leaves the previous checkpoint intact
            torch.save({"model": student.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "gen": gen.get_state(),
                        "torch_rng": torch.get_rng_state(),  # dropout draws from the global RNG
                        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                        "state": state, "record": record(state["step"])}, tmp)
        mark_resumable(work, step=state["step"])

    started = time.time() - state["train_s"]

    def summary() -> dict:
        return {"heldout_loss": state["eval_curve"][-1]["heldout_loss"], "unigram_entropy": round(baseline, 4),
                "curve": state["curve"], "eval_curve": state["eval_curve"], "tokens_seen": state["tokens_seen"],
                "train_tokens": int(train_blocks.numel()), "params": train.count_params(student),
                "steps": state["step"], "train_s": round(state["train_s"], 2), "wall_s": round(state["train_s"], 2),
                "passes": round(state["tokens_seen"] / train_blocks.numel(), 2),
                "tokens_per_s": round(state["tokens_seen"] / max(state["train_s"], 1e-9), 1)}

    def save_snapshot(step):
        def build(folder: Path) -> dict:
            student.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            return summary()
        stage("pretrain", replace(config, steps=step, schedule_steps=schedule), build)

    def after_step(step, loss, bar):
        if processes > 1:  # each process saw part of the batch: log the whole batch's loss, as one process would
            loss = acc.reduce(torch.tensor(loss, device=acc.device), "mean").item()
        state["step"] = step
        state["tokens_seen"] += config.batch_size * config.block_size
        smooth = state["smooth"] = loss if state["smooth"] is None else 0.95 * state["smooth"] + 0.05 * loss
        if step % 10 == 0 or step == config.steps:
            state["curve"].append({"step": step, "loss": round(smooth, 4)})
        bar.set_postfix(loss=f"{smooth:.3f}")
        evaluated = main and (step % config.eval_every == 0 or step == config.steps or step in snapshots)
        if evaluated:
            held = heldout_loss(student, eval_blocks, tokenizer, config.mask_prob, precision=config.precision)
            state["eval_curve"].append({"step": step, "heldout_loss": round(held, 4)})
            bar.set_postfix(loss=f"{smooth:.3f}", heldout=f"{held:.3f}")
        state["train_s"] = time.time() - started
        if main and step in snapshots:
            save_snapshot(step)
        if main and (step % checkpoint_every == 0 or step == config.steps):
            save_checkpoint()
        if on_eval and evaluated:  # after the checkpoint: a notebook may interrupt here and lose nothing
            on_eval(step, smooth, held)

    batches = masked_batches(train_blocks, tokenizer, config.batch_size, config.mask_prob, gen, acc.device,
                             share=(acc.process_index, processes), mask_fn=mask_fn)
    if config.gradient_accumulation_steps > 1:
        batches = (split_batch(x, y, config.gradient_accumulation_steps) for x, y in batches)
    train.loop(trainer, batches, lambda model, batch: model(*batch), steps=config.steps, start=state["step"],
               quiet=quiet or not main, on_step=after_step)
    if not main:
        return {}

    # The artifact: a plain BertForMaskedLM + tokenizer that AutoModelForMaskedLM/AutoTokenizer load.
    student.save_pretrained(work)
    tokenizer.save_pretrained(work)
    ckpt.unlink(missing_ok=True)
    (work / CHECKPOINT_RECORD).unlink(missing_ok=True)
    return summary()


# ---------------------------------------------------------------------------------------------------
# Using the student

def load_student(path):
    """The pre-trained BertForMaskedLM saved in `path`."""
    from transformers import BertForMaskedLM
    return BertForMaskedLM.from_pretrained(path)


@torch.no_grad()
def fill_mask(model_or_path, text: str, top_k=5, tokenizer=None) -> list[list[tuple[str, float]]]:
    """The student's top_k guesses (token, probability) for each [MASK] in `text`."""
    from transformers import AutoTokenizer
    if isinstance(model_or_path, (str, Path)):
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_or_path)
        model = load_student(model_or_path)
    else:
        model = model_or_path
    if tokenizer is None:
        raise ValueError("pass tokenizer= along with a model object")
    enc = tokenizer(text.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")
    model.eval()
    logits = model(**enc.to(model.device)).logits[0]
    where = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    out = []
    for pos in where.tolist():
        probs = logits[pos].float().softmax(-1)
        p, ids = probs.topk(top_k)
        out.append([(tokenizer.convert_ids_to_tokens(i), round(float(q), 4)) for i, q in zip(ids.tolist(), p)])
    return out

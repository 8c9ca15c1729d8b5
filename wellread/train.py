"""The one training loop of the kit (pre-training, fine-tuning and distillation all use it), and the
prediction and evaluation of a classifier. Short and explicit: this is the loop a learner reads."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from . import checks
from .cache import Unresumable
from .data import Task, column, inputs
from .device import accelerator, autocast, check_precision, seed_everything


class Diverged(Unresumable):
    """The loss became NaN or infinite: the weights are garbage, so the stage stops and nothing is cached."""


def make_optimizer(model, lr: float, weight_decay: float, betas=(0.9, 0.999), eps: float = 1e-8, fused: bool = False):
    """AdamW; 1-d tensors (biases and LayerNorm weights) are not decayed, as in BERT."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused)


@dataclass
class Trainer:
    """What the loop steps: the accelerator, the prepared model, its optimizer and schedule, and the two names its
    progress bar and errors use (`lr_field`: the budget field of this stage's learning rate)."""
    acc: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    desc: str = "train"
    lr_field: str = ""


def trainer(model, steps: int, *, lr: float, weight_decay: float, warmup_frac: float, precision: str = "auto",
            betas=(0.9, 0.999), eps: float = 1e-8, desc: str = "train", lr_field: str = "") -> Trainer:
    """A Trainer for `steps` steps: AdamW, linear warm-up, then linear decay."""
    acc = accelerator(precision)
    # fused AdamW updates all parameters in one kernel: Tiny's optimizer step on a 2-core CPU takes 2 ms, not 18
    # (a third of its fine-tuning step: the embedding table is most of its weights)
    optimizer = make_optimizer(model, lr, weight_decay, betas, eps, fused=acc.device.type in ("cpu", "cuda"))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_frac * steps), steps)
    model, optimizer = acc.prepare(model, optimizer)
    return Trainer(acc, model, optimizer, scheduler, desc, lr_field)


@dataclass
class MicroBatches:
    """One batch cut into parts that run forward and backward one at a time, their gradients summed: the same step
    in a fraction of the memory. `weights[i]` is part i's share of the batch's loss."""
    parts: list
    weights: list[float]

    @classmethod
    def by_count(cls, parts: list, counts: list[int]) -> MicroBatches:
        """Parts weighted by their share of what the batch's loss averages over (rows, masked tokens)."""
        return cls(parts, [n / max(sum(counts), 1) for n in counts])


def check_parts(config) -> None:
    """Refuse a config whose gradient_accumulation_steps does not divide its batch_size, naming both."""
    parts, rows = config.gradient_accumulation_steps, config.batch_size
    if rows % parts:
        raise ValueError(f"{type(config).__name__}.gradient_accumulation_steps={parts} does not divide "
                         f"batch_size={rows}: use a divisor of it (1 runs the batch whole)")


def train_step(t: Trainer, loss_fn: Callable, batch) -> torch.Tensor:
    """One optimizer step; `loss_fn(model, batch)` runs under the precision's autocast (weights stay fp32)."""
    parts = zip(batch.parts, batch.weights) if isinstance(batch, MicroBatches) else [(batch, 1.0)]
    loss = 0.0
    for part, weight in parts:
        with t.acc.autocast():
            part_loss = loss_fn(t.model, part) * weight
        t.acc.backward(part_loss)  # data-parallel: gradients are averaged over processes at every part (summed here)
        loss = loss + part_loss.detach()
    t.acc.clip_grad_norm_(t.model.parameters(), 1.0)
    t.optimizer.step()
    t.scheduler.step()
    t.optimizer.zero_grad(set_to_none=True)
    return loss


ZERO_LOSS_STEPS = 3  # an untrained model never has a loss of exactly 0 on this many batches in a row


def loop(t: Trainer, batches: Iterator, loss_fn: Callable, *, steps: int, start: int = 0, quiet: bool = False,
         on_step: Callable | None = None) -> list[float]:
    """Steps `start+1 .. steps`, one batch from `batches` each; `on_step(step, loss, bar)` after every step.

    A NaN or infinite loss raises Diverged, naming the trainer's `lr_field`, as does a loss of exactly 0 from the
    first step (a loss that cannot teach)."""
    t.model.train()
    losses, desc = [], t.desc
    with tqdm(total=steps, initial=start, desc=desc, disable=quiet, mininterval=1.0) as bar:
        for step in range(start + 1, steps + 1):
            loss = train_step(t, loss_fn, next(batches)).item()  # one sync per step
            if not math.isfinite(loss):
                lr = t.optimizer.param_groups[0].get("initial_lr", t.optimizer.param_groups[0]["lr"])
                field = t.lr_field or "its lr"
                raise Diverged(f"{desc}: the loss became {loss} at step {step} of {steps}: training diverged and "
                               f"nothing was saved; the likely cause is the learning rate {lr:g}: lower it "
                               f"({field}, e.g. a tenth of it)")
            losses.append(loss)
            if start == 0 and step == ZERO_LOSS_STEPS and not any(losses):
                raise Diverged(f"{desc}: the loss is exactly 0 at each of the first {step} steps, so nothing is "
                               "learned and nothing was saved; a loss cannot be 0 on an untrained model: check the "
                               "loss function and its settings (a temperature near 0, a target equal to the output)")
            bar.update(1)
            if on_step:
                on_step(step, loss, bar)
    return losses


# ---------------------------------------------------------------------------------------------------
# Classifiers: fine-tuning and distillation train on (text, target) pairs with the same loop

@dataclass(frozen=True)
class TrainConfig:
    """How a classifier is trained: on which task, for how long, how fast, at which precision, with which seed.
    Fine-tuning and distillation configs extend it with what is theirs."""
    task: Task = field(default_factory=Task)
    epochs: float = 3.0
    lr: float = 5e-4
    batch_size: int = 32
    gradient_accumulation_steps: int = 1  # forward-backward the batch in this many parts: the same step, less memory
    warmup_frac: float = 0.1
    weight_decay: float = 0.01
    precision: str = "auto"
    seed: int = 0
    length_buckets: bool = True   # batch texts of similar length together: less padding (fine-tuning ~25% faster)

    def __post_init__(self):
        name = type(self).__name__
        for attr in ("epochs", "lr", "warmup_frac", "weight_decay"):
            checks.finite(getattr(self, attr), f"{name}.{attr}")
        if not isinstance(self.epochs, (int, float)) or isinstance(self.epochs, bool) or self.epochs <= 0:
            raise ValueError(f"{name}.epochs={self.epochs!r}: use a number > 0 (fractions of an epoch are fine)")
        if not isinstance(self.lr, (int, float)) or self.lr <= 0:
            raise ValueError(f"{name}.lr={self.lr!r}: use a number > 0")
        for attr in ("batch_size", "gradient_accumulation_steps"):
            checks.whole(getattr(self, attr), f"{name}.{attr}")
        checks.seed(self.seed, f"{name}.seed")
        check_parts(self)
        if not 0 <= self.warmup_frac < 1 or self.weight_decay < 0:
            raise ValueError(f"{name}: warmup_frac={self.warmup_frac!r} must be in [0, 1) and "
                             f"weight_decay={self.weight_decay!r} >= 0")
        check_precision(self.precision)


def text_batches(tokenizer, texts: list, targets: torch.Tensor, *, batch_size: int, max_len: int,
                 generator: torch.Generator, device, length_buckets: bool = False) -> Iterator:
    """Endless (tokenized batch, targets) in a new shuffled order each epoch. A text may be a (text, pair) tuple."""
    lengths = [len(str(t)) for t in texts] if length_buckets else None  # characters: a cheap stand-in for tokens
    while True:
        order = torch.randperm(len(texts), generator=generator).tolist()
        batches = bucket_by_length(order, lengths, batch_size, generator) if length_buckets else \
            [order[start:start + batch_size] for start in range(0, len(texts), batch_size)]
        for idx in batches:
            yield encode(tokenizer, [texts[i] for i in idx], max_len).to(device), targets[idx].to(device)


def bucket_by_length(order: list[int], lengths: list[int], batch_size: int, generator: torch.Generator,
                     chunk_batches: int = 50) -> list[list[int]]:
    """Batches of similar length: sort each run of `chunk_batches` batches of the shuffled `order` by length,
    cut it into batches, then shuffle the batches. Each batch pads to its longest text, so near-equal lengths
    halve the padding of random batches on short-sentence tasks, while every epoch still mixes the data."""
    batches = []
    chunk = batch_size * chunk_batches
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def encode(tokenizer, texts: list, max_len: int):
    """Tokenize single texts, or (text, pair) tuples as sentence pairs, padded to the longest in the batch.

    Lengths are rounded up to a multiple of 8: a few shapes instead of dozens, so the matmul library's caches of
    kernels and buffers (one per shape) stay small; the padding is masked out of attention."""
    pairs = texts and isinstance(texts[0], (tuple, list))
    args = [list(part) for part in zip(*texts)] if pairs else [list(texts)]
    return tokenizer(*args, padding=True, pad_to_multiple_of=8, truncation=True, max_length=max_len,
                     return_tensors="pt")


def fit(model, tokenizer, texts: list, targets: torch.Tensor, loss_of_outputs: Callable, config: TrainConfig, *,
        desc: str = "fine-tune", quiet: bool = False, lr_field: str = ""):
    """Train a classifier on `texts` for `config.epochs` -> (model, curve). `loss_of_outputs(outputs, target)` sees
    the model's whole output (logits, and hidden states when its config asks for them); `lr_field`: config.lr's field."""
    generator = seed_everything(config.seed)
    steps = max(1, round(config.epochs * math.ceil(len(texts) / config.batch_size)))
    t = trainer(model, steps, lr=config.lr, weight_decay=config.weight_decay, warmup_frac=config.warmup_frac,
                precision=config.precision, desc=desc, lr_field=lr_field)
    batches = text_batches(tokenizer, texts, targets, batch_size=config.batch_size, max_len=config.task.max_len,
                           generator=generator, device=t.acc.device, length_buckets=config.length_buckets)
    if config.gradient_accumulation_steps > 1:
        batches = (rows_in_parts(batch, config.gradient_accumulation_steps) for batch in batches)

    def loss_fn(model, batch):
        encoded, target = batch
        return loss_of_outputs(model(**encoded), target)

    losses = loop(t, batches, loss_fn, steps=steps, quiet=quiet)
    return t.acc.unwrap_model(t.model), smooth_curve(losses)


def rows_in_parts(batch, parts: int) -> MicroBatches:
    """A (tokenized texts, targets) batch in `parts` micro-batches of rows, each weighted by its share of the rows
    (the classifiers' losses are means over rows)."""
    encoded, target = batch
    cuts = torch.arange(len(target)).chunk(parts)
    return MicroBatches.by_count([({k: v[rows] for k, v in encoded.items()}, target[rows]) for rows in cuts],
                                 [len(rows) for rows in cuts])


def smooth_curve(losses, points: int = 100) -> list[dict]:
    """At most `points` (step, mean loss) pairs, so a curve stays small in metrics.json."""
    if not losses:
        return []
    width = max(1, len(losses) // points)
    return [{"step": i + width, "loss": sum(losses[i:i + width]) / len(losses[i:i + width])}
            for i in range(0, len(losses), width)]


@torch.inference_mode()
def predict_logits(model, tokenizer, texts, *, batch_size=128, max_len=64, precision="auto", quiet=True,
                   desc="predict"):
    """Logits for many texts: batched, length-sorted so padding is small, in `texts` order."""
    model.eval()
    device = next(model.parameters()).device
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: len(str(texts[i])))
    out = torch.empty(len(texts), model.config.num_labels)
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, disable=quiet, mininterval=1.0):
        idx = order[start:start + batch_size]
        batch = encode(tokenizer, [texts[i] for i in idx], max_len).to(device)
        with autocast(precision, device.type):
            out[idx] = model(**batch).logits.float().cpu()
    return out


def evaluate(model, tokenizer, texts, labels, *, max_len: int = 64, precision: str = "auto") -> dict:
    """Accuracy and F1 (positive class for two labels, else macro) on labeled texts."""
    predictions = predict_logits(model, tokenizer, texts, max_len=max_len, precision=precision).argmax(-1)
    labels = torch.tensor(list(labels))
    f1s = []
    for c in range(model.config.num_labels):
        tp = ((predictions == c) & (labels == c)).sum().item()
        fp = ((predictions == c) & (labels != c)).sum().item()
        fn = ((predictions != c) & (labels == c)).sum().item()
        f1s.append(2 * tp / max(1, 2 * tp + fp + fn))
    f1 = f1s[1] if len(f1s) == 2 else sum(f1s) / len(f1s)
    return {"acc": (predictions == labels).float().mean().item(), "f1": f1}


def scores(model, tokenizer, validation, test, *, max_len: int, precision: str) -> dict:
    """Validation and test accuracy and F1, and the parameter count: what every classifier stage records."""
    out = {"params": count_params(model)}
    for prefix, split in (("val", validation), ("test", test)):
        result = evaluate(model, tokenizer, inputs(split), column(split, "label"), max_len=max_len, precision=precision)
        out[f"{prefix}_acc"], out[f"{prefix}_f1"] = result["acc"], result["f1"]
    return out


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(model, tokenizer, folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

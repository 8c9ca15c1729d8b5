"""Supervised fine-tuning of any encoder (student or teacher) on the labeled task, and its evaluation."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification
from transformers import get_linear_schedule_with_warmup

from . import cache, data
from .device import accelerator, seed_everything
from .sizes import parse_size


@dataclass(frozen=True)
class FinetuneConfig:
    init: str = "random"          # "random", a model folder (a pre-trained student, the teacher) or a hub id
    size: str = "tiny"            # the shape when init == "random"
    layers: int | None = None     # keep only the bottom `layers` of `init` (the truncated teacher)
    task: str = "rotten_tomatoes"
    source: str = "embedded"
    train_examples: int | None = None
    eval_examples: int | None = None
    epochs: float = 3.0
    lr: float = 5e-4
    batch_size: int = 32
    max_len: int = 64
    warmup_frac: float = 0.1
    weight_decay: float = 0.01
    bf16: bool = True
    seed: int = 0


def load_splits(task: str, source: str, train_examples=None, eval_examples=None, seed: int = 0):
    """The task's splits, optionally subsampled (a seeded, fixed choice) to fit a budget."""
    splits = data.load_task(task, source=source)
    def take(ds, n):
        return ds if n is None or n >= len(ds) else ds.shuffle(seed=seed).select(range(n))
    return take(splits["train"], train_examples), take(splits["validation"], eval_examples), \
        take(splits["test"], eval_examples)


def build_classifier(init: str, size: str = "tiny", layers: int | None = None, num_labels: int = 2):
    """A `BertForSequenceClassification` and its tokenizer: from scratch ("random", or a tokenizer-only folder
    for random weights over that vocabulary) or from a checkpoint."""
    if init == "random":
        model = BertForSequenceClassification(parse_size(size).bert_config(num_labels=num_labels))
        return model, data.load_tokenizer()
    if Path(init).is_dir() and not (Path(init) / "config.json").exists():
        if not (Path(init) / "tokenizer_config.json").exists():
            raise ValueError(f"init={init!r} holds neither a model (config.json) nor a tokenizer; valid: 'random', "
                             "a model folder, a tokenizer folder or a hub id")
        tokenizer = AutoTokenizer.from_pretrained(init)
        config = parse_size(size).bert_config(num_labels=num_labels, vocab_size=len(tokenizer))
        return BertForSequenceClassification(config), tokenizer
    extra = {}
    if layers:
        available = AutoConfig.from_pretrained(init).num_hidden_layers
        if not 1 <= layers <= available:
            raise ValueError(f"cannot keep {layers} layers of {init}: it has {available} (valid: 1..{available})")
        extra["num_hidden_layers"] = layers
    model = AutoModelForSequenceClassification.from_pretrained(init, num_labels=num_labels, **extra)
    has_tokenizer = not Path(init).is_dir() or (Path(init) / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(init) if has_tokenizer else data.load_tokenizer()
    return model, tokenizer


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def fit(model, tokenizer, texts, targets, loss_fn, *, epochs, lr, batch_size, max_len, warmup_frac,
        weight_decay, bf16, seed, desc="fine-tune", quiet=False):
    """The training loop shared by fine-tuning and distillation: `loss_fn(logits, target_batch)`."""
    generator = seed_everything(seed)
    acc = accelerator(bf16)
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_frac * total), total)
    model, optimizer = acc.prepare(model, optimizer)
    model.train()
    curve, order = [], torch.empty(0, dtype=torch.long)
    for step in tqdm(range(total), desc=desc, disable=quiet, mininterval=1.0):
        start = (step % steps_per_epoch) * batch_size
        if start == 0:  # a new epoch: a new shuffled order
            order = torch.randperm(len(texts), generator=generator)
        idx = order[start:start + batch_size].tolist()
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len,
                          return_tensors="pt").to(acc.device)
        with acc.autocast():
            logits = model(**batch).logits.float()
        loss = loss_fn(logits, targets[idx].to(acc.device))
        acc.backward(loss)
        acc.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        curve.append(loss.item())
    return acc.unwrap_model(model), smooth_curve(curve)


def smooth_curve(losses, points: int = 100) -> list[dict]:
    """At most `points` (step, mean loss) pairs, so a curve stays small in metrics.json."""
    if not losses:
        return []
    width = max(1, len(losses) // points)
    return [{"step": i + width, "loss": sum(losses[i:i + width]) / len(losses[i:i + width])}
            for i in range(0, len(losses), width)]


@torch.inference_mode()
def predict_logits(model, tokenizer, texts, *, batch_size=128, max_len=64, bf16=True, quiet=True, desc="predict"):
    """Logits for many texts: batched, length-sorted so padding is small, in `texts` order."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.num_labels)
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, disable=quiet, mininterval=1.0):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len,
                          return_tensors="pt").to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out[idx] = model(**batch).logits.float().cpu()
    return out


def evaluate(model, tokenizer, dataset, max_len: int = 64, bf16: bool = True) -> dict:
    """Accuracy and F1 (positive class for two labels, else macro) on a labeled split."""
    predictions = predict_logits(model, tokenizer, list(dataset["text"]), max_len=max_len, bf16=bf16).argmax(-1)
    labels = torch.tensor(list(dataset["label"]))
    f1s = []
    for c in range(model.config.num_labels):
        tp = ((predictions == c) & (labels == c)).sum().item()
        fp = ((predictions == c) & (labels != c)).sum().item()
        fn = ((predictions != c) & (labels == c)).sum().item()
        f1s.append(2 * tp / max(1, 2 * tp + fp + fn))
    f1 = f1s[1] if len(f1s) == 2 else sum(f1s) / len(f1s)
    return {"acc": (predictions == labels).float().mean().item(), "f1": f1}


def save_model(model, tokenizer, folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _canonical(config: FinetuneConfig) -> FinetuneConfig:
    """Asking for at least every example means all of them: one cache key for both spellings."""
    splits = data.load_task(config.task, source=config.source)
    if config.train_examples is not None and config.train_examples >= len(splits["train"]):
        config = replace(config, train_examples=None)
    if config.eval_examples is not None and config.eval_examples >= max(len(splits["validation"]), len(splits["test"])):
        config = replace(config, eval_examples=None)
    return config


def finetune(config: FinetuneConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """Fine-tune `config.init` on the task -> runs/finetune/<key>/ (model, tokenizer, metrics)."""
    config = _canonical(config)
    def build(work: Path) -> dict:
        started = time.time()
        train, validation, test = load_splits(config.task, config.source, config.train_examples,
                                              config.eval_examples, config.seed)
        num_labels = train.features["label"].num_classes
        seed_everything(config.seed)  # the classifier head's initial weights
        model, tokenizer = build_classifier(config.init, config.size, config.layers, num_labels)
        model, curve = fit(model, tokenizer, list(train["text"]), torch.tensor(list(train["label"])), F.cross_entropy,
                           epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                           max_len=config.max_len, warmup_frac=config.warmup_frac,
                           weight_decay=config.weight_decay, bf16=config.bf16, seed=config.seed,
                           desc=f"fine-tune {Path(config.init).name if config.init != 'random' else config.size}",
                           quiet=quiet)
        save_model(model, tokenizer, work)
        val, tst = evaluate(model, tokenizer, validation, config.max_len), evaluate(model, tokenizer, test, config.max_len)
        return {"val_acc": val["acc"], "val_f1": val["f1"], "test_acc": tst["acc"], "test_f1": tst["f1"],
                "params": count_params(model), "train_examples": len(train), "curve": curve,
                "wall_s": round(time.time() - started, 2)}
    return cache.stage("finetune", asdict(config), build, force=force)

"""Patient Knowledge Distillation (Sun et al. 2019, PKD-skip), the paper's "more elaborate" rival: a student started
from the teacher's own bottom layers learns the teacher's soft labels and, at its intermediate layers, the teacher's
normalised [CLS] states at evenly spaced layers (computed once on the transfer texts and cached like the logits)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from . import cache, data, train
from .device import autocast, resolve, seed_everything
from .distill import DistillConfig, distill_loss
from .models import build_classifier, check_init
from .speed import latency_ms
from .teacher import load_teacher_logits, soft_labels, train_teacher


@dataclass(frozen=True)
class PKDConfig(DistillConfig):
    lr: float = 1e-4              # the student starts from weights pre-trained at scale, as PD from MiniLM's layers
    beta: float = 100.0           # weight of the [CLS]-state loss (PKD searched 10, 100, 500, 1000)
    states: str = ""              # the teacher's [CLS] states on the transfer texts (teacher_states)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.beta, (int, float)) or isinstance(self.beta, bool) or self.beta < 0:
            raise ValueError(f"pkd__beta={self.beta!r}: use a number >= 0 (0 is plain distillation)")


def skip_layers(student: int, teacher: int) -> list[int]:
    """PKD-skip: the teacher layer that each of the student's layers 1..L-1 learns from, evenly spaced (its last layer
    learns from the soft labels instead)."""
    return [int(i * teacher / student + 0.5) for i in range(1, student)]


@torch.inference_mode()
def cls_states(model, tokenizer, texts: list, layers: list[int], *, max_len: int, precision: str, batch_size=128,
               quiet=True) -> torch.Tensor:
    """The unit-length [CLS] state after each of `layers` for every text: [texts, layers, hidden], in `texts` order."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(str(texts[i])))
    out = torch.empty(len(texts), len(layers), model.config.hidden_size)
    for start in tqdm(range(0, len(texts), batch_size), desc="teacher [CLS] states", disable=quiet, mininterval=1.0):
        idx = order[start:start + batch_size]
        with autocast(precision, device.type):
            batch = train.encode(tokenizer, [texts[i] for i in idx], max_len).to(device)
            hidden = model(**batch, output_hidden_states=True)
        out[idx] = torch.stack([hidden.hidden_states[j][:, 0].float() for j in layers], 1)
    return F.normalize(out, dim=-1)


def teacher_states(teacher: str, logits: str, layers: list[int], *, max_len: int, precision: str, force=False,
                   quiet=False) -> Path:
    """The fine-tuned teacher's [CLS] states at `layers` on the texts of its logits stage -> runs/states/<key>/."""
    config = {"teacher": teacher, "logits": logits, "layers": list(layers), "max_len": max_len,
              "precision": resolve(precision)}

    def build(work: Path) -> dict:
        texts = data.inputs(load_teacher_logits(logits))
        model = AutoModelForSequenceClassification.from_pretrained(teacher)
        if torch.cuda.is_available():
            model = model.cuda()
        states = cls_states(model, AutoTokenizer.from_pretrained(teacher), texts, layers, max_len=max_len,
                            precision=config["precision"], quiet=quiet)
        save_file({"states": states.half().contiguous()}, str(work / "states.safetensors"))  # half: ~half the disk
        return {"examples": len(texts), "layers": list(layers)}
    return cache.stage("states", config, build, force=force)


def pkd(config: PKDConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """Distil the soft labels and the [CLS] states into the student -> runs/pkd/<key>/ (model, tokenizer, metrics)."""
    check_init(config.init)
    config = replace(config, task=config.task.canonical(), precision=resolve(config.precision))

    def build(work: Path) -> dict:
        transfer = load_teacher_logits(config.logits)
        _, validation, test = replace(config.task, train_examples=None).splits(config.seed)
        soft = torch.tensor(data.column(transfer, "teacher_logits"))
        states = load_file(str(Path(config.states) / "states.safetensors"))["states"].float()  # [N, k, H]
        classes, pairs = soft.shape[1], states.shape[1]
        seed_everything(config.seed)
        model, tokenizer = build_classifier(config.init, config.size, num_labels=classes)
        if model.config.num_hidden_layers - 1 != pairs or model.config.hidden_size != states.shape[2]:
            raise ValueError(f"the student ({model.config.num_hidden_layers} layers, H{model.config.hidden_size}) does "
                             f"not match the teacher's states ({pairs} layers + 1, H{states.shape[2]})")
        targets = torch.cat([soft, torch.tensor(data.column(transfer, "label")).float()[:, None], states.flatten(1)], dim=1)

        def loss_fn(outputs, target):
            logits, labels = outputs.logits.float(), target[:, classes].long()
            teacher = target[:, classes + 1:].view(len(target), pairs, -1)
            student = torch.stack([outputs.hidden_states[i][:, 0] for i in range(1, pairs + 1)], 1).float()
            patient = (F.normalize(student, dim=-1) - teacher).pow(2).sum(-1).sum(-1).mean()
            return distill_loss(logits, target[:, :classes], labels, config.temperature, config.alpha) \
                + config.beta * patient

        model.config.output_hidden_states = True
        model, curve = train.fit(model, tokenizer, data.inputs(transfer), targets, loss_fn, config,
                                 desc=f"PKD into L{model.config.num_hidden_layers}/H{model.config.hidden_size}",
                                 quiet=quiet, lr_field="pkd__lr")
        model.config.output_hidden_states = False
        train.save_model(model, tokenizer, work)
        return {**train.scores(model, tokenizer, validation, test, max_len=config.task.max_len,
                               precision=config.precision),
                "transfer_examples": len(transfer), "curve": curve, "soft_loss": config.soft_loss,
                "latency_ms": latency_ms(model, batch=1, seq_len=config.task.max_len, repeats=20,
                                         precision=config.precision)}
    return cache.stage("pkd", config, build, force=force)


def trained(run) -> list:
    """The registry's PKD (run: a methods.Run started from the teacher's bottom layers): soft labels and [CLS] states."""
    b = run.budget
    logits = soft_labels(b.teacher, b.logits, quiet=run.quiet)
    teacher = train_teacher(b.teacher, quiet=True)
    depth = AutoConfig.from_pretrained(teacher).num_hidden_layers
    layers = skip_layers(run.size.layers, depth)
    states = teacher_states(str(teacher), str(logits), layers, max_len=b.task.max_len, precision=b.precision,
                            quiet=run.quiet)
    config = replace(b.pkd, size=run.size.short, seed=run.seed, logits=str(logits), states=str(states), init=run.init)
    return [("pkd", pkd(config, quiet=run.quiet, force=run.force))]

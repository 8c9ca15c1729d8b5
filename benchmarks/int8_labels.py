"""Labelling the transfer set with an int8 teacher: the fine-tuned teacher's soft labels on the same texts at fp32,
with its Linear layers quantized to int8 (dynamic quantization), and at bf16 where the CPU runs it natively;
seconds side by side as ratios against fp32, and how far each set of labels is from fp32's (argmax agreement, mean absolute
difference of the positive-class probability), plus the teacher's validation accuracy at each.

    python benchmarks/int8_labels.py --texts 4000
    benchmarks/avx2.sh python benchmarks/int8_labels.py --texts 4000   # as on an AVX2 laptop (one core, fp32)
"""
from __future__ import annotations

import argparse
import time

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from wellread import data
from wellread.budget import get_budget
from wellread.device import cpu_flags, resolve
from wellread.recipes import teacher
from wellread.train import predict_logits


def quantized(model):
    """The model with its Linear layers' weights in int8 and activations quantized on the fly (CPU inference)."""
    return torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)


def label(model, tokenizer, texts, max_len: int, precision: str) -> tuple[torch.Tensor, float]:
    predict_logits(model, tokenizer, texts[:256], max_len=max_len, precision=precision)  # warm-up
    start = time.perf_counter()
    logits = predict_logits(model, tokenizer, texts, max_len=max_len, precision=precision)
    return logits, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="classroom")
    parser.add_argument("--texts", type=int, default=4000, help="transfer texts to label (the classroom labels 20k)")
    args = parser.parse_args()
    b = get_budget(args.budget)
    folder = teacher(b, quiet=True)
    texts = data.transfer_inputs(b.logits.chosen_transfer, b.task, args.texts)
    validation = b.task.splits(0)[1]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    fp32 = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    variants = {"fp32": (fp32, "fp32"), "int8": (quantized(fp32), "fp32")}  # quantized: a copy
    if resolve("auto") == "bf16":  # the kit's own probe: bf16 only where it runs natively and fast
        variants["bf16"] = (fp32, "bf16")
    print(f"teacher {folder.name} ({args.budget}), {len(texts)} texts, {torch.get_num_threads()} thread(s), "
          f"CPU flags {' '.join(cpu_flags()) or 'none'}")
    print(f"{'labels':<6} {'seconds':>8} {'speed vs fp32':>14} {'argmax agrees':>14} {'mean |dp|':>10} {'val acc':>8}")
    reference = None
    for name, (model, precision) in variants.items():
        logits, seconds = label(model, tokenizer, texts, b.task.max_len, precision)
        probs = logits.softmax(-1)
        val = predict_logits(model, tokenizer, data.inputs(validation), max_len=b.task.max_len, precision=precision)
        val_acc = (val.argmax(-1) == torch.tensor(list(validation["label"]))).float().mean().item()
        if reference is None:
            reference = (probs, seconds)
        agree = (probs.argmax(-1) == reference[0].argmax(-1)).float().mean().item()
        print(f"{name:<6} {seconds:8.1f} {reference[1] / seconds:13.2f}x {agree:14.4f} "
              f"{(probs - reference[0]).abs()[:, -1].mean().item():10.4f} {val_acc:8.3f}", flush=True)


if __name__ == "__main__":
    main()

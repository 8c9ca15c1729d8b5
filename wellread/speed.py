"""Inference latency of a student size or a model, measured on the learner's own machine."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import BertModel

from . import cache
from .device import autocast, resolve
from .sizes import Size, all_sizes, parse_size

# All 24 sizes measured once, with the machine and precision named in the file (benchmarks/speed_grid.py writes it):
# the classroom budget times only a few sizes on the learner's machine and shows the rest from here.
COMMITTED = Path(__file__).resolve().parents[1] / "data" / "speed_grid.json"


@torch.inference_mode()
def latency_ms(model_or_size, *, batch: int = 1, seq_len: int = 128, repeats: int = 10, warmup: int = 2,
               precision: str = "auto") -> float:
    """Median milliseconds for one forward pass of `batch` sequences of `seq_len` tokens, at `precision`."""
    if isinstance(model_or_size, torch.nn.Module):
        model = model_or_size
    else:
        model = BertModel(parse_size(model_or_size).bert_config(), add_pooling_layer=False)
    model.eval()
    device = next(model.parameters()).device
    vocab = model.config.vocab_size  # ordinary word ids, inside any vocabulary (a small student's too)
    low = min(1000, vocab // 2)
    ids = torch.randint(low, min(low + 1000, vocab), (batch, seq_len), generator=torch.Generator().manual_seed(0)).to(device)
    mask = torch.ones_like(ids)
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast(precision, device.type):
            model(input_ids=ids, attention_mask=mask)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def speed_grid(sizes: list[Size] | None = None, *, batches=(1, 32), seq_len: int = 128, repeats: int = 3,
               precision: str = "auto", force: bool = False, quiet: bool = False) -> list[dict]:
    """Latency of each size and its speed-up against the largest one (Base when the grid is whole).

    Cached under runs/speed/ with the machine in its key: it is a measurement of this computer.
    """
    sizes = sizes or all_sizes()
    precision = resolve(precision)
    config = {"sizes": [s.short for s in sizes], "batches": list(batches), "seq_len": seq_len, "repeats": repeats,
              "machine": cache.provenance()["machine"], "threads": torch.get_num_threads(), "precision": precision}

    def build(work):
        rows = []
        for size in tqdm(sizes, desc="latency", disable=quiet):
            model = BertModel(size.bert_config(), add_pooling_layer=False)
            row = {"size": size.short, "name": size.name, "layers": size.layers, "hidden": size.hidden,
                   "params": size.mlm_params, "embedding_params": size.embedding_params,
                   "encoder_params": size.encoder_params}
            for b in batches:
                row[f"ms_batch{b}"] = latency_ms(model, batch=b, seq_len=seq_len, repeats=repeats, warmup=1,
                                                 precision=precision)
            rows.append(row)
            del model  # before the next size is built: two large models at once would double the peak memory
        largest = max(rows, key=lambda r: r["params"])
        for row in rows:
            for b in batches:
                row[f"speedup_batch{b}"] = largest[f"ms_batch{b}"] / row[f"ms_batch{b}"]
            row["speedup_against"] = largest["size"]
        return {"rows": rows}

    return cache.metrics(cache.stage("speed", config, build, force=force))["rows"]


def committed_grid(path: Path = COMMITTED) -> dict | None:
    """The committed whole-grid measurement: {"rows": [...], "machine", "cpu_flags", "precision", "date", ...}."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else None


def describe(measurement: dict) -> str:
    """Where a committed measurement comes from, in one line for a figure's title."""
    flags = " ".join(measurement.get("cpu_flags") or []) or "flags unknown"
    return (f"committed measurement: {measurement['machine']} ({flags}), {measurement['precision']}, "
            f"{measurement['date'][:10]}")

"""One fine-tuning step of a student, three ways, side by side: eager on all threads (the kit's), eager on one
thread, and `torch.compile`d (its compile time too). Prints ms per step and each one's ratio to the kit's.

    python benchmarks/step_variants.py [--sizes tiny L2/H384] [--steps 24] [--no-compile]

Batches of random word ids whose length changes every step (24-48 tokens, as length-bucketed batches do), AdamW
(fused), fp32. The weights after one thread and after all threads are compared too: equal weights would make
running two students side by side on one thread each a free speed-up; different ones tie a cached result to how it
ran. The compile runs with an empty inductor cache, as on a learner's first run (`--warm-cache`: the usual one)."""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if "--warm-cache" not in sys.argv:  # before torch is imported: inductor reads it then
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="wellread-inductor-")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wellread  # noqa: F401,E402  (first: sets OMP_WAIT_POLICY before torch loads)
import torch  # noqa: E402
from transformers import BertForSequenceClassification  # noqa: E402

from wellread.device import cpu_flags  # noqa: E402
from wellread.sizes import parse_size  # noqa: E402

LENGTHS = (24, 32, 40, 48)


def steps(model, n: int, batch: int, warmup: int = 8) -> float:
    """Seconds per step over `n` steps after `warmup` (the same batches every call)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    generator = torch.Generator().manual_seed(1)
    started = None
    for i in range(warmup + n):
        ids = torch.randint(1000, 2000, (batch, LENGTHS[i % len(LENGTHS)]), generator=generator)
        labels = torch.randint(0, 2, (batch,), generator=generator)
        if i == warmup:
            started = time.perf_counter()
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - started) / n


def fresh(size) -> torch.nn.Module:
    torch.manual_seed(0)
    model = BertForSequenceClassification(size.bert_config(num_labels=2))
    model.train()
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "L2/H384"])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--warm-cache", action="store_true", help="compile with inductor's usual on-disk cache")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    print(f"CPU flags: {' '.join(cpu_flags()) or 'unknown'}; fp32; {os.cpu_count()} cores, torch {torch.__version__}")
    for name in args.sizes:
        size = parse_size(name, off_grid=True)
        batch = 32 if size.hidden <= 256 else 16
        kit_model = fresh(size)
        first = steps(kit_model, args.steps, batch)
        torch.set_num_threads(1)
        one_model = fresh(size)
        one = steps(one_model, args.steps, batch)
        torch.set_num_threads(threads)
        diff = max((a - b).abs().max().item() for a, b in zip(kit_model.parameters(), one_model.parameters()))
        second = steps(fresh(size), args.steps, batch)  # measured before and after: the faster, less noise
        kit = min(first, second)
        line = (f"{size.short} (batch {batch}): kit {threads} threads {1000 * kit:.0f} ms/step (runs "
                f"{1000 * first:.0f}, {1000 * second:.0f}); 1 thread "
                f"{1000 * one:.0f} ms ({kit / one:.2f}x the kit's speed); weights after the same steps differ by "
                f"up to {diff:.1e}")
        if not args.no_compile:
            compiled = torch.compile(fresh(size), dynamic=True)
            started = time.perf_counter()
            steps(compiled, 1, batch, warmup=len(LENGTHS) - 1)  # every length once: the compiles
            compiling = time.perf_counter() - started
            fast = steps(compiled, args.steps, batch)
            line += f"; compiled {1000 * fast:.0f} ms ({kit / fast:.2f}x) after {compiling:.0f} s of compiling"
        print(line, flush=True)


if __name__ == "__main__":
    main()

"""Ship the classroom tour's soft labels with the kit: copy the logits stages a finished tour built into
data/soft_labels/ (safetensors and a manifest; `wellread.teacher.ship`), so a learner's tour need not wait for its
teachers to label every text.

    python benchmarks/ship_soft_labels.py [--budget classroom] [--runs RUNS]

The stages are `recipes.tour_soft_labels(budget)`'s: notebook 2's teacher, notebook 4's fair teacher and notebook 5's
transfer sets, each with the training inputs' stage it joins. Each must be built in RUNS (run `make tour` first), in
the precision a learner's laptop chooses (fp32: no native bf16)."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wellread  # noqa: F401,E402  (first: sets OMP_WAIT_POLICY before torch loads)
from wellread import cache, recipes, teacher  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="classroom")
    parser.add_argument("--runs", type=Path, default=None, help="the runs folder a tour built (default: the kit's)")
    args = parser.parse_args(argv)
    runs = args.runs or cache.runs_dir()
    keys = recipes.tour_soft_labels(args.budget)
    missing = [k for k in keys if not (runs / "logits" / k).is_dir()]
    if missing:
        sys.exit(f"not built in {runs}/logits: {missing}; run the tour (make tour) at the {args.budget!r} budget first")
    manifest = teacher.ship([runs / "logits" / k for k in keys])
    for key in keys:
        entry = manifest["stages"][key]
        print(f"{key}: {entry['examples']:,} texts ({entry['transfer']}), teacher {entry['teacher']}, made "
              f"{teacher.made_words(entry['made'])}")
    print(f"-> {teacher.SHIPPED}")


if __name__ == "__main__":
    main()

"""The `wellread` command: fetch the data pack, take the tour, run one method, list the students."""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
import warnings

import wellread  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)
from wellread import checks


def _task_options(args) -> dict:
    options = {"validation": args.validation, "test": args.test, "text_column": args.text_column,
               "text_pair_column": args.text_pair_column, "label_column": args.label_column,
               "drop_duplicates": args.drop_duplicates}
    return {k: v for k, v in options.items() if v not in (None, False)}


def _add_task_options(p) -> None:
    p.add_argument("--validation", help="your validation file (default: 10%% of train, seeded)")
    p.add_argument("--test", help="your test file (default: 10%% of train, seeded)")
    p.add_argument("--text-column", help="the column holding the text (default: text)")
    p.add_argument("--text-pair-column", help="the second text of a sentence-pair task (e.g. a hypothesis)")
    p.add_argument("--label-column", help="the column holding the label (default: label)")
    p.add_argument("--drop-duplicates", action="store_true", help="drop repeated inputs instead of refusing them")


def _data(args) -> None:
    from . import data
    from .cache import cache_root
    if args.action == "check":
        if not args.files:
            raise ValueError("wellread data check FILE: name your training file (CSV, TSV, JSON or JSONL)")
        _check(data.Task.parse(args.files[0], **_task_options(args)))
        return
    data.fetch(quiet=args.quiet)  # prints the counts unless quiet
    if args.quiet:
        print(f"data pack ready in {cache_root()}")


def _check(task) -> None:
    """What the kit understood of a task: counts, label names, the first rows."""
    from . import data
    splits = task.load()
    names = task.label_names
    print(task.class_table())
    print("first rows of train:")
    for item, label in list(zip(data.inputs(splits["train"]), data.column(splits["train"], "label")))[:3]:
        print(f"  [{names[label]}] {item!r:.110}")


def _sizes(args) -> None:
    from .sizes import all_sizes
    print(f"{'size':<9}{'name':<8}{'params (MLM)':>14}{'embedding share':>17}")
    for s in sorted(all_sizes(), key=lambda s: (s.layers, s.hidden)):
        print(f"{s.short:<9}{s.name if s.name != s.short else '':<8}{s.mlm_params / 1e6:>13.1f}M"
              f"{s.embedding_params / s.mlm_params:>16.0%}")


BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _field_type(name: str):
    """The declared type of a budget field (bool, "int | None", ...), or None for a name the budget will refuse."""
    from dataclasses import fields, is_dataclass
    from . import budget
    stage, _, field = getattr(budget, "ALIASES", {}).get(name, name).partition("__")
    base = budget.get_budget()
    owner = getattr(base, stage, None) if field else base
    return {f.name: f.type for f in fields(owner)}.get(field or stage) if is_dataclass(owner) else None


def _is_bool(declared) -> bool:
    # a module with `from __future__ import annotations` declares the string "bool", one without it the class
    return declared is bool or declared == "bool"


def parse_overrides(pairs) -> dict:
    """`--set pretrain__steps=500` pairs -> get_budget keyword arguments: booleans from true/false/yes/no/1/0 for a
    field declared bool, numbers parsed, `none` is None."""
    out = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set {pair!r}: write FIELD=VALUE, e.g. --set pretrain__steps=500")
        if _is_bool(_field_type(name)):
            if text.strip().lower() not in BOOLEANS:
                raise ValueError(f"--set {name}={text}: {name} is true or false (also yes/no, 1/0)")
            out[name] = BOOLEANS[text.strip().lower()]
            continue
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                value = None if text.lower() == "none" else text
        out[name] = value
    return out


def _run(args) -> None:
    from .recipes import run
    given = [f"--{name.replace('_', '-')}" for name in _task_options(args)]
    if given and not args.task:
        raise ValueError(f"{', '.join(given)} describe(s) your own file: add --task FILE (a CSV, TSV, JSON or JSONL)")
    overrides = parse_overrides(args.set)
    if args.precision:
        overrides["precision"] = args.precision
    task = None
    if args.task:
        from .data import Task
        task = Task.parse(args.task, **_task_options(args))
    if args.transfer:
        overrides["logits__transfer"] = args.transfer
    result = run(args.method, args.student, args.budget, args.seed, quiet=args.quiet, force=args.force, task=task,
                 pretrained=args.pretrained, **overrides)
    for key, value in result.row().items():
        print(f"{key:>12}: {value}")


def _pretrain(args) -> None:
    from .cache import metrics
    from .device import processes
    from .recipes import pretrained_student
    overrides = parse_overrides(args.set)
    if args.precision:
        overrides["precision"] = args.precision
    path = pretrained_student(args.student, args.budget, force=args.force, quiet=args.quiet, **overrides)
    if processes().is_main_process:
        m = metrics(path)
        print(f"pre-trained {args.student} at the {args.budget} budget: {m['tokens_seen']:,} tokens, held-out MLM loss "
              f"{m['heldout_loss']:.3f} (unigram model {m['unigram_entropy']:.3f}) -> {path}")
        print(f"processes: {processes().num_processes}")


def _precision(args) -> None:
    from .device import choose_precision, cpu_flags
    from . import IDLE_THREADS
    precision, why = choose_precision()
    print(f"precision: {precision} ({why}); CPU flags: {' '.join(cpu_flags()) or 'unknown'}")
    print(f"idle threads (OMP_WAIT_POLICY): {IDLE_THREADS[0]} ({IDLE_THREADS[1]})")


def _prepare(args) -> None:
    from .share import prepare
    took = prepare(args.budget, args.students, quiet=args.quiet)
    print("prepared: " + ", ".join(f"{s} in {t / 60:.1f} min" for s, t in took.items()) + "; `wellread pack FILE` to share")


def _pack(args) -> None:
    from .share import pack, unpack
    if args.command == "pack":
        print(f"packed into {pack(args.file, force=args.force, quiet=args.quiet)}")
    else:
        unpack(args.file, expect=args.expect, quiet=args.quiet)


def _tour(args) -> None:
    from .tour import methods_table, run_notebooks, stage_table, stage_text
    started = time.time()
    out = run_notebooks(budget=args.budget, student=args.student, seed=args.seed, out_dir=args.out,
                        html=not args.no_html, quiet=args.quiet)
    table = methods_table(out)
    if table is not None:
        print(f"\nStudent {args.student}, budget {args.budget}, seed {args.seed} (accuracy on the RT split by movie; "
              "latency: one sequence on this CPU)")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    stages = stage_table(out)
    print("\nWhere the time went (seconds; `built`: stages trained here, the rest came from the cache)")
    print(stage_text(stages))
    print(f"\nThe tour took {time.time() - started:.0f} s. Report: {out} (open the .html files in a browser)")


def _training_commands(sub) -> None:
    """The commands that train, pack or tour, with choices and help read from the budgets and the registry."""
    from .budget import BUDGETS, override_names
    from .methods import METHODS, STARTS
    budget_help = f"one of {', '.join(BUDGETS)} (default classroom; see wellread/budget.py)"
    set_help = "override a budget field, e.g. --set pretrain__steps=500; fields: " + ", ".join(override_names())
    precision = sub.add_parser("precision", help="which precision this machine trains with and how its idle threads wait, and why")
    precision.set_defaults(func=_precision)

    pretrain = sub.add_parser("pretrain", help="masked-LM pre-training of one student (data-parallel under "
                              "`accelerate launch --multi_gpu --num_processes N -m wellread.cli pretrain ...`)")
    pretrain.add_argument("--student", default="tiny", help="e.g. tiny, mini, L4/H256, 4x256")
    pretrain.add_argument("--budget", default="classroom", help=budget_help)
    pretrain.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default=None)
    pretrain.add_argument("--set", action="append", metavar="FIELD=VALUE", help=set_help)
    pretrain.add_argument("--force", action="store_true", help="pre-train again even if cached")
    pretrain.add_argument("--quiet", action="store_true")
    pretrain.set_defaults(func=_pretrain)

    prepare = sub.add_parser("prepare", help="build every artifact the notebooks need (for a class or Binder)")
    prepare.add_argument("--budget", default="classroom", help=budget_help)
    prepare.add_argument("--students", nargs="+", default=["tiny"])
    prepare.add_argument("--quiet", action="store_true")
    prepare.set_defaults(func=_prepare)
    for name, helptext in (("pack", "write runs/'s artifacts into one archive FILE with a manifest"),
                           ("unpack", "check an archive FILE from `wellread pack` and add its artifacts to runs/")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("file")
        p.add_argument("--quiet", action="store_true")
        if name == "pack":
            p.add_argument("--force", action="store_true", help="replace FILE if it exists (kept otherwise)")
        else:
            p.add_argument("--expect", metavar="SHA256", help="refuse the archive unless its sha256 is this one (the "
                           "hash its maker published beside it)")
        p.set_defaults(func=_pack)

    for name, func, helptext in [("tour", _tour, "run notebooks 0-5 and export an HTML report"),
                                 ("run", _run, "run one method for one student")]:
        p = sub.add_parser(name, help=helptext)
        if name == "run":
            p.add_argument("method", metavar="METHOD", help="; ".join(f"{m.name}: {m.description}" for m in METHODS.values()))
        p.add_argument("--budget", default="classroom", help=budget_help)
        p.add_argument("--student", default="tiny", help="e.g. tiny, mini, L4/H256, 4x256")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quiet", action="store_true")
        if name == "run":
            p.add_argument("--force", action="store_true", help="rebuild this run's own stages even if cached")
            p.add_argument("--pretrained", default=None, metavar="START",
                           help="where the student starts (default: the method's own): "
                                + "; ".join(f"{name}: {words}" for name, words in STARTS.items()))
            p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default=None,
                           help="override the budget's precision (default: what this device runs fast)")
            p.add_argument("--set", action="append", metavar="FIELD=VALUE", help=set_help)
            p.add_argument("--task", help="your labeled file (CSV, TSV, JSON, JSONL) or a hub task (glue/sst2, glue/mnli, "
                           "glue/rte, imdb, rotten_tomatoes); default: the embedded Rotten Tomatoes split")
            _add_task_options(p)
            p.add_argument("--transfer", default="movie", help="unlabeled text to distil on: movie (default), glosses, "
                           "none (only the task's training inputs), or a file")
        if name == "tour":
            p.add_argument("--out", default=None, help="report folder (default runs/tour/<time>)")
            p.add_argument("--no-html", action="store_true", help="skip the HTML export")
        p.set_defaults(func=func)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="wellread", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="the offline data pack")
    data.add_argument("action", choices=["fetch", "check"], help="fetch: the offline pack; check FILE: what the "
                      "kit reads from your labeled file")
    data.add_argument("files", nargs="*", help="check: your training file")
    _add_task_options(data)
    data.add_argument("--quiet", action="store_true")
    data.set_defaults(func=_data)

    sizes = sub.add_parser("sizes", help="list the 24 students")
    sizes.set_defaults(func=_sizes)

    # `data` and `sizes` need no budget: the other commands' choices import torch and transformers (8 s on 2 cores)
    if (sys.argv[1:] if argv is None else list(argv))[:1] not in (["data"], ["sizes"]):
        _training_commands(sub)

    args = parser.parse_args(argv)
    seed = getattr(args, "seed", 0)
    if not 0 <= seed < checks.SEEDS:
        print(f"wellread: --seed {seed}: use an integer from 0 to {checks.SEEDS - 1}", file=sys.stderr)
        return 2
    # only the main thread may set a handler (main() called from a worker thread keeps the default)
    previous = signal.signal(signal.SIGTERM, _terminated) \
        if threading.current_thread() is threading.main_thread() else None
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        try:
            args.func(args)
        except KeyboardInterrupt as error:
            where = _note(error) or f"while running `wellread {args.command}`"
            how = "stopped by SIGTERM" if isinstance(error, Terminated) else "interrupted"
            print(f"wellread: {how} {where}; what was finished is kept: run the same command again to resume",
                  file=sys.stderr)
            return 143 if isinstance(error, Terminated) else 130
        except Exception as error:
            if os.environ.get("WELLREAD_DEBUG"):
                raise
            expected = isinstance(error, (ValueError, RuntimeError, OSError)) or _notebook_failed(error) \
                or "No space left on device" in str(error)
            if os.environ.get("RANK", "0") == "0":  # under `accelerate launch` every process fails alike: say it once
                print(f"wellread: {_message(error)}" + ("" if expected else " (unexpected: a bug in the kit; "
                      "WELLREAD_DEBUG=1 shows the traceback)"), file=sys.stderr)
            return 2 if expected else 1
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a closed terminal, a stopped container): unwound like Ctrl-C, so work in progress is kept."""


def _terminated(signum, frame):
    # An exception raised inside a finalizer (__del__) is swallowed: a second SIGTERM then stops the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated()


def _note(error: BaseException) -> str:
    """The innermost stage an error happened in, as cache.stage notes it ("while building <stage>/<key>"), or ""."""
    notes = getattr(error, "__notes__", None)
    return notes[0] if notes else ""


def _notebook_failed(error: Exception) -> bool:
    return type(error).__name__ == "PapermillExecutionError"


def _message(error: Exception) -> str:
    """One line: what went wrong, where, and what to do."""
    if not isinstance(error, OSError) and "No space left on device" in str(error):  # a library's own error type
        error = OSError(errno.ENOSPC, "No space left on device")
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"cannot write {error.filename or 'a file'}: it or its folder is read-only or not yours; set "
                "WELLREAD_RUNS (artifacts) and WELLREAD_CACHE (the data pack) to folders you can write, or fix its "
                "permissions" + (f" ({_note(error)})" if _note(error) else ""))
    blocker = _file_in_the_way(error.filename) if isinstance(error, OSError) and error.errno in (
        errno.ENOTDIR, errno.EEXIST) else None
    if blocker:
        return (f"{blocker} is a file where the kit needs a folder (to write {error.filename}): set WELLREAD_RUNS and "
                "WELLREAD_CACHE to folders, or move that file away")
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        at = f" writing {error.filename}" if error.filename else ""
        where = f" ({_note(error)})" if _note(error) else ""
        return (f"the disk is full{at}{where}: nothing half-written was kept; free some space (or set WELLREAD_RUNS "
                "to a folder on a larger disk) and run the same command again")
    if _notebook_failed(error):  # the kernel's error, without papermill's cell dump
        text = f"a notebook failed: {error.ename}: {error.evalue}"
    elif isinstance(error, OSError) and error.strerror and error.filename:  # not "[Errno 2] ...": path, then why
        text = f"{error.filename}: {error.strerror[:1].lower()}{error.strerror[1:]}"
    else:
        known = isinstance(error, (ValueError, RuntimeError, OSError))
        text = str(error) if known else f"{type(error).__name__}: {error}"
    return " ".join(text.split()) + (f" ({_note(error)})" if _note(error) else "")


def _file_in_the_way(path) -> str | None:
    """The file (not a folder) at `path` or above it that stops a folder being made there, or None."""
    from pathlib import Path
    if not path:
        return None
    for candidate in (Path(path), *Path(path).parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else str(candidate)
    return None


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"wellread: warning: {' '.join(str(message).split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

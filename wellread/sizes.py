"""The 24 compact BERTs of the paper: layers L x hidden H, heads H/64, feed-forward 4H."""
from __future__ import annotations

import re
from dataclasses import dataclass

LAYERS = (2, 4, 6, 8, 10, 12)
HIDDENS = (128, 256, 512, 768)
VOCAB_SIZE = 30522
MAX_POSITIONS = 512

NAMED = {"tiny": (2, 128), "mini": (4, 256), "small": (4, 512), "medium": (8, 512), "base": (12, 768)}
_NAME_OF = {v: k.capitalize() for k, v in NAMED.items()}

_VALID = (f"layers L in {list(LAYERS)} and hidden H in {list(HIDDENS)}, written like "
          f"'mini', 'L4/H256', '4x256' or 'google/bert_uncased_L-4_H-256_A-4'; names: {sorted(NAMED)}")


@dataclass(frozen=True)
class Size:
    """A BERT shape; off-grid shapes (e.g. a truncated L3/H384 teacher) need `off_grid=True`."""
    layers: int
    hidden: int
    vocab_size: int = VOCAB_SIZE
    off_grid: bool = False

    def __post_init__(self):
        if self.layers < 1 or self.hidden < 64 or self.hidden % 64:
            raise ValueError(f"L{self.layers}/H{self.hidden} is not a BERT shape: need L >= 1 and H a "
                             f"multiple of 64 (heads are H/64). Valid grid: {_VALID}")
        if not self.off_grid and (self.layers not in LAYERS or self.hidden not in HIDDENS):
            raise ValueError(f"L{self.layers}/H{self.hidden} is not one of the paper's 24 students. Valid: "
                             f"{_VALID}. For another shape pass off_grid=True.")
        if self.vocab_size < 5:
            raise ValueError(f"vocab_size={self.vocab_size} is too small (need at least 5 special tokens)")

    @property
    def heads(self) -> int:
        return self.hidden // 64

    @property
    def intermediate(self) -> int:
        return 4 * self.hidden

    @property
    def name(self) -> str:
        """'Tiny', 'Mini', ... for the named five, else 'L6/H256'."""
        return _NAME_OF.get((self.layers, self.hidden), f"L{self.layers}/H{self.hidden}")

    @property
    def short(self) -> str:
        return f"L{self.layers}/H{self.hidden}"

    @property
    def hub_id(self) -> str:
        if self.off_grid:
            raise ValueError(f"{self.short} is off the grid: Google released no checkpoint for it")
        return f"google/bert_uncased_L-{self.layers}_H-{self.hidden}_A-{self.heads}"

    def bert_config(self, **overrides):
        from transformers import BertConfig
        kwargs = dict(vocab_size=self.vocab_size, hidden_size=self.hidden, num_hidden_layers=self.layers,
                      num_attention_heads=self.heads, intermediate_size=self.intermediate,
                      max_position_embeddings=MAX_POSITIONS)
        kwargs.update(overrides)
        return BertConfig(**kwargs)

    # Parameter counts, in closed form so the 6x4 grid needs no model built; tests check them
    # against what transformers builds.
    @property
    def embedding_params(self) -> int:
        h = self.hidden
        return (self.vocab_size + MAX_POSITIONS + 2) * h + 2 * h  # word, position, type + LayerNorm

    @property
    def encoder_params(self) -> int:
        h, f = self.hidden, self.intermediate
        per_layer = 4 * (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h
        return self.layers * per_layer

    @property
    def pooler_params(self) -> int:
        return self.hidden * self.hidden + self.hidden

    @property
    def mlm_head_params(self) -> int:
        """The MLM transform + decoder bias (the decoder weight is tied to the word embedding)."""
        return self.hidden * self.hidden + self.hidden + 2 * self.hidden + self.vocab_size

    @property
    def mlm_params(self) -> int:
        """Parameters of `BertForMaskedLM` (no pooler, tied decoder)."""
        return self.embedding_params + self.encoder_params + self.mlm_head_params

    @property
    def pretraining_params(self) -> int:
        """Parameters of `BertForPreTraining` (MLM + next-sentence heads): the figures usually quoted."""
        return self.embedding_params + self.encoder_params + self.pooler_params + self.mlm_head_params + 2 * self.hidden + 2

    def classifier_params(self, num_labels: int = 2) -> int:
        """Parameters of `BertForSequenceClassification`."""
        return (self.embedding_params + self.encoder_params + self.pooler_params
                + self.hidden * num_labels + num_labels)

    def encoder_flops(self, seq_len: int = 128) -> int:
        """Forward multiply-adds x2 of the encoder stack for one sequence (attention included)."""
        h, f, n = self.hidden, self.intermediate, seq_len
        per_layer = 2 * n * (4 * h * h + 2 * h * f) + 2 * 2 * n * n * h
        return self.layers * per_layer

    def __str__(self) -> str:
        return self.name if self.name != self.short else self.short


def parse_size(spec, *, off_grid: bool = False, vocab_size: int = VOCAB_SIZE) -> Size:
    """Read 'mini', 'L4/H256', '4x256', 'google/bert_uncased_L-4_H-256_A-4', (4, 256) or a Size."""
    if isinstance(spec, Size):
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
            raise ValueError(f"cannot read a student size from {spec!r}: layers and hidden must be integers. Valid: {_VALID}")
        return Size(spec[0], spec[1], vocab_size=vocab_size, off_grid=off_grid)
    if not isinstance(spec, str):
        raise ValueError(f"cannot read a student size from {spec!r}. Valid: {_VALID}")
    text = spec.strip().lower()
    if text in NAMED:
        return Size(*NAMED[text], vocab_size=vocab_size, off_grid=off_grid)
    patterns = [r"l-?(\d+)\s*[/_,x ]\s*h-?(\d+)", r"(\d+)\s*[x/]\s*(\d+)",
                r"bert_uncased_l-(\d+)_h-(\d+)_a-(\d+)"]
    for pattern in patterns:
        m = re.fullmatch(r"(?:google/)?" + pattern, text)
        if m:
            layers, hidden = int(m.group(1)), int(m.group(2))
            if m.lastindex == 3 and int(m.group(3)) * 64 != hidden:
                raise ValueError(f"{spec!r}: {m.group(3)} heads do not match H/64 = {hidden / 64:g}. Valid: {_VALID}")
            return Size(layers, hidden, vocab_size=vocab_size, off_grid=off_grid)
    raise ValueError(f"cannot read a student size from {spec!r}. Valid: {_VALID}")


def all_sizes() -> list[Size]:
    """The paper's 24 students, ordered by hidden size, then layers."""
    return [Size(layers, hidden) for hidden in HIDDENS for layers in LAYERS]

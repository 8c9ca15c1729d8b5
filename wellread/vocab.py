"""The student's vocabulary and its text: the corpora as documents, the teacher's WordPiece or a fresh one trained
on a corpus, and a corpus tokenized and packed into fixed-length blocks (cached)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import data
from .cache import atomic_path, config_key, discard_unreadable, runs_dir

CORPORA = ("general", "movie", "mixed")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4 in a fresh WordPiece


def _load_texts(corpus: str, source: str = "embedded") -> list[str]:
    """The raw documents of a corpus (tests replace this function with a tiny in-memory corpus)."""
    if source == "hub":
        return data.column(data.load_corpus(corpus, source="hub"), "text")
    if corpus == "general":
        return data.column(data.load_corpus("general"), "text")
    if corpus == "movie":
        return data.column(data.load_transfer("movie"), "text")
    if corpus == "mixed":
        return _load_texts("general") + _load_texts("movie")
    raise ValueError(f"corpus={corpus!r}: use one of {list(CORPORA)}")


def _teacher_tokenizer():
    """The standard BERT uncased WordPiece (30,522 tokens) shipped with the MiniLM teacher."""
    return data.load_tokenizer()


def _hash_texts(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _tokenizer_id(tokenizer) -> str:
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()))
    lower = getattr(tokenizer, "do_lower_case", None)
    return hashlib.sha256(f"{vocab}{lower}".encode()).hexdigest()[:16]


def get_tokenizer(vocab_size: int | None, corpus: str = "general"):
    """The teacher's WordPiece when `vocab_size` is None, else a fresh one trained on `corpus`."""
    return _teacher_tokenizer() if vocab_size is None else train_wordpiece(corpus, vocab_size)


def train_wordpiece(corpus: str, vocab_size: int):
    """Train a lowercase BERT WordPiece of `vocab_size` tokens on `corpus`; cached under runs/vocab/."""
    from transformers import BertTokenizerFast
    # Never BertTokenizerFast(vocab_file=...): in transformers 5 it silently builds a 5-token vocabulary.
    return BertTokenizerFast.from_pretrained(wordpiece_dir(corpus, vocab_size))


def wordpiece_dir(corpus: str, vocab_size: int) -> Path:
    """The folder of the fresh WordPiece (trained on first use): a tokenizer any stage can load."""
    from tokenizers import BertWordPieceTokenizer
    from tokenizers.models import WordPiece
    from transformers import BertTokenizerFast

    texts = _load_texts(corpus)
    folder = runs_dir() / "vocab" / config_key({"corpus": corpus, "vocab_size": vocab_size, "texts": _hash_texts(texts)})
    if not (folder / "tokenizer.json").exists():
        wp = BertWordPieceTokenizer(lowercase=True)
        wp.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, show_progress=False,
                               special_tokens=list(SPECIAL_TOKENS))
        # The trainer numbers the tokens it learns in hash order, which changes from run to run: the same vocabulary
        # would give each machine other ids, so other embeddings and results. The specials keep theirs; the rest sorted.
        learned = wp._tokenizer.model
        order = [*SPECIAL_TOKENS, *sorted(set(wp.get_vocab()) - set(SPECIAL_TOKENS))]
        wp._tokenizer.model = WordPiece({token: i for i, token in enumerate(order)}, unk_token=learned.unk_token,
                                        continuing_subword_prefix=learned.continuing_subword_prefix,
                                        max_input_chars_per_word=learned.max_input_chars_per_word)
        tok = BertTokenizerFast(tokenizer_object=wp._tokenizer, do_lower_case=True, unk_token="[UNK]",
                                sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
        with atomic_path(folder, replace=False) as tmp:  # another process may finish the same vocabulary first
            tok.save_pretrained(tmp)
    return folder


def tokenize_corpus(corpus: str, tokenizer, block_size: int, source: str = "embedded") -> torch.Tensor:
    """Pack a corpus into [n_blocks, block_size] ids: [CLS] ... [SEP], documents joined by [SEP]; cached."""
    texts = _load_texts(corpus, source)
    key = config_key({"corpus": corpus, "texts": _hash_texts(texts), "tokenizer": _tokenizer_id(tokenizer),
                      "block_size": block_size})
    path = runs_dir() / "tokens" / f"{key}.safetensors"  # tensors only: nothing in it can run code when read
    if path.exists():
        try:
            return load_file(str(path))["blocks"]
        except Exception as e:  # a damaged or truncated file (safetensors raises its own error type)
            discard_unreadable(path, e)
    ids = []
    for i in range(0, len(texts), 1000):  # one Rust call per 1,000 texts (on every core where TOKENIZERS_PARALLELISM)
        for doc in tokenizer(texts[i:i + 1000], add_special_tokens=False)["input_ids"]:
            if doc:
                ids.extend(doc)
                ids.append(tokenizer.sep_token_id)
    body = block_size - 2  # room for [CLS] and the closing [SEP]
    n = len(ids) // body
    if n == 0:
        raise ValueError(f"corpus {corpus!r} has {len(ids)} tokens: not one block of {block_size}")
    chunks = torch.tensor(ids[:n * body], dtype=torch.int32).view(n, body)  # the ragged tail is dropped
    cls = torch.full((n, 1), tokenizer.cls_token_id, dtype=torch.int32)
    sep = torch.full((n, 1), tokenizer.sep_token_id, dtype=torch.int32)
    blocks = torch.cat([cls, chunks, sep], dim=1)
    with atomic_path(path) as tmp:
        save_file({"blocks": blocks.contiguous()}, str(tmp))
    return blocks

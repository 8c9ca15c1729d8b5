import pytest
import torch
from transformers import BertForMaskedLM, BertForPreTraining, BertForSequenceClassification

from wellread.sizes import HIDDENS, LAYERS, Size, all_sizes, parse_size


def _count(cls, config):
    with torch.device("meta"):  # shapes only: building Base for real would take seconds
        return sum(p.numel() for p in cls(config).parameters())


@pytest.mark.parametrize("size", all_sizes(), ids=lambda s: s.short)
def test_parameter_counts_equal_what_transformers_builds(size):
    assert size.mlm_params == _count(BertForMaskedLM, size.bert_config())
    assert size.classifier_params(2) == _count(BertForSequenceClassification, size.bert_config(num_labels=2))
    assert size.pretraining_params == _count(BertForPreTraining, size.bert_config())


def test_the_grid_and_the_named_students():
    assert len(all_sizes()) == 24 == len({(s.layers, s.hidden) for s in all_sizes()})
    millions = {name: round(parse_size(name).pretraining_params / 1e6, 1)
                for name in ["tiny", "mini", "small", "medium", "base"]}
    assert millions == {"tiny": 4.4, "mini": 11.3, "small": 29.1, "medium": 41.7, "base": 110.1}
    assert parse_size("mini").mlm_params == 11_201_594  # BertForMaskedLM: no pooler, no NSP head
    config = parse_size("medium").bert_config()
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.intermediate_size, config.vocab_size) == (8, 512, 8, 2048, 30522)


@pytest.mark.parametrize("spec", ["mini", "MINI", "L4/H256", "l4_h256", "4x256", "4/256", (4, 256),
                                  "google/bert_uncased_L-4_H-256_A-4", "bert_uncased_L-4_H-256_A-4"])
def test_parse_every_spelling(spec):
    size = parse_size(spec)
    assert (size.layers, size.hidden, size.heads, size.name) == (4, 256, 4, "Mini")
    assert size.hub_id == "google/bert_uncased_L-4_H-256_A-4"
    assert parse_size(size.hub_id) == size and parse_size(size.short) == size


@pytest.mark.parametrize("spec", ["huge", "L3/H256", "L4/H300", "4x384", "google/bert_uncased_L-4_H-256_A-8", 7])
def test_bad_sizes_name_the_valid_choices(spec):
    with pytest.raises(ValueError) as error:
        parse_size(spec)
    message = str(error.value)
    assert "tiny" in message or "multiple of 64" in message or "heads" in message
    assert str(list(LAYERS)) in message or "H/64" in message


def test_off_grid_only_through_the_explicit_escape():
    with pytest.raises(ValueError, match="off_grid=True"):
        Size(3, 384)
    truncated = parse_size("L3/H384", off_grid=True)
    assert (truncated.heads, truncated.intermediate, truncated.name) == (6, 1536, "L3/H384")
    with pytest.raises(ValueError, match="no checkpoint"):
        truncated.hub_id
    with pytest.raises(ValueError, match="multiple of 64"):
        Size(3, 300, off_grid=True)


def test_flops_grow_with_size():
    flops = [s.encoder_flops(128) for s in sorted(all_sizes(), key=lambda s: s.mlm_params)]
    assert parse_size("base").encoder_flops() / parse_size("tiny").encoder_flops() > 100
    assert max(flops) == parse_size("base").encoder_flops() and HIDDENS[-1] == 768

"""Fine-tuning, teacher logits, distillation and the five recipes, at the smoke budget on the real pack.

They use the session's scratch runs folder (conftest), so stages are shared with the notebook tests."""
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from wellread import cache
from wellread.budget import get_budget
from wellread.finetune import FinetuneConfig, finetune, predict_logits
from wellread.recipes import METHODS, run, transfer_set
from wellread.teacher import load_teacher_logits

TINY = dict(train_examples=96, eval_examples=64, epochs=1, batch_size=16)


def test_finetune_is_deterministic_and_round_trips_through_plain_transformers():
    first = finetune(FinetuneConfig(seed=3, **TINY), quiet=True)
    again = finetune(FinetuneConfig(seed=3, **TINY), quiet=True, force=True)
    assert cache.metrics(first)["curve"] == cache.metrics(again)["curve"]
    other = finetune(FinetuneConfig(seed=4, **TINY), quiet=True)
    assert cache.metrics(other)["curve"] != cache.metrics(first)["curve"]
    model = AutoModelForSequenceClassification.from_pretrained(first)
    tokenizer = AutoTokenizer.from_pretrained(first)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 128
    assert tokenizer.tokenize("a wonderful film") == ["a", "wonderful", "film"]
    scores = cache.metrics(first)
    assert 0 <= scores["val_acc"] <= 1 and 0 <= scores["test_acc"] <= 1 and scores["params"] == 4_386_178


def test_predictions_come_back_in_input_order_despite_length_sorting():
    path = finetune(FinetuneConfig(seed=3, **TINY), quiet=True)
    model = AutoModelForSequenceClassification.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = ["a long and winding sentence about a film that never ends", "bad", "good fun", "meh ok"]
    batched = predict_logits(model, tokenizer, texts, batch_size=2, bf16=False)
    one_by_one = torch.cat([predict_logits(model, tokenizer, [t], bf16=False) for t in texts])
    assert torch.allclose(batched, one_by_one, atol=1e-5)


def test_teacher_logits_cover_transfer_and_training_inputs():
    b = get_budget("smoke")
    transfer = load_teacher_logits(transfer_set(b, quiet=True))
    assert len(transfer) == b.transfer_examples + b.train_examples
    labels = list(transfer["label"])
    assert labels.count(-1) == b.transfer_examples and set(labels) == {-1, 0, 1}
    assert torch.tensor(list(transfer["teacher_logits"])).shape == (len(transfer), 2)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_recipe_runs_at_the_smoke_budget(method):
    result = run(method, "tiny", "smoke", seed=0, quiet=True)
    assert result.method == method and 0 <= result.val_acc <= 1 and 0 <= result.test_acc <= 1
    assert result.latency_ms > 0 and result.params > 0 and result.wall_s > 0
    expected_stages = {"basic": ["finetune"], "pf": ["pretrain", "finetune"], "d": ["distill"],
                       "pd": ["pretrain", "distill"], "truncated": ["finetune"]}[method]
    assert list(result.curves) == expected_stages
    assert all(len(curve) > 0 for curve in result.curves.values())
    if method == "truncated":
        assert result.size == "L2/H384"


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match="basic"):
        run("magic", "tiny", "smoke")


def test_a_truncated_teacher_cannot_have_more_layers_than_the_teacher():
    with pytest.raises(ValueError, match="valid: 1..6"):
        run("truncated", "tiny", "smoke", layers=8)


def test_asking_for_every_label_is_the_same_stage_as_asking_for_all():
    from wellread import data
    n = len(data.load_task()["train"])
    small = dict(TINY, train_examples=None)
    assert finetune(FinetuneConfig(**dict(small, epochs=0.01)), quiet=True) == \
        finetune(FinetuneConfig(**dict(small, epochs=0.01, train_examples=n + 5)), quiet=True)


@pytest.mark.parametrize("method", ["basic", "pf", "d"])
def test_a_student_can_have_its_own_small_vocabulary(method):
    result = run(method, "tiny", "smoke", seed=0, vocab_size=1000, quiet=True)
    model = AutoModelForSequenceClassification.from_pretrained(result.path)
    tokenizer = AutoTokenizer.from_pretrained(result.path)
    assert model.config.vocab_size == len(tokenizer) == 1000
    assert result.params < run(method, "tiny", "smoke", seed=0, quiet=True).params  # fewer embedding rows
    assert 0 <= result.test_acc <= 1


def test_the_truncated_teacher_keeps_the_teachers_vocabulary():
    with pytest.raises(ValueError, match="vocab_size=None"):
        run("truncated", "tiny", "smoke", vocab_size=1000)


def test_an_init_folder_without_model_or_tokenizer_is_refused(tmp_path):
    from wellread.finetune import build_classifier
    with pytest.raises(ValueError, match="neither a model"):
        build_classifier(str(tmp_path))

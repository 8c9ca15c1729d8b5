"""Fine-tuning, teacher logits, distillation and the five recipes, at the smoke budget on the real pack.

They use the session's scratch runs folder (conftest), so stages are shared with the notebook tests."""
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from wellread import cache, recipes
from wellread.budget import get_budget
from wellread.data import Task
from wellread.finetune import FinetuneConfig, finetune
from wellread.train import bucket_by_length, encode, predict_logits, rows_in_parts
from wellread.recipes import METHODS, run, transfer_set
from wellread.teacher import load_teacher_logits

TINY = dict(task=Task(train_examples=96, eval_examples=64), epochs=1, batch_size=16)


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
    batched = predict_logits(model, tokenizer, texts, batch_size=2, precision="fp32")
    one_by_one = torch.cat([predict_logits(model, tokenizer, [t], precision="fp32") for t in texts])
    assert torch.allclose(batched, one_by_one, atol=1e-5)


def test_a_classifier_batch_in_parts_takes_the_same_step_as_the_batch_whole(same_step):
    path = finetune(FinetuneConfig(seed=3, **TINY), quiet=True)
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = ["a long and winding sentence about a film that never ends", "bad", "good fun", "meh ok", "superb", "dull"]
    batch = (encode(tokenizer, texts, 32), torch.tensor([0, 0, 1, 0, 1, 0]))
    parts = rows_in_parts(batch, 2)
    assert [len(target) for _, target in parts.parts] == [3, 3] and parts.weights == [0.5, 0.5]
    same_step(lambda: AutoModelForSequenceClassification.from_pretrained(path),
              lambda m, b: torch.nn.functional.cross_entropy(m(**b[0]).logits, b[1]), batch, parts)
    with pytest.raises(ValueError, match="gradient_accumulation_steps=3 does not divide batch_size=32"):
        FinetuneConfig(gradient_accumulation_steps=3)


def test_length_buckets_cover_every_text_once_with_less_padding_and_a_seeded_order():
    lengths = [int(n) for n in torch.randint(5, 200, (1000,), generator=torch.Generator().manual_seed(1))]
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(2)).tolist()
    batches = bucket_by_length(order, lengths, 32, torch.Generator().manual_seed(3), chunk_batches=10)
    assert sorted(i for b in batches for i in b) == list(range(1000)) and max(map(len, batches)) == 32
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    unsorted = sum(len(order[s:s + 32]) * max(lengths[i] for i in order[s:s + 32]) for s in range(0, 1000, 32))
    assert padded < 0.75 * unsorted  # near-equal lengths in a batch: much less padding than random batches
    assert batches == bucket_by_length(order, lengths, 32, torch.Generator().manual_seed(3), chunk_batches=10)
    lengths_in_order = [max(lengths[i] for i in b) for b in batches]
    assert lengths_in_order != sorted(lengths_in_order)  # the batches are shuffled, not served shortest first


def test_teacher_logits_cover_transfer_and_training_inputs():
    b = get_budget("smoke")
    transfer = load_teacher_logits(transfer_set(b, quiet=True))
    assert len(transfer) == b.logits.transfer_examples + b.task.train_examples
    labels = list(transfer["label"])
    assert labels.count(-1) == b.logits.transfer_examples and set(labels) == {-1, 0, 1}
    assert torch.tensor(list(transfer["teacher_logits"])).shape == (len(transfer), 2)


def test_every_transfer_set_reuses_the_training_inputs_logits():
    b = get_budget("smoke")
    full = load_teacher_logits(transfer_set(b, quiet=True))
    glosses = load_teacher_logits(transfer_set(b, transfer="glosses", transfer_examples=100, quiet=True))
    n = b.task.train_examples
    assert list(glosses["label"]).count(-1) == 100 and len(glosses) == 100 + n
    assert glosses["text"][100:] == full["text"][-n:]
    assert glosses["teacher_logits"][100:] == full["teacher_logits"][-n:]  # the same numbers: labelled once


@pytest.mark.parametrize("method", list(METHODS))
def test_every_recipe_runs_at_the_smoke_budget(method):
    result = run(method, "tiny", "smoke", seed=0, quiet=True)
    assert result.method == method and 0 <= result.val_acc <= 1 and 0 <= result.test_acc <= 1
    assert result.latency_ms > 0 and result.params > 0 and result.wall_s > 0
    expected_stages = {"basic": ["finetune"], "pf": ["pretrain", "finetune"], "d": ["distill"],
                       "pd": ["pretrain", "distill"], "truncated": ["finetune"], "pkd": ["pkd"]}[method]
    assert list(result.curves) == expected_stages
    assert all(len(curve) > 0 for curve in result.curves.values())
    if method == "truncated":
        assert result.size == "L2/H384"


def test_the_well_read_runs_and_their_teacher_see_the_same_labels(monkeypatch):
    calls = []
    monkeypatch.setattr(recipes, "run", lambda method, shape, b, seed, **kw: calls.append((method, shape.short, b, kw)))
    monkeypatch.setattr(recipes, "teacher_result", lambda b, **kw: calls.append(("teacher", "L6/H384", b, kw)))
    recipes.well_read("mini", "smoke", 2, labels=64, examples=192)  # Mini's depth, MiniLM's width
    plan = [(m, s, kw.get("finetune__epochs"), kw.get("distill__epochs"), kw.get("pretrained")) for m, s, _, kw in calls]
    assert plan == [  # the teacher first: where its soft labels are shipped, a teacher fine-tuned here checks them
        ("teacher", "L6/H384", None, None, None), ("basic", "L4/H384", 3.0, None, None),
        ("pf", "L4/H384", 3.0, None, "minilm"), ("d", "L4/H384", None, 1.0, None), ("pd", "L4/H384", None, 1.0, "minilm")]
    assert calls[0][3]["shipped"] is True  # the kit's record of that teacher where it ships its soft labels
    for _, _, b, _ in calls:  # this seed's 64 labels, for the students and for the teacher that labels D's and PD's texts
        assert (b.task.train_examples, b.teacher.seed, b.logits.seed, b.teacher.epochs) == (64, 2, 2, 3.0)
    halves = [kw.get("finetune__gradient_accumulation_steps") or kw.get("distill__gradient_accumulation_steps")
              for *_, kw in calls[1:]]
    assert halves == [2, 2, 2, 2]  # MiniLM-wide: in half-batches, under Binder's memory
    with pytest.raises(ValueError, match=r"examples=0: use an integer >= 1 \(the examples basic and PF train on\)"):
        recipes.well_read("tiny", "smoke", examples=0)


def test_a_loss_of_exactly_zero_from_the_first_steps_is_an_error_not_a_result():
    from wellread.device import accelerator
    from wellread.train import Diverged, Trainer, loop
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    trainer = Trainer(accelerator("fp32"), model, optimizer, scheduler, desc="distill L2/H128")
    batches = iter(lambda: torch.ones(3, 4), None)
    with pytest.raises(Diverged, match=r"distill L2/H128: the loss is exactly 0 at each of the first 3 steps"):
        loop(trainer, batches, lambda m, x: m(x).sum() * 0.0, steps=10, quiet=True)
    learned = loop(trainer, iter(lambda: torch.ones(3, 4), None), lambda m, x: m(x).pow(2).mean(), steps=5, quiet=True)
    assert len(learned) == 5 and all(loss > 0 for loss in learned)


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match="basic"):
        run("magic", "tiny", "smoke")


def test_a_truncated_teacher_cannot_have_more_layers_than_the_teacher():
    with pytest.raises(ValueError, match="valid: 1..6"):
        run("truncated", "tiny", "smoke", layers=8)


def test_asking_for_every_label_is_the_same_stage_as_asking_for_all():
    from wellread import data
    n = len(data.load_task()["train"])
    small = dict(TINY, epochs=0.01)
    assert finetune(FinetuneConfig(**dict(small, task=Task(eval_examples=64))), quiet=True) == \
        finetune(FinetuneConfig(**dict(small, task=Task(train_examples=n + 5, eval_examples=64))), quiet=True)


@pytest.mark.parametrize("method", ["basic", "pf", "d"])
def test_a_student_can_have_its_own_small_vocabulary(method):
    result = run(method, "tiny", "smoke", seed=0, vocab_size=1000, pretrain__corpus="movie", quiet=True)  # the smallest
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


# ---------------------------------------------------------------------------------------------------
# Validate, then work: every cheap check runs before any stage does

@pytest.fixture
def empty_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path))
    return tmp_path


def test_a_bad_transfer_name_is_refused_before_the_teacher_trains(empty_runs):
    import time
    start = time.time()
    with pytest.raises(ValueError, match="valid: \\['movie', 'glosses'\\]"):
        run("d", "tiny", "smoke", transfer="news")
    assert time.time() - start < 10 and not any(empty_runs.iterdir())


def test_the_paper_budget_offline_fails_fast_naming_the_offline_choices(empty_runs, monkeypatch):
    import time
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(ConnectionError, match="source='embedded'"):
        run("pd", "tiny", "paper")
    assert time.time() - start < 10 and not any(empty_runs.iterdir())


@pytest.mark.parametrize("override, message", [
    ({"finetune__batch_size": 0}, "batch_size=0"), ({"task__train_examples": 0}, "train_examples=0"),
    ({"pretrain__steps": 0}, "steps=0"), ({"pretrain__steps": "30"}, "steps='30'"),
    ({"finetune__epochs": 0}, "epochs=0"), ({"distill__lr": -1.0}, "lr=-1.0"), ({"precision": "fp8"}, "fp8"),
])
def test_overrides_that_cannot_work_are_refused_when_the_budget_is_made(override, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        get_budget("smoke", **override)


def test_a_negative_seed_is_refused_and_leaves_nothing(empty_runs):
    with pytest.raises(ValueError, match="seed=-1"):
        run("basic", "tiny", "smoke", seed=-1)
    assert not any(empty_runs.iterdir())


def test_sizes_must_be_whole_numbers():
    from wellread.sizes import parse_size
    with pytest.raises(ValueError, match="integers"):
        parse_size((2.7, 128))


def test_budget_fields_reach_into_stages_and_the_task_is_shared():
    b = get_budget("classroom", pretrain__steps=500, task__train_examples=1000, precision="fp32")
    assert b.pretrain.steps == 500 and b.pretrain.precision == "fp32"
    assert {getattr(b, s).task.train_examples for s in ("teacher", "logits", "finetune", "truncated", "distill")} == {1000}
    with pytest.raises(ValueError, match="did you mean 'pretrain__steps'"):
        get_budget("classroom", pretrain_steps=500)


def test_a_hub_model_id_offline_fails_fast_and_a_missing_folder_is_named(empty_runs, monkeypatch):
    import time
    from wellread.finetune import check_init
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(ConnectionError, match="the model 'google/bert_uncased_L-4_H-256_A-4'.*source='embedded'"):
        finetune(FinetuneConfig(init="google/bert_uncased_L-4_H-256_A-4", **TINY), quiet=True)
    assert time.time() - start < 5 and not any(empty_runs.iterdir())
    with pytest.raises(FileNotFoundError, match="no such folder"):
        check_init("./runs/finetune/nope")

"""Any task, end to end: your own CSV (two classes) and TSV (three classes, sentence pairs) through basic, PF,
D and PD at the smoke budget, by the Python API and the CLI; hub tasks mapped offline on stand-ins."""
import random
import time

import datasets
import pytest
from transformers import AutoModelForSequenceClassification

from wellread import data
from wellread.cli import main
from wellread.recipes import run

WORDS = {"pos": "good great fine lovely superb fun".split(), "neg": "bad awful dull boring poor weak".split(),
         "neutral": "a the some this that one".split()}


@pytest.fixture(scope="module")
def csv_task(tmp_path_factory):
    """Two classes in one CSV (validation and test are carved from it), texts with commas and quotes."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("csv") / "reviews.csv"
    rows = [f'"{rng.choice(WORDS[lab])}, {rng.choice(WORDS[lab])} film number {i}",{lab}' for i in range(400)
            for lab in [("pos", "neg")[i % 2]]]
    path.write_text("review,sentiment\n" + "\n".join(rows) + "\n")
    return data.Task.parse(path, text_column="review", label_column="sentiment")


@pytest.fixture(scope="module")
def pair_task(tmp_path_factory):
    """Three classes of sentence pairs (an MNLI-like task), train/validation/test in three TSV files."""
    rng = random.Random(1)
    folder = tmp_path_factory.mktemp("tsv")
    labels = ["entailment", "neutral", "contradiction"]
    for split, n in (("train", 300), ("dev", 60), ("test", 60)):
        lines = ["premise\thypothesis\tgold"]
        for i in range(n):
            lab = labels[i % 3]
            lines.append(f'the "{split}" cat {i} sleeps\t{rng.choice(WORDS["pos" if lab == "entailment" else "neg"])} '
                         f'cat {i} {split}\t{lab}')
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return data.Task.parse(folder / "train.tsv", validation=folder / "dev.tsv", test=folder / "test.tsv",
                           text_column="premise", text_pair_column="hypothesis", label_column="gold")


def test_tasks_from_files_read_what_was_written(csv_task, pair_task):
    splits = csv_task.load()
    assert {s: len(splits[s]) for s in splits} == {"train": 320, "validation": 40, "test": 40}
    assert csv_task.label_names == ["neg", "pos"] and not csv_task.pairs
    assert any(", " in t for t in splits["train"]["text"])  # a quoted comma stays inside the text
    pairs = pair_task.load()
    assert pair_task.pairs and pair_task.label_names == ["contradiction", "entailment", "neutral"]
    assert {s: len(pairs[s]) for s in pairs} == {"train": 300, "validation": 60, "test": 60}
    assert data.inputs(pairs["train"])[0] == ('the "train" cat 0 sleeps', pairs["train"][0]["text_pair"])


@pytest.mark.parametrize("method", ["basic", "pf", "d", "pd"])
def test_every_method_runs_on_a_csv_task(csv_task, method):
    result = run(method, "tiny", "smoke", task=csv_task, quiet=True)
    assert result.task == "reviews" and 0 <= result.test_acc <= 1
    assert AutoModelForSequenceClassification.from_pretrained(result.path).config.num_labels == 2


@pytest.mark.parametrize("method", ["basic", "pf", "d", "pd"])
def test_every_method_runs_on_a_three_class_pair_task(pair_task, method):
    result = run(method, "tiny", "smoke", task=pair_task, transfer="none", quiet=True)
    assert 0 <= result.test_acc <= 1
    assert AutoModelForSequenceClassification.from_pretrained(result.path).config.num_labels == 3


def test_a_pair_task_refuses_single_text_transfer_and_defaults_to_its_own_pairs(pair_task):
    from wellread.budget import get_budget, with_task
    with pytest.raises(ValueError, match="sentence-pair task.*transfer='none'"):
        run("d", "tiny", "smoke", task=pair_task, transfer="movie")
    assert with_task(get_budget("smoke"), pair_task).logits.chosen_transfer == "none"
    assert get_budget("smoke").logits.chosen_transfer == "movie"


def test_editing_a_file_makes_a_new_task(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(40)))
    before = data.Task.parse(path)
    path.write_text("text,label\n" + "".join(f"t{i},{(i + 1) % 2}\n" for i in range(40)))
    assert data.Task.parse(path).fingerprint != before.fingerprint


def test_a_transfer_file_is_leak_checked(csv_task, tmp_path):
    held = csv_task.load()["test"][0]["text"]
    path = tmp_path / "unlabeled.txt"
    path.write_text(f"an unseen review\n{held}\n")
    assert data.transfer_inputs(str(path), csv_task) == ["an unseen review"]


def test_a_split_smaller_than_a_batch_is_refused_before_work(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(60)))
    with pytest.raises(ValueError, match="tiny.csv: the validation split has 6 rows, fewer than one batch"):
        run("basic", "tiny", "smoke", task=path)


def test_the_cli_runs_files_and_checks_them(csv_task, pair_task, capsys):
    assert main(["run", "pd", "--budget", "smoke", "--quiet", "--task", csv_task.train, "--text-column", "review",
                 "--label-column", "sentiment"]) == 0
    assert "reviews" in capsys.readouterr().out
    assert main(["run", "d", "--budget", "smoke", "--quiet", "--task", pair_task.train, "--validation",
                 pair_task.validation, "--test", pair_task.test, "--text-column", "premise",
                 "--text-pair-column", "hypothesis", "--label-column", "gold", "--transfer", "none"]) == 0
    assert main(["data", "check", pair_task.train, "--text-column", "premise", "--text-pair-column", "hypothesis",
                 "--label-column", "gold"]) == 0
    out = capsys.readouterr().out
    assert "sentence pairs" in out and "contradiction" in out and "first rows of train" in out
    assert main(["data", "check", csv_task.train]) == 2  # the default column names are not in this file
    assert "available columns: ['review', 'sentiment']" in capsys.readouterr().err


@pytest.mark.parametrize("name, raw, expected", [
    ("glue/mnli", {"train": 90, "validation_matched": 9, "test_matched": 9}, {"train": 81, "validation": 9, "test": 9}),
    ("glue/rte", {"train": 50, "validation": 5, "test": 5}, {"train": 45, "validation": 5, "test": 5}),
    ("imdb", {"train": 100, "test": 20, "unsupervised": 30}, {"train": 90, "validation": 10, "test": 20}),
])
def test_hub_tasks_map_onto_three_labeled_splits_offline(name, raw, expected):
    spec = data.HUB_TASKS[name]
    def stand_in(n, split):
        columns = {spec.text: [f"{split} a{i}" for i in range(n)], "label": [i % 2 if "test" not in split or
                                                                             name == "imdb" else -1 for i in range(n)]}
        if spec.pair:
            columns[spec.pair] = [f"{split} b{i}" for i in range(n)]
        return datasets.Dataset.from_dict(columns)
    splits = data.hub_task_splits(datasets.DatasetDict({s: stand_in(n, s) for s, n in raw.items()}), name)
    assert {s: len(splits[s]) for s in splits} == expected
    assert -1 not in splits["test"]["label"]  # only labeled splits are used for testing
    assert ("text_pair" in splits["train"].column_names) == bool(spec.pair)


def test_a_hub_task_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(ConnectionError, match="glue/mnli"):
        run("basic", "tiny", "smoke", task="glue/mnli")
    assert time.time() - start < 5

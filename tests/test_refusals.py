"""Every kind of bad input and fault a hostile but ordinary user tries, through the CLI: a non-zero exit, one line
naming the file, field or row and what is valid, no traceback, nothing new in runs/. Faults (Ctrl-C, a full disk, a
diverged run, a damaged cache) leave nothing partial. Costly but legal choices are named before they cost."""
import errno
import importlib
import io
import json
import re
import tarfile

import pytest

from wellread import cache, data, share
from wellread.cli import main

WORDS = {"pos": "good great fine lovely superb fun".split(), "neg": "bad awful dull boring poor weak".split(),
         "odd": "odd rare strange unusual peculiar quirky".split()}


def _rows(n, label=lambda i: ("pos", "neg")[i % 2],
          text=lambda i, lab: f"{WORDS.get(lab.strip().lower(), WORDS['odd'])[i % 6]} film number {i}"):
    return "".join(f"{text(i, label(i))},{label(i)}\n" for i in range(n))


# name: file contents (bytes or text); each a file a user might hand the kit
FILES = {
    "good.csv": "text,label\n" + _rows(400),
    "dev.csv": "text,label\n" + "".join(f"dev {WORDS['pos'][i % 6]} {i},{('pos', 'neg')[i % 2]}\n" for i in range(40)),
    "test.csv": "text,label\n" + "".join(f"test {WORDS['neg'][i % 6]} {i},{('pos', 'neg')[i % 2]}\n"
                                         for i in range(40)),
    "case.csv": "text,label\n" + _rows(40, lambda i: "Pos" if i % 4 == 0 else ("pos", "neg")[i % 2]),
    "nan.csv": "text,label\n" + _rows(40, lambda i: "NaN" if i == 7 else ("pos", "neg")[i % 2]),
    "null.csv": "text,label\n" + _rows(40, lambda i: "null" if i == 3 else ("pos", "neg")[i % 2]),
    "none.jsonl": "".join(json.dumps({"text": f"film {i}", "label": None if i == 5 else i % 2}) + "\n"
                          for i in range(40)),
    "textlabel.csv": "text,label\n" + "".join(f"film {i},a remark on film {i}\n" for i in range(40)),
    "rare.csv": "text,label\n" + _rows(40, lambda i: "rare" if i == 5 else ("pos", "neg")[i % 2]),
    "emoji.csv": "text,label\n" + _rows(40, text=lambda i, lab: "\U0001F600" * (i % 5 + 1) + " \U0001F389" * (i % 3)),
    "columns.json": json.dumps({"text": [f"film {i}" for i in range(40)], "label": [i % 2 for i in range(40)]}),
    "record.json": json.dumps({"text": "one film", "label": 1}),
    "lists.json": json.dumps([[f"film {i}", i % 2] for i in range(40)]),
    "broken.json": '[{"text": "a film", "label": 1},\n {"text": "b film" "label": 0}]',
    "broken.jsonl": "".join(json.dumps({"text": f"film {i}", "label": i % 2}) + "\n" for i in range(3)) + "{oops\n",
    "ragged.json": json.dumps({"text": ["a film", "b film"], "label": [1]}),
    "empty.txt": "",
    "blank.txt": "\n   \n\t\n",
    "blank_column.csv": "text,source\n ,web\n  ,web\n",
    "held_out.txt": "dev fine 2\ntest boring 3\n",  # a validation and a test input of good.csv's task
    # the README's list
    "empty.csv": "",
    "header.csv": "text,label\n",
    "latin.csv": ("text,label\n" + "".join(f"caf\u00e9 {i},a\n" for i in range(12))).encode("latin-1"),
    "fraction.csv": "text,label\n" + "".join(f"t{i},{i % 2}.5\n" for i in range(12)),
    "one.csv": "text,label\n" + "".join(f"t{i},pos\n" for i in range(12)),
    "blank_text.csv": "text,label\n" + "".join(f"{'' if i == 3 else 't' + str(i)},a{i % 2}\n" for i in range(12)),
    "numbers.csv": "text,label\n" + "".join(f"{i},a{i % 2}\n" for i in range(12)),
    "noheader.tsv": "".join(f"review {i}\tpos\n" for i in range(12)),
    "repeats.csv": "text,label\n" + "".join(f"text {i % 25},{'a' if i % 2 else 'b'}\n" for i in range(30)),
    "leak_train.csv": "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(20)),
    "leak_test.csv": "text,label\nT3,1\nnew,0\n",
    "only_val.csv": "text,label\nv1,pos\nv2,meh\n",
    "small.csv": "text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(60)),
    "ragged.csv": "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(12)) + "one, two,1\n",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mine")
    for name, content in FILES.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    (folder / "a_folder").mkdir()
    return folder


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _cli(capsys, argv, code=2):
    """Run the CLI -> (its one error line, warnings aside; its stdout), checking the exit code and no traceback."""
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("wellread: ")
             and not line.startswith("wellread: warning:")]
    assert len(lines) == 1, captured.err
    return lines[0], captured.out


def _one_line(capsys, argv, code=2):
    return _cli(capsys, argv, code)[0]


def _bad_file(name, option="--task", *extra):
    return lambda f: ["run", "basic", "--budget", "smoke", "--quiet", option, str(f / name), *extra]


def _run(*extra):
    return lambda f: ["run", "basic", "--budget", "smoke", "--quiet", *extra]


def _distil(*extra):
    return lambda f: ["run", "d", "--budget", "smoke", "--quiet", "--task", str(f / "good.csv"), "--validation",
                      str(f / "dev.csv"), "--test", str(f / "test.csv"), *extra]


# kind: (the command, what its one line must say)
REFUSALS = {
    # labels that would silently change the classes
    "labels differing only by case": (_bad_file("case.csv"),
                                      r"case.csv: column 'label' spells one class 2 ways, differing only by case "
                                      r"\('Pos' in data row\(s\) \[1, 5, 9\]; 'pos'"),
    "NaN as a label": (_bad_file("nan.csv"), r"nan.csv: column 'label' holds \['NaN'\] in data row\(s\) \[8\]"),
    "null as a label": (_bad_file("null.csv"), r"null.csv: column 'label' holds \['null'\] in data row\(s\) \[4\]"),
    "a JSON null label": (_bad_file("none.jsonl"), r"none.jsonl: column 'label' is empty in row\(s\) \[6\]"),
    "the label column is the text column": (_bad_file("good.csv", "--task", "--label-column", "text"),
                                            r"good.csv: the label column 'text' is also a text column; valid label "
                                            r"columns: \['label'\]"),
    "a label column of texts": (_bad_file("textlabel.csv"),
                                r"textlabel.csv: column 'label' has 40 different values in 40 rows: it looks like "
                                r"text"),
    "a class too rare for every split": (_bad_file("rare.csv"),
                                         r"rare.csv.*split has no example of class\(es\) \['rare'\].*every class needs "
                                         r"examples in train, validation and test"),
    "texts that are all [UNK]": (_bad_file("emoji.csv"),
                                 r"emoji.csv: 40 of 40 texts in column 'text' \(e.g. data row\(s\) \[1, 2, 3, 4, 5\].*"
                                 r"nothing but \[UNK\]"),
    # JSON shapes
    "a JSON single record": (_bad_file("record.json"), r"record.json: line 1 holds a JSON object of single values.*"
                                                      r"expected a list of records"),
    "a JSON list of lists": (_bad_file("lists.json"), r"lists.json: item 1 of the list is a JSON list, not an object"),
    "JSON with a syntax error": (_bad_file("broken.json"),
                                 r"broken.json: not valid JSON at line 2, column 20 \(Expecting ',' delimiter\)"),
    "a broken JSON line": (_bad_file("broken.jsonl"), r"broken.jsonl: line 4 is not a JSON record"),
    "JSON columns of unequal length": (_bad_file("ragged.json"),
                                       r"ragged.json: the columns have different lengths \{'text': 2, 'label': 1\}"),
    # transfer files
    "an empty transfer file": (_distil("--transfer", "{f}/empty.txt"),
                               r"empty.txt: the transfer file is empty or blank"),
    "an all-blank transfer file": (_distil("--transfer", "{f}/blank.txt"),
                                   r"blank.txt: the transfer file is empty or blank; valid: one input per line"),
    "a transfer table with a blank text column": (_distil("--transfer", "{f}/blank_column.csv"),
                                                  r"blank_column.csv: column\(s\) \['text'\] are blank in every row"),
    "a transfer file wholly held out": (_distil("--transfer", "{f}/held_out.txt"),
                                        r"held_out.txt: every one of its 2 inputs is also in the task's validation"),
    "a missing transfer file": (_distil("--transfer", "{f}/nope.txt"), r"transfer file not found: .*nope.txt"),
    # overrides that cannot work
    "an infinite learning rate": (_run("--set", "finetune__lr=inf"), r"finetune__lr=inf: use a finite number"),
    "a NaN learning rate": (_run("--set", "distill__lr=nan"), r"distill__lr=nan: use a finite number"),
    "infinite epochs": (_run("--set", "finetune__epochs=inf"), r"finetune__epochs=inf: use a finite number"),
    "an infinite temperature": (_run("--set", "distill__temperature=inf"), r"distill__temperature=inf: use a finite"),
    "max_len above the positions": (_run("--set", "task__max_len=1024"),
                                    r"max_len=1024: use an integer from 8 to 512"),
    "a block above the positions": (_run("--set", "pretrain__block_size=1024"),
                                    r"pretrain__block_size=1024: use at most 512"),
    "file options without a file": (_run("--validation", "dev.csv"), r"--validation describe\(s\) your own file: add "
                                                                     r"--task FILE"),
    "a folder as the task": (_bad_file("a_folder"), r"a_folder is a folder; name a labeled file in it"),
    "a ragged CSV": (_bad_file("ragged.csv"), r"ragged.csv: cannot be read as CSV \(.*line 14.*\); a text holding "
                                              r"the separator needs quotes"),
    # the README's list: your own files
    "a missing file": (_bad_file("nope.csv"), r"labeled file not found: .*nope.csv"),
    "a missing column": (_bad_file("good.csv", "--task", "--text-column", "review"),
                         r"good.csv: missing column 'review'; available columns: \['text', 'label'\]"),
    "a header-less TSV": (_bad_file("noheader.tsv"), r"noheader.tsv: missing column 'text'.*first line is 'review 0"),
    "an empty file": (_bad_file("empty.csv"), r"empty.csv: the file is empty"),
    "a header without rows": (_bad_file("header.csv"), r"header.csv: no rows below the header line 'text,label'"),
    "an empty text": (_bad_file("blank_text.csv"), r"blank_text.csv: column 'text' is empty in row\(s\) \[4\]"),
    "repeated inputs": (_bad_file("repeats.csv"), r"repeats.csv: 5 repeated input\(s\), e.g. data row 26 repeats row 1"
                                                  r".*--drop-duplicates"),
    "inputs shared with test": (_bad_file("leak_train.csv", "--task", "--test", "{f}/leak_test.csv"),
                                r"leak_train.csv: 1 training input\(s\) also appear in validation or test"),
    "one class only": (_bad_file("one.csv"), r"one.csv: every row has the label 'pos'; a classifier needs at least "
                                             r"two"),
    "labels with fractions": (_bad_file("fraction.csv"), r"fraction.csv: label '0.5' is a number with a fraction"),
    "a label only in validation": (_bad_file("good.csv", "--task", "--validation", "{f}/only_val.csv"),
                                   r"only_val.csv: label\(s\) \['meh'\] do not occur in the training file .*good.csv; "
                                   r"valid: \['neg', 'pos'\]"),
    "a text column of numbers": (_bad_file("numbers.csv"), r"numbers.csv: the text column 'text' holds only numbers"),
    "bytes that are not UTF-8": (_bad_file("latin.csv"), r"latin.csv: line 2 is not UTF-8 \(byte 0xe9\)"),
    "a split smaller than a batch": (_bad_file("small.csv"),
                                     r"small.csv: the validation split has 6 rows, fewer than one batch \(32\)"),
    # the README's list: budgets, names and values
    "a zero batch": (_run("--set", "finetune__batch_size=0"), r"batch_size=0: use an integer >= 1"),
    "zero training examples": (_run("--set", "task__train_examples=0"), r"train_examples=0: use an integer >= 1, or None for all of them"),
    "zero steps": (_run("--set", "pretrain__steps=0"), r"steps=0: use an integer >= 1"),
    "steps as text": (_run("--set", "pretrain__steps=thirty"), r"steps='thirty': use an integer >= 1"),
    "zero epochs": (_run("--set", "finetune__epochs=0"), r"epochs=0: use a number > 0"),
    "a negative learning rate": (_run("--set", "distill__lr=-1.0"), r"lr=-1.0: use a number > 0"),
    "an unknown precision": (_run("--set", "precision=fp8"),
                             r"precision='fp8'; valid: \['auto', 'fp32', 'bf16', 'fp16'\]"),
    "a misspelt field": (_run("--set", "pretrain_steps=500"), r"did you mean 'pretrain__steps'"),
    "a negative seed": (_run("--seed", "-1"), r"--seed -1: use an integer from 0 to 4294967295"),
    "an unknown transfer set": (lambda f: ["run", "d", "--budget", "smoke", "--transfer", "news"],
                                r"valid: \['movie', 'glosses'\]"),
    "an unknown method": (lambda f: ["run", "magic", "--budget", "smoke"],
                          r"unknown method 'magic'; valid: \['basic', 'pf', 'd', 'pd', 'truncated', 'pkd'\]"),
    "an unknown student": (lambda f: ["run", "pd", "--student", "huge", "--budget", "smoke"], r"huge.*tiny"),
    "an unknown budget": (lambda f: ["run", "pd", "--budget", "lavish"],
                          r"unknown budget 'lavish'; valid: .*classroom"),
    "an off-grid size": (lambda f: ["run", "basic", "--student", "3x100", "--budget", "smoke"], r"L3/H100"),
}


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_every_kind_of_bad_input_is_one_line_naming_what_is_wrong(kind, files, runs, capsys):
    command, message = REFUSALS[kind]
    argv = [part.replace("{f}", str(files)) for part in command(files)]
    line = _one_line(capsys, argv)
    assert re.search(message, line), line
    assert _tree(runs) == [], "nothing may be written before the refusal"


def test_the_hub_offline_is_refused_in_one_line(files, runs, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert re.search(r"source='embedded'", _one_line(capsys, ["run", "pd", "--budget", "paper"]))
    assert _tree(runs) == []


def test_the_json_shapes_a_user_writes_are_read_alike(files, tmp_path, capsys):
    rows = [{"text": f"film {i}", "label": i % 2} for i in range(40)]
    shapes = {"records.json": json.dumps(rows), "lines.jsonl": "".join(json.dumps(r) + "\n" for r in rows),
              "lines.json": "".join(json.dumps(r) + "\n" for r in rows),
              "pandas.json": json.dumps({"text": {str(i): r["text"] for i, r in enumerate(rows)},
                                         "label": {str(i): r["label"] for i, r in enumerate(rows)}})}
    read = {}
    for name, text in {**shapes, "columns.json": FILES["columns.json"]}.items():
        (tmp_path / name).write_text(text)
        read[name] = data.read_table(tmp_path / name).astype(str).to_dict("list")
    assert all(table == read["records.json"] for table in read.values())
    assert main(["data", "check", str(tmp_path / "columns.json")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"class +train +validation +test\n +0 +16 +2 +2\n +1 +16 +2 +2", out), out


def test_the_class_table_is_printed_before_any_training(files, runs, capsys, monkeypatch):
    from wellread import recipes

    def first_stage(*args, **kwargs):
        raise RuntimeError("the first stage would start here")
    monkeypatch.setattr(recipes, "_start", first_stage)
    monkeypatch.setattr(importlib.import_module("wellread.data.task"), "_shown", set())  # printed once per process
    line, out = _cli(capsys, ["run", "basic", "--budget", "smoke", "--quiet", "--task", str(files / "good.csv"),
                              "--validation", str(files / "dev.csv"), "--test", str(files / "test.csv"),
                              "--set", "task__train_examples=none"])  # every row, not the smoke budget's sample
    assert "first stage" in line
    assert re.search(r"task 'good' \(.*good.csv\): 2 classes, from column 'label'\n +class +train +validation +test\n"
                     r" +neg +200 +20 +20\n +pos +200 +20 +20", out), out


def test_surrounding_spaces_in_labels_are_stripped_and_said(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("text,label\n" + _rows(40, lambda i: " pos" if i % 2 else "neg"))
    with pytest.warns(UserWarning, match=r"spaces.csv: column 'label': the spaces around 20 label\(s\) were stripped"):
        assert data.load_labeled_files(path)["train"].features["label"].names == ["neg", "pos"]


def test_a_class_a_budgets_subsample_loses_is_refused(files, runs, capsys):
    def split(name):  # one 'rare' row among 64
        path = files / f"sparse_{name}.csv"
        path.write_text("text,label\n" + "".join(f"{name} {i},{'rare' if i == 0 else ('pos', 'neg')[i % 2]}\n"
                                                 for i in range(64)))
        return path
    train, dev, test = split("train"), split("dev"), split("test")
    task = data.Task.parse(train, validation=dev, test=test, eval_examples=32)
    rare = task.label_names.index("rare")
    seed = next(s for s in range(50) if rare not in task.splits(s)[1]["label"])
    line = _one_line(capsys, ["run", "basic", "--budget", "smoke", "--quiet", "--seed", str(seed), "--task", str(train),
                              "--validation", str(dev), "--test", str(test), "--set", "task__eval_examples=32"])
    assert re.search(r"sparse_train.csv: at the 'smoke' budget the validation split keeps 32 rows "
                     r"\(task__eval_examples\) and no example of class\(es\) \['rare'\]", line), line


# ---------------------------------------------------------------------------------------------------
# Faults: a diverged run, Ctrl-C, a full disk, a damaged cache, a malformed manifest

def _partials(runs):
    return [p for p in _tree(runs) if ".partial" in p or ".tmp-" in p or "unpack-" in p]


def _artifacts(runs):
    """Stage folders and lock files: a build that failed leaves neither (the build log aside)."""
    return [p for p in _tree(runs) if p.count("/") == 1]


def test_a_diverged_run_is_an_error_naming_the_learning_rate_and_caches_nothing(runs, capsys):
    line = _one_line(capsys, ["run", "basic", "--budget", "smoke", "--quiet", "--set", "finetune__lr=5e5"])
    assert re.search(r"fine-tune L2/H128 \(random init\): the loss became nan at step \d+ of \d+: training diverged and nothing was "
                     r"saved; the likely cause is the learning rate 500000: lower it \(finetune__lr", line), line
    assert _artifacts(runs) == [] and _partials(runs) == []


def test_ctrl_c_during_a_build_is_one_line_exit_130_and_leaves_nothing_partial(runs, capsys, monkeypatch):
    from wellread import train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "fit", interrupted)
    line = _one_line(capsys, ["run", "basic", "--budget", "smoke", "--quiet"], code=130)
    assert re.fullmatch(r"wellread: interrupted while building finetune/\w{12}; what was finished is kept: run the "
                        r"same command again to resume", line), line
    assert _artifacts(runs) == [] and _partials(runs) == []


def test_ctrl_c_during_pre_training_keeps_its_checkpoint_and_says_a_rerun_resumes(runs, capsys, monkeypatch):
    from wellread import recipes

    def pretraining(*args, **kwargs):
        def build(work):
            (work / "checkpoint.pt").write_bytes(b"step 200")
            cache.mark_resumable(work, step=200)
            raise KeyboardInterrupt
        cache.stage("pretrain", {"steps": 500}, build)
    monkeypatch.setattr(recipes, "run", pretraining)
    line = _one_line(capsys, ["run", "pf", "--budget", "smoke", "--quiet"], code=130)
    assert re.search(r"interrupted while building pretrain/\w{12} \(its checkpoint is kept in .*\.partial\); .*run the "
                     r"same command again to resume", line), line
    assert [p for p in _partials(runs) if p.endswith("checkpoint.pt")]


@pytest.mark.parametrize("command", ["tour", "prepare", "unpack"])
def test_ctrl_c_anywhere_else_is_one_line_too(command, runs, capsys, monkeypatch, tmp_path):
    from wellread import tour

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(tour, "run_notebooks", interrupted)
    monkeypatch.setattr(share, "prepare", interrupted)
    monkeypatch.setattr(share, "unpack", interrupted)
    argv = [command] + ([str(tmp_path / "class.tar.gz")] if command == "unpack" else [])
    line = _one_line(capsys, argv, code=130)
    assert line == (f"wellread: interrupted while running `wellread {command}`; what was finished is kept: run the "
                    "same command again to resume")


def test_a_full_disk_while_saving_says_so_and_leaves_no_partial_or_temporary(runs, capsys, monkeypatch):
    from wellread import train

    def no_training(model, tokenizer, texts, targets, loss, config, **kwargs):
        return model, []

    def disk_full(model, tokenizer, folder):
        model.config.save_pretrained(folder)  # config.json lands, the weights do not
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "model.safetensors"))
    monkeypatch.setattr(train, "fit", no_training)
    monkeypatch.setattr(train, "save_model", disk_full)
    line = _one_line(capsys, ["run", "basic", "--budget", "smoke", "--quiet"])
    assert re.search(r"the disk is full writing .*model.safetensors \(while building finetune/\w{12}\): nothing "
                     r"half-written was kept; free some space", line), line
    assert _artifacts(runs) == [] and _partials(runs) == []


def test_a_full_disk_while_packing_leaves_no_temporary(runs, capsys, monkeypatch, tmp_path):
    from safetensors.torch import save
    import torch
    weights = save({"w": torch.zeros(4)})
    cache.stage("finetune", {"toy": 1}, lambda work: (work / "model.safetensors").write_bytes(weights) and {})

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(tarfile.TarFile, "add", disk_full)
    line = _one_line(capsys, ["pack", str(tmp_path / "class.tar.gz"), "--quiet"])
    assert line.startswith("wellread: the disk is full") and "run the same command again" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_a_damaged_cached_stage_is_named_and_rebuilt(runs):
    calls = []

    def build(work):
        calls.append(1)
        (work / "config.json").write_text("{}")
        (work / "model.safetensors").write_bytes(b"w" * 10)
        return {"built": len(calls)}

    final = cache.stage("finetune", {"toy": 2}, build)
    (final / "stage.json").write_text('{"stage" "finetune"}')
    with pytest.warns(UserWarning, match=re.escape(str(final)) + r" is damaged: its stage.json is unreadable "
                                                                 r"\(JSONDecodeError: Expecting ':' delimiter"):
        assert cache.metrics(cache.stage("finetune", {"toy": 2}, build))["built"] == 2
    (final / "model.safetensors").unlink()  # a model without weights is not finished either
    with pytest.warns(UserWarning, match=r"holds a model config.json but no weights"):
        assert cache.metrics(cache.stage("finetune", {"toy": 2}, build))["built"] == 3
    (final / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match=re.escape(str(final / "metrics.json")) + r" is damaged .*--force"):
        cache.metrics(final)


def _pack_with(tmp_path, manifest, members=()):
    path = tmp_path / "odd.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, body in [(share.MANIFEST, json.dumps(manifest).encode()), *members]:
            info = tarfile.TarInfo(name)
            if body is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            else:
                info.size = len(body)
            tar.addfile(info, io.BytesIO(body or b""))
    return path


SHA = {"sha256": "0" * 64, "size": 1}
GOOD = {"format": share.PACK_FORMAT, "kit_version": share.__version__}


@pytest.mark.parametrize("manifest, members, message", [
    ([1, 2], (), r"its wellread-pack.json is malformed: expected an object with \"format\""),
    ({**GOOD}, (), r"its wellread-pack.json is malformed"),
    ({**GOOD, "files": {"finetune/k/model.safetensors": "abc"}}, (), r"is malformed.*sha256 \(64 hex digits\)"),
    ({**GOOD, "files": {"../evil.json": SHA}}, (), r"lists '../evil.json', which points outside runs/"),
    ({**GOOD, "files": {}}, [("/etc/evil", b"x")], r"member '/etc/evil' points outside runs/ \(an absolute path"),
    ({**GOOD, "files": {}}, [("finetune/../../evil", b"x")], r"member 'finetune/../../evil' points outside runs/"),
    ({**GOOD, "files": {}}, [("notes.txt", b"x")], r"member 'notes.txt' is not inside one of runs/'s stage folders"),
    ({**GOOD, "files": {}}, [("finetune/k/link.json", None)],
     r"member 'finetune/k/link.json' is a link, not a plain file"),
    ({**GOOD, "files": {}}, [("finetune/k/extra.json", b"x")], r"member 'finetune/k/extra.json' is not in its manifest"),
])
def test_a_malformed_pack_is_refused_with_the_reason(manifest, members, message, runs, capsys, tmp_path):
    line = _one_line(capsys, ["unpack", str(_pack_with(tmp_path, manifest, members))])
    assert re.search(message, line), line
    assert _tree(runs) == []


def test_a_malformed_data_manifest_is_refused_with_the_reason(runs, capsys, monkeypatch, tmp_path):
    from wellread.data import pack
    bad = tmp_path / "manifest.json"
    bad.write_text('{"files": {"x": {"package": "p==1"}}}')
    monkeypatch.setattr(pack, "MANIFEST_PATH", bad)
    pack._manifest.cache_clear()
    try:
        line = _one_line(capsys, ["run", "d", "--budget", "smoke", "--quiet"])
    finally:
        pack._manifest.cache_clear()
    assert re.search(r"the data manifest .*manifest.json is malformed \(entry 'x' lacks a package, member or sha256 "
                     r"string\).*git checkout data/manifest.json", line), line


def test_a_failing_notebook_or_an_unexpected_error_is_one_line(runs, capsys, monkeypatch):
    from wellread import recipes, tour

    class PapermillExecutionError(Exception):
        ename, evalue = "ValueError", "reviews.csv: the file is empty"
    def failing_notebook(*args, **kwargs):
        raise PapermillExecutionError("cell 3 of 02_teacher.ipynb: a traceback of many lines")

    def bug(*args, **kwargs):
        raise KeyError("missing")
    monkeypatch.setattr(tour, "run_notebooks", failing_notebook)
    assert _one_line(capsys, ["tour"]) == "wellread: a notebook failed: ValueError: reviews.csv: the file is empty"
    monkeypatch.setattr(recipes, "run", bug)
    line = _one_line(capsys, ["run", "basic"], code=1)
    assert line.startswith("wellread: KeyError: 'missing' (unexpected: a bug in the kit; WELLREAD_DEBUG=1")


# ---------------------------------------------------------------------------------------------------
# Legal but costly choices are named before they cost

def _stop_before_training(monkeypatch):
    from wellread import recipes

    def first_stage(*args, **kwargs):
        raise RuntimeError("the first stage would start here")
    monkeypatch.setattr(recipes, "_start", first_stage)  # where a run's first stage starts, whatever the method


def _warnings(capsys, argv):
    main(argv)
    err = capsys.readouterr().err
    assert "the first stage would start here" in err and "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("wellread: warning:")]


def test_emulated_precision_is_named_before_it_costs(runs, capsys, monkeypatch):
    from wellread import device
    _stop_before_training(monkeypatch)
    monkeypatch.setattr(device.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_cpu_bf16_is_fast",
                        lambda flags: (False, "the CPU has no native bf16 (no avx512_bf16/amx_bf16 flag)"))
    lines = _warnings(capsys, ["run", "basic", "--budget", "smoke", "--quiet", "--precision", "bf16"])
    assert lines == ["wellread: warning: precision bf16 (asked for explicitly) is emulated on this CPU (the CPU has no "
                     "native bf16 (no avx512_bf16/amx_bf16 flag)): expect it several times slower than fp32 (5x "
                     "measured on one such CPU); precision 'auto' picks fp32 here"]
    assert _warnings(capsys, ["run", "basic", "--budget", "smoke", "--quiet", "--precision", "fp32"]) == []


def test_a_minilm_start_of_another_width_is_named(runs, capsys, monkeypatch):
    _stop_before_training(monkeypatch)
    lines = _warnings(capsys, ["run", "pf", "--student", "tiny", "--pretrained", "minilm", "--budget", "smoke",
                               "--quiet"])
    assert any("pretrained='minilm' keeps MiniLM's width: this trains L2/H384" in line and "not Tiny (L2/H128" in line
               for line in lines), lines


def test_a_student_that_will_not_fit_is_named(runs, capsys, monkeypatch):
    from wellread import estimate
    _stop_before_training(monkeypatch)
    monkeypatch.setattr(estimate, "machine_memory", lambda: 200e6)
    lines = _warnings(capsys, ["run", "basic", "--student", "base", "--budget", "smoke", "--quiet"])
    assert any("Base with basic at the 'smoke' budget will not fit in memory here" in line for line in lines), lines


@pytest.mark.parametrize("error, message", [
    (PermissionError(errno.EACCES, "Permission denied", "/srv/runs/finetune"),
     "cannot write /srv/runs/finetune: it or its folder is read-only or not yours; set WELLREAD_RUNS"),
    (OSError(errno.EROFS, "Read-only file system", "/media/stick/runs"),
     "cannot write /media/stick/runs: it or its folder is read-only or not yours"),
    (OSError(errno.ENOSPC, "No space left on device", "/srv/runs/class.tar.gz"),
     "the disk is full writing /srv/runs/class.tar.gz: nothing half-written was kept; free some space"),
    (type("SafetensorError", (Exception,), {})("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                                                "message: \"No space left on device\" })"),
     "the disk is full: nothing half-written was kept; free some space"),
    (OSError(errno.EIO, "Input/output error", "/srv/runs/x.json"), "/srv/runs/x.json: input/output error"),
])
def test_an_os_error_is_one_sentence_naming_the_path_without_errno(error, message, runs, capsys, monkeypatch,
                                                                   tmp_path):
    from wellread import share

    def fails(*args, **kwargs):
        raise error
    monkeypatch.setattr(share, "pack", fails)
    line = _one_line(capsys, ["pack", str(tmp_path / "class.tar.gz")])
    assert message in line and "Errno" not in line and "unexpected" not in line, line


def test_wellread_cache_naming_a_file_is_one_sentence(runs, capsys, monkeypatch, tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("WELLREAD_CACHE", str(tmp_path / "cache"))
    line = _one_line(capsys, ["data", "fetch", "--quiet"])
    assert f"{tmp_path / 'cache'} is a file where the kit needs a folder" in line and "Errno" not in line, line


def test_settings_that_cannot_work_are_refused_before_any_work(runs, capsys):
    from wellread.cli import parse_overrides
    assert parse_overrides(["pretrain__compile=FALSE", "pretrain__compile=no", "finetune_after=1"]) == \
        {"pretrain__compile": False, "finetune_after": True}
    assert parse_overrides(["logits__transfer=glosses", "pretrain__steps=7"]) == \
        {"logits__transfer": "glosses", "pretrain__steps": 7}
    line = _one_line(capsys, ["run", "pf", "--budget", "smoke", "--set", "finetune_after=perhaps"])
    assert "finetune_after is true or false (also yes/no, 1/0)" in line
    for seed in ("4294967296", "-1"):
        line = _one_line(capsys, ["run", "d", "--budget", "smoke", "--seed", seed])
        assert f"--seed {seed}: use an integer from 0 to 4294967295" in line
    line = _one_line(capsys, ["run", "d", "--budget", "smoke", "--set", "distill__temperature=1e-30"])
    assert "distill__temperature=1e-30: use a number >= 0.05" in line
    assert _tree(runs) == []


def test_under_accelerate_launch_only_the_first_process_prints_the_error(runs, capsys, monkeypatch):
    argv = ["run", "basic", "--budget", "smoke", "--quiet", "--set", "finetune__batch_size=0"]
    monkeypatch.setenv("RANK", "1")  # what `accelerate launch` sets in its second process
    assert main(argv) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert _one_line(capsys, argv).startswith("wellread: FinetuneConfig.batch_size=0")

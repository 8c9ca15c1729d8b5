"""Well-read students: MiniLM's pre-trained layers offline, and Google's miniatures loaded through the real hub
code from a stand-in hub cache with the hub unreachable (no mocking of transformers)."""
import json
import os
import subprocess
import sys
import time

import pytest
from transformers import AutoModelForSequenceClassification

from wellread.recipes import run

_HUB = "models--google--bert_uncased_L-2_H-128_A-2"
_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_minilm_layers_are_a_pretrained_student_for_pf_and_pd():
    for method in ("pf", "pd"):
        result = run(method, "tiny", "smoke", pretrained="minilm", quiet=True, finetune__epochs=0.5, distill__epochs=0.5)
        assert result.pretrained == "minilm" and result.size == "L2/H384"  # MiniLM's width: off the grid
        assert list(result.curves) == ["finetune" if method == "pf" else "distill"]  # no pre-training stage
        assert AutoModelForSequenceClassification.from_pretrained(result.path).config.num_hidden_layers == 2
    assert run("pf", "tiny", "smoke", quiet=True).pretrained == "own"


@pytest.mark.parametrize("method, pretrained, message", [
    ("basic", "minilm", "it starts from 'none' only"), ("pf", "bert", "one of \\['own', 'google', 'minilm'\\]"),
    ("pd", "minilm", "valid: 1..6"),
])
def test_pretrained_choices_are_checked(method, pretrained, message):
    size = "L8/H128" if message == "valid: 1..6" else "tiny"
    with pytest.raises(ValueError, match=message):
        run(method, size, "smoke", pretrained=pretrained)


def test_google_offline_without_a_cached_checkpoint_fails_fast_naming_the_offline_choices(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(ConnectionError, match="pretrained='minilm'"):
        run("pf", "L12/H768", "smoke", pretrained="google")
    assert time.time() - start < 5


_STAND_IN = """
import json, sys
from wellread.recipes import run
result = run("pf", "tiny", "smoke", pretrained="google", quiet=True)
print(json.dumps({"size": result.size, "pretrained": result.pretrained, "path": result.path,
                  "init": json.load(open(result.path + "/stage.json"))["config"]["init"]}))
"""


def test_google_students_load_by_hub_id_from_a_stand_in_hub_cache_offline(tmp_path):
    """The exact hub layout (models--org--name/snapshots/<commit>/, refs/main) holding a BERT-Tiny-shaped
    checkpoint with Google's files (config.json, weights, vocab.txt; no tokenizer config), loaded by its hub id."""
    from transformers import BertForPreTraining

    from wellread import data
    from wellread.sizes import parse_size
    snapshot = tmp_path / "hub" / _HUB / "snapshots" / _COMMIT
    BertForPreTraining(parse_size("tiny").bert_config()).save_pretrained(snapshot)
    (snapshot / "vocab.txt").write_bytes((data.teacher_dir() / "vocab.txt").read_bytes())
    (tmp_path / "hub" / _HUB / "refs").mkdir()
    (tmp_path / "hub" / _HUB / "refs" / "main").write_text(_COMMIT)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _STAND_IN], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["init"] == "google/bert_uncased_L-2_H-128_A-2" and result["size"] == "L2/H128"
    model = AutoModelForSequenceClassification.from_pretrained(result["path"])
    assert model.config.num_hidden_layers == 2
    from transformers import AutoTokenizer
    assert AutoTokenizer.from_pretrained(result["path"]).tokenize("a wonderful film") == ["a", "wonderful", "film"]

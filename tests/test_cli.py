import subprocess
import sys

from wellread.cli import main
from wellread.methods import METHODS


def test_sizes_lists_the_24_students(capsys):
    assert main(["sizes"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 24 and any("Mini" in line and "11.2M" in line for line in lines)


def test_bad_input_is_one_clear_line_and_exit_code_2(capsys):
    assert main(["run", "magic", "--budget", "smoke"]) == 2
    assert f"valid: {list(METHODS)}" in capsys.readouterr().err  # the registry's methods, PKD among them
    assert main(["run", "pd", "--student", "huge", "--budget", "smoke"]) == 2
    assert "tiny" in capsys.readouterr().err
    assert main(["run", "pd", "--budget", "lavish"]) == 2
    assert "classroom" in capsys.readouterr().err


def test_booleans_parse_and_settings_that_cannot_work_are_refused(capsys):
    from wellread.cli import parse_overrides
    parsed = parse_overrides(["pretrain__compile=false", "finetune_after=Yes", "distill__length_buckets=0",
                              "pretrain__steps=5"])
    assert parsed == {"pretrain__compile": False, "finetune_after": True, "distill__length_buckets": False,
                      "pretrain__steps": 5}
    assert main(["run", "basic", "--budget", "smoke", "--set", "pretrain__compile=maybe"]) == 2
    assert "pretrain__compile is true or false" in capsys.readouterr().err
    assert main(["run", "basic", "--budget", "smoke", "--seed", "4294967296"]) == 2
    assert "--seed 4294967296: use an integer from 0 to 4294967295" in capsys.readouterr().err
    assert main(["run", "d", "--budget", "smoke", "--set", "distill__temperature=1e-30"]) == 2
    assert "distill__temperature=1e-30: use a number >= 0.05" in capsys.readouterr().err


def test_a_file_where_a_folder_belongs_is_one_sentence(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WELLREAD_RUNS", str(blocker))
    assert main(["run", "basic", "--budget", "smoke", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file where the kit needs a folder" in err and "Errno" not in err and len(err.splitlines()) == 1


def test_sigterm_says_what_was_interrupted_and_exits_143(tmp_path, add_corpus_tokens):
    import os
    import signal
    import subprocess
    import sys
    import time
    env = {**os.environ, "WELLREAD_RUNS": str(add_corpus_tokens(tmp_path / "runs"))}
    child = subprocess.Popen([sys.executable, "-m", "wellread.cli", "run", "pf", "--budget", "smoke", "--set",
                              "pretrain__steps=100000"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    # the stage's work folder appears as pre-training starts; a few seconds later the training loop runs
    while not list((tmp_path / "runs").glob("pretrain/*.partial")) and time.time() < deadline and child.poll() is None:
        time.sleep(0.5)
    time.sleep(3)
    child.send_signal(signal.SIGTERM)
    err = child.communicate(timeout=60)[1]
    assert child.returncode == 143, err
    assert "wellread: stopped by SIGTERM while building pretrain/" in err and "Traceback" not in err


def test_data_and_sizes_start_without_torch():
    """`wellread data fetch` is make's first step and a learner's first command: it must not wait 8 s for torch and
    transformers to import, which only the training commands need."""
    code = ("import sys, wellread.cli as cli; cli.main(['sizes']); cli.main(['data', 'fetch', '--quiet']); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"

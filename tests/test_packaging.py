"""The set-up files agree with each other: pyproject, Binder's pins, the README's commands and CI."""
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_binder_pins_every_dependency_within_pyproject_ranges():
    pins = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for dep in _pyproject()["project"]["dependencies"]:
        req = Requirement(dep)
        assert req.name.lower() in pins, f"binder/requirements.txt does not pin {req.name}"
        assert req.specifier.contains(pins[req.name.lower()]), f"{req.name}=={pins[req.name.lower()]} violates {dep}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(make \w+)\s*(?:#.*)?$", readme.split("## Quick start")[1].split("##")[0], re.M)
    assert commands[:2] == ["make tour", "make test"], commands
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_torch_is_not_pinned_in_pyproject_but_is_in_the_setup():
    deps = [Requirement(d) for d in _pyproject()["project"]["dependencies"]]
    torch = next(d for d in deps if d.name == "torch")
    assert "==" not in str(torch.specifier), "Colab brings its own torch: do not pin it exactly"
    assert "TORCH ?= torch==" in (ROOT / "Makefile").read_text()


def test_readme_has_binder_and_colab_badges_for_every_notebook():
    from wellread.lessons import REPO_URL
    readme = (ROOT / "README.md").read_text()
    repo = REPO_URL.removeprefix("https://github.com/")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"mybinder.org/v2/gh/{repo}/HEAD?labpath=notebooks%2F{notebook.name}" in readme
        assert f"colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook.name}" in readme


def test_jupyter_and_papermill_are_an_extra_and_binder_pins_them_too():
    project = _pyproject()["project"]
    base = {Requirement(d).name for d in project["dependencies"]}
    assert not base & {"jupyterlab", "papermill", "nbconvert"}  # Colab has its own Jupyter: install only what it lacks
    extra = {Requirement(d).name for d in project["optional-dependencies"]["notebooks"]}
    assert extra == {"jupyterlab", "papermill", "nbconvert"}
    pins = (ROOT / "binder" / "requirements.txt").read_text()
    assert all(f"{name}==" in pins for name in extra)
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"  # the pins' wheels are cp311


def test_the_colab_install_cell_never_reinstalls_torch(monkeypatch):
    """Simulate Colab: wellread is missing, torch is there. The cell must keep torch and install no extras."""
    import importlib.util
    import subprocess
    from importlib.metadata import version

    from wellread import lessons
    calls = []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wellread" else real_find_spec(name, *a))
    monkeypatch.setattr(subprocess, "check_call", lambda command, **k: calls.append(command))
    monkeypatch.setattr("os.path.isdir", lambda path: True)  # the clone is there already
    exec(compile(lessons.install_cell(), "install", "exec"), {})
    (pip,) = calls
    assert pip[1:4] == ["-m", "pip", "install"] and f"torch=={version('torch')}" in pip
    assert not any("[" in part for part in pip)  # no extras: no Jupyter, papermill or test tools on Colab

import os
import shutil
import tempfile
from pathlib import Path

# Two pytest-xdist workers share the cores: OpenMP threads that spin while idle would take each other's time.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import wellread  # noqa: E402,F401  (first: its OMP_WAIT_POLICY choice comes before torch loads)
import pytest  # noqa: E402
import torch  # noqa: E402

from wellread import cache, train, vocab
from wellread.pretrain import PretrainConfig


SCRATCH = []  # the scratch runs folder this process made: removed when its tests end (a run left hundreds of MB)


def pytest_configure(config):
    # Tests never touch the learner's runs/: one scratch runs folder per test process, so two pytest-xdist workers
    # never see each other's artifacts (tests that need isolation set their own). The data pack cache is shared.
    # A WELLREAD_RUNS the user set is used and kept.
    if "WELLREAD_RUNS" not in os.environ or os.environ.get("WELLREAD_TEST_RUNS") == os.environ["WELLREAD_RUNS"]:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.environ["WELLREAD_RUNS"] = os.environ["WELLREAD_TEST_RUNS"] = tempfile.mkdtemp(
            prefix=f"wellread-test-runs-{worker}-")
        SCRATCH.append(os.environ["WELLREAD_RUNS"])


def pytest_unconfigure(config):
    for folder in SCRATCH:
        shutil.rmtree(folder, ignore_errors=True)


# The longest files first (`--durations`: notebooks ~270 s of work, the others under 100 s each): pytest-xdist hands
# whole files out in this order (--dist loadfile), so one worker starts the notebooks at once while the other takes
# the rest, and the short files even out the end.
LONGEST_FIRST = ["test_notebooks.py", "test_training.py", "test_teachers.py", "test_data_parallel.py",
                 "test_pretrain.py", "test_knobs.py", "test_tasks.py", "test_refusals.py", "test_pretrained.py",
                 "test_cli.py", "test_reproduce.py", "test_data.py"]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept


def _same_step(make_model, loss_fn, whole, parts):
    """One optimizer step on `whole` and one on `parts` (train.MicroBatches), each from `make_model()`, dropout off:
    the same loss and the same weights after, within float rounding."""
    stepped = []
    for batch in (whole, parts):
        model = make_model()
        t = train.trainer(model, 4, lr=1e-3, weight_decay=0.01, warmup_frac=0.0, precision="fp32")
        t.model.eval()  # no dropout: the two steps see the same network
        loss = train.train_step(t, loss_fn, batch)
        stepped.append((loss, model.state_dict()))
    (whole_loss, before), (parts_loss, after) = stepped
    torch.testing.assert_close(parts_loss, whole_loss)
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, msg=name)


@pytest.fixture
def same_step():
    return _same_step


@pytest.fixture(scope="session")
def add_corpus_tokens(tmp_path_factory):
    """A function that copies the default pre-training corpus, tokenized once per test run (the two pytest-xdist
    workers share it), into a runs folder whose tests are not about tokenizing. The other worker waits for it at
    the start, so the tokenizer takes both cores (8.5 s against 10.3 on one)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "corpus-tokens"  # workers' common root
    default = PretrainConfig()
    with cache.key_lock(folder.with_name("corpus-tokens.lock"), what="the test run's corpus tokens"), \
            pytest.MonkeyPatch.context() as mp:
        mp.setenv("WELLREAD_RUNS", str(folder))
        mp.setenv("TOKENIZERS_PARALLELISM", "true")
        vocab.tokenize_corpus(default.corpus, vocab.get_tokenizer(None), default.block_size)

    def add(runs: Path) -> Path:
        shutil.copytree(folder / "tokens", runs / "tokens", dirs_exist_ok=True)
        return runs
    return add


@pytest.fixture(scope="session", autouse=True)
def scratch_runs_hold_the_corpus_tokens(add_corpus_tokens):
    """The worker's scratch runs folder starts tokenized, as a learner's does after the first run."""
    add_corpus_tokens(Path(os.environ["WELLREAD_RUNS"]))

import os

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)


def pytest_configure(config):
    # Tests never touch the learner's runs/: one scratch runs folder per test session
    # (tests that need isolation set their own). The data pack cache is shared on purpose.
    if "WELLREAD_RUNS" not in os.environ:
        import tempfile
        os.environ["WELLREAD_RUNS"] = tempfile.mkdtemp(prefix="wellread-test-runs-")

"""Shared fixtures: the real dataset (fails loudly when missing), a tiny synthetic dataset,
an empty run store, and one small trained run that every test file can reuse.

Environment set up here, before fmnist_core is imported anywhere:
- FMNIST_DATA_DIR defaults to ../shared/data/fashion-mnist beside the repository
  (CI clones the repository with ../shared beside it);
- TF_CPP_MIN_LOG_LEVEL=2 keeps TensorFlow's start-up chatter out of the output;
- FMNIST_RUNS_DIR and FMNIST_CACHE_DIR point at session temp folders, so nothing is ever written to
  ./runs or to the user's cache folder.

Running the tests changes no file of the repository: `git status --porcelain` is recorded when the
session starts and compared when it ends; any difference fails the run (exit status 1) and is listed.
`--screenshots` is the one exception: it asks the browser tests to rewrite docs/screenshots/*.png.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"

if "FMNIST_DATA_DIR" not in os.environ and (SHARED_DATA_DIR.is_dir() or os.environ.get("CI")):
    # Beside the repository (CI, this workplace); elsewhere Keras' cache, downloaded on first use.
    os.environ["FMNIST_DATA_DIR"] = str(SHARED_DATA_DIR)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# AppTest runs pages in this process: no background warm-up thread (each page shows its own imports and
# caches). The browser tests' servers warm up as a user's server does (devtools.browser.AppServer).
os.environ.setdefault("FMNIST_WARM_UP", "0")
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

from devtools.git_state import changed_entries, porcelain
from fmnist_core.constants import DATA_FILES, NUM_CLASSES
from fmnist_core.data import Dataset, DataSource

SCREENSHOTS_OPTION = "--screenshots"
_GIT_BEFORE = pytest.StashKey[str | None]()

def report_optimiser_config(**changes):
    """The seed report's optimiser (Adam 1e-3, constant, float32, no EMA or smoothing) without
    augmentation: the plain recipe the tests train with, so one epoch on little data learns."""
    from fmnist_core.augmentation import NO_AUGMENTATION
    from fmnist_core.config import preset

    return preset("seed").with_changes(augmentation=NO_AUGMENTATION, **changes)


# The shared trained run: batch 32, one epoch on 2,000 images already gives a usable model (~0.70).
TRAINED_RUN_CHANGES = dict(epochs=1, batch_size=32, train_limit=2000, validation="holdout", seed=7)


def pytest_addoption(parser):
    parser.addoption(
        SCREENSHOTS_OPTION, action="store_true", default=False,
        help="let the browser tests rewrite the README's docs/screenshots/*.png (otherwise they go to a temp folder)",
    )


def pytest_sessionstart(session):
    session.config.stash[_GIT_BEFORE] = porcelain(REPO_DIR)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when it changed the repository's files (git status differs from the start)."""
    before = session.config.stash.get(_GIT_BEFORE, None)
    changed = changed_entries(before, porcelain(REPO_DIR))
    if session.config.getoption(SCREENSHOTS_OPTION):
        changed = [line for line in changed if "docs/screenshots/" not in line]
    if not changed:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "the test run changed the repository (git status --porcelain):\n  " + "\n  ".join(changed)
    if reporter is not None:
        reporter.write_sep("=", "repository changed by the tests", red=True)
        reporter.write_line(message)
    else:
        sys.stderr.write(message + "\n")
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def real_data_dir() -> Path:
    from fmnist_core.data import resolve_data_dir

    return resolve_data_dir()[0]


def require_real_data() -> Path:
    """The real data folder, or a loud failure naming what is missing.

    Always a failure in CI (CI=true). Locally too, unless FMNIST_ALLOW_MISSING_DATA=1 asks
    for a skip instead.
    """
    folder = real_data_dir()
    missing = [name for name in DATA_FILES.values() if not (folder / name).is_file()]
    if missing and "FMNIST_DATA_DIR" not in os.environ:
        try:  # with internet, Keras downloads the official files into its cache
            from fmnist_core.data import load_dataset

            load_dataset()
            missing = [name for name in DATA_FILES.values() if not (folder / name).is_file()]
        except Exception:  # noqa: BLE001 - reported as missing just below
            pass
    if missing:
        message = (
            f"Fashion-MNIST files {missing} are missing from {folder} (FMNIST_DATA_DIR). "
            "Tests that need real images cannot run; put the four .gz files there "
            "(CI expects ../shared/data/fashion-mnist beside the repository)."
        )
        if _truthy(os.environ.get("FMNIST_ALLOW_MISSING_DATA")) and not _truthy(os.environ.get("CI")):
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _isolated_runs_dir(tmp_path_factory):
    """No test may write into the project's runs/ folder, or the user's cache folder, by accident."""
    previous = {name: os.environ.get(name) for name in ("FMNIST_RUNS_DIR", "FMNIST_CACHE_DIR")}
    os.environ["FMNIST_RUNS_DIR"] = str(tmp_path_factory.mktemp("default-runs"))
    os.environ["FMNIST_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))  # photo renders, never the user's
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def real_data_folder() -> Path:
    return require_real_data()


@pytest.fixture(scope="session")
def real_dataset(real_data_folder):
    """The full real Fashion-MNIST (60,000 + 10,000 images), read once per session."""
    from fmnist_core.data import load_dataset

    return load_dataset(real_data_folder)


def make_synthetic_dataset(n_train: int = 1000, n_test: int = 200, seed: int = 0) -> Dataset:
    """A learnable fake dataset: class c lights up a 3-pixel band at rows 2c+3..2c+5, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n, dtype=np.int64) % NUM_CLASSES
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label + 3 : 2 * label + 6, 4:24] = 220
        return images, labels

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    source = DataSource(folder="<synthetic>", official=False, md5={})
    return Dataset(x_train, y_train, x_test, y_test, source)


@pytest.fixture(scope="session")
def synthetic_dataset() -> Dataset:
    """1,000 training and 200 test images; train on it with validation='test' (no 5,000 holdout)."""
    return make_synthetic_dataset()


@pytest.fixture
def tmp_store(tmp_path):
    """An empty RunStore in tmp_path, without the shipped default run."""
    from fmnist_core.runs import RunStore

    return RunStore(tmp_path / "runs", pretrained_dir=None)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, real_dataset):
    """(store, run_id): seed_cnn trained 1 epoch on 2,000 real images. Treat it as read-only;
    use `trained_run_copy` to get a private copy you may modify."""
    from fmnist_core.runs import RunStore
    from fmnist_core.training import train

    store = RunStore(tmp_path_factory.mktemp("trained-run"), pretrained_dir=None)
    result = train(report_optimiser_config(**TRAINED_RUN_CHANGES), dataset=real_dataset, store=store,
                   command="pytest fixture")
    assert result.status == "completed", result.run.meta
    return store, result.run.run_id


@pytest.fixture(scope="session")
def trained_model(trained_run):
    """The trained run's model, loaded (verified) once per session."""
    store, run_id = trained_run
    return store.load_model(run_id)


@pytest.fixture
def trained_run_copy(trained_run, tmp_path):
    """(store, run_id): a private copy of the trained run in a fresh store under tmp_path."""
    from fmnist_core.runs import RunStore

    store, run_id = trained_run
    root = tmp_path / "runs-copy"
    root.mkdir()
    shutil.copytree(store.root / run_id, root / run_id)
    return RunStore(root, pretrained_dir=None), run_id

"""python -m fmnist_core: help texts, runs/evaluate/predict on the trained fixture run, readable
one-line errors (no tracebacks), and a real `train` in a subprocess."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fmnist_core.constants import CLASS_NAMES
from fmnist_core.runs import RunStore

REPO_DIR = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("train", "resume", "runs", "evaluate", "predict")


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_DIR),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return subprocess.run(
        [sys.executable, "-m", "fmnist_core", *args],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=timeout,
    )


# TensorFlow 2.21's C++ start-up lines (absl logging before InitializeLog) reach stderr even with
# TF_CPP_MIN_LOG_LEVEL=2; they are TensorFlow's, not the CLI's, so the checks below ignore them.
_TF_NOISE = re.compile(
    r"^([IWE]\d{4} \d\d:\d\d:|WARNING: All log messages before absl|To enable the following instructions)")


def cli_lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip() and not _TF_NOISE.match(line)]


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr


def test_help():
    proc = cli("--help")
    assert proc.returncode == 0, proc.stderr
    for name in SUBCOMMANDS:
        assert name in proc.stdout
    assert "--runs-dir" in proc.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:") and command in proc.stdout
    if command == "train":
        for option in ("--preset", "--architecture", "--epochs", "--train-limit", "--no-augmentation"):
            assert option in proc.stdout


def test_runs_json_lists_the_trained_run(trained_run_copy):
    store, run_id = trained_run_copy
    proc = cli("--runs-dir", str(store.root), "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    row = next(r for r in rows if r["run_id"] == run_id)
    run = store.get(run_id)
    assert row["status"] == "completed" and row["architecture"] == "seed_cnn"
    assert row["epochs_completed"] == 1 == row["epochs"]
    assert row["test_accuracy"] == pytest.approx(run.test_accuracy)
    # The plain table names the run too.
    table = cli("--runs-dir", str(store.root), "runs")
    assert table.returncode == 0 and run_id in table.stdout and "completed" in table.stdout


def test_runs_on_an_empty_folder(tmp_path, monkeypatch):
    # The shipped default run is listed beside the user's runs...
    shipped = json.loads(cli("--runs-dir", str(tmp_path / "none-yet"), "runs", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in shipped] == [("default", "completed")]
    # ...and without it an empty folder says what to do.
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    proc = cli("--runs-dir", str(tmp_path / "none-yet"), "runs")
    assert proc.returncode == 0 and "no saved runs" in proc.stdout
    assert json.loads(cli("--runs-dir", str(tmp_path / "none-yet"), "runs", "--json").stdout) == []


def test_evaluate_json(trained_run_copy):
    store, run_id = trained_run_copy
    proc = cli("--runs-dir", str(store.root), "evaluate", run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) >= {"run_id", "accuracy", "loss", "count", "confusion_matrix", "per_class"}
    assert report["run_id"] == run_id and report["count"] == 10_000
    assert report["accuracy"] == pytest.approx(store.get(run_id).test_accuracy, abs=1e-4)
    assert list(report["per_class"]) == list(CLASS_NAMES)
    assert set(report["per_class"][CLASS_NAMES[0]]) == {"precision", "recall", "f1", "support"}
    assert sum(map(sum, report["confusion_matrix"])) == 10_000


@pytest.mark.parametrize("run_id", ["../escape", "no-such-run"])
def test_evaluate_bad_run_is_a_one_line_error(tmp_path, run_id):
    proc = cli("--runs-dir", str(tmp_path), "evaluate", run_id)
    assert proc.returncode == 2
    assert_no_traceback(proc)
    lines = cli_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error:") and run_id in lines[0]


def test_predict_good_bad_and_missing_files(trained_run_copy, real_dataset, tmp_path):
    store, run_id = trained_run_copy
    good = tmp_path / "good.png"
    buffer = io.BytesIO()
    Image.fromarray(real_dataset.x_test[0], mode="L").save(buffer, format="PNG")
    good.write_bytes(buffer.getvalue())
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing sensible")
    missing = tmp_path / "missing.png"

    proc = cli("--runs-dir", str(store.root), "predict", run_id, str(good), str(bad), str(missing))
    assert proc.returncode != 0
    assert_no_traceback(proc)
    out_lines = cli_lines(proc.stdout)
    assert len(out_lines) == 1 and out_lines[0].startswith(f"{good}: ")
    top3 = out_lines[0].split(": ", 1)[1].split(", ")
    assert len(top3) == 3 and all(any(part.startswith(name + " ") for name in CLASS_NAMES) for part in top3)
    assert all(part.endswith("%") for part in top3)
    err_lines = cli_lines(proc.stderr)
    assert len(err_lines) == 2
    assert err_lines[0].startswith(f"{bad}: ") and err_lines[1].startswith(f"{missing}: ")
    assert "cannot read" in err_lines[1]


@pytest.mark.slow
def test_train_in_a_subprocess(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    runs_dir = tmp_path / "cli-runs"
    proc = cli(
        "train", "--runs-dir", str(runs_dir),  # a global option after the subcommand
        "--epochs", "1", "--train-limit", "1000", "--architecture", "seed_cnn",
        timeout=420,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_traceback(proc)
    run_id = proc.stdout.strip().splitlines()[-1]
    assert "epoch 1:" in proc.stderr and "completed" in proc.stderr  # the progress lines
    assert re.search(r": 1 epoch x \d+ batches\n", proc.stderr) and "1 epochs" not in proc.stderr
    # No third-party warnings on a normal run (Keras' "`shuffle=True` was passed, but will be ignored").
    warnings = [line for line in cli_lines(proc.stderr.replace("\r", "\n")) if "warn" in line.lower()]
    assert warnings == [] and "shuffle" not in proc.stderr
    listed = json.loads(cli("--runs-dir", str(runs_dir), "runs", "--json").stdout)
    assert [(r["run_id"], r["status"], r["epochs_completed"]) for r in listed] == [(run_id, "completed", 1)]
    run = RunStore(runs_dir, pretrained_dir=None).get(run_id)
    assert run.has_model and run.config["train_limit"] == 1000 and run.config["architecture"] == "seed_cnn"
    assert run.meta["command"].startswith("python -m fmnist_core")


# ---------------------------------------------------------------- global options, JSON, quick refusals
@pytest.mark.parametrize(
    "argv",
    [
        ["--runs-dir", "A", "--json", "runs"],
        ["runs", "--runs-dir", "A", "--json"],
        ["--json", "runs", "--runs-dir", "A"],
        ["--runs-dir", "B", "runs", "--runs-dir", "A", "--json"],  # the later one wins
    ],
)
def test_global_options_before_or_after_the_subcommand(argv):
    from fmnist_core.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.command, args.runs_dir, args.json) == ("runs", "A", True)


@pytest.mark.parametrize("command", [["train"], ["resume", "x"], ["evaluate"], ["predict", "x", "a.png"], ["runs"]])
def test_every_subcommand_takes_the_global_options_after_it(command):
    from fmnist_core.cli import build_parser

    plain = build_parser().parse_args(command)
    assert (plain.runs_dir, plain.json) == (None, False)  # the defaults survive the subcommand
    args = build_parser().parse_args([*command, "--runs-dir", "R", "--json"])
    assert (args.runs_dir, args.json) == ("R", True)


def test_subcommand_modules_get_the_global_options_too(tmp_path, monkeypatch):
    (tmp_path / "hello_command.py").write_text(
        "def register(sub):\n"
        "    parser = sub.add_parser('hello')\n"
        "    parser.add_argument('--json', action='store_const', const='own')\n"
        "    parser.set_defaults(handler=lambda args: 0)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import fmnist_core.cli as cli_module

    monkeypatch.setattr(cli_module, "COMMAND_MODULES", ("hello_command",))
    args = cli_module.build_parser().parse_args(["hello", "--runs-dir", "R", "--json"])
    assert (args.runs_dir, args.json) == ("R", "own")  # its own --json is kept, --runs-dir added


def test_train_json_and_library_chatter_on_stderr(monkeypatch, capsys, tmp_path):
    """stdout holds only the result: what a library prints while working (Keras' "Downloading data
    from ...") goes to stderr, and --json prints one JSON document."""
    from types import SimpleNamespace

    import fmnist_core.cli as cli_module
    import fmnist_core.training as training
    from fmnist_core.runs import RunStatus

    seen = {}

    def fake_train(config, **kwargs):
        print("Downloading data from https://example.invalid/train-images-idx3-ubyte.gz")
        seen["config"] = config
        run = SimpleNamespace(run_id="run-1", epochs_completed=1, test_accuracy=0.5)
        return SimpleNamespace(run=run, status=RunStatus.COMPLETED)

    monkeypatch.setattr(training, "train", fake_train)
    assert cli_module.main(["train", "--epochs", "1", "--preset", "report", "--runs-dir", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"run_id": "run-1", "status": "completed", "epochs_completed": 1, "test_accuracy": 0.5}
    assert "Downloading data from" in err
    assert seen["config"].architecture == "seed_cnn" and seen["config"].epochs == 1  # "report" = the seed preset


def test_evaluate_json_keeps_download_messages_off_stdout(trained_run_copy, real_dataset, monkeypatch, capsys):
    import fmnist_core.cli as cli_module
    import fmnist_core.data as data_module

    def loading_with_a_download_message(*args, **kwargs):
        print("Downloading data from https://example.invalid/t10k-images-idx3-ubyte.gz")  # as Keras does
        return real_dataset

    monkeypatch.setattr(data_module, "load_dataset", loading_with_a_download_message)
    store, run_id = trained_run_copy
    assert cli_module.main(["evaluate", run_id, "--json", "--runs-dir", str(store.root)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["run_id"] == run_id
    assert "Downloading data from" in err and "Downloading" not in out


def test_predict_refuses_bad_files_before_loading_tensorflow(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.png"
    with huge.open("wb") as handle:  # a sparse 50 MB file: refused from its size, never read
        handle.truncate(50 * 1024 * 1024)
    script = (
        "import sys, time\n"
        "from fmnist_core.cli import main\n"
        "start = time.perf_counter()\n"
        f"rc = main(['predict', 'default', {str(text)!r}, {str(empty)!r}, {str(huge)!r}, "
        f"{str(tmp_path / 'missing.png')!r}])\n"
        "print('RESULT', rc, round(time.perf_counter() - start, 3), "
        "'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_DIR, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_DIR)})
    assert_no_traceback(proc)
    rc, seconds, tf_loaded, keras_loaded = proc.stdout.split("RESULT", 1)[1].split()
    assert rc == "1" and tf_loaded == "False" and keras_loaded == "False"
    assert float(seconds) < 0.5, seconds  # milliseconds in practice; 0.5 s leaves room for a loaded machine
    errors = cli_lines(proc.stderr)
    assert [line.split(": ", 1)[0] for line in errors] == [
        str(text), str(empty), str(huge), str(tmp_path / "missing.png")]
    assert "not a recognised image" in errors[0] and "empty" in errors[1] and "over the limit" in errors[2]
    assert "cannot read" in errors[3]

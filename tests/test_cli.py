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
_TF_NOISE = re.compile(r"^([IWE]\d{4} \d\d:\d\d:|WARNING: All log messages before absl|To enable the following instructions)")


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
        "--runs-dir", str(runs_dir), "train",
        "--epochs", "1", "--train-limit", "1000", "--architecture", "seed_cnn",
        timeout=420,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_traceback(proc)
    run_id = proc.stdout.strip().splitlines()[-1]
    assert "epoch 1:" in proc.stderr and "completed" in proc.stderr  # the progress lines
    listed = json.loads(cli("--runs-dir", str(runs_dir), "runs", "--json").stdout)
    assert [(r["run_id"], r["status"], r["epochs_completed"]) for r in listed] == [(run_id, "completed", 1)]
    run = RunStore(runs_dir, pretrained_dir=None).get(run_id)
    assert run.has_model and run.config["train_limit"] == 1000 and run.config["architecture"] == "seed_cnn"
    assert run.meta["command"].startswith("python -m fmnist_core")

"""python -m fmnist_core explain: overlay PNGs, the --json payload, and predict's one-line errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from fmnist_core.cli import main
from fmnist_core.constants import CLASS_NAMES, PRETRAINED_DIR


@pytest.fixture()
def shipped(monkeypatch, tmp_path, real_data_folder):
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", str(PRETRAINED_DIR))
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def _png(path, size=60):
    pixels = np.zeros((size, size), np.uint8)
    pixels[10:50, 20:40] = 200
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_json_per_image(shipped, capsys, real_dataset):
    image = _png(shipped / "garment.png")
    out = shipped / "out"
    code = main(["explain", "default", str(image), "--test-index", "0", "--method", "saliency", "--class", "shirt",
                 "--out", str(out), "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in rows] == [str(image), "test:0"]
    for row in rows:
        assert row["run_id"] == "default" and row["method"] == "saliency" and row["class"] == "Shirt"
        assert row["class_index"] == CLASS_NAMES.index("Shirt")
        assert 0.0 <= row["probability"] <= 1.0
        for key in ("input", "heatmap"):
            grid = np.array(row[key])
            assert grid.shape == (28, 28) and grid.min() >= 0.0 and grid.max() <= 1.0
        assert Image.open(row["overlay"]).size == (224, 224)
    np.testing.assert_allclose(np.array(rows[1]["input"]), real_dataset.x_test[0] / 255.0, atol=1e-6)
    assert np.array(rows[1]["heatmap"]).max() == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_writes_one_png_per_image(shipped, capsys, method):
    out = shipped / "pngs"
    assert main(["explain", "default", "--test-index", "3", "7", "--method", method, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0].startswith(f"test:3: {method} for ")
    assert sorted(p.name for p in out.iterdir()) == [f"test-3-{method}.png", f"test-7-{method}.png"]


def test_bad_files_get_predicts_one_line_errors(shipped, capsys):
    good = _png(shipped / "good.png")
    bad = shipped / "bad.png"
    bad.write_bytes(b"not an image")
    missing = shipped / "missing.png"
    code = main(["explain", "default", str(bad), str(missing), str(good), "--out", str(shipped / "o")])
    captured = capsys.readouterr()
    assert code == 1
    errors = captured.err.strip().splitlines()
    assert errors[0].startswith(f"{bad}: ") and "not a recognised image" in errors[0]
    assert errors[1] == f"{missing}: cannot read file (No such file or directory)"
    assert captured.out.startswith(f"{good}: gradcam for ")  # the good file is still explained
    # predict reports the same two files with the same lines
    assert main(["predict", "default", str(bad), str(missing)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == errors


@pytest.mark.parametrize("argv, message", [
    (["--test-index", "10000"], "error: test index 10000 is out of range (0-9999)"),
    (["--test-index", "1", "--class", "Jacket"], "error: unknown class 'Jacket'"),
    ([], "error: give at least one image file or --test-index N"),
    (["--test-index", "1", "--opacity", "2"], "error: --opacity must be between 0 and 1"),
])
def test_bad_arguments_are_one_line(shipped, capsys, argv, message):
    assert main(["explain", "default", *argv, "--out", str(shipped / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_unknown_run(shipped, capsys):
    assert main(["explain", "no-such-run", "--test-index", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: no saved run 'no-such-run'"


def test_class_by_index_and_name():
    from fmnist_core.commands.explain import class_index

    assert class_index(None) is None
    assert class_index("ankle BOOT") == 9 and class_index("6") == 6 and class_index("T-shirt/top") == 0

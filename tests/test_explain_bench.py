"""The explain benchmark's code path: it measures, judges against issue #13's targets, and renders."""

from __future__ import annotations

import numpy as np

from benchmarks.cli import build_parser
from benchmarks.explain_bench import TARGETS_MS, ExplainBench, LatencyRow, measure_deletion, measure_latency


def test_cli_has_skip_explain():
    assert build_parser().parse_args(["--skip-explain"]).skip_explain is True
    assert build_parser().parse_args([]).skip_explain is False


def test_latency_rows_and_rendering():
    from fmnist_core.models import build_model

    model = build_model("seed_cnn")
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    rows = measure_latency(model, "seed", image, repeats=2)
    assert [r.operation for r in rows] == list(TARGETS_MS)
    assert all(r.p50_ms > 0 and r.p95_ms >= r.p50_ms for r in rows)
    bench = ExplainBench("test cpu", rows, [{"method": "gradcam", "images": 4, "fraction": 0.1, "drop_top": 0.3,
                                            "drop_random": 0.1, "ratio": 3.0, "mean_probability": 0.8}],
                         {"image": 0.5, "class": 1.5})
    text = "\n".join(bench.lines())
    assert "seed gradcam: p50" in text and "x3.0" in text
    assert "class changes: 1.50 s (AppTest, target <= 1 s: MISSED)" in text
    md = bench.markdown()
    assert md.startswith("### Explain engine (issue #13)") and "| seed | occlusion |" in md
    slow = LatencyRow("m", "occlusion", 1.0, 1500.0, 1600.0)
    assert not slow.ok and LatencyRow("m", "occlusion", 1.0, 900.0, 950.0).ok


def test_deletion_figures_per_method():
    from fmnist_core.models import build_model

    images = np.random.default_rng(1).random((3, 28, 28, 1)).astype(np.float32)
    rows = measure_deletion(build_model("seed_cnn"), images)
    assert [r["method"] for r in rows] == ["gradcam", "saliency", "occlusion"]
    assert all(r["images"] == 3 and 0 <= r["mean_probability"] <= 1 for r in rows)

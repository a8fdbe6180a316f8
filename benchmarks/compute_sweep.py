"""Issue #17's experiments: how much training compute (TFLOP) a recipe variant needs to first reach 86%, 90%
and 93% test accuracy, checked as the benchmark checks (benchmarks.training_bench.test_monitor).

    python -m benchmarks.compute_sweep VARIANT [VARIANT ...] [--seed N] [--log FILE]

Each variant is the default recipe with an architecture and/or settings changed; one JSON line per run is
appended to --log (the table in docs/compute.md was written from those lines). Compute is a count of work,
not of time, so variants compared under a busy CPU compare fairly.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmnist_core.archspec import (
    ArchitectureSpec,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    MaxPool,
    layer_table,
)
from fmnist_core.augmentation import AugmentationConfig
from fmnist_core.models import conv_bn_relu


@dataclass(frozen=True)
class Variant:
    """The default recipe with these changes; `layers` None keeps the config's own architecture."""

    description: str
    layers: tuple[Layer, ...] | None = None
    changes: dict[str, Any] = field(default_factory=dict)


def stem(filters: int, *, stride: int = 1) -> tuple[Layer, ...]:
    """A plain conv-ReLU first layer (no batch norm: memory-bound work on the largest map)."""
    return (Conv(filters, 3, stride=stride, padding="same", activation="relu"),)


def pooled(stem_layers: tuple[Layer, ...], *stages: tuple[int, ...]) -> tuple[Layer, ...]:
    """A stem, then Conv-BN-ReLU stages each after a 2x2 max-pool, then global average pooling."""
    out: list[Layer] = list(stem_layers)
    for widths in stages:
        out.append(MaxPool(2))
        for width in widths:
            out.extend(conv_bn_relu(width))
    out.append(GlobalAvgPool())
    return tuple(out)


def pointwise_end(stem_layers: tuple[Layer, ...], *stages: tuple[int, ...], end: int) -> tuple[Layer, ...]:
    """As `pooled`, then one 1x1 Conv-BN-ReLU of `end` filters before the global average pooling: on a 3x3
    map a 1x1 layer costs a ninth of a 3x3 one and still mixes every channel."""
    return (*pooled(stem_layers, *stages)[:-1], *conv_bn_relu(end, kernel=1), GlobalAvgPool())


def dense_head(stem_layers: tuple[Layer, ...], *stages: tuple[int, ...], units: int) -> tuple[Layer, ...]:
    """As `pooled`, but the last map is flattened into a dense layer (a multiply-add per weight, the
    cheapest place for weights) instead of global average pooling; dropout 0.2 after it."""
    body = pooled(stem_layers, *stages)[:-1]  # without the global average pooling
    return (*body, Flatten(), Dense(units), Dropout(0.2))


def strided(stem_layers: tuple[Layer, ...], *stages: tuple[int, ...]) -> tuple[Layer, ...]:
    """As `pooled`, but the stem is strided (already 14x14), so the first stage has no pool before it."""
    out: list[Layer] = list(stem_layers)
    for index, widths in enumerate(stages):
        if index:
            out.append(MaxPool(2))
        for width in widths:
            out.extend(conv_bn_relu(width))
    out.append(GlobalAvgPool())
    return tuple(out)


SLIM_LAYERS = pointwise_end(stem(16), (32,), (96,), (192,), end=192)  # p5 and p6 (slim_cnn)

VARIANTS: dict[str, Variant] = {
    # The name is older than the recipe: this is PRESETS["default"] as it is today (fast_cnn, 7 epochs, when
    # the sweep began; slim_cnn, 6 epochs, since 2026-12-06; photo renders of a fifth of the images since).
    "fast7": Variant("the default recipe as it is (PRESETS['default'])"),
    "fast3": Variant("fast_cnn, 3 epochs", changes={"epochs": 3}),
    "slim5": Variant("stem 32, 64 @14, 128 @7 (one 7x7 layer), 5 epochs", pooled(stem(32), (64,), (128,)),
                     {"epochs": 5}),
    "narrow5": Variant("stem 24, 48 @14, 96+96 @7, 5 epochs", pooled(stem(24), (48,), (96, 96)), {"epochs": 5}),
    "s2_5": Variant("stride-2 stem 32 (14x14 at once), 64 @14, 128+128 @7, 5 epochs",
                    strided(stem(32, stride=2), (64,), (128, 128)), {"epochs": 5}),
    "thin14_5": Variant("stem 32, 32 @14, 128+128 @7, 5 epochs", pooled(stem(32), (32,), (128, 128)),
                        {"epochs": 5}),
    "c6": Variant("stem 16, 32 @14, 96+96 @7, 6 epochs", pooled(stem(16), (32,), (96, 96)), {"epochs": 6}),
    "c5": Variant("stem 16, 32 @14, 96+96 @7, 5 epochs", pooled(stem(16), (32,), (96, 96)), {"epochs": 5}),
    "q5": Variant("stem 16, 32 @14, 96 @7, 192+192 @3 (a third pool), 5 epochs",
                  pooled(stem(16), (32,), (96,), (192, 192)), {"epochs": 5}),
    "q4": Variant("stem 16, 32 @14, 96 @7, 192+192 @3 (a third pool), 4 epochs",
                  pooled(stem(16), (32,), (96,), (192, 192)), {"epochs": 4}),
    "q3": Variant("stem 16, 32 @14, 96 @7, 192+192 @3 (a third pool), 3 epochs",
                  pooled(stem(16), (32,), (96,), (192, 192)), {"epochs": 3}),
    "q4s": Variant("stem 16, 32 @14, 96 @7, 144+144 @3 (a third pool), 4 epochs",
                   pooled(stem(16), (32,), (96,), (144, 144)), {"epochs": 4}),
    "d5": Variant("stem 16, 32 @14, 96 @7, flatten, dense 256, 5 epochs",
                  dense_head(stem(16), (32,), (96,), units=256), {"epochs": 5}),
    "d5b": Variant("stem 16, 32 @14, 96+96 @7, flatten, dense 192, 5 epochs",
                   dense_head(stem(16), (32,), (96, 96), units=192), {"epochs": 5}),
    "p5": Variant("stem 16, 32 @14, 96 @7, 192 @3 then a 1x1 192 (a third pool), 5 epochs", SLIM_LAYERS,
                  {"epochs": 5}),
    "p6": Variant("stem 16, 32 @14, 96 @7, 192 @3 then a 1x1 192 (a third pool), 6 epochs: slim_cnn, the default",
                  SLIM_LAYERS, {"epochs": 6}),
    "p5w": Variant("stem 16, 32 @14, 96 @7, 256 @3 then a 1x1 256 (a third pool), 5 epochs",
                   pointwise_end(stem(16), (32,), (96,), (256,), end=256), {"epochs": 5}),
    "d6": Variant("stem 16, 32 @14, 96 @7, flatten, dense 256, 6 epochs",
                  dense_head(stem(16), (32,), (96,), units=256), {"epochs": 6}),
    "mid4": Variant("stem 32, 48 @14, 112+112 @7, 4 epochs", pooled(stem(32), (48,), (112, 112)), {"epochs": 4}),
    "p6s2": Variant("slim_cnn with a stride-2 stem (14x14 at once, no first pool), 6 epochs",
                    (*strided(stem(16, stride=2), (32,), (96,), (192,))[:-1], *conv_bn_relu(192, kernel=1),
                     GlobalAvgPool()), {"epochs": 6}),
}


def run_variant(name: str, variant: Variant, *, seed: int, extra: dict[str, Any], dataset, store) -> dict[str, Any]:
    """Train one variant with the benchmark's test checks; the figures as one JSON-able dict."""
    import keras

    from fmnist_core.config import PRESETS
    from fmnist_core.models import describe
    from fmnist_core.training import train

    from .training_bench import THRESHOLDS, RecipeResult, test_monitor

    changes = {**variant.changes, **extra}
    if isinstance(changes.get("augmentation"), dict):  # --set augmentation='{"horizontal_flip": true}'
        changes["augmentation"] = AugmentationConfig.from_dict(changes["augmentation"])
    config = PRESETS["default"].with_changes(seed=seed, **changes)
    if variant.layers is not None:
        spec = ArchitectureSpec(f"x_{name}", variant.layers, name, variant.description)
        config = config.with_changes(architecture=spec.name, architecture_spec=spec)
        table = layer_table(spec)
        multiply_adds, parameters = table.multiply_adds, table.parameters
    else:
        summary = describe(config.architecture)
        multiply_adds, parameters = summary.multiply_adds, summary.parameters
    keras.backend.clear_session()
    started = time.perf_counter()
    result = train(config, dataset=dataset, store=store, command=f"benchmarks.compute_sweep {name}",
                   callbacks=[test_monitor()])
    train_images = int(result.run.meta["train_images"])
    recipe = RecipeResult(
        name=name, architecture=config.architecture, config=config.to_dict(), train_images=train_images,
        multiply_adds=multiply_adds, parameters=parameters, history=dict(result.history),
        test_accuracy=result.test_accuracy, fit_wall_seconds=float(sum(result.history.get("seconds", []))),
    )
    return {
        "variant": name,
        "description": variant.description,
        "changes": {key: value.to_dict() if hasattr(value, "to_dict") else value for key, value in changes.items()},
        "seed": seed,
        "multiply_adds": multiply_adds,
        "parameters": parameters,
        "epochs": config.epochs,
        "tflop_to": {f"{t:.2f}": recipe.tflop_to(t) for t in THRESHOLDS},
        "epoch_to": {f"{t:.2f}": recipe.reached(t).epoch for t in THRESHOLDS},
        "total_tflop": recipe.total_tflop,
        "final_test_accuracy": recipe.test_accuracy,
        "best_epoch_test_accuracy": max(recipe.test_accuracies, default=None),
        "epoch_test_accuracy": recipe.test_accuracies,
        "images_per_second": recipe.images_per_second,
        "wall_seconds": time.perf_counter() - started,
    }


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compute_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="+", choices=sorted(VARIANTS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a further TrainConfig change (JSON value), e.g. --set epochs=4")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "compute_sweep.jsonl",
                        help="append one JSON line per run here (default: the temp folder, never the repository)")
    args = parser.parse_args(argv)
    extra = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}

    from fmnist_core.data import load_dataset
    from fmnist_core.runs import RunStore

    dataset, store = load_dataset(), RunStore()
    for name in args.variants:
        line = run_variant(name, VARIANTS[name], seed=args.seed, extra=extra, dataset=dataset, store=store)
        with args.log.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""python -m fmnist_core explain RUN IMAGE... : where a run's model looks, as overlay PNGs or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..constants import CLASS_NAMES
from ..errors import ConfigError, FmnistError

METHODS = ("gradcam", "saliency", "occlusion")
DEFAULT_OUT = Path("explanations")


def class_index(name: str | None) -> int | None:
    """A class by name (any case) or index; None means the predicted class."""
    if name is None:
        return None
    text = name.strip()
    if text.isdigit() and int(text) < len(CLASS_NAMES):
        return int(text)
    for i, known in enumerate(CLASS_NAMES):
        if known.lower() == text.lower():
            return i
    raise ConfigError(f"unknown class {name!r}; choose one of: {', '.join(CLASS_NAMES)}")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "explain", help="show where a run's model looks in image files or test images (heatmap overlays)",
        description="Explain a run's prediction for image files and/or test images: writes an overlay PNG per "
                    "image (heatmap over the 28x28 model input); --json prints the input and heatmap as numbers.")
    parser.add_argument("run_id")
    parser.add_argument("images", nargs="*", type=Path, help="image files (PNG, JPEG, WebP, GIF)")
    parser.add_argument("--test-index", type=int, nargs="+", default=[], metavar="N",
                        help="explain test-set images by index (0-9999)")
    parser.add_argument("--method", choices=METHODS, default="gradcam")
    parser.add_argument("--class", dest="class_name", metavar="NAME",
                        help="explain this class instead of the predicted one (e.g. Shirt)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the PNGs (default: {DEFAULT_OUT})")
    parser.add_argument("--opacity", type=float, default=0.6, help="heatmap opacity in the PNG, 0-1 (default 0.6)")
    parser.set_defaults(handler=run)


def _inputs(args) -> list[tuple[str, str, object]]:
    """(label, file stem, bytes or test-image array) in the order given; test images need the dataset."""
    items: list[tuple[str, str, object]] = [(str(path), path.stem, path) for path in args.images]
    if args.test_index:
        from ..data import load_dataset

        x_test = load_dataset().x_test
        for index in args.test_index:
            if not 0 <= index < len(x_test):
                raise ConfigError(f"test index {index} is out of range (0-{len(x_test) - 1})")
            items.append((f"test:{index}", f"test-{index}", x_test[index]))
    return items


def run(args) -> int:
    """Explain every image; a bad file gets one line on stderr (like predict) and exit status 1."""
    import numpy as np

    from ..cli import _store
    from ..explain.attribution import attributor_for
    from ..explain.overlay import overlay_png
    from ..preprocess import preprocess_upload

    if not args.images and not args.test_index:
        raise ConfigError("give at least one image file or --test-index N")
    if not 0.0 <= args.opacity <= 1.0:
        raise ConfigError(f"--opacity must be between 0 and 1, got {args.opacity}")
    wanted = class_index(args.class_name)
    items = _inputs(args)
    attributor = attributor_for(_store(args).load_model(args.run_id))
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    results = []
    for label, stem, source in items:
        if isinstance(source, Path):
            try:
                data = source.read_bytes()
            except OSError as exc:
                print(f"{label}: cannot read file ({exc.strerror or exc})", file=sys.stderr)
                failures += 1
                continue
            try:
                image = preprocess_upload(data).model_input
            except FmnistError as exc:
                print(f"{label}: {exc}", file=sys.stderr)
                failures += 1
                continue
        else:
            image = np.asarray(source, np.float32)[..., np.newaxis] / 255.0
        result = attributor.explain(image, args.method, wanted)
        png = args.out / f"{stem}-{args.method}.png"
        png.write_bytes(overlay_png(result.image, result.heatmap, opacity=args.opacity))
        name = CLASS_NAMES[result.class_index]
        results.append({
            "image": label, "run_id": args.run_id, "method": args.method, "class": name,
            "class_index": result.class_index, "probability": round(result.probability, 6),
            "predicted": CLASS_NAMES[int(np.argmax(result.probabilities))], "overlay": str(png),
            "input": np.round(result.image, 6).tolist(), "heatmap": np.round(result.heatmap, 6).tolist(),
        })
        if not args.json:
            print(f"{label}: {args.method} for {name} ({result.probability:.1%}) -> {png}")
    if args.json:
        print(json.dumps(results))
    return 1 if failures else 0

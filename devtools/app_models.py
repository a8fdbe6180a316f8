"""The app's model and sample images for browser runs: the run the app opens as its active model (made sure
to exist), and real test images that model classifies right. Imports fmnist_core and ui.state lazily.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .browser import PREDICTION_PREFIX

_TINY_RUN_CACHE: dict[str, Path] = {}


def app_store(runs_dir: str | Path):
    """The RunStore the app will use for this runs folder (same shipped-default rule as ui/state.py)."""
    from fmnist_core.runs import RunStore
    from ui.state import pretrained_dir

    return RunStore(runs_dir, pretrained_dir=pretrained_dir())


#: The tiny model trained when the app would otherwise have none: one epoch of the seed report's
#: optimiser (Adam 1e-3, constant) at batch 32 on 2,000 images, about 0.7 test accuracy in ~10 CPU-seconds.
TINY_MODEL = dict(architecture="seed_cnn", epochs=1, batch_size=32, learning_rate=1e-3, optimizer="adam",
                  schedule="constant", warmup_epochs=0.0, weight_decay=0.0, train_limit=2000, seed=7)


def ensure_active_model(runs_dir: str | Path, *, copy_run_from: str | Path | None = None):
    """The run the app will open as the active model, making sure there is one.

    With the shipped default model present (fmnist_core/pretrained/default) that is it. Otherwise the
    run folder copy_run_from is copied in, or a tiny model (TINY_MODEL) is trained once per process.
    """
    run = app_store(runs_dir).default_active_run()
    if run is not None:
        return run
    source = Path(copy_run_from) if copy_run_from is not None else _tiny_run()
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, Path(runs_dir) / source.name, dirs_exist_ok=True)
    run = app_store(runs_dir).default_active_run()
    if run is None:
        raise RuntimeError(f"the run copied from {source} is not one the app can use as its active model")
    return run


def _tiny_run() -> Path:
    from fmnist_core.config import TrainConfig
    from fmnist_core.runs import RunStore
    from fmnist_core.training import train

    cached = _TINY_RUN_CACHE.get("run")
    if cached is None or not cached.is_dir():
        root = Path(tempfile.mkdtemp(prefix="fmnist-tiny-run-"))
        result = train(TrainConfig(**TINY_MODEL), store=RunStore(root, pretrained_dir=None),
                       command="benchmarks.load_test tiny model")
        cached = _TINY_RUN_CACHE["run"] = result.run.path
    return cached


@dataclass(frozen=True)
class SampleImage:
    path: Path
    label: str  # the true class, which the active model also predicts
    test_index: int

    @property
    def expected_text(self) -> str:
        return PREDICTION_PREFIX + self.label


def upscaled_png(image28, size: int = 280) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image28).resize((size, size), Image.Resampling.BILINEAR).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def pick_samples(run, classes: tuple[str, ...], out_dir: str | Path, *, per_class_candidates: int = 40,
                 margin: float = 0.2) -> list[SampleImage]:
    """One real test image per class, as a 280x280 PNG, that the given run classifies right with a margin.

    The check uses the app's own path (preprocess_upload + Predictor), so the page must show the same class.
    """
    import numpy as np

    from fmnist_core.constants import CLASS_NAMES
    from fmnist_core.data import load_dataset
    from fmnist_core.inference import Predictor
    from fmnist_core.preprocess import preprocess_upload
    from fmnist_core.runs import RunStore

    store = RunStore(run.path.parent, pretrained_dir=None)
    predictor = Predictor(store.load_model(run.run_id))
    data = load_dataset()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = []
    for name in classes:
        label = CLASS_NAMES.index(name)
        candidates = np.flatnonzero(data.y_test == label)[:per_class_candidates]
        pngs = [upscaled_png(data.x_test[index]) for index in candidates]
        batch = np.stack([preprocess_upload(png).model_input for png in pngs])
        probs = predictor.predict(batch)
        top2 = np.sort(probs, axis=1)[:, -2:]
        good = np.flatnonzero((probs.argmax(axis=1) == label) & (top2[:, 1] - top2[:, 0] >= margin))
        if len(good):
            index, png = int(candidates[good[0]]), pngs[good[0]]
            path = out / f"{name.lower().replace('/', '-').replace(' ', '-')}-{index}.png"
            path.write_bytes(png)
            samples.append(SampleImage(path, name, index))
    return samples


def pick_two_samples(run, out_dir: str | Path) -> list[SampleImage]:
    """Two images of different classes the run gets right (alternating them makes each upload's answer new)."""
    preferred = ("Trouser", "Ankle boot", "Bag", "Sneaker", "Sandal", "Dress", "T-shirt/top", "Coat", "Pullover",
                 "Shirt")
    samples = pick_samples(run, preferred, out_dir)
    if len(samples) < 2:
        raise RuntimeError(f"the active model {run.run_id!r} classifies too few test images confidently")
    return samples[:2]


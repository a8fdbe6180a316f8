"""Warm the server's caches once, in a background thread, so no page's first visit pays for them.

Started by app.py on the first script run of the process. It decodes the dataset (fmnist_core's own
read-once cache, which ui.loaders' cached loader then returns at once), computes the Data explorer's class
means and builds a first Plotly figure (Plotly's first figure is the slow one), imports TensorFlow by loading the
default active model into ui.loaders' shared Predictor, and computes that model's test-set predictions
(cached on disk beside the model), so the Augmentation lab, Predictions and Classify open without
waiting. FMNIST_WARM_UP=0 switches it off (the tests do, so they see each page's own imports).
"""

from __future__ import annotations

import gc
import os
import threading
import time

from streamlit.logger import get_logger

WARM_UP_ENV = "FMNIST_WARM_UP"
LOGGER = get_logger(__name__)  # Streamlit's handler and level: the line shows in the server log

_started = threading.Event()
_done = threading.Event()
_lock = threading.Lock()


def warm_up_enabled() -> bool:
    return os.environ.get(WARM_UP_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def start_warm_up() -> bool:
    """Start the warm-up thread once per process; True when this call started it."""
    if not warm_up_enabled():
        return False
    with _lock:
        if _started.is_set():
            return False
        _started.set()
    threading.Thread(target=_warm_up, name="fmnist-warm-up", daemon=True).start()
    return True


def warm_up_finished(timeout: float | None = None) -> bool:
    """Wait up to timeout seconds for the warm-up; True once it has finished (or failed)."""
    return _done.wait(timeout)


def _warm_data_pages(data) -> None:
    """The Data explorer's shared caches, and Plotly's figure code (its first figure costs the most)."""
    from fmnist_core.charts import class_counts_figure, image_grid

    from .loaders import class_counts_both, class_mean_images

    class_mean_images("train")
    image_grid(data.x_train[:2], ["", ""], cols=2)
    class_counts_figure(*class_counts_both())
    _warm_augmentation_lab()


def _warm_augmentation_lab() -> None:
    """The Augmentation lab's first view (first class, first example, the seed report's settings, 8
    versions, seed 0): its previews are cached, and the Keras augmentation layers are built and traced
    once, which is most of that page's first-visit time."""
    from fmnist_core.augmentation import SEED_REPORT_AUGMENTATION

    from .loaders import augmented_previews, class_indices

    first = int(class_indices("train", 0)[0])
    augmented_previews("train", first, SEED_REPORT_AUGMENTATION.to_dict(), 8, 0)


def _warm_up() -> None:
    started = time.perf_counter()
    try:
        from fmnist_core.data import load_dataset
        from fmnist_core.evaluation import cached_predictions

        from .loaders import predictor
        from .state import run_store

        data = load_dataset()
        _warm_data_pages(data)
        store = run_store()
        run = store.default_active_run()
        if run is not None:
            predictor(run)  # imports TensorFlow, verifies and loads the model Classify uses, once
            cached_predictions(run, store, data)  # the Predictions page's cache file, as the CLI writes it
        # TensorFlow leaves ~400,000 long-lived objects; freezing them keeps every later garbage collection
        # (page reruns allocate many Plotly objects) from walking them again.
        gc.collect()
        gc.freeze()
        LOGGER.info("caches warmed in %.1f s", time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a failed warm-up only means the pages do the work themselves
        LOGGER.info("cache warm-up stopped: %s: %s", type(exc).__name__, exc)
    finally:
        _done.set()

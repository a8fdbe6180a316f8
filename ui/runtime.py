"""Process-wide adjustments to Streamlit's runtime that background training needs."""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("fmnist_studio")


def keep_keras_state_between_reruns() -> bool:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit (1.67, ``script_runner._clean_problem_modules``) clears Keras' global state
    whenever any session's script or fragment run ends. That was meant for apps that build a
    model on every rerun; here a model trains in a background thread of the same process,
    and a clear in the middle of building it resets Keras' layer-name counters, so the job
    fails with "All layers added to a Sequential model should have unique names" (seen in the
    tests; the live view's one-second polling makes it likely). This app never builds models
    per rerun (models are cached), so skipping the clear loses nothing. Matplotlib figures
    are still closed as before. Returns True when the patch is in place.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner  # noqa: PLC0415 - internal API
    except ImportError:  # pragma: no cover - a Streamlit without this module
        return False
    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None:
        return False
    if getattr(current, "_keeps_keras_state", False):
        return True

    def clean_problem_modules() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            try:
                pyplot.close("all")
            except Exception:  # noqa: BLE001 - as Streamlit: never fail a rerun over this
                pass

    clean_problem_modules._keeps_keras_state = True  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_problem_modules
    LOGGER.debug("Streamlit will no longer clear the Keras session after each rerun")
    return True

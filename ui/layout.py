"""One page header, the sidebar model card, friendly errors and empty states for every page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from fmnist_core.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    FmnistError,
    ImageError,
    ModelIntegrityError,
    RunError,
    RunNotFoundError,
    TrainingBusyError,
    UnsafeModelError,
)

from .navigation import PAGE_PATHS, page
from .state import active_run

LOGGER = logging.getLogger("fmnist_studio")


# (title, what went wrong in plain words, what to do next)
_ERROR_TEXT: list[tuple[type[FmnistError], str, str]] = [
    (DataNotFoundError, "The Fashion-MNIST files were not found.", ""),  # the core's message says what to do
    (DataError, "The Fashion-MNIST files could not be read.",
     "Check that the files are complete (re-download them) and restart the app."),
    (ImageError, "This image cannot be classified.", "Try another PNG, JPEG, WebP or GIF file."),
    (ModelIntegrityError, "The saved model failed its integrity check and was not loaded.",
     "Pick another run on the Training page, or train a new one."),
    (UnsafeModelError, "The saved model contains code that safe mode refuses to run.",
     "Pick another run on the Training page, or train a new one."),
    (RunNotFoundError, "That saved run could not be found.", "Pick another run on the Training page."),
    (RunError, "That saved run cannot be used.", "Pick another run on the Training page."),
    (ConfigError, "One of the settings is not valid.", "Change the highlighted setting and try again."),
    (TrainingBusyError, "A model is already training on this server.",
     "Watch it on the Training page, or stop it there first."),
]


def friendly_error(exc: FmnistError) -> str:
    """A message for a user: what happened, the core's specific reason, what to do next."""
    for cls, title, advice in _ERROR_TEXT:
        if isinstance(exc, cls):
            detail = str(exc).strip()
            return f"**{title}** " + "\n\n".join(part for part in (detail, advice) if part)
    return f"**Something went wrong.** {exc}"


def show_error(exc: BaseException) -> None:
    """Show any error as st.error; expected (Fmnist) errors with their reason, others generically."""
    if isinstance(exc, FmnistError):
        st.error(friendly_error(exc), icon=":material/error:")
    else:
        LOGGER.exception("unexpected error in a page", exc_info=exc)
        st.error(
            "**Something went wrong on this page.** The details were written to the server log. "
            "Reload the page; if it happens again, please report it.",
            icon=":material/error:",
        )


@contextmanager
def guarded() -> Iterator[None]:
    """Run a block so that no traceback reaches the user.

    Streamlit's own control flow (st.rerun, st.stop, st.switch_page) derives from
    BaseException and passes through untouched.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the whole point: nothing escapes as a traceback
        show_error(exc)


def page_header(key: str, intro: str, *, title: str | None = None) -> None:
    """The same title row (the registry's icon and title) and introduction on every page, plus any notice."""
    spec = page(key)
    st.title(f"{spec.icon} {title or spec.title}", anchor=False)
    st.caption(intro)
    flash = st.session_state.pop("flash", None)
    if flash:
        st.success(flash, icon=":material/check_circle:")


def data_missing_notice(exc: DataError) -> None:
    """The one message a page shows without the dataset: where it looked, what to set, how to download.

    A failed download is remembered by fmnist_core.data (retried after a minute); "Try again" retries now.
    """
    from fmnist_core.data import forget_failed_download

    st.error(friendly_error(exc), icon=":material/dataset:")
    if isinstance(exc, DataNotFoundError):
        st.button("Try again", icon=":material/refresh:", on_click=forget_failed_download, key="data_try_again")


def empty_state(message: str, *, page: str | None = None, label: str | None = None,
                icon: str = ":material/info:") -> None:
    """Tell the user what to do next, with a link to the page that does it."""
    st.info(message, icon=icon)
    if page:
        st.page_link(PAGE_PATHS[page], label=label or "Go there", icon=":material/arrow_forward:")


def no_model_notice() -> None:
    empty_state(
        "There is no trained model yet. Train one on the Training page (a quick run takes about a minute); "
        "it becomes the active model when it finishes.",
        page="training",
        label="Train a model",
        icon=":material/model_training:",
    )


def format_percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def format_count(value: float | int | None) -> str:
    if value is None:
        return "–"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def sidebar_active_model() -> None:
    """The active model (run id and test accuracy) in the sidebar of every page."""
    with st.sidebar:
        st.markdown("**Active model**")
        try:
            run = active_run()
        except Exception as exc:  # noqa: BLE001 - a broken runs folder must not break every page
            show_error(exc)
            return
        if run is None:
            st.caption("None yet: train one on the Training page.")
            return
        st.markdown(f"`{run.run_id}`")
        st.metric("Test accuracy", format_percent(run.test_accuracy), border=False)
        st.caption(f"{run.architecture} · {run.epochs_completed} epochs · {run.status}")

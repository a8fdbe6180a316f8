"""The run store and the active model, kept in ``st.session_state``."""

from __future__ import annotations

import streamlit as st

from fmnist_core.constants import default_runs_dir, pretrained_dir
from fmnist_core.errors import RunError
from fmnist_core.runs import RunInfo, RunStore

ACTIVE_RUN_KEY = "active_run_id"


def run_store() -> RunStore:
    """The RunStore for $FMNIST_RUNS_DIR (default ./runs) plus the shipped default run.

    Built on every call: it is only two paths, and re-reading the environment keeps tests
    and a changed configuration honest.
    """
    return RunStore(default_runs_dir(), pretrained_dir=pretrained_dir())


def usable(run: RunInfo) -> bool:
    """A run that has a saved, complete model (RunInfo.usable; kept for the pages that import it)."""
    return run.usable


def active_run() -> RunInfo | None:
    """The session's active model, re-validated on every call (a run can be deleted)."""
    store = run_store()
    run_id = st.session_state.get(ACTIVE_RUN_KEY)
    if run_id:
        try:
            run = store.get(run_id)
            if usable(run):
                return run
        except RunError:
            pass
    run = store.default_active_run()
    st.session_state[ACTIVE_RUN_KEY] = run.run_id if run else None
    return run


def set_active_run(run_id: str) -> None:
    """Make run_id the session's active model (usable as an on_click callback)."""
    st.session_state[ACTIVE_RUN_KEY] = run_id
    st.session_state["flash"] = f"Model **{run_id}** is now the active model."


def compare_selection(selected: list[str] | None, known: list[str] | None, available: list[str],
                      limit: int = 3) -> list[str]:
    """The Compare picker's runs: the newest `limit` at first; afterwards the user's choice, plus every
    run that appeared since the last rerun (a run just trained shows up without a click), minus any
    run that is gone."""
    if selected is None or known is None:
        return available[:limit]
    new = [run_id for run_id in available if run_id not in known]
    kept = [run_id for run_id in selected if run_id in available]
    return new + [run_id for run_id in kept if run_id not in new]

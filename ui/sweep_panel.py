"""Start a sweep from the Training page, and the sweep lines the Sweeps page shares with it.

The form only reads widgets and hands their text to fmnist_core.engine.sweep_space.make_sweep (the same
parser and checks as `python -m fmnist_core sweep`); the trials start from the Training page's settings.
A sweep is one entry of the training queue: it never trains in the web process.
"""

from __future__ import annotations

import streamlit as st

from fmnist_core.engine.sweep_records import SweepReport
from fmnist_core.engine.sweep_space import MAX_TRIALS, SWEEPABLE, make_sweep, sweep_setting
from fmnist_core.errors import FmnistError
from ui.jobs_panel import engine, session_label
from ui.layout import format_percent, show_error
from ui.navigation import PAGE_PATHS
from ui.training_form import config_from_state

KEY = "sweep_form_"
# What each text field suggests (a list and a range, in the setting's own units).
PLACEHOLDERS = {"learning_rate": "e.g. 0.001,0.003 or 0.0003:0.01", "batch_size": "e.g. 64,128",
                "epochs": "e.g. 2 or 2,4", "augmentation_strength": "e.g. 0,0.5,1 or 0:1"}


def sweep_status_text(report: SweepReport, me: str) -> str:
    """One line: the sweep's status, trials finished, best trial so far and who submitted it."""
    who = "you" if report.job.submission.submitter == me else report.job.submission.submitter
    text = f"Sweep `{report.sweep_id}` **{report.status}** · {report.finished_trials} of {len(report.rows)} " \
           f"trials finished · by {who}"
    if report.job.position:
        text += f" · #{report.job.position} in the training queue"
    best = report.best
    if best is not None:
        text += (f" · best{' so far' if report.status.active else ''}: trial {best.number}, "
                 f"{format_percent(best.record.best_val_accuracy)} validation")
    return text


def cancel_sweep(sweep_id: str) -> None:
    """Cancel this session's sweep (an on_click callback): waiting trials never start, the training one stops
    after its batch and keeps its run."""
    try:
        engine().cancel(sweep_id, session_label())
        st.session_state["flash"] = f"Sweep **{sweep_id}** is being cancelled."
    except FmnistError as exc:
        st.session_state["flash"] = f"Could not cancel {sweep_id}: {exc}"


def _texts() -> dict[str, str]:
    state = st.session_state
    texts = {name: str(state.get(KEY + name) or "").strip() for name in SWEEPABLE if name != "architecture"}
    texts["architecture"] = ",".join(state.get(KEY + "architecture") or [])
    return texts


def sweep_panel() -> None:
    """An expander on the Training page: the space, the number of trials, early stopping, Start sweep."""
    with st.expander("Sweep: try several settings at once", icon=":material/tune:"):
        st.caption("Each trial starts from the settings above and changes the ones you fill in here: one value, "
                   "a list `a,b,c`, or a range `low:high` (drawn per trial; learning rate and batch size on a log "
                   "scale). The sweep joins the queue as one job; its trials train one after another.")
        columns = st.columns(2)
        for i, name in enumerate(name for name in SWEEPABLE if name != "architecture"):
            item = sweep_setting(name)
            columns[i % 2].text_input(item.label, key=KEY + name, placeholder=PLACEHOLDERS.get(name),
                                      help=f"{item.info.help} ({item.range_text})".strip())
        arch = sweep_setting("architecture")
        st.multiselect(arch.label, list(arch.options or ()), key=KEY + "architecture", format_func=arch.choice_label,
                       help="Leave empty to keep the architecture chosen above.")
        left, right = st.columns(2)
        trials = left.number_input("Trials", min_value=0, max_value=MAX_TRIALS, value=0, step=1, key=KEY + "trials",
                                   help="0: every combination of the listed values (a range needs a number).")
        asha = right.toggle("Stop weak trials early (ASHA)", key=KEY + "asha",
                            help="After each epoch, Ray Tune's ASHA compares the trials' validation accuracy and "
                            "stops the weaker half at each rung; their runs are kept.")
        if st.button("Start sweep", icon=":material/rocket_launch:", key=KEY + "start"):
            try:
                base = config_from_state(st.session_state)
                spec = make_sweep(base, _texts(), trials=int(trials) or None, asha=bool(asha))
                job = engine().submit(base, session_label(), sweep=spec)
            except FmnistError as exc:
                show_error(exc)
            else:
                st.session_state["flash"] = (f"Sweep **{job.job_id}** queued ({len(spec.trials)} trials); "
                                             "follow it on the Sweeps page.")
                st.session_state["sweeps_selected"] = job.job_id
                st.switch_page(PAGE_PATHS["sweeps"])

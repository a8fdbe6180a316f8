"""Sweeps: every hyperparameter sweep on this server, its table of trials and a parallel-coordinates chart
from hyperparameters to accuracy (redrawn while it runs); any trial's run opens as the active model."""

from __future__ import annotations

import streamlit as st

from fmnist_core.engine.sweep_records import SweepReport, hyperparameter_label, list_sweeps
from fmnist_core.sweep_chart import sweep_parallel_coordinates
from ui.jobs_panel import engine, session_label
from ui.layout import empty_state, format_duration, format_percent, guarded, page_header
from ui.navigation import PAGE_PATHS
from ui.state import ACTIVE_RUN_KEY, set_active_run
from ui.sweep_panel import cancel_sweep, sweep_status_text

POLL_SECONDS = 2.0
SELECTED_KEY = "sweeps_selected"

page_header(
    "sweeps",
    "A sweep trains several variations of a recipe (learning rate, batch size, epochs, augmentation, "
    "architecture) as one entry of the training queue; Ray Tune runs its trials and, with early stopping "
    "(ASHA), stops the weak ones after an epoch. Start one on the Training page or with "
    "`python -m fmnist_core sweep`.",
)


def _table(report: SweepReport) -> list[dict]:
    names = report.spec.names
    rows = []
    for row in report.rows:
        record = row.record
        line = {"Trial": row.number}
        line.update({hyperparameter_label(name): row.hyperparameters.get(name) for name in names})
        line.update({
            "Status": str(record.status),
            "Epochs": f"{record.epochs_done}/{record.total_epochs or row.hyperparameters.get('epochs', '–')}",
            "Validation accuracy": format_percent(record.best_val_accuracy),
            "Test accuracy": format_percent(record.test_accuracy),
            "Time": format_duration(record.train_seconds),
            "Run": record.run_id or "",
        })
        rows.append(line)
    return rows


def _open_trial(report: SweepReport) -> None:
    openable = [row for row in report.rows if row.record.run_id and row.record.test_accuracy is not None]
    if not openable:
        st.caption("A trial opens as a run once it has been saved and scored on the test set.")
        return
    labels = {row.record.run_id: f"Trial {row.number}: {format_percent(row.record.test_accuracy)} test · "
              f"{row.record.run_id}" for row in openable}
    best = report.best
    default = list(labels).index(best.record.run_id) if best and best.record.run_id in labels else 0
    chosen = st.selectbox("Trial", list(labels), index=default, format_func=labels.__getitem__,
                          key=f"sweep_open_{report.sweep_id}")
    is_active = st.session_state.get(ACTIVE_RUN_KEY) == chosen
    left, mid, right = st.columns(3, vertical_alignment="center")
    left.button("Active model" if is_active else "Open as the active model", icon=":material/star:",
                disabled=is_active, on_click=set_active_run, args=(chosen,), key=f"sweep_activate_{report.sweep_id}")
    mid.page_link(PAGE_PATHS["predictions"], label="Its predictions", icon=":material/fact_check:",
                  disabled=not is_active)
    right.page_link(PAGE_PATHS["inside_model"], label="Inside it", icon=":material/psychology:", disabled=not is_active)


def sweep_view(sweep_id: str) -> None:
    """The chosen sweep, re-read on every run of this fragment (every POLL_SECONDS while it is active)."""
    reports = {report.sweep_id: report for report in list_sweeps(engine().settings.runs_root)}
    report = reports.get(sweep_id)
    if report is None:
        st.warning(f"Sweep {sweep_id} is gone.")
        return
    if not report.status.active and st.session_state.get("sweeps_was_active") == sweep_id:
        st.session_state.pop("sweeps_was_active")
        st.rerun()  # it just ended: redraw the page without polling
    if report.status.active:
        st.session_state["sweeps_was_active"] = sweep_id
    st.markdown(sweep_status_text(report, session_label()))
    st.caption(report.job.submission.summary)
    if report.job.state.error:
        st.caption(f"Error: {report.job.state.error}")
    st.dataframe(_table(report), hide_index=True, key=f"sweep_table_{sweep_id}")
    rows = [{**row.hyperparameters, "best_val_accuracy": row.record.best_val_accuracy,
             "test_accuracy": row.record.test_accuracy} for row in report.rows]
    names = [name for name in report.spec.names if name in report.spec.varying] or list(report.spec.names)
    figure = sweep_parallel_coordinates(rows, names, {name: hyperparameter_label(name) for name in names},
                                        title="Hyperparameters → accuracy (one line per trial)")
    st.plotly_chart(figure, key="sweep_parcoords")
    if report.status.active and report.job.submission.submitter == session_label():
        st.button("Cancel the sweep", icon=":material/stop_circle:", key=f"sweep_cancel_{sweep_id}",
                  on_click=cancel_sweep, args=(sweep_id,),
                  help="Trials still waiting never start; the one training stops after its batch and keeps its run.")
    _open_trial(report)


with guarded():
    reports = list_sweeps(engine().settings.runs_root)
    if not reports:
        empty_state("No sweep yet. Start one on the Training page (Sweep section) or with "
                    "`python -m fmnist_core sweep --lr 0.001,0.003 --epochs 2`.", page="training",
                    label="Start a sweep")
    else:
        by_id = {report.sweep_id: report for report in reports}
        if st.session_state.get(SELECTED_KEY) not in by_id:
            st.session_state[SELECTED_KEY] = reports[0].sweep_id
        chosen = st.selectbox(
            "Sweep", list(by_id), key=SELECTED_KEY,
            format_func=lambda sid: f"{sid} — {by_id[sid].status}, {by_id[sid].finished_trials}/"
                                    f"{len(by_id[sid].rows)} trials, by {by_id[sid].job.submission.submitter}")
        active = by_id[chosen].status.active
        st.fragment(sweep_view, run_every=POLL_SECONDS if active else None)(chosen)

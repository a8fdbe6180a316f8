"""Training: configure a run (presets, lab hand-off), submit it to the training engine's queue (it trains
in an engine worker process, never in the web server), watch it live, stop or resume it, load any saved
run as the active model, and compare runs' curves."""

from __future__ import annotations

import streamlit as st

from fmnist_core.charts import compare_runs_curves
from fmnist_core.config import TrainConfig
from fmnist_core.errors import FmnistError
from ui.architecture_choice import architecture_choices, choice_label
from ui.compare_panel import architecture_change_panel
from ui.export_panel import export_panel
from ui.jobs_panel import queue_panel
from ui.jobs_panel import submit as submit_job
from ui.layout import empty_state, format_duration, format_percent, guarded, page_header, show_error
from ui.loaders import history, training_data_notice
from ui.navigation import PAGE_PATHS
from ui.state import ACTIVE_RUN_KEY, compare_selection, run_store, set_active_run, usable
from ui.sweep_panel import sweep_panel
from ui.time_estimate import run_time_estimate
from ui.training_form import config_from_state, init_state, preset_picker, settings_form

page_header(
    "training",
    "Train a classifier: your job joins the queue of everyone using this server and trains in a separate "
    "engine process, so it keeps going while you explore other pages (or the server restarts); every "
    "completed epoch is checkpointed.",
)

state = st.session_state
METRIC_LABELS = {"val_accuracy": "Validation accuracy", "accuracy": "Training accuracy",
                 "val_loss": "Validation loss", "loss": "Training loss"}

# ---------------------------------------------------------------- the queue (jobs run in the engine)
with guarded():
    queue_panel()  # ui/jobs_panel.py: every job's position or progress, your live curves, Cancel/Stop

st.divider()

# ---------------------------------------------------------------- new run
with guarded():
    notice = init_state(state)
    st.subheader("New training run", anchor=False)
    if notice:
        st.info(notice, icon=":material/auto_fix_high:")
    preset_picker()
    st.page_link(PAGE_PATHS["builder"], label="Build your own network, layer by layer", icon=":material/account_tree:")
    arch_choices = architecture_choices(st.session_state)
    arch_labels = (list(arch_choices), lambda name: choice_label(arch_choices, name))
    settings_form(choice_overrides={"architecture": arch_labels})

    training_data_notice()  # ui.loaders: says before Start that training needs the data, when it is missing
    try:
        planned = config_from_state(state)
    except FmnistError:
        planned = None  # the form shows what is wrong; Start reports it again
    if planned is not None and planned.architecture in arch_choices:
        run_time_estimate(planned, planned.architecture_spec or arch_choices[planned.architecture].spec)
    if st.button("Start training", type="primary", icon=":material/play_arrow:",
                 help="Queues the job; it starts when the engine has room (one at a time by default)."):
        try:
            config = config_from_state(state)  # validated by TrainConfig itself
        except FmnistError as exc:
            show_error(exc)
        else:
            if submit_job(config) is not None:
                st.rerun()

with guarded():
    sweep_panel()  # ui/sweep_panel.py: the same settings as a sweep of several trials (issue 16 item 6)

st.divider()

# ---------------------------------------------------------------- load / resume
with guarded():
    st.subheader("Load a saved run", anchor=False)
    runs = run_store().list_runs()
    if not runs:
        empty_state("No saved runs yet. Start a training run above; it is saved after every epoch.")
    else:
        by_id = {run.run_id: run for run in runs}

        def _label(run_id: str) -> str:
            run = by_id[run_id]
            acc = format_percent(run.test_accuracy) if run.test_accuracy is not None else "no test score"
            return f"{run_id} — {run.status}, {run.epochs_completed}/{run.total_epochs or '?'} epochs, {acc}"

        chosen = st.selectbox("Saved run", list(by_id), format_func=_label, key="tr_load_run")
        run = by_id[chosen]
        is_active = state.get(ACTIVE_RUN_KEY) == run.run_id
        b1, b2, _ = st.columns([1, 1, 3])
        b1.button("Active model" if is_active else "Make active", icon=":material/star:", key="tr_make_active",
                  disabled=is_active or not usable(run), on_click=set_active_run, args=(run.run_id,),
                  help=None if usable(run) else "This run has no complete saved model.")
        resume = b2.button("Resume", icon=":material/play_circle:", key="tr_resume", disabled=not run.resumable,
                           help="Queues a job that continues from the last completed epoch." if run.resumable
                           else "Only stopped or interrupted runs with epochs left can be resumed.")
        if resume and submit_job(TrainConfig.from_dict(run.config), resume_run_id=run.run_id) is not None:
            st.rerun()
        record = run.record
        started = (record.started_at or "?").replace("T", " ")
        st.caption(f"{run.architecture} · started {started} · trained for "
                   f"{format_duration(record.train_seconds)} · {record.command}")
        export_panel(run)  # issue 17: download the run's model in any format

st.divider()

# ---------------------------------------------------------------- compare
with guarded():
    st.subheader("Compare runs", anchor=False)
    histories = {run.run_id: history(run) for run in run_store().list_runs()}
    histories = {run_id: h for run_id, h in histories.items() if h}
    if len(histories) < 1:
        empty_state("Runs appear here after their first epoch. Train two runs to compare their curves.")
    else:
        ids = list(histories)
        st.session_state["tr_compare_runs"] = compare_selection(
            st.session_state.get("tr_compare_runs"), st.session_state.get("tr_compare_known"), ids
        )
        st.session_state["tr_compare_known"] = ids
        selected = st.multiselect("Runs", ids, key="tr_compare_runs")
        metric = st.segmented_control("Metric", list(METRIC_LABELS), format_func=METRIC_LABELS.get,
                                      default="val_accuracy", required=True, key="tr_compare_metric")
        if selected:
            figure = compare_runs_curves({run_id: histories[run_id] for run_id in selected}, metric or "val_accuracy")
            st.plotly_chart(figure, key="tr_compare_chart", width="stretch")
            architecture_change_panel(run_store(), selected)  # what changed between two runs (ui/compare_panel.py)
        else:
            st.caption("Choose one or more runs.")

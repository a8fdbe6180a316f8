"""Training: configure a run (presets, lab hand-off), train it in the background, watch it live,
stop or resume it, load any saved run as the active model, and compare runs' curves."""

from __future__ import annotations

import streamlit as st

from fmnist_core.charts import compare_runs_curves, training_curves
from fmnist_core.config import TrainConfig
from fmnist_core.errors import FmnistError
from fmnist_core.jobs import JOB_MANAGER, JobSnapshot, JobStatus
from ui.architecture_choice import architecture_choices, choice_label
from ui.compare_panel import architecture_change_panel
from ui.export_panel import export_panel
from ui.layout import empty_state, format_duration, format_percent, guarded, page_header, show_error
from ui.loaders import dataset, history, training_data_notice
from ui.navigation import PAGE_PATHS
from ui.state import ACTIVE_RUN_KEY, compare_selection, run_store, set_active_run, usable
from ui.training_form import config_from_state, init_state, preset_picker, settings_form

page_header(
    "training",
    "Train a classifier in the background: it keeps going while you explore other pages, and every "
    "completed epoch is checkpointed. One model trains at a time on this server.",
)

state = st.session_state
WATCH_KEY = "tr_watching_job"
METRIC_LABELS = {"val_accuracy": "Validation accuracy", "accuracy": "Training accuracy",
                 "val_loss": "Validation loss", "loss": "Training loss"}
POLL_SECONDS = 1.0


# ---------------------------------------------------------------- the current or last job
def _job_progress_text(snap: JobSnapshot) -> str:
    if snap.status == JobStatus.STARTING or not snap.total_epochs:
        return "Preparing the data and building the model…"
    parts = [f"Epoch {max(1, snap.epoch)} of {snap.total_epochs}"]
    if snap.steps_per_epoch:
        parts.append(f"batch {snap.batch} of {snap.steps_per_epoch}")
        if snap.batch >= snap.steps_per_epoch and snap.status == JobStatus.RUNNING:
            parts.append("validating and saving a checkpoint…")
    parts.append(f"{format_duration(snap.elapsed_seconds)} elapsed")
    if snap.status == JobStatus.RUNNING:
        # Validation and the final evaluation are in the estimate; the first batches give none yet.
        parts.append("estimating time left…" if snap.eta_seconds is None
                     else f"about {format_duration(max(1.0, snap.eta_seconds))} left")
    if snap.status == JobStatus.STOPPING:
        parts.append("stopping after this batch…")
    return " · ".join(parts)


def _job_config_caption(snap: JobSnapshot) -> str:
    cfg = snap.config
    if cfg is None:
        return ""
    subset = f", {cfg.train_limit:,} training images" if cfg.train_limit else ""
    return (f"{cfg.architecture}, {cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} at "
            f"{cfg.learning_rate:g} ({cfg.schedule}){subset}")


def job_view() -> None:
    """The live view of the server's training job; polled by a fragment while the job runs."""
    snap = JOB_MANAGER.snapshot()
    if snap is None:
        return
    if snap.active:
        state[WATCH_KEY] = snap.job_id
        st.subheader("Training now", anchor=False)
        run_text = f"Run `{snap.run_id}` — " if snap.run_id else ""
        st.caption(run_text + _job_config_caption(snap))
        st.progress(snap.fraction, text=_job_progress_text(snap))
        st.plotly_chart(training_curves(snap.history, batch_curve=snap.batch_curve, total_epochs=snap.total_epochs),
                        key="tr_live_curves", width="stretch")
        st.button("Stop training", icon=":material/stop_circle:", on_click=JOB_MANAGER.stop,
                  disabled=snap.status == JobStatus.STOPPING,
                  help="Stops after the current batch; the run is kept, marked stopped, and can be resumed.")
        return
    if state.get(WATCH_KEY) == snap.job_id:
        # The job this session watched just ended: redraw the whole page (form enabled, results shown).
        del state[WATCH_KEY]
        st.rerun()
    st.subheader("Last training run", anchor=False)
    if snap.status == JobStatus.FAILED:
        st.error(f"**Training failed.** {snap.error or 'No reason was given.'}\n\n"
                 "Check the settings and start again; the partial run is listed under Load.",
                 icon=":material/error:")
        return
    status_word = {JobStatus.COMPLETED: "finished", JobStatus.STOPPED: "was stopped early"}.get(snap.status, str(snap.status))
    message = f"Run `{snap.run_id}` {status_word}: test accuracy **{format_percent(snap.test_accuracy)}**."
    if snap.status == JobStatus.STOPPED:
        st.warning(message + " Its model from the last batch was evaluated and saved; it can be resumed below.",
                   icon=":material/pause_circle:")
    else:
        st.success(message, icon=":material/check_circle:")
    if snap.run_id:
        is_active = state.get(ACTIVE_RUN_KEY) == snap.run_id
        st.button("This is the active model" if is_active else "Make it the active model", type="primary",
                  icon=":material/star:", disabled=is_active, on_click=set_active_run, args=(snap.run_id,),
                  key="tr_make_last_active")
    if snap.history:
        with st.expander("Training curves", expanded=False):
            st.plotly_chart(training_curves(snap.history), key="tr_last_curves", width="stretch")


with guarded():
    current = JOB_MANAGER.snapshot()
    running = current is not None and current.active
    st.fragment(job_view, run_every=POLL_SECONDS if running else None)()

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
    settings_form(choice_overrides={"architecture": (list(arch_choices), lambda name: choice_label(arch_choices, name))})

    training_data_notice()  # ui.loaders: says before Start that training needs the data, when it is missing
    start = st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=running,
                      help="A model is training already; wait for it or stop it above." if running else None)
    if running:
        st.caption("Starting is disabled while a model trains on this server.")
    if start:
        try:
            config = config_from_state(state)  # validated by TrainConfig itself
            JOB_MANAGER.start(config, store=run_store(), dataset=dataset())
        except FmnistError as exc:
            show_error(exc)
        else:
            st.rerun()

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
        if b2.button("Resume", icon=":material/play_circle:", key="tr_resume", disabled=not run.resumable or running,
                     help="Continue from the last completed epoch." if run.resumable
                     else "Only stopped or interrupted runs with epochs left can be resumed."):
            try:
                JOB_MANAGER.start(TrainConfig.from_dict(run.config), store=run_store(), dataset=dataset(),
                                  resume_run_id=run.run_id)
            except FmnistError as exc:
                show_error(exc)
            else:
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

"""Training: configure a run (presets, lab hand-off), train it in the background, watch it live,
stop or resume it, load any saved run as the active model, and compare runs' curves."""

from __future__ import annotations

import streamlit as st

from fmnist_core.augmentation import ERASING_HELP
from fmnist_core.charts import compare_runs_curves, training_curves
from fmnist_core.config import OPTIMIZERS, PRESET_DESCRIPTIONS, PRESETS, SCHEDULES, VALIDATION_MODES, TrainConfig
from fmnist_core.constants import TRAIN_SIZE, VALIDATION_SIZE
from fmnist_core.errors import FmnistError
from fmnist_core.jobs import JOB_MANAGER, JobSnapshot
from fmnist_core.models import ARCHITECTURES
from fmnist_core.training import validate_for_training
from ui.layout import empty_state, format_duration, format_percent, guarded, page_header, show_error
from ui.loaders import dataset, history
from ui.state import ACTIVE_RUN_KEY, compare_selection, run_store, set_active_run, usable
from ui.training_form import (
    AUG_KEYS,
    FIELD_KEYS,
    PRESET_KEY,
    SUBSET_SIZE_KEY,
    SUBSET_TOGGLE_KEY,
    config_from_state,
    init_state,
    on_preset_change,
)

page_header(
    "training",
    "Train a classifier in the background: it keeps going while you explore other pages, and every "
    "completed epoch is checkpointed. One model trains at a time on this server.",
)

state = st.session_state
WATCH_KEY = "tr_watching_job"
VALIDATION_LABELS = {"holdout": f"Hold-out ({VALIDATION_SIZE:,} training images)", "test": "Test set (seed report)"}
METRIC_LABELS = {"val_accuracy": "Validation accuracy", "accuracy": "Training accuracy",
                 "val_loss": "Validation loss", "loss": "Training loss"}
POLL_SECONDS = 1.0


# ---------------------------------------------------------------- the current or last job
def _job_progress_text(snap: JobSnapshot) -> str:
    if snap.status == "starting" or not snap.total_epochs:
        return "Preparing the data and building the model…"
    parts = [f"Epoch {max(1, snap.epoch)} of {snap.total_epochs}"]
    if snap.steps_per_epoch:
        parts.append(f"batch {snap.batch} of {snap.steps_per_epoch}")
        if snap.batch >= snap.steps_per_epoch and snap.status == "running":
            parts.append("validating and saving a checkpoint…")
    parts.append(f"{format_duration(snap.elapsed_seconds)} elapsed")
    if snap.eta_seconds is not None:
        parts.append(f"about {format_duration(snap.eta_seconds)} left")
    if snap.status == "stopping":
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
        st.plotly_chart(training_curves(snap.history), key="tr_live_curves", width="stretch")
        st.button("Stop training", icon=":material/stop_circle:", on_click=JOB_MANAGER.stop,
                  disabled=snap.status == "stopping",
                  help="Stops after the current batch; the run is kept, marked stopped, and can be resumed.")
        return
    if state.get(WATCH_KEY) == snap.job_id:
        # The job this session watched just ended: redraw the whole page (form enabled, results shown).
        del state[WATCH_KEY]
        st.rerun()
    st.subheader("Last training run", anchor=False)
    if snap.status == "failed":
        st.error(f"**Training failed.** {snap.error or 'No reason was given.'}\n\n"
                 "Check the settings and start again; the partial run is listed under Load.",
                 icon=":material/error:")
        return
    status_word = {"completed": "finished", "stopped": "was stopped early"}.get(snap.status, snap.status)
    message = f"Run `{snap.run_id}` {status_word}: test accuracy **{format_percent(snap.test_accuracy)}**."
    if snap.status == "stopped":
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
    preset = st.segmented_control("Preset", list(PRESETS), key=PRESET_KEY, on_change=on_preset_change,
                                  required=True, format_func=str.capitalize, persist_state="session")
    st.caption(PRESET_DESCRIPTIONS.get(preset or "", "") + " Choosing a preset fills in every setting below.")

    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox("Architecture", list(ARCHITECTURES), key=FIELD_KEYS["architecture"],
                 format_func=lambda name: ARCHITECTURES[name].title, persist_state="session",
                 help="seed_cnn is the seed report's model; fast_cnn uses batch norm and early pooling.")
    c2.number_input("Epochs", min_value=1, max_value=500, step=1, key=FIELD_KEYS["epochs"], persist_state="session")
    c3.number_input("Batch size", min_value=16, max_value=4096, step=16, key=FIELD_KEYS["batch_size"],
                    persist_state="session")
    c4.number_input("Learning rate", min_value=0.00001, max_value=1.0, step=0.0005, format="%.5f",
                    key=FIELD_KEYS["learning_rate"], persist_state="session")
    c1.selectbox("Optimizer", OPTIMIZERS, key=FIELD_KEYS["optimizer"], persist_state="session")
    c2.selectbox("Learning-rate schedule", SCHEDULES, key=FIELD_KEYS["schedule"], persist_state="session",
                 help="cosine: warm up, then decay smoothly to 1% of the rate; constant: the seed report's choice.")
    c3.selectbox("Validate on", VALIDATION_MODES, key=FIELD_KEYS["validation"], format_func=VALIDATION_LABELS.get,
                 persist_state="session")
    c4.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=FIELD_KEYS["seed"], persist_state="session")
    s1, s2 = st.columns([1, 3], vertical_alignment="bottom")
    s1.toggle("Train on a subset", key=SUBSET_TOGGLE_KEY, persist_state="session",
              help="A stratified subset of the training images: for quick experiments.")
    s2.number_input("Training images", min_value=100, max_value=TRAIN_SIZE - VALIDATION_SIZE, step=500,
                    key=SUBSET_SIZE_KEY, disabled=not state.get(SUBSET_TOGGLE_KEY), persist_state="session")

    aug_on = any(state.get(key) for key in AUG_KEYS.values())
    with st.expander("Augmentation" + (" (on)" if aug_on else " (off)"), expanded=aug_on, icon=":material/auto_fix_high:"):
        st.caption("Applied on the fly to every training batch. Try settings on the Augmentation lab page first.")
        a1, a2 = st.columns(2)
        a1.slider("Rotation (± degrees)", 0.0, 180.0, step=1.0, key=AUG_KEYS["rotation_deg"], persist_state="session")
        a2.slider("Zoom (± fraction)", 0.0, 0.9, step=0.01, key=AUG_KEYS["zoom"], persist_state="session")
        a1.slider("Width shift (± fraction)", 0.0, 0.5, step=0.01, key=AUG_KEYS["width_shift"], persist_state="session")
        a2.slider("Height shift (± fraction)", 0.0, 0.5, step=0.01, key=AUG_KEYS["height_shift"],
                  persist_state="session")
        a1.toggle("Horizontal flip", key=AUG_KEYS["horizontal_flip"], persist_state="session")
        a2.slider("Random erasing (probability)", 0.0, 1.0, step=0.05, key=AUG_KEYS["erasing"], persist_state="session",
                  help=ERASING_HELP)
    with st.expander("Advanced", icon=":material/tune:"):
        d1, d2, d3 = st.columns(3)
        d1.number_input("Warm-up epochs", min_value=0.0, max_value=50.0, step=0.5, key=FIELD_KEYS["warmup_epochs"],
                        persist_state="session")
        d2.number_input("Weight decay", min_value=0.0, max_value=0.1, step=0.0001, format="%.5f",
                        key=FIELD_KEYS["weight_decay"], persist_state="session")
        d3.number_input("Label smoothing", min_value=0.0, max_value=0.5, step=0.05, key=FIELD_KEYS["label_smoothing"],
                        persist_state="session")
        d1.number_input("Weight EMA momentum", min_value=0.0, max_value=0.9999, step=0.001, format="%.4f",
                        key=FIELD_KEYS["ema_momentum"], persist_state="session",
                        help="Validate and save a moving average of the weights (0 turns it off).")
        d2.toggle("Mixed precision", key=FIELD_KEYS["mixed_precision"], persist_state="session",
                  help="bfloat16 compute on CPUs that support it, float16 on GPUs; weights stay float32.")
        d3.toggle("Mirror averaging", key=FIELD_KEYS["mirror_averaging"], persist_state="session",
                  help="Test-time augmentation: predict on each image and its mirror image and average the two. "
                  "Training costs the same; every prediction costs twice as much.")

    start = st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=running,
                      help="A model is training already; wait for it or stop it above." if running else None)
    if running:
        st.caption("Starting is disabled while a model trains on this server.")
    if start:
        try:
            config = config_from_state(state)
            validate_for_training(config)
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
            return f"{run_id} — {run.status}, {run.epochs_completed}/{run.config.get('epochs', '?')} epochs, {acc}"

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
        started = (run.meta.get("started_at") or "?").replace("T", " ")
        st.caption(f"{run.architecture} · started {started} · trained for "
                   f"{format_duration(run.meta.get('train_seconds'))} · {run.meta.get('command', '')}")
        from ui.export_panel import export_panel  # noqa: PLC0415 - issue 17: download the run's model

        export_panel(run)

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
        else:
            st.caption("Choose one or more runs.")

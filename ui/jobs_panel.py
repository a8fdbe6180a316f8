"""The training queue on the Training page: submit to the engine, see every job, cancel your own.

Training never runs in the web process: these functions only write and read the queue files of
fmnist_core.engine (which starts its Ray engine process on the first submission).
"""

from __future__ import annotations

import secrets as _random

import streamlit as st

from fmnist_core.config import TrainConfig
from fmnist_core.engine import Engine, Job, JobStatus
from fmnist_core.engine.admin import check_password, configured_password
from fmnist_core.engine.sweep_records import sweep_progress
from fmnist_core.errors import FmnistError
from ui.layout import format_duration, format_percent, show_error
from ui.state import ACTIVE_RUN_KEY, set_active_run

SUBMITTER_KEY = "jobs_submitter"
ADMIN_KEY = "jobs_admin"
NOTICE_KEY = "jobs_notice"
WATCHING_KEY = "jobs_watching"  # this session's jobs that were active at the last poll
POLL_SECONDS = 1.0
RECENT_FINISHED = 5


def engine() -> Engine:
    """Built per call: only paths and settings from the environment (tests change them)."""
    return Engine()


def session_label() -> str:
    """Who submits: the signed-in user when there is one, else a label made once per session."""
    user = getattr(st, "user", None)
    if user is not None and getattr(user, "is_logged_in", False):
        return str(user.get("email") or user.get("name") or "signed-in user")
    if SUBMITTER_KEY not in st.session_state:
        st.session_state[SUBMITTER_KEY] = f"guest-{_random.token_hex(2)}"
    return st.session_state[SUBMITTER_KEY]


def _admin_secret() -> str | None:
    try:
        return configured_password(dict(st.secrets))
    except FileNotFoundError:  # no secrets.toml: admin cancel is off
        return None


def submit(config: TrainConfig, *, resume_run_id: str | None = None) -> Job | None:
    """Queue a job for this session; shows the reason (queue limit, bad setting) instead of raising."""
    try:
        job = engine().submit(config, session_label(), resume_run_id=resume_run_id)
    except FmnistError as exc:
        show_error(exc)
        return None
    where = f"position {job.position} in the queue" if job.position else "starting"
    st.session_state["flash"] = f"Job **{job.job_id}** submitted ({where})."
    return job


def _cancel(job_id: str) -> None:
    try:
        engine().cancel(job_id, session_label(), admin=bool(st.session_state.get(ADMIN_KEY)))
    except FmnistError as exc:
        st.session_state[NOTICE_KEY] = f"Could not cancel {job_id}: {exc}"


def _progress_text(job: Job) -> str:
    state = job.state
    if state.renders_total and state.renders_done < state.renders_total and not state.total_epochs:
        parts = [f"Rendering photos of training images: {state.renders_done:,} of {state.renders_total:,}"]
        parts.append("estimating time left" if state.eta_seconds is None
                     else f"about {format_duration(state.eta_seconds)} left")
        if state.status == JobStatus.STOPPING or job.cancel_requested:
            parts.append("stopping after this chunk…")
        return " · ".join(parts)
    if state.status == JobStatus.STARTING or not state.total_epochs:
        return "Starting: loading the data and building the model…"
    parts = [f"Epoch {max(1, state.epoch)} of {state.total_epochs}", f"batch {state.batch} of {state.steps_per_epoch}"]
    if state.eta_seconds is not None:
        parts.append(f"about {format_duration(state.eta_seconds)} left")
    if state.status == JobStatus.STOPPING or job.cancel_requested:
        parts.append("stopping after this batch…")
    return " · ".join(parts)


def _curves_so_far(job: Job) -> None:
    """The running job's curves: completed epochs from its run folder, and the running batch loss and
    accuracy (a point every few seconds, from the first batches on) from the worker's state file."""
    from fmnist_core.charts import training_curves
    from fmnist_core.runs import RunStore

    history: dict[str, list[float]] = {}
    if job.state.epoch > 1:  # a completed epoch is in the run's history
        try:
            history = RunStore(engine().settings.runs_root, pretrained_dir=None).get(job.state.run_id).history()
        except FmnistError:
            history = {}
    if history or job.state.batch_curve:
        with st.expander("Curves so far", icon=":material/show_chart:", expanded=True):
            st.plotly_chart(training_curves(history, batch_curve=job.state.batch_curve,
                                            total_epochs=job.state.total_epochs or None),
                            key=f"jobs_curves_{job.job_id}", width="stretch")


def _job_row(job: Job, me: str, admin: bool) -> None:
    mine = job.submission.submitter == me
    who = "you" if mine else job.submission.submitter
    left, right = st.columns([5, 1], vertical_alignment="center")
    with left:
        if job.status == JobStatus.QUEUED:
            st.markdown(f"**#{job.position} in the queue** · {job.submission.summary} · by {who}")
        else:
            sweep = sweep_progress(job, engine().settings.runs_root)  # a sweep: its trials (Sweeps page)
            st.markdown(f"**{'Sweep' if sweep else 'Training'}** `{job.state.run_id or job.job_id}` · "
                        f"{job.submission.summary} · by {who}")
            fraction, text = sweep or (job.state.fraction, _progress_text(job))
            st.progress(fraction, text=text)
    if mine and job.state.run_id:
        _curves_so_far(job)
    if (mine or admin) and not job.cancel_requested:
        right.button("Cancel" if job.status == JobStatus.QUEUED else "Stop", key=f"jobs_cancel_{job.job_id}",
                     icon=":material/cancel:", on_click=_cancel, args=(job.job_id,),
                     help="A queued job is dropped; a running one stops after its current batch and keeps "
                     "its run (marked stopped, resumable).")


def _finished_row(job: Job, me: str) -> None:
    mine = job.submission.submitter == me
    state = job.state
    text = f"`{job.job_id}` {state.status}"
    if state.test_accuracy is not None:
        text += f": test accuracy **{format_percent(state.test_accuracy)}**"
    text += f" · {job.submission.summary} · by {'you' if mine else job.submission.submitter}"
    if state.error:
        text += f" · {state.error}"
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.markdown(text)
    if mine and state.run_id and state.test_accuracy is not None:
        is_active = st.session_state.get(ACTIVE_RUN_KEY) == state.run_id
        right.button("Active" if is_active else "Make active", key=f"jobs_active_{job.job_id}",
                     icon=":material/star:", disabled=is_active, on_click=set_active_run, args=(state.run_id,))


def queue_view() -> None:
    """The queue, redrawn every POLL_SECONDS by a fragment while any job is queued or running."""
    eng = engine()
    me = session_label()
    admin = bool(st.session_state.get(ADMIN_KEY))
    jobs = eng.jobs()
    active = [job for job in jobs if job.status.active]
    finished = [job for job in jobs if not job.status.active][-RECENT_FINISHED:]
    status = eng.status()
    mine_active = {job.job_id for job in active if job.submission.submitter == me}
    ended = set(st.session_state.get(WATCHING_KEY, ())) - mine_active
    st.session_state[WATCHING_KEY] = sorted(mine_active)
    if ended:
        # One of this session's jobs just ended: redraw the whole page (its run joins Load and Compare).
        st.rerun()
    st.subheader("Training queue", anchor=False)
    st.caption(f"You are **{me}**. {status.message}")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.warning(notice, icon=":material/block:")
    if active and not status.alive:
        st.warning("The training engine is not running; queued jobs start when the next job is submitted.",
                   icon=":material/warning:")
    if not active:
        st.caption("Nothing queued or training right now.")
    for job in active:
        _job_row(job, me, admin)
    if finished:
        with st.expander(f"Recently finished ({len(finished)})", expanded=any(j.submission.submitter == me
                                                                              for j in finished)):
            for job in reversed(finished):
                _finished_row(job, me)


def admin_login() -> None:
    """Unlocks cancelling anyone's job for this session; shown only when a password is configured."""
    secret = _admin_secret()
    if secret is None:
        return
    with st.expander("Admin", icon=":material/admin_panel_settings:"):
        if st.session_state.get(ADMIN_KEY):
            st.caption("Admin mode: you can cancel any job.")
            return
        given = st.text_input("Admin password", type="password", key="jobs_admin_password")
        if given:
            if check_password(given, secret):
                st.session_state[ADMIN_KEY] = True
                st.rerun()
            st.error("Wrong password.", icon=":material/lock:")


def queue_panel() -> bool:
    """Draw the queue (polled while anything is active); True when jobs are queued or running."""
    busy = any(job.status.active for job in engine().jobs())
    st.fragment(queue_view, run_every=POLL_SECONDS if busy else None)()
    admin_login()
    return busy

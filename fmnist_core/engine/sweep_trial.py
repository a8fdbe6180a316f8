"""One sweep trial as a Ray Tune Trainable: an ordinary training run, reported to Tune epoch by epoch.

Why a class Trainable and not Tune's function API: when ASHA stops a trial, Tune calls the trainable's
`stop()` (here `cleanup`) and waits for it before ending the actor. With the function API the actor
would simply end, killing the training mid-way and leaving a run that looks interrupted. Here `cleanup`
sets the run's stop event, so training ends after the current batch and the run is saved, evaluated on
the test set and kept as a `stopped` run that the app can open like any other.

Training runs in a thread of the actor through the public `fmnist_core.training.train`; at each epoch's
end the listener hands the metrics to `step()` and waits for Tune's next call, so an ASHA decision is
taken before the next epoch costs anything. A cancel request for the sweep (its queue entry's cancel
file) stops the trial after the current batch, as Stop does for a job. Imported only in Ray workers.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ray import tune

from ..errors import TrainingBusyError
from .records import JobBook
from .sweep_records import RUN_META_KEY, SweepBook, SweepTag, TrialRecord, TrialStatus
from .sweep_space import SweepSpec

CANCEL_POLL_S = 0.3
# The last entry of the grid is not a trial but a barrier: Tune gives a stopping actor (an early-stopped
# trial saving and scoring its run) only 10 s once the experiment has ended, then kills it; the barrier
# keeps the experiment open until every trial that started has written its final record.
BARRIER_INDEX = -1
LOCK_WAIT_S = 600.0  # a previous trial's actor may still be saving its run (and hold the training lock)
_EPOCH, _FINISHED, _FAILED = "epoch", "finished", "failed"


class SweepTrial(tune.Trainable):
    """config: {"trial": {"index": n, ...hyperparameters}, "runs_root": str, "sweep_id": str}."""

    def setup(self, config: dict[str, Any]) -> None:
        self.runs_root = Path(config["runs_root"])
        self.sweep_id = str(config["sweep_id"])
        trial = dict(config["trial"])
        self.index = int(trial.pop("index"))
        self.jobs = JobBook(self.runs_root)
        self.sweeps = SweepBook(self.runs_root)
        self.steps = 0
        self.skipped = self.index == BARRIER_INDEX or self.jobs.cancel_requested(self.sweep_id)
        if self.skipped:  # the barrier, or a trial that starts after its sweep was cancelled: no training
            return
        spec = SweepSpec.from_dict(self.jobs.submission(self.sweep_id).sweep or {})
        self.hyperparameters = dict(spec.trials[self.index])
        self.train_config = spec.config_of(self.index)
        self.record = TrialRecord(self.index, TrialStatus.RUNNING, total_epochs=self.train_config.epochs,
                                  started_at=time.time(), pid=os.getpid())
        self.sweeps.write_trial(self.sweep_id, self.record)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.proceed = threading.Semaphore(0)
        self.stop_event = threading.Event()
        self.done = threading.Event()
        self.cancelled = False
        self.thread = threading.Thread(target=self._train, name=f"sweep-trial-{self.index}", daemon=True)
        self.thread.start()
        threading.Thread(target=self._watch_cancel, daemon=True).start()

    # ------------------------------------------------------------ the training thread
    def _write(self, **changes: Any) -> None:
        self.record = replace(self.record, **changes)
        self.sweeps.write_trial(self.sweep_id, self.record)

    def _listen(self, event: Any) -> None:
        from ..training import EpochEnd, TrainingStarted

        if isinstance(event, TrainingStarted):
            self._write(run_id=event.run_id, total_epochs=event.epochs)
        elif isinstance(event, EpochEnd):
            val = event.metrics.get("val_accuracy")
            curve = [*self.record.val_curve, float(val)] if val is not None else self.record.val_curve
            self._write(epochs_done=event.epoch, val_accuracy=val, val_curve=curve,
                        best_val_accuracy=max(curve) if curve else None)
            if event.epoch < self.record.total_epochs and not self.stop_event.is_set():
                self.events.put((_EPOCH, dict(event.metrics)))
                self.proceed.acquire()  # until Tune asks for the next epoch, or stops the trial

    def _train_once(self):
        from ..runs import RunStore
        from ..training import train

        return train(self.train_config, store=RunStore(self.runs_root), listener=self._listen,
                     stop_event=self.stop_event,
                     command=f"fmnist sweep {self.sweep_id} trial {self.index + 1}")

    def _train(self) -> None:
        from ..runs import RunStatus, RunStore

        deadline = time.monotonic() + LOCK_WAIT_S
        try:
            while True:
                try:
                    result = self._train_once()
                    break
                except TrainingBusyError:  # one training per runs folder (fmnist_core.training.training_lock)
                    if time.monotonic() > deadline or self.stop_event.wait(1.0):
                        raise
            if result.status == RunStatus.COMPLETED:
                status = TrialStatus.COMPLETED
            else:
                status = TrialStatus.STOPPED if self.cancelled else TrialStatus.EARLY_STOPPED
            run = result.run
            run.update(**{RUN_META_KEY: SweepTag(self.sweep_id, self.index, self.hyperparameters,
                                                 str(status)).to_dict()})
            RunStore(self.runs_root).write_meta(run)
            self._write(status=status, run_id=run.run_id, test_accuracy=run.test_accuracy,
                        train_seconds=run.record.train_seconds, finished_at=time.time())
            self.events.put((_FINISHED, None))
        except Exception as exc:  # noqa: BLE001 - the trial's failure is reported to Tune and the table
            self._write(status=TrialStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
            self.events.put((_FAILED, exc))
        finally:
            self.done.set()

    def _watch_cancel(self) -> None:
        while not self.done.wait(CANCEL_POLL_S):
            if self.jobs.cancel_requested(self.sweep_id):
                self.cancelled = True
                self.stop_event.set()
                self.proceed.release()
                return

    # ------------------------------------------------------------ Tune's side
    def step(self) -> dict[str, Any]:
        if self.skipped:
            if self.index == BARRIER_INDEX:
                wait_until_trials_end(self.sweeps, self.sweep_id)
            return {"done": True}
        if self.steps:
            self.proceed.release()  # Tune wants the next epoch
        self.steps += 1
        kind, payload = self.events.get()
        if kind == _FAILED:
            raise payload
        metrics: dict[str, Any] = {"epoch": self.record.epochs_done}
        if self.record.val_accuracy is not None:
            metrics["val_accuracy"] = self.record.val_accuracy
        if kind == _FINISHED:
            metrics.update(done=True, test_accuracy=self.record.test_accuracy, trial_status=str(self.record.status))
        else:
            metrics.update({k: v for k, v in payload.items() if k in {"loss", "accuracy", "val_loss"}})
        return metrics

    def cleanup(self) -> None:
        """Tune stops the trial (ASHA, the end of the sweep, or a cancel): stop after the current batch and
        wait until the run is saved, so the next trial finds the training lock free."""
        if self.skipped:
            return
        self.stop_event.set()
        self.proceed.release()
        self.thread.join(LOCK_WAIT_S)


def trials_still_running(sweeps: SweepBook, sweep_id: str) -> bool:
    return any(record.status == TrialStatus.RUNNING for record in sweeps.trials(sweep_id).values())


def wait_until_trials_end(sweeps: SweepBook, sweep_id: str, timeout: float = LOCK_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while trials_still_running(sweeps, sweep_id) and time.monotonic() < deadline:
        time.sleep(CANCEL_POLL_S)


class CancelStopper(tune.Stopper):
    """Ends the whole experiment once the sweep's queue entry has a cancel request and the trial that was
    training has stopped and saved its run (each trial watches the request itself and stops after its
    batch; ending the experiment earlier would have Tune kill it while it saves)."""

    def __init__(self, jobs: JobBook, sweeps: SweepBook, sweep_id: str) -> None:
        self.jobs, self.sweeps, self.sweep_id = jobs, sweeps, sweep_id

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.jobs.cancel_requested(self.sweep_id) and not trials_still_running(self.sweeps, self.sweep_id)

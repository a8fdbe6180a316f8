"""Training jobs out of the web process: a persistent queue in <runs>/jobs/ run by a Ray engine.

`Engine` (client.py) is what the app and CLI use; it never imports Ray. `daemon.py` is the engine
process (a Ray driver), `worker.py` what runs in each Ray worker, `records.py` the on-disk queue.
"""

from .client import Engine, EngineStatus, config_summary
from .records import (
    CancelNotAllowedError,
    Job,
    JobError,
    JobNotFoundError,
    JobState,
    JobStatus,
    QueueLimitError,
    Submission,
)
from .settings import EngineSettings

__all__ = [
    "CancelNotAllowedError", "Engine", "EngineSettings", "EngineStatus", "Job", "JobError", "JobNotFoundError",
    "JobState", "JobStatus", "QueueLimitError", "Submission", "config_summary",
]

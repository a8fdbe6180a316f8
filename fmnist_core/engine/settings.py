"""Engine settings, read from the environment in one place (app, CLI, engine and workers agree)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..constants import default_runs_dir
from ..errors import ConfigError

ADDRESS_ENV = "FMNIST_RAY_ADDRESS"  # an existing Ray cluster; Ray's own RAY_ADDRESS is honoured too
PARALLEL_ENV = "FMNIST_ENGINE_PARALLEL"  # jobs training at once (default 1: one per 2-core machine)
CPUS_ENV = "FMNIST_ENGINE_CPUS"  # CPUs of the private local Ray instance (default: all)
QUEUE_LIMIT_ENV = "FMNIST_QUEUE_LIMIT"  # unfinished jobs per submitter (default 3)
DEFAULT_QUEUE_LIMIT = 3


def _int_env(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class EngineSettings:
    runs_root: Path
    address: str | None = None  # None: a private local Ray instance bound to 127.0.0.1
    parallel: int = 1
    cpus: int | None = None
    queue_limit: int = DEFAULT_QUEUE_LIMIT

    @classmethod
    def from_env(cls, runs_root: str | Path | None = None) -> EngineSettings:
        address = os.environ.get(ADDRESS_ENV) or os.environ.get("RAY_ADDRESS") or None
        return cls(
            runs_root=Path(runs_root) if runs_root else default_runs_dir(),
            address=address,
            parallel=_int_env(PARALLEL_ENV, 1) or 1,
            cpus=_int_env(CPUS_ENV, None),
            queue_limit=_int_env(QUEUE_LIMIT_ENV, DEFAULT_QUEUE_LIMIT) or DEFAULT_QUEUE_LIMIT,
        )

    @property
    def local(self) -> bool:
        return self.address is None

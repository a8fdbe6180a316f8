"""Saved runs: one folder per training run, written atomically, listed and loaded by id only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .constants import DEFAULT_RUN_ID, default_runs_dir
from .constants import pretrained_dir as shipped_runs_dir
from .errors import InvalidRunIdError, ModelIntegrityError, RunNotFoundError, UnsafeModelError

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
RUN_FILE = "run.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"
PREDICTIONS_FILE = "predictions.npz"

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_STOPPED = "stopped"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"  # derived: "running" but its process is gone


def validate_run_id(run_id: str) -> str:
    """Refuse anything but a plain folder name, so no id can reach outside the runs folder."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id) or run_id in {".", ".."}:
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: use letters, digits, '-', '_' and '.', no paths"
        )
    return run_id


def new_run_id(architecture: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{architecture}-{secrets.token_hex(2)}"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside path, flush to disk, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, json.dumps(payload, indent=2, sort_keys=True).encode())


def atomic_save_model(model, path: Path) -> str:
    """Save a Keras model atomically and return its SHA-256."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        checksum = sha256_file(Path(tmp))
        os.replace(tmp, path)
        return checksum
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunInfo:
    """What run.json says about a run, with its status made honest for dead processes."""

    run_id: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        status = self.meta.get("status", STATUS_FAILED)
        if status == STATUS_RUNNING and not _pid_alive(self.meta.get("pid")):
            return STATUS_INTERRUPTED
        return status

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    @property
    def architecture(self) -> str:
        return self.config.get("architecture", "?")

    @property
    def test_accuracy(self) -> float | None:
        return (self.meta.get("test") or {}).get("accuracy")

    @property
    def epochs_completed(self) -> int:
        return int(self.meta.get("epochs_completed", 0))

    @property
    def has_model(self) -> bool:
        return bool(self.meta.get("model_sha256")) and (self.path / MODEL_FILE).is_file()

    @property
    def resumable(self) -> bool:
        # Also a run that finished every epoch but died before its final model was saved:
        # resuming it trains no further epoch, it only evaluates and saves the checkpointed model.
        return self.status in {STATUS_STOPPED, STATUS_INTERRUPTED, STATUS_FAILED} and (
            self.path / CHECKPOINT_FILE
        ).is_file() and (self.epochs_completed < int(self.config.get("epochs", 0)) or not self.has_model)

    def history(self) -> dict[str, list[float]]:
        path = self.path / HISTORY_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def metrics(self) -> dict[str, Any]:
        path = self.path / METRICS_FILE
        return json.loads(path.read_text()) if path.is_file() else {}


_FROM_ENV = object()  # RunStore's default: the shipped run's folder as $FMNIST_PRETRAINED_DIR says


class RunStore:
    """The runs folder plus the shipped default run; every path is derived from a validated id."""

    def __init__(self, root: str | Path | None = None, pretrained_dir: str | Path | None | object = _FROM_ENV):
        self.root = Path(root) if root is not None else default_runs_dir()
        if pretrained_dir is _FROM_ENV:
            pretrained_dir = shipped_runs_dir()
        self.pretrained_dir = Path(pretrained_dir) if pretrained_dir is not None else None

    def run_path(self, run_id: str) -> Path:
        validate_run_id(run_id)
        if run_id == DEFAULT_RUN_ID and self.pretrained_dir is not None and not (self.root / run_id).exists():
            return self.pretrained_dir / run_id
        return self.root / run_id

    def create(self, architecture: str, meta: dict[str, Any]) -> RunInfo:
        self.root.mkdir(parents=True, exist_ok=True)
        run_id = new_run_id(architecture)
        path = self.root / run_id
        path.mkdir()
        info = RunInfo(run_id, path, dict(meta))
        self.write_meta(info)
        return info

    def write_meta(self, info: RunInfo) -> None:
        atomic_write_json(info.path / RUN_FILE, info.meta)

    def get(self, run_id: str) -> RunInfo:
        path = self.run_path(run_id)
        meta_path = path / RUN_FILE
        if not meta_path.is_file():
            raise RunNotFoundError(f"no saved run {run_id!r}")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise RunNotFoundError(f"run {run_id!r} has an unreadable {RUN_FILE}: {exc}") from exc
        return RunInfo(run_id, path, meta)

    def iter_runs(self) -> Iterator[RunInfo]:
        seen: set[str] = set()
        folders = []
        if self.root.is_dir():
            folders.extend(sorted(self.root.iterdir(), reverse=True))
        if self.pretrained_dir is not None and (self.pretrained_dir / DEFAULT_RUN_ID).is_dir():
            folders.append(self.pretrained_dir / DEFAULT_RUN_ID)
        for folder in folders:
            if folder.name in seen or not RUN_ID_PATTERN.fullmatch(folder.name) or not folder.is_dir():
                continue
            seen.add(folder.name)
            try:
                yield self.get(folder.name)
            except RunNotFoundError:
                continue

    def list_runs(self) -> list[RunInfo]:
        """Every readable run, newest first, the shipped default last."""
        return list(self.iter_runs())

    def load_model(self, run_id: str, *, allow_checkpoint: bool = False, compile: bool = False):
        """Load a run's model with safe_mode=True after checking the recorded SHA-256.

        compile=True restores the optimizer state too (used to resume from a checkpoint)."""
        info = self.get(run_id)
        if allow_checkpoint:
            path, expected = info.path / CHECKPOINT_FILE, info.meta.get("checkpoint_sha256")
        else:
            path, expected = info.path / MODEL_FILE, info.meta.get("model_sha256")
        return load_verified_model(path, expected, label=f"run {run_id!r}", compile=compile)


def load_verified_model(path: Path, expected_sha256: str | None, *, label: str, compile: bool = False):
    """The only place a model file is deserialised: checksum first, then Keras safe mode."""
    if not expected_sha256 or not path.is_file():
        raise RunNotFoundError(f"{label} has no complete saved model")
    if sha256_file(path) != expected_sha256:
        raise ModelIntegrityError(
            f"{label}: the model file does not match the checksum recorded when it was saved "
            "(it was modified or only partly written); it will not be loaded"
        )
    import keras  # noqa: PLC0415

    from . import mirror, schedules  # noqa: F401, PLC0415 - register the layer and schedule a saved model names

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise UnsafeModelError(f"{label}: the model holds code that safe mode refuses to load") from exc
        raise ModelIntegrityError(f"{label}: the model file cannot be read ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - zip, h5 and JSON errors all mean a damaged file
        raise ModelIntegrityError(f"{label}: the model file cannot be read ({type(exc).__name__})") from exc

"""Saved runs: one folder per training run, written atomically, listed and loaded by id only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constants import DEFAULT_RUN_ID, default_runs_dir
from .constants import pretrained_dir as shipped_runs_dir
from .errors import InvalidRunIdError, ModelIntegrityError, RunNotFoundError, UnsafeModelError

if TYPE_CHECKING:
    from .config import TrainConfig

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
RUN_FILE = "run.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"
PREDICTIONS_FILE = "predictions.npz"



class RunStatus(StrEnum):
    """A saved run's state, as run.json records it (a StrEnum: it compares equal to the stored string)."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # derived, never stored: "running" but its process is gone

    @property
    def ended_with_a_model(self) -> bool:
        """Finished on purpose (all epochs or a stop request); its final model was evaluated and saved."""
        return self in {RunStatus.COMPLETED, RunStatus.STOPPED}


# The names older callers import.
STATUS_RUNNING = RunStatus.RUNNING
STATUS_COMPLETED = RunStatus.COMPLETED
STATUS_STOPPED = RunStatus.STOPPED
STATUS_FAILED = RunStatus.FAILED
STATUS_INTERRUPTED = RunStatus.INTERRUPTED
RESUMABLE_STATUSES = frozenset({RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FAILED})


@dataclass(frozen=True)
class DataSourceInfo:
    description: str = ""
    official: bool = False
    md5: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSize:
    parameters: int | None = None
    multiply_adds: int | None = None


@dataclass(frozen=True)
class TestScores:
    """The saved model's test-set scores: a fresh float32 evaluation of the saved model, so a user who
    evaluates it again gets the same number (fmnist_core.evaluation.float32_evaluation)."""

    __test__ = False  # not a pytest test class

    accuracy: float | None = None
    loss: float | None = None
    count: int | None = None


@dataclass(frozen=True)
class RunRecord:
    """What run.json says, typed. `from_dict` is the one reader of run.json, old schemas included."""

    status: RunStatus = RunStatus.FAILED
    config: dict[str, Any] = field(default_factory=dict)
    epochs_completed: int = 0
    test: TestScores = field(default_factory=TestScores)
    model: ModelSize = field(default_factory=ModelSize)
    data_source: DataSourceInfo = field(default_factory=DataSourceInfo)
    versions: dict[str, str] = field(default_factory=dict)
    command: str = ""
    host: str = ""
    pid: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    resumed_at: str | None = None
    train_seconds: float | None = None
    model_sha256: str | None = None
    checkpoint_sha256: str | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, meta: dict[str, Any]) -> RunRecord:
        """Older run.json files: sizes at the top level ("parameters", "multiply_adds"), a top-level
        "test_accuracy", or an unknown status (read as failed)."""
        try:
            status = RunStatus(meta.get("status", RunStatus.FAILED))
        except ValueError:
            status = RunStatus.FAILED
        size = meta.get("model") if isinstance(meta.get("model"), dict) else {}
        test = meta.get("test") if isinstance(meta.get("test"), dict) else {}
        source = meta.get("data_source") if isinstance(meta.get("data_source"), dict) else {}
        accuracy = test.get("accuracy", meta.get("test_accuracy"))
        return cls(
            status=status,
            config=dict(meta.get("config") or {}),
            epochs_completed=int(meta.get("epochs_completed", 0) or 0),
            test=TestScores(
                accuracy=None if accuracy is None else float(accuracy),
                loss=None if test.get("loss") is None else float(test["loss"]),
                count=test.get("count"),
            ),
            model=ModelSize(size.get("parameters", meta.get("parameters")),
                            size.get("multiply_adds", meta.get("multiply_adds"))),
            data_source=DataSourceInfo(str(source.get("description", "")), bool(source.get("official", False)),
                                       dict(source.get("md5") or {})),
            versions=dict(meta.get("versions") or {}),
            command=str(meta.get("command") or ""),
            host=str(meta.get("host") or ""),
            pid=meta.get("pid"),
            started_at=meta.get("started_at"),
            ended_at=meta.get("ended_at"),
            resumed_at=meta.get("resumed_at"),
            train_seconds=meta.get("train_seconds"),
            model_sha256=meta.get("model_sha256"),
            checkpoint_sha256=meta.get("checkpoint_sha256"),
            error=meta.get("error"),
        )


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
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
        os.chmod(tmp, 0o644)  # readable like any other file (mkstemp makes it private)
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
    """A run folder. `meta` is run.json as stored (what the training loop writes); read it through
    `record` (typed) and the properties here, never by key."""

    run_id: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> RunRecord:
        return RunRecord.from_dict(self.meta)

    @property
    def status(self) -> RunStatus:
        """The recorded status, made honest for a run whose process is gone (interrupted)."""
        status = self.record.status
        if status == RunStatus.RUNNING and not _pid_alive(self.meta.get("pid")):
            return RunStatus.INTERRUPTED
        return status

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    def train_config(self) -> TrainConfig:
        """The run's settings as a TrainConfig (keys this version does not know are ignored)."""
        from .config import TrainConfig

        return TrainConfig.from_dict(self.config)

    @property
    def architecture(self) -> str:
        return self.config.get("architecture", "?")

    @property
    def test_accuracy(self) -> float | None:
        return self.record.test.accuracy

    @property
    def epochs_completed(self) -> int:
        return self.record.epochs_completed

    @property
    def total_epochs(self) -> int | None:
        epochs = self.config.get("epochs")
        return int(epochs) if epochs is not None else None

    @property
    def has_model(self) -> bool:
        return bool(self.record.model_sha256) and (self.path / MODEL_FILE).is_file()

    @property
    def usable(self) -> bool:
        """Has a saved, complete, evaluated model (completed, or stopped with a final save)."""
        return self.has_model and self.test_accuracy is not None

    @property
    def resumable(self) -> bool:
        # Also a run that finished every epoch but died before its final model was saved:
        # resuming it trains no further epoch, it only evaluates and saves the checkpointed model.
        return self.status in RESUMABLE_STATUSES and (self.path / CHECKPOINT_FILE).is_file() and (
            self.epochs_completed < (self.total_epochs or 0) or not self.has_model
        )

    def update(self, **fields: Any) -> None:
        """Change run.json's fields in memory (RunStore.write_meta saves them); statuses as RunStatus."""
        self.meta.update({key: str(value) if isinstance(value, RunStatus) else value for key, value in fields.items()})

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

    def default_active_run(self) -> RunInfo | None:
        """The model a new session starts with: the shipped 'default' run when it is usable, else the
        newest completed run, else any usable one (newest first), else None."""
        runs = [run for run in self.list_runs() if run.usable]
        for run in runs:
            if run.run_id == DEFAULT_RUN_ID:
                return run
        for run in runs:
            if run.status == RunStatus.COMPLETED:
                return run
        return runs[0] if runs else None

    def load_model(self, run_id: str, *, allow_checkpoint: bool = False, compile: bool = False,
                   float32: bool = False):
        """Load a run's model with safe_mode=True after checking the recorded SHA-256.

        compile=True restores the optimizer state too (used to resume from a checkpoint); float32=True
        computes in float32 whatever precision it trained in (the evaluation every score comes from)."""
        info = self.get(run_id)
        if allow_checkpoint:
            path, expected = info.path / CHECKPOINT_FILE, info.record.checkpoint_sha256
        else:
            path, expected = info.path / MODEL_FILE, info.record.model_sha256
        return load_verified_model(path, expected, label=f"run {run_id!r}", compile=compile, float32=float32)


def _all_layers(layer) -> Iterator[Any]:
    yield layer
    for inner in getattr(layer, "layers", None) or []:
        yield from _all_layers(inner)


def load_verified_model(path: Path, expected_sha256: str | None, *, label: str, compile: bool = False,
                        float32: bool = False):
    """The only place a model file is deserialised: checksum first, then Keras safe mode.

    float32=True sets every layer's (public) dtype policy to float32 before the model is first called:
    a bfloat16 run's saved weights are float32 already, and a float32 forward pass is the one a user can
    reproduce on any machine (bfloat16 on this CPU gave 93.22% for the shipped model, float32 93.27%)."""
    if not expected_sha256 or not path.is_file():
        raise RunNotFoundError(f"{label} has no complete saved model")
    if sha256_file(path) != expected_sha256:
        raise ModelIntegrityError(
            f"{label}: the model file does not match the checksum recorded when it was saved "
            "(it was modified or only partly written); it will not be loaded"
        )
    import keras

    # Imported for what they register: the layer, schedule and optimizers a saved model names.
    from . import mirror, schedules, weight_averaging  # noqa: F401

    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise UnsafeModelError(f"{label}: the model holds code that safe mode refuses to load") from exc
        raise ModelIntegrityError(f"{label}: the model file cannot be read ({exc})") from exc
    except Exception as exc:  # zip, h5 and JSON errors all mean a damaged file
        raise ModelIntegrityError(f"{label}: the model file cannot be read ({type(exc).__name__})") from exc
    if float32:
        for layer in _all_layers(model):
            layer.dtype_policy = "float32"
    return model

"""Typed errors: every failure a user can cause has its own class and a readable message."""

from __future__ import annotations


class FmnistError(Exception):
    """Base class of every error the core raises on purpose."""


class DataError(FmnistError):
    """The dataset could not be found or read."""


class DataNotFoundError(DataError):
    pass


class CorruptDataError(DataError):
    pass


class ImageError(FmnistError):
    """A user image cannot be turned into model input."""


class EmptyImageError(ImageError):
    pass


class UnsupportedImageError(ImageError):
    pass


class ImageTooLargeError(ImageError):
    pass


class CorruptImageError(ImageError):
    pass


class RunError(FmnistError):
    """A saved run cannot be found, trusted or loaded."""


class InvalidRunIdError(RunError):
    pass


class RunNotFoundError(RunError):
    pass


class ModelIntegrityError(RunError):
    """The model file does not match the checksum recorded when it was saved, or is damaged."""


class UnsafeModelError(RunError):
    """The model file holds code (e.g. a Lambda layer) that safe mode refuses to run."""


class ConfigError(FmnistError):
    """A training or augmentation setting is out of range or unknown."""


class UnknownArchitectureError(ConfigError):
    pass


class TrainingBusyError(FmnistError):
    """Another training job already runs on this server."""


class ArchitectureSpecError(ConfigError):
    """An architecture specification is malformed or describes an impossible network.

    `layer_index` (0-based) is the layer where it breaks, None when the whole specification is at fault.
    """

    def __init__(self, message: str, *, layer_index: int | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index

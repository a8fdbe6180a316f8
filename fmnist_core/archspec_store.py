"""Saved architectures (runs/architectures/NAME.json), one list of every choice, and a run's network.

Light (no TensorFlow): the Training page's architecture picker, the builder page and the CLI read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .archspec import ArchitectureSpec, check_name, layer_table, load_spec_file, spec_from_dict
from .constants import default_runs_dir
from .errors import ArchitectureSpecError, UnknownArchitectureError
from .models import ARCHITECTURES
from .runs import atomic_write_bytes

ARCHITECTURES_FOLDER = "architectures"
MAX_SAVED = 200  # a folder with more files than this is read only this far


@dataclass(frozen=True)
class ArchitectureChoice:
    """One entry of the architecture list: a built-in or a saved network."""

    name: str
    title: str
    description: str
    spec: ArchitectureSpec
    builtin: bool

    @property
    def parameters(self) -> int:
        return layer_table(self.spec).parameters

    @property
    def multiply_adds(self) -> int:
        return layer_table(self.spec).multiply_adds


class ArchitectureLibrary:
    """Named architectures saved beside the runs (runs/architectures/NAME.json), validated on every read."""

    def __init__(self, runs_root: str | Path | None = None) -> None:
        self.folder = Path(runs_root if runs_root is not None else default_runs_dir()) / ARCHITECTURES_FOLDER

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        names = sorted(p.stem for p in self.folder.glob("*.json") if p.is_file())
        return [name for name in names[:MAX_SAVED] if name not in ARCHITECTURES]

    def load(self, name: str) -> ArchitectureSpec:
        path = self.path(name)
        if not path.is_file():
            raise UnknownArchitectureError(f"no saved architecture {name!r}")
        spec = load_spec_file(path)
        return spec if spec.name == name else spec.renamed(name)

    def save(self, spec: ArchitectureSpec, *, overwrite: bool = True) -> Path:
        """Save under the spec's name; built-in names are refused (they stay what they are)."""
        if spec.name in ARCHITECTURES:
            raise ArchitectureSpecError(f"{spec.name!r} is a built-in architecture; save yours under another name")
        layer_table(spec)  # computed, never saved: the file holds only the specification
        spec = spec_from_dict(spec.to_dict())  # validated exactly as a file read back will be
        path = self.path(spec.name)
        if path.exists() and not overwrite:
            raise ArchitectureSpecError(f"an architecture named {spec.name!r} is saved already")
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, spec.to_json().encode())
        return path

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def choices(self) -> dict[str, ArchitectureChoice]:
        """Built-in architectures first, then every saved one that still validates (others are skipped)."""
        out = {
            name: ArchitectureChoice(name, arch.title, arch.description, arch.spec, True)
            for name, arch in ARCHITECTURES.items()
        }
        for name in self.names():
            try:
                spec = self.load(name)
            except ArchitectureSpecError:
                continue
            out[name] = ArchitectureChoice(name, spec.title or name, spec.description, spec, False)
        return out


def resolve_architecture(name_or_file: str, library: ArchitectureLibrary | None = None) -> ArchitectureSpec:
    """A built-in name, a saved name, or a path to a JSON specification file."""
    if name_or_file in ARCHITECTURES:
        return ARCHITECTURES[name_or_file].spec
    library = library or ArchitectureLibrary()
    path = Path(name_or_file)
    if path.suffix.lower() == ".json" or path.is_file():
        return load_spec_file(path)
    try:
        return library.load(name_or_file)
    except ArchitectureSpecError:
        raise
    except (UnknownArchitectureError, ValueError):
        known = ", ".join([*ARCHITECTURES, *library.names()])
        raise UnknownArchitectureError(
            f"no architecture or file {name_or_file!r}; choose one of: {known}, or give a .json file"
        ) from None


def run_architecture_spec(meta: dict[str, Any]) -> ArchitectureSpec:
    """The network a run trained, from its run.json: the stored specification, else (older runs) the
    config's custom one, else the built-in architecture it names."""
    stored = meta.get("architecture_spec")
    config = meta.get("config") or {}
    if stored is None:
        stored = config.get("architecture_spec")
    if stored is not None:
        return spec_from_dict(stored)
    name = config.get("architecture")
    if name in ARCHITECTURES:
        return ARCHITECTURES[name].spec
    raise UnknownArchitectureError(f"the run names an unknown architecture {name!r} and stores no specification")

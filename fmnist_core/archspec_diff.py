"""What changed between two architectures, layer by layer: added, removed, or changed settings.

Pure functions on specifications (no TensorFlow): the Training page shows them beside two runs'
curves, so a learner sees which edit made the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from .archspec import ArchitectureSpec, Layer, layer_table, setting_names


@dataclass(frozen=True)
class LayerChange:
    """One difference: `change` is "added", "removed" or "changed"; indices are 0-based, None when absent."""

    change: str
    index_a: int | None
    index_b: int | None
    layer_a: Layer | None
    layer_b: Layer | None
    settings: tuple[tuple[str, object, object], ...] = ()

    def describe(self) -> str:
        """One line for a person: 'Removed layer 3: Dropout 0.25', 'Layer 1: filters 32 → 16'."""
        if self.change == "added":
            return f"Added layer {self.index_b + 1}: {self.layer_b.label}"
        if self.change == "removed":
            return f"Removed layer {self.index_a + 1}: {self.layer_a.label}"
        where = f"Layer {self.index_a + 1}" + (f" (now {self.index_b + 1})" if self.index_a != self.index_b else "")
        details = ", ".join(f"{name} {old} → {new}" for name, old, new in self.settings)
        return f"{where}, {self.layer_a.title.lower()}: {details}"


@dataclass(frozen=True)
class ArchitectureDiff:
    changes: tuple[LayerChange, ...]
    parameters: tuple[int, int]
    multiply_adds: tuple[int, int]

    @property
    def same(self) -> bool:
        return not self.changes


def _changed(index_a: int, index_b: int, a: Layer, b: Layer) -> LayerChange:
    settings = tuple((name, getattr(a, name), getattr(b, name)) for name in setting_names(type(a))
                     if getattr(a, name) != getattr(b, name))
    return LayerChange("changed", index_a, index_b, a, b, settings)


def architecture_diff(a: ArchitectureSpec, b: ArchitectureSpec) -> ArchitectureDiff:
    """The edit from `a` to `b`: layers matched in order, a same-type layer in place counts as changed."""
    changes: list[LayerChange] = []
    matcher = SequenceMatcher(None, a.layers, b.layers, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i, j = i1, j1
        while i < i2 and j < j2 and a.layers[i].kind == b.layers[j].kind:
            changes.append(_changed(i, j, a.layers[i], b.layers[j]))
            i, j = i + 1, j + 1
        changes.extend(LayerChange("removed", k, None, a.layers[k], None) for k in range(i, i2))
        changes.extend(LayerChange("added", None, k, None, b.layers[k]) for k in range(j, j2))
    ta, tb = layer_table(a), layer_table(b)
    return ArchitectureDiff(tuple(changes), (ta.parameters, tb.parameters), (ta.multiply_adds, tb.multiply_adds))

"""The architecture list the Training page offers (built-in, saved, handed over by the builder page).

The builder's "Train this network" puts its specification under ``ARCH_HANDOFF_KEY``; the Training
page calls ``apply_architecture_handoff`` once per run (it selects the network and remembers its
specification for the session) and ``custom_spec`` when it builds the TrainConfig.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fmnist_core.archspec import ArchitectureSpec, spec_from_dict
from fmnist_core.archspec_store import ArchitectureChoice, ArchitectureLibrary
from fmnist_core.models import ARCHITECTURES

from .state import run_store

ARCH_HANDOFF_KEY = "architecture_for_training"
SESSION_SPECS_KEY = "tr_session_architectures"  # name -> spec dict, handed over in this session


def library() -> ArchitectureLibrary:
    """Saved architectures live beside the runs (runs/architectures/)."""
    return ArchitectureLibrary(run_store().root)


def architecture_choices(state: MutableMapping[str, Any]) -> dict[str, ArchitectureChoice]:
    """Built-in, then saved, then this session's hand-overs (a hand-over wins over a saved namesake)."""
    choices = library().choices()
    for name, values in (state.get(SESSION_SPECS_KEY) or {}).items():
        spec = spec_from_dict(values)
        choices[name] = ArchitectureChoice(name, spec.title or name, spec.description, spec, False)
    return choices


def choice_label(choices: dict[str, ArchitectureChoice], name: str) -> str:
    choice = choices.get(name)
    if choice is None:
        return name
    return choice.title if choice.builtin else f"{choice.title} (yours)"


def apply_architecture_handoff(state: MutableMapping[str, Any], widget_key: str) -> str | None:
    """Select a network handed over by the builder page; returns a notice for the user, or None."""
    values = state.pop(ARCH_HANDOFF_KEY, None)
    if values is None:
        return None
    spec = spec_from_dict(values)
    state[SESSION_SPECS_KEY] = {**(state.get(SESSION_SPECS_KEY) or {}), spec.name: spec.to_dict()}
    state[widget_key] = spec.name
    return f"Your network **{spec.name}** from the builder is selected as the architecture below."


def custom_spec(state: MutableMapping[str, Any], name: str) -> ArchitectureSpec | None:
    """The specification to train for a non-built-in choice (None for a built-in name)."""
    if name in ARCHITECTURES:
        return None
    choice = architecture_choices(state).get(name)
    return choice.spec if choice is not None else None


def hand_over(state: MutableMapping[str, Any], spec: ArchitectureSpec) -> None:
    """What the builder page does before switching to the Training page."""
    state[ARCH_HANDOFF_KEY] = spec.to_dict()

"""benchmarks.training_bench's accuracy floors: a recipe that ends near chance fails the benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

from benchmarks.training_bench import RECIPE_FLOORS, RecipeBelowFloorError, RecipeResult, check_floors  # noqa: E402
from fmnist_core.config import PRESETS  # noqa: E402


def recipe(name: str, accuracy: float | None) -> RecipeResult:
    return RecipeResult(name=name, architecture="fast_cnn", config={}, train_images=2000, multiply_adds=1,
                        parameters=1, history={}, test_accuracy=accuracy, fit_wall_seconds=1.0)


def test_every_recipe_has_a_floor_far_above_chance():
    assert set(RECIPE_FLOORS) == set(PRESETS)
    assert all(0.4 <= floor < 0.9 for floor in RECIPE_FLOORS.values())


def test_recipes_at_or_above_their_floors_pass():
    check_floors([recipe(name, floor) for name, floor in RECIPE_FLOORS.items()])


def test_a_recipe_at_chance_fails_and_is_named():
    with pytest.raises(RecipeBelowFloorError, match=r"default ended at 10\.06%"):
        check_floors([recipe("seed", 0.8), recipe("default", 0.1006)])
    with pytest.raises(RecipeBelowFloorError, match="best"):
        check_floors([recipe("best", None)])

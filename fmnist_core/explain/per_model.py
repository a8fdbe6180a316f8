"""One cached helper object per Keras model, built on first use and dropped with the model.

The activation probe and the attributor each build compiled sub-models that are costly to trace; a page
rerun must reuse them, and a model that is no longer loaded must not be kept alive by the cache.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerModelCache(Generic[T]):
    """``cache(model)`` returns ``factory(model)``, made once per live model (thread-safe)."""

    def __init__(self, factory: Callable[[Any], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, model) -> T:
        with self._lock:
            item = self._items.get(model)
            if item is None:
                item = self._factory(model)
                self._items[model] = item
            return item

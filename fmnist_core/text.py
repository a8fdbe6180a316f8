"""Small wording helpers shared by the command line and the pages."""

from __future__ import annotations


def plural(count: int | float, word: str, plural_word: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1,000 images': the count with the word in the right number."""
    shown = f"{count:,}" if isinstance(count, int) else f"{count:g}"
    return f"{shown} {word if count == 1 else (plural_word or word + 's')}"


__all__ = ["plural"]

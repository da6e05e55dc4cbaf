"""The two helpers every error message in genziqa uses: a did-you-mean and a library's first line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest choice, or ``""``.

    A choice that starts with what was typed wins over a merely similar one, so ``sd21`` points
    to ``sd21base`` rather than to ``sd15``.
    """
    choices = [str(c) for c in choices]
    typed = str(name).lower()
    prefixed = sorted((c for c in choices if c.lower().startswith(typed)), key=len) if typed else []
    close = prefixed[:1] or difflib.get_close_matches(str(name), choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def plural(count: int, noun: str) -> str:
    """``1 image``, ``2 images``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def first_line(err: BaseException) -> str:
    """The first line of a library's message, without its full stop (callers add their own)."""
    text = str(err).strip().splitlines()
    return text[0].strip().rstrip(".") if text else type(err).__name__

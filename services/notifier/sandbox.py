"""The sandbox clinic templates run in: Jinja2's, with limits on size and time.

Jinja2's sandbox stops a template from reaching Python's internals, but not
from burning a core (``{% set n = 9**8 %}{{ (9**n) > 1 }}`` took 67 s here) or
building a huge value. This one also

- refuses ``**`` whose result would pass :data:`MAX_BITS` and ``*`` that
  would repeat a string or list past :data:`MAX_ITEMS`;
- caps ``range`` at :data:`MAX_ITEMS` and checks the clock on every step of it;
- gives each render a deadline (:data:`RENDER_SECONDS`), checked at every
  intercepted operation, call and loop step.

Each limit raises :class:`jinja2.exceptions.SecurityError` naming it; the
renderer turns that into a failure of that one delivery.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

MAX_BITS = 4096
"""The largest integer a template may compute with ``**`` (about 1,200 digits)."""
MAX_ITEMS = 10_000
"""The longest string or list a template may build with ``*``, and the longest ``range``."""
RENDER_SECONDS = 2.0
"""How long one render may run."""

_deadline = threading.local()


class LimitedSandbox(SandboxedEnvironment):
    """A sandboxed environment whose renders are bounded in size and time."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = limited_range
        self.globals.pop("lipsum", None)  # lipsum(10**6) would be a megabyte of text

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        return super().call(__context, __obj, *args, **kwargs)


def render_within(template: Any, context: dict[str, Any], seconds: float = RENDER_SECONDS) -> str:
    """``template.render(context)``, raising ``SecurityError`` once ``seconds`` have passed."""
    _deadline.at = time.monotonic() + seconds
    try:
        return str(template.render(context))
    finally:
        _deadline.at = None


def check_deadline() -> None:
    at = getattr(_deadline, "at", None)
    if at is not None and time.monotonic() > at:
        raise SecurityError(f"the template ran longer than {RENDER_SECONDS:g} s")


def limited_range(*args: int) -> Iterator[int]:
    """``range``, at most :data:`MAX_ITEMS` long, checking the deadline at each step."""
    steps = range(*args)
    if len(steps) > MAX_ITEMS:
        raise SecurityError(f"range of {len(steps)} items; at most {MAX_ITEMS}")
    for value in steps:
        check_deadline()
        yield value


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent < 0:
        return
    if abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_BITS:
        raise SecurityError(f"{base} ** {exponent} is too large (over {MAX_BITS} bits)")


def _check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
        if sized and len(seq) * times > MAX_ITEMS:
            raise SecurityError(f"a repeat of {len(seq) * times} items; at most {MAX_ITEMS}")

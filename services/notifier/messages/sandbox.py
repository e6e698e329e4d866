"""The sandbox clinic templates run in: Jinja2's, with limits on size and time.

Jinja2's sandbox stops a template from reaching Python's internals, but not
from burning a core (``{% set n = 9**8 %}{{ (9**n) > 1 }}`` took 67 s here) or
building a huge value. This one also

- refuses ``**`` whose result would pass :data:`MAX_BITS` and ``*`` that
  would repeat a string or list past :data:`MAX_ITEMS`;
- caps ``range`` at :data:`MAX_ITEMS` and checks the clock on every step of it;
- gives each render a deadline (:data:`RENDER_SECONDS`), checked at every
  intercepted operation, call and loop step;
- refuses, before it is built, any text longer than :data:`MAX_TEXT`
  characters that a filter (``center``, ``join``, ``replace``, ``indent``,
  ``wordwrap``, ``format``), a string method or ``%`` would make, checks every
  call's result against the same bound, and stops a render whose output passes
  it (a text that large is no message, and building it could exhaust memory).

Each limit raises :class:`jinja2.exceptions.SecurityError` naming it; the
renderer turns that into a failure of that one delivery.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

MAX_BITS = 4096
"""The largest integer a template may compute with ``**`` (about 1,200 digits)."""
MAX_ITEMS = 10_000
"""The longest string or list a template may build with ``*``, and the longest ``range``."""
RENDER_SECONDS = 2.0
"""How long one render may run."""
MAX_TEXT = 100_000
"""The longest text a template may build or render (an email is a few kilobytes)."""

_deadline = threading.local()


class LimitedSandbox(SandboxedEnvironment):
    """A sandboxed environment whose renders are bounded in size and time."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = limited_range
        self.globals.pop("lipsum", None)  # lipsum(10**6) would be a megabyte of text
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _bounded(self.filters[name], check, name)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_widths(left)
        return _checked_size(super().call_binop(context, operator, left, right), operator)

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return _checked_size(result, getattr(__obj, "__name__", "a call"))


def render_within(template: Any, context: dict[str, Any], seconds: float = RENDER_SECONDS) -> str:
    """``template.render(context)``, raising ``SecurityError`` once ``seconds`` have passed
    or once the output passes :data:`MAX_TEXT` characters."""
    _deadline.at = time.monotonic() + seconds
    try:
        parts: list[str] = []
        size = 0
        for part in template.generate(context):
            size += len(part)
            if size > MAX_TEXT:
                raise SecurityError(f"the template's output passed {MAX_TEXT} characters")
            parts.append(part)
        return "".join(parts)
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


def _too_long(size: int, what: str) -> None:
    if size > MAX_TEXT:
        raise SecurityError(f"{what} would make {size} characters; at most {MAX_TEXT}")


def _checked_size(result: Any, what: str) -> Any:
    if isinstance(result, str | list | tuple):
        _too_long(len(result), what)
    return result


def _check_widths(template: str) -> None:
    """A printf or format template whose widths or precisions pass :data:`MAX_TEXT`."""
    for number in re.findall(r"\d+", template):
        _too_long(int(number), "a width in a format")


def _join_size(items: list[Any], separator: str) -> int:
    return sum(len(str(item)) for item in items) + len(separator) * max(0, len(items) - 1)


def _replace_size(text: str, old: str, new: str, count: int = -1) -> int:
    found = len(text) + 1 if old == "" else text.count(old)
    found = found if count is None or count < 0 else min(found, count)
    return len(text) + found * (len(new) - len(old))


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a string method that would build more than :data:`MAX_TEXT` characters."""
    given = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
        for number in (g for g in given if isinstance(g, int)):
            _too_long(number * (text.count("\t") + 1 if name == "expandtabs" else 1), name)
    elif name == "join" and args:
        _too_long(_join_size(list(args[0]), text), "join")
    elif name == "replace" and len(args) >= 2:
        _too_long(_replace_size(text, str(args[0]), str(args[1]), *args[2:3]), "replace")
    elif name in ("format", "format_map"):
        _check_widths(text)


def _bounded(original: Any, check: Any, name: str) -> Any:
    """``original`` (a filter), refused by ``check`` when its result would be too long."""

    @functools.wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        check_deadline()
        values = [
            a for a in args if not isinstance(a, Context | EvalContext | SandboxedEnvironment)
        ]
        check(*values, **kwargs)
        return _checked_size(original(*args, **kwargs), name)

    return bounded


def _check_center(value: Any, width: int = 80) -> None:
    _too_long(int(width), "center")


def _check_join(value: Any, d: str = "", attribute: Any = None) -> None:
    if isinstance(value, list | tuple | str):
        _too_long(_join_size(list(value), str(d)), "join")


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    _too_long(_replace_size(str(s), str(old), str(new), count), "replace")


def _check_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> None:
    pad = width if isinstance(width, str) else " " * min(int(width), MAX_TEXT + 1)
    _too_long(len(str(s)) + (str(s).count("\n") + 1) * len(pad), "indent")


def _check_wordwrap(s: Any, width: int = 79, break_long_words: bool = True, wrapstring: Any = None,
                    break_on_hyphens: bool = True) -> None:  # fmt: skip
    text = str(s)
    lines = len(text) // max(1, int(width)) + text.count("\n") + 1
    _too_long(len(text) + lines * len(str(wrapstring or "\n")), "wordwrap")


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_widths(str(value))


_FILTER_CHECKS = {
    "center": _check_center,
    "join": _check_join,
    "replace": _check_replace,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "format": _check_format,
}

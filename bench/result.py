"""One measured figure: the absolute number, its same-run baseline and the ratio."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """A line of the report; ``extra`` keeps whatever else was measured on the way."""

    name: str
    value: float
    unit: str
    baseline: float
    baseline_name: str
    target: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def line(self) -> str:
        verdict = "" if self.met is None else (" MET" if self.met else " MISSED")
        extra = "".join(f" {k}={_fmt(v)}" for k, v in self.extra.items())
        return (
            f"{self.name:<11} {_fmt(self.value)} {self.unit}"
            f" | baseline {self.baseline_name} {_fmt(self.baseline)}"
            f" | ratio {self.ratio:.3f}"
            f" | target {self.target or '-'}{verdict} |{extra}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)

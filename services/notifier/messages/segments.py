"""How many SMS segments a text takes: GSM-7 when every character fits, else UCS-2."""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    """``encoding`` is ``GSM-7`` or ``UCS-2``; ``units`` are septets or UTF-16 code units."""

    encoding: str
    units: int
    segments: int


def count_segments(text: str) -> SegmentCount:
    """Segments as a carrier bills them (160/153 GSM-7 septets, 70/67 UCS-2 units)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return SegmentCount("GSM-7", units, _segments(units, 160, 153))
    units = len(text.encode("utf-16-le")) // 2
    return SegmentCount("UCS-2", units, _segments(units, 70, 67))


def _segments(units: int, single: int, multi: int) -> int:
    if units <= single:
        return 1
    return -(-units // multi)

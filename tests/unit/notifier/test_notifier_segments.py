"""SMS segments (GSM-7 and UCS-2) and the token bucket that paces a sender."""

from __future__ import annotations

from services.notifier.messages.segments import count_segments
from services.notifier.senders.ratelimit import TokenBucket


def test_plain_english_is_gsm7_one_segment_up_to_160() -> None:
    assert count_segments("a" * 160).segments == 1
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2 and count_segments("a" * 307).segments == 3


def test_extended_characters_take_two_septets() -> None:
    counted = count_segments("€" * 80)
    assert (counted.encoding, counted.units, counted.segments) == ("GSM-7", 160, 1)
    assert count_segments("€" * 81).segments == 2


def test_french_accents_outside_gsm7_switch_to_ucs2() -> None:
    counted = count_segments("Rendez-vous à 10:00, déc.")
    assert counted.encoding == "GSM-7"
    ucs2 = count_segments("mar. 1 déc. — à bientôt")
    assert ucs2.encoding == "UCS-2" and ucs2.segments == 1
    assert count_segments("ô" * 71).segments == 2 and count_segments("ô" * 134).segments == 2


def test_emoji_count_two_ucs2_units() -> None:
    assert count_segments("🙂" * 35).units == 70


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_paces_to_its_rate_after_the_burst() -> None:
    t = FakeTime()
    bucket = TokenBucket(rate=1.0, burst=2, monotonic=t.monotonic, sleep=t.sleep)
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 1.0, 1.0]


def test_a_long_text_spends_one_token_per_segment() -> None:
    t = FakeTime()
    bucket = TokenBucket(rate=1.0, burst=1, monotonic=t.monotonic, sleep=t.sleep)
    bucket.take(3)
    assert bucket.take(1) == 3.0

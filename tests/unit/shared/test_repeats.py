"""A failure tried again is said at INFO the first time in a row, at WARNING after."""

from __future__ import annotations

import logging

from services.shared.background import Repeats


def test_the_first_failure_in_a_row_is_news_the_second_needs_a_look() -> None:
    repeats = Repeats()
    assert [repeats.level() for _ in range(3)] == [logging.INFO, logging.WARNING, logging.WARNING]
    repeats.mended()
    assert repeats.level() == logging.INFO

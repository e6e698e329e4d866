"""Fixtures of the planning tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_protocol(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a YAML protocol text (dedented) to ``tmp_path/name``; returns the path."""

    def write(text: str, name: str = "clinic.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write

"""Fixtures of the planning tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.unit.planning.planning_helpers import WriteProtocol


@pytest.fixture
def write_protocol(tmp_path: Path) -> WriteProtocol:
    """Write a YAML protocol text (dedented) to ``tmp_path/name``; returns the path."""

    def write(text: str, name: str = "clinic.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write

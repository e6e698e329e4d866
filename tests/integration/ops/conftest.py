"""Ops commands run in-process against the real broker, configured as an operator would."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.shared.broker import EmbeddedBroker
from services.shared.topics import Topics


@pytest.fixture
def ops_env(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point the ops commands at this test's broker, topics and an empty var dir."""
    var = tmp_path / "var"
    monkeypatch.setenv("CLINIC_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("CLINIC_TOPIC_PREFIX", topics.prefix)
    monkeypatch.setenv("CLINIC_VAR_DIR", str(var))
    monkeypatch.setenv("COLUMNS", "200")
    return var

"""Protocol files: loading, validation messages that name file, milestone and field."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from services.reminders.planning import (
    ProtocolError,
    ProtocolRegistry,
    UnknownTreatment,
    load_protocol,
)
from services.reminders.planning.protocol import BUILTIN_DIR
from tests.unit.planning.planning_helpers import MilestoneRules, WriteProtocol, minimal_protocol


def test_builtin_registry_has_microsclerotherapy() -> None:
    registry = ProtocolRegistry.builtin()
    assert registry.treatments() == ["microsclerotherapy"]
    assert "microsclerotherapy" in registry
    assert "botox" not in registry
    protocol = registry.get("microsclerotherapy")
    assert protocol.version >= 1
    assert len({m.id for m in protocol.milestones}) == len(protocol.milestones)


def test_unknown_treatment_names_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownTreatment, match=r"'botox'.*known: microsclerotherapy"):
        ProtocolRegistry.builtin().get("botox")


def test_each_milestone_has_its_own_template() -> None:
    protocol = load_protocol(BUILTIN_DIR / "microsclerotherapy.yaml")
    templates = [m.template for m in protocol.milestones]
    assert len(set(templates)) == len(templates)


def test_a_valid_clinic_file_loads(write_protocol: WriteProtocol) -> None:
    protocol = load_protocol(write_protocol(minimal_protocol()))
    milestone = protocol.milestones[0]
    assert milestone.at == time(10, 0)
    assert milestone.offset_for("annual").amounts() == (-2, -2)


def test_unquoted_time_read_by_yaml_as_base_60_still_works(write_protocol: WriteProtocol) -> None:
    protocol = load_protocol(write_protocol(minimal_protocol(at="10:30")))
    assert protocol.milestones[0].at == time(10, 30)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"offset": "4-6 fortnights"}, "offset", "is not an offset"),
        ({"offset": "6-4 weeks"}, "offset", "smaller to the larger"),
        ({"offset": "-2 days before"}, "offset", "both a sign"),
        ({"offset": "24 hours before"}, "at", "exact time"),
        ({"at": None}, "at", "needs 'at'"),
        ({"at": '"25:00"'}, "at", "not a local time"),
        ({"trigger": "booking"}, "trigger", "booked"),
        ({"late": "maybe"}, "late", "skip"),
        (
            {"more": "    conditions: {booked_at_least: soon}\n"},
            "conditions.booked_at_least",
            "not an offset",
        ),
        ({"more": "    windows: {no_sun: lots}\n"}, "windows.no_sun", "not an offset"),
        ({"more": "    colour: blue\n"}, "colour", "Extra inputs"),
        ({"more": "    stale: later\n"}, "stale", "start"),
    ],
)
def test_errors_name_file_milestone_and_field(
    write_protocol: WriteProtocol, kwargs: MilestoneRules, field: str, fragment: str
) -> None:
    path = write_protocol(minimal_protocol(milestone="aftercare-day-3", **kwargs), "mine.yaml")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert message.startswith(f"mine.yaml: milestone 'aftercare-day-3': field '{field}': ")
    assert fragment in message


def test_duplicate_milestone_ids_are_named(write_protocol: WriteProtocol) -> None:
    text = minimal_protocol(milestone="twice")
    milestone = text[text.index("  - id:") :]
    path = write_protocol(text + milestone)
    with pytest.raises(
        ProtocolError, match=r"milestone 'twice': field 'id': 'twice' is used twice"
    ):
        load_protocol(path)


def test_course_errors_name_the_field(write_protocol: WriteProtocol) -> None:
    text = minimal_protocol().replace("max: 3", "max: 1")
    with pytest.raises(ProtocolError, match=r"clinic.yaml: field 'course.sessions.max': "):
        load_protocol(write_protocol(text))


def test_missing_top_level_field(write_protocol: WriteProtocol) -> None:
    text = minimal_protocol().replace("version: 1\n", "")
    with pytest.raises(ProtocolError, match=r"clinic.yaml: field 'version': Field required"):
        load_protocol(write_protocol(text))


def test_not_yaml_and_not_a_mapping(write_protocol: WriteProtocol) -> None:
    with pytest.raises(ProtocolError, match=r"bad.yaml: cannot be read as YAML"):
        load_protocol(write_protocol("a: [1, 2\n", "bad.yaml"))
    with pytest.raises(ProtocolError, match=r"list.yaml: expected a mapping"):
        load_protocol(write_protocol("- 1\n- 2\n", "list.yaml"))


def test_maintenance_offset_needs_both_settings(write_protocol: WriteProtocol) -> None:
    text = minimal_protocol(offset="{annual: 12 months after}")
    with pytest.raises(ProtocolError, match=r"field 'offset': .*'annual' and 'biannual'"):
        load_protocol(write_protocol(text))


def test_later_dirs_override_earlier(write_protocol: WriteProtocol, tmp_path: Path) -> None:
    clinic = tmp_path / "clinic"
    clinic.mkdir()
    text = minimal_protocol(treatment="microsclerotherapy", milestone="only-one")
    (clinic / "own.yaml").write_text(text, encoding="utf-8")
    registry = ProtocolRegistry.from_dirs(BUILTIN_DIR, clinic)
    assert [m.id for m in registry.get("microsclerotherapy").milestones] == ["only-one"]
    registry = ProtocolRegistry.from_dirs(clinic, BUILTIN_DIR)
    assert len(registry.get("microsclerotherapy").milestones) > 10


def test_protocol_models_are_frozen() -> None:
    protocol = ProtocolRegistry.builtin().get("microsclerotherapy")
    with pytest.raises(ValueError, match="frozen"):
        protocol.version = 2  # type: ignore[misc]

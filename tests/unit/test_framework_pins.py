"""The framework versions the platform's patches were written against are the ones installed.

Faust and kafka-python are reached past their public API in a few places
(services/reminders/worker/faust_patches.py, services/shared/kafka_patches.py). A
new version may change what those places rely on: this test fails then, and
names each patch to re-check before the pin is moved.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from services.reminders.worker import faust_patches
from services.shared import kafka_patches

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pinned_in_pyproject() -> dict[str, str]:
    requirements = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    found = (re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", r.strip()) for r in requirements)
    return {m[1].lower(): m[2] for m in found if m}


@pytest.mark.parametrize("module", [faust_patches, kafka_patches], ids=lambda m: m.__name__)
def test_the_installed_and_required_versions_are_the_ones_the_patches_were_written_for(
    module: object,
) -> None:
    pinned: dict[str, str] = module.PINNED  # type: ignore[attr-defined]
    patches = "\n  ".join(module.PATCHES)  # type: ignore[attr-defined]
    required = pinned_in_pyproject()
    for package, written_for in pinned.items():
        told = f"re-check before moving {package} from {written_for}:\n  {patches}"
        assert required.get(package) == written_for, (
            f"pyproject.toml pins {required.get(package)}; {told}"
        )
        assert version(package) == written_for, f"{version(package)} is installed; {told}"


def test_jinja2_is_required_at_a_release_without_the_known_sandbox_escapes() -> None:
    """Clinic templates run in Jinja2's sandbox: releases before 3.1.6 can be escaped."""
    requirements = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    [jinja] = [r for r in requirements if r.lower().startswith("jinja2")]
    floor = re.search(r">=\s*([\d.]+)", jinja)
    assert floor is not None, jinja
    assert tuple(int(p) for p in floor[1].split(".")) >= (3, 1, 6), jinja
    assert tuple(int(p) for p in version("jinja2").split(".")[:3]) >= (3, 1, 6)

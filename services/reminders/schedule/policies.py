"""Each clinic's planning policy, from the clinics file the notifier reads too."""

from __future__ import annotations

from collections.abc import Callable

from services.reminders.planning.engine import ClinicPolicy
from services.shared.clinics import ClinicDirectory


def clinic_policies(directory: ClinicDirectory) -> Callable[[str], ClinicPolicy]:
    """A lookup from clinic id to its policy (quiet hours, maintenance recall), cached."""
    cache: dict[str, ClinicPolicy] = {}

    def policy(clinic_id: str) -> ClinicPolicy:
        if clinic_id not in cache:
            info = directory.get(clinic_id)
            cache[clinic_id] = ClinicPolicy(
                quiet=info.quiet_hours,
                maintenance=info.maintenance,
                attendance=info.attendance,
            )
        return cache[clinic_id]

    return policy

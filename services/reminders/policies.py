"""Each clinic's planning policy, from the clinics file the notifier reads too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

from services.reminders.planning.engine import ClinicPolicy
from services.shared.clinics import ClinicDirectory

NO_QUIET_HOURS = time(0, 0)


def clinic_policies(directory: ClinicDirectory) -> Callable[[str], ClinicPolicy]:
    """A lookup from clinic id to its policy (quiet hours, maintenance recall), cached."""
    cache: dict[str, ClinicPolicy] = {}

    def policy(clinic_id: str) -> ClinicPolicy:
        if clinic_id not in cache:
            info = directory.get(clinic_id)
            quiet = info.quiet_hours
            cache[clinic_id] = ClinicPolicy(
                quiet_start=quiet.start if quiet else NO_QUIET_HOURS,
                quiet_end=quiet.end if quiet else NO_QUIET_HOURS,
                maintenance=info.maintenance,
                attendance=info.attendance,
            )
        return cache[clinic_id]

    return policy

"""Each clinic's quiet hours and maintenance recall shape its patients' plans."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

from services.reminders.planning.engine import plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.policies import clinic_policies
from services.shared.clinics import ClinicDirectory, QuietHours
from services.shared.events import BookingStatus
from tests.unit.reminders.factories import START, booking

CLINICS = """
dr-jenny:
  name: Dr Jenny Clinic
  quiet_hours: {start: "20:00", end: "09:30"}
  maintenance: biannual
night-owls:
  name: Night Owls
  quiet_hours: null
"""


def test_a_listed_clinic_gets_its_own_quiet_hours_and_recall(tmp_path: Path) -> None:
    path = tmp_path / "clinics.yaml"
    path.write_text(CLINICS)
    policy = clinic_policies(ClinicDirectory.from_yaml(path, QuietHours.parse("21:00-08:00")))
    jenny, owls, other = policy("dr-jenny"), policy("night-owls"), policy("elsewhere")
    assert (jenny.quiet, jenny.maintenance) == (
        QuietHours(start=time(20), end=time(9, 30)),
        "biannual",
    )
    assert owls.quiet is None
    assert (other.quiet, other.maintenance) == (QuietHours(start=time(21), end=time(8)), "annual")


def test_biannual_recall_comes_six_months_after_the_course_not_twelve(tmp_path: Path) -> None:
    path = tmp_path / "clinics.yaml"
    path.write_text(CLINICS)
    policy = clinic_policies(ClinicDirectory.from_yaml(path))
    done = booking(session_number=3, sessions_planned=3, status=BookingStatus.ATTENDED)
    registry = ProtocolRegistry.builtin()
    recall = {
        clinic: [
            r
            for r in plan_patient(
                [done.model_copy(update={"clinic_id": clinic})], registry, policy(clinic)
            )
            if "maintenance" in r.milestone
        ]
        for clinic in ("dr-jenny", "elsewhere")
    }
    assert recall["dr-jenny"] and recall["elsewhere"]
    twice_a_year = recall["dr-jenny"][0].due_at - START
    yearly = recall["elsewhere"][0].due_at - START
    assert timedelta(days=170) < twice_a_year < timedelta(days=200)
    assert timedelta(days=350) < yearly < timedelta(days=380)

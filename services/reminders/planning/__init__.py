"""Treatment protocols as data, and the pure engine that turns bookings into a plan.

The lowest part: imports only ``shared``; ``schedule`` and ``worker`` import it.
"""

from services.reminders.planning.engine import (
    ClinicPolicy,
    PlannedReminder,
    due_event,
    plan_patient,
    reminder_id,
)
from services.reminders.planning.protocol import (
    Protocol,
    ProtocolError,
    ProtocolRegistry,
    UnknownTreatment,
    load_protocol,
)

__all__ = [
    "ClinicPolicy",
    "PlannedReminder",
    "Protocol",
    "ProtocolError",
    "ProtocolRegistry",
    "UnknownTreatment",
    "due_event",
    "load_protocol",
    "plan_patient",
    "reminder_id",
]

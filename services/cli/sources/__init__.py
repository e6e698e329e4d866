"""The commands that bring a clinic's bookings in: ``import`` (CSV), ``calendar sync``,
``fhir sync`` and ``fhir check``, and how they print a pass."""

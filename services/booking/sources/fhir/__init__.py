"""FHIR R4 servers (Epic, Oracle Health, athenahealth, Medplum, OpenEMR, HAPI): appointments
searched and mapped to bookings. Part of ``sources``: imports the core and ``store``."""

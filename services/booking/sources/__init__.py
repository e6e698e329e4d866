"""Where bookings come from besides the REST API: calendar feeds, CSV, webhooks, Kafka ingress.

Imports the core (``service``, ``domain``) and ``store``; only ``http`` and ``__main__`` import it.
"""

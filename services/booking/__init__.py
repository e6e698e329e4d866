"""The booking service: where a booking enters the platform, and is never lost.

Bookings arrive through the REST API, a clinic's webhook, a CSV import or an
iCalendar feed. Each is validated, stored, and written with its event to an
outbox in one database transaction; the relay publishes the outbox to Kafka.
"""

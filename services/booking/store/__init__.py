"""The booking store: bookings, their history and the outbox in one database, and its queries.

Imports only the booking service's errors; every other part may import it.
"""

"""Tools ops teams use to watch the platform: tail, dead letters, status, the console.

Everything here reads the platform from outside (the broker, the delivery
ledger, the booking outbox, the worker's web views) and never changes a
service's state, except ``dlq replay``, which publishes a dead letter's
original record back to its original topic.
"""

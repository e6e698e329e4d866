"""What leaves the booking service: the outbox relay, resyncs, clinic callbacks, replies read.

Imports the core and ``store``; only ``__main__`` imports it.
"""

"""The ops web page: pending, sent and failed per clinic, reconciliation, dead letters,
and a booking's whole journey, read-only from the platform's stores, broker and worker.
"""

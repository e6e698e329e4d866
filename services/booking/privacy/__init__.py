"""Forgetting: a patient's erasure in the booking store, and the retention sweeps.

Imports ``store``; the service core, the sources, publishing and HTTP may import it.
"""

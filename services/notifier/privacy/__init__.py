"""Forgetting: a patient's erasure across the notifier's stores, and retention sweeps.

Imports every part below it; only ``http``, ``settings`` and ``bootstrap`` import it.
"""

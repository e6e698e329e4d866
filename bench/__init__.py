"""Benchmarks of the reminders platform: ``python -m bench quick|full`` (see docs/benchmarks.md)."""

"""Who may use the ops console: users and roles from a file, sessions, CSRF, login throttling.

Everything but ``/login``, ``/static/``, ``/healthz`` and ``/metrics`` needs a
session (or, for ``GET /api/...``, the scripts' bearer token): see ``guard.py``.
"""

"""The reminders worker: booking events in, due reminders out, at the right time.

``planning`` makes a plan, ``schedule`` keeps it durable and fires it, ``worker``
runs both on Faust.
"""

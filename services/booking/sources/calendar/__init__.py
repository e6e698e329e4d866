"""iCalendar feeds: read, mapped to bookings and kept in step, one clinic's feed at a time.

Part of ``sources``: imports the core and ``store``; ``__main__`` starts the poller.
"""

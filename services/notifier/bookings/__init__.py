"""The bookings as the notifier last saw them (follower, store, whether a reminder is current).

The lowest part: imports only ``shared``; every other part of the notifier may import it.
"""

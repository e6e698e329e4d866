"""The schedule run on Faust: the app, its agent and timer, the store, recovery and views.

The top part: imports ``schedule``, ``planning`` and ``settings``; only ``__main__`` imports it.
"""

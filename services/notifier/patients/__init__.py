"""What patients said and asked for: consent, their texts in, replies, unsubscribe links.

Imports ``bookings``; ``messages``, ``delivery``, ``privacy`` and ``http`` may import it.
"""

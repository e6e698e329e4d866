"""From a due reminder to a sent message: the consumer, the deliverer, the ledger, retries.

Imports ``bookings``, ``patients``, ``messages``, ``senders``; ``privacy`` and ``http`` import it.
"""

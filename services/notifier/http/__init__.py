"""The notifier's HTTP side: Twilio's webhooks, delivery reports, the unsubscribe page.

The top part: imports any part below; only ``bootstrap`` and ``__main__`` import it.
"""

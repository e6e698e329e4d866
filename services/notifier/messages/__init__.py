"""The words of a message: clinic templates rendered in a sandbox, SMS segments.

Imports ``patients`` (unsubscribe links); ``senders`` and above may import it.
"""

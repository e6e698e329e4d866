"""Senders: one small interface per channel, the real and the local one side by side, and the
send rates they keep (one shared by every notifier). Imports ``messages`` (SMS segments);
``delivery`` and above import it; ``providers`` picks one per channel from the settings.
"""

from services.notifier.senders.base import EmailSender, SendResult, SmsSender

__all__ = ["EmailSender", "SendResult", "SmsSender"]

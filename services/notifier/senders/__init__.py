"""Senders: one small interface per channel, the real and the local one side by side."""

from services.notifier.senders.base import EmailSender, SendResult, SmsSender

__all__ = ["EmailSender", "SendResult", "SmsSender"]

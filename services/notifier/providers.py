"""Which sender each channel uses, and at what rate: configuration, not code (the settings'
choice, wired once, at the notifier's top)."""

from __future__ import annotations

import threading

from services.notifier.delivery.hand_over import Senders
from services.notifier.senders.base import EmailSender, SmsSender
from services.notifier.senders.local import LocalEmailSender, LocalSmsSender
from services.notifier.senders.rate_buckets import Rate, RateBuckets
from services.notifier.senders.ratelimit import Bucket, SharedTokenBucket, TokenBucket
from services.notifier.senders.smtp_email import SmtpEmailSender
from services.notifier.senders.timed import TimedEmailSender, TimedSmsSender
from services.notifier.senders.twilio_sms import TwilioSmsSender, twilio_client
from services.notifier.settings import NotifierSettings
from services.shared.clock import Clock
from services.shared.metrics import PlatformMetrics


def build_senders(
    settings: NotifierSettings,
    clock: Clock,
    stop: threading.Event,
    metrics: PlatformMetrics | None = None,
    rates: RateBuckets | None = None,
) -> Senders:
    """The local sinks by default; Twilio and SMTP when the settings say so.

    With ``metrics``, each provider call is timed. With ``rates`` (the buckets in
    the ledger's database), Twilio's rate holds across every notifier sharing
    it, as does the SMTP relay's when ``CLINIC_EMAIL_RATE_PER_SECOND`` is set;
    without, in this process only. Raises ValueError naming the missing setting
    for a provider half configured.
    """
    sms, email = _sms(settings, clock, rates), _email(settings, clock, rates)
    if metrics is None:
        return Senders(sms=sms, email=email)
    return Senders(
        sms=TimedSmsSender(sms, metrics, settings.sms_provider),
        email=TimedEmailSender(email, metrics, settings.email_provider),
    )


def _sms(settings: NotifierSettings, clock: Clock, rates: RateBuckets | None) -> SmsSender:
    if settings.sms_provider == "local":
        return LocalSmsSender(settings.outbox_dir, clock)
    if not settings.twilio_account_sid:
        raise ValueError("CLINIC_TWILIO_ACCOUNT_SID is needed when CLINIC_SMS_PROVIDER=twilio")
    client = twilio_client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_api_base_url,
        connections=settings.notifier_concurrency,
    )
    return TwilioSmsSender(
        client,
        from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        status_callback=settings.twilio_status_callback_url,
        bucket=_sms_bucket(settings, rates),
    )


def _sms_bucket(settings: NotifierSettings, rates: RateBuckets | None) -> Bucket:
    """One bucket per Twilio sender: the Messaging Service if one is set, else the number."""
    sender = settings.twilio_messaging_service_sid or settings.twilio_from_number or ""
    rate = Rate(settings.sms_rate_per_second, settings.sms_burst)
    return _bucket(f"twilio:{settings.twilio_account_sid}:{sender}", rate, rates)


def _email_bucket(settings: NotifierSettings, rates: RateBuckets | None) -> Bucket | None:
    """One bucket per SMTP relay and login, when the relay has a rate."""
    if settings.email_rate_per_second is None:
        return None
    relay = f"smtp:{settings.smtp_host}:{settings.smtp_port}:{settings.smtp_username or ''}"
    return _bucket(relay, Rate(settings.email_rate_per_second, settings.email_burst), rates)


def _bucket(sender: str, rate: Rate, rates: RateBuckets | None) -> Bucket:
    """``sender``'s bucket: shared through ``rates`` when given, else this process's own."""
    if rates is None:
        return TokenBucket(rate.per_second, rate.burst)
    return SharedTokenBucket(rates, sender, rate)


def _email(settings: NotifierSettings, clock: Clock, rates: RateBuckets | None) -> EmailSender:
    if settings.email_provider == "local":
        return LocalEmailSender(settings.outbox_dir, clock)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpEmailSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from_address,
        username=settings.smtp_username,
        password=password,
        starttls=settings.smtp_starttls,
        ca_file=settings.smtp_ca_file,
        timeout=settings.smtp_timeout_seconds,
        bucket=_email_bucket(settings, rates),
    )

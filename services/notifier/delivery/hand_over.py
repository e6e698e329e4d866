"""Handing rendered messages to the providers: different patients' side by side on a pool,
one patient's in order."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from services.notifier.messages.rendering import RenderedMessage
from services.notifier.patients.consent import recipient
from services.notifier.senders.base import EmailSender, SendResult, SmsSender
from services.shared.events import Channel, ReminderDue

Attempted = SendResult | Exception
"""What one hand-over came to: the provider's id, its refusal (a ``SendError``), or an
error of our own."""
Send = tuple[ReminderDue, RenderedMessage]


@dataclass(frozen=True)
class Senders:
    sms: SmsSender
    email: EmailSender

    def close(self) -> None:
        """Close the senders that hold connections (Twilio's)."""
        for sender in (self.sms, self.email):
            close: Callable[[], None] | None = getattr(sender, "close", None)
            if close is not None:
                close()


class HandOver:
    """The senders, and the pool that runs ``side_by_side`` hand-overs at once (or none)."""

    def __init__(self, senders: Senders, pool: Executor | None = None) -> None:
        self._senders = senders
        self._pool = pool

    @property
    def pooled(self) -> bool:
        """Whether hand-overs run on a pool (else :meth:`start` hands over before it returns)."""
        return self._pool is not None

    def start(
        self, sends: list[Send], behind: dict[str, Future[None]]
    ) -> Callable[[], list[Attempted]]:
        """Start handing ``sends`` over; the call returned waits for their results, in order.

        Without a pool they are handed over before this returns. With one, different
        patients' go side by side, and each patient's in order, after those of theirs
        still going from the step before (``behind``: each patient's last, kept up to date).
        """
        if self._pool is None:
            done = [self.attempt(*send) for send in sends]
            return lambda: done
        by_patient: dict[str, list[int]] = {}
        for i, (reminder, _) in enumerate(sends):
            by_patient.setdefault(reminder.key, []).append(i)
        results: list[Attempted | None] = [None] * len(sends)

        def one_patient(indices: list[int], before: Future[None] | None) -> None:
            if before is not None:
                before.result()  # submitted earlier, so a worker took it already
            for i in indices:
                results[i] = self.attempt(*sends[i])

        futures = []
        for patient, indices in by_patient.items():
            behind[patient] = self._pool.submit(one_patient, indices, behind.get(patient))
            futures.append(behind[patient])

        def wait() -> list[Attempted]:
            for future in futures:
                future.result()
            return [result for result in results if result is not None]

        return wait

    def attempt(self, reminder: ReminderDue, message: RenderedMessage) -> Attempted:
        """Hand ``message`` over; the provider's refusal or an error of ours is returned."""
        to = recipient(reminder.patient, message.channel).address or ""
        try:
            if message.channel is Channel.SMS:
                return self._senders.sms.send(to, message.text, reminder)
            return self._senders.email.send(
                to, message.subject or "", message.text, message.html, reminder, message.headers
            )
        except Exception as exc:  # a SendError, or one of ours: raised once the batch is recorded
            return exc

    def close(self) -> None:
        """Close the senders' connections."""
        self._senders.close()

"""Where a calendar feed is read from: a file, or an http(s) (or webcal) address."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from services.shared.outbound import opener

MAX_FEED_BYTES = 20 * 1024 * 1024


class FeedUnavailable(Exception):
    """Retryable: the feed could not be read this time; nothing was changed.

    The poller tries again at its next interval.
    """


class FeedSource(Protocol):
    def read(self) -> bytes:
        """The feed's bytes; :class:`FeedUnavailable` if they cannot be read now."""
        ...


class FileFeed:
    """A .ics file on disk (an export a clinic's system writes, or a synced copy)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise FeedUnavailable(f"cannot read {self.path}: {exc}") from exc


class HttpFeed:
    """A calendar's published address, fetched with a GET each poll.

    Blocks up to ``timeout`` seconds; a feed larger than ``MAX_FEED_BYTES`` is refused.
    """

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = "https://" + url[len("webcal://") :] if url.startswith("webcal://") else url
        self.timeout = timeout

    def read(self) -> bytes:
        request = urllib.request.Request(self.url, headers={"Accept": "text/calendar"})
        try:
            with opener(follow_redirects=True).open(request, timeout=self.timeout) as response:
                body: bytes = response.read(MAX_FEED_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise FeedUnavailable(f"the feed answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FeedUnavailable(f"cannot fetch the feed: {exc}") from exc
        if len(body) > MAX_FEED_BYTES:
            raise FeedUnavailable(f"the feed is larger than {MAX_FEED_BYTES} bytes")
        return body


def open_feed(location: str, timeout: float = 15.0) -> FeedSource:
    """The source for ``location``: an http(s)/webcal URL, a ``file://`` URL, or a path."""
    if location.startswith(("http://", "https://", "webcal://")):
        return HttpFeed(location, timeout)
    if location.startswith("file://"):
        return FileFeed(Path(location[len("file://") :]))
    return FileFeed(Path(location))

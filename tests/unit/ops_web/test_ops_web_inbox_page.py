"""The replies inbox page over in-memory sources: per clinic, unread or all, marked handled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from services.notifier.patients.replies import InboxReply, ReplyKind
from services.ops.web.app import create_app
from services.shared.clock import ManualClock
from tests.support.ops_auth import ADMIN, log_in_client, make_auth
from tests.unit.ops_web.fakes import NOW, FakeSources

PHONE = "+447700900123"


def reply(sid: str, kind: ReplyKind, clinic: str = "dr-jenny", minutes: int = 0) -> InboxReply:
    word = {ReplyKind.REARRANGE: "R", ReplyKind.OPTED_OUT: "CANCEL"}.get(kind)
    body = word or f"Can I come at 11 instead? Call me on {PHONE}"
    at = NOW - timedelta(minutes=minutes)
    return InboxReply(sid, clinic, PHONE, kind, word, body, "bk-1", "p-42", at)


def admin_client(fake: FakeSources, folder: Path) -> tuple[TestClient, str]:
    """Logged in as an admin (who may mark handled); with the session's CSRF token."""
    web = TestClient(create_app(fake, ManualClock(NOW), make_auth(folder)))
    return web, log_in_client(web, ADMIN)


def sources() -> FakeSources:
    return FakeSources(
        inbox=[
            reply("SM1", ReplyKind.REARRANGE, minutes=30),
            reply("SM2", ReplyKind.MESSAGE, minutes=20),
            reply("SM3", ReplyKind.OPTED_OUT, minutes=10),
            reply("SM4", ReplyKind.MESSAGE, clinic="leeds-vein"),
        ]
    )


def test_the_inbox_lists_unread_replies_per_clinic_masked(tmp_path: Path) -> None:
    web, _ = admin_client(sources(), tmp_path)
    body = web.get("/api/replies", params={"clinic": "dr-jenny"}).json()
    assert [r["message_sid"] for r in body["replies"]] == ["SM3", "SM2", "SM1"]
    assert body["unread"] == {"dr-jenny": 3, "leeds-vein": 1} and body["total_unread"] == 4
    assert body["replies"][0]["summary"].startswith("opted out of texts (replied CANCEL)")
    page = web.get("/replies").text
    assert "asks to rearrange (replied R)" in page and "wrote a message" in page
    assert 'href="/bookings/bk-1"' in page
    assert PHONE not in page and "+4477...123" in page


def test_marking_a_reply_handled_takes_it_off_the_unread_list(tmp_path: Path) -> None:
    fake = sources()
    web, csrf = admin_client(fake, tmp_path)
    done = web.post(
        "/replies/SM1/handled",
        content=f"csrf_token={csrf}&clinic=dr-jenny&show=unread",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/replies?clinic=dr-jenny&show=unread"
    unread = web.get("/api/replies", params={"clinic": "dr-jenny"}).json()
    assert [r["message_sid"] for r in unread["replies"]] == ["SM3", "SM2"]
    every = web.get("/api/replies", params={"clinic": "dr-jenny", "show": "all"}).json()
    handled = next(r for r in every["replies"] if r["message_sid"] == "SM1")
    assert handled["handled_at"] == NOW.isoformat() and not handled["unread"]
    assert web.post("/replies/SM9/handled", data={"csrf_token": csrf}).status_code == 404


def test_a_form_from_another_site_is_refused(tmp_path: Path) -> None:
    fake = sources()
    web, csrf = admin_client(fake, tmp_path)
    answer = web.post(
        "/replies/SM1/handled",
        data={"csrf_token": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert all(r.handled_at is None for r in fake.inbox)


def test_an_inbox_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    web, csrf = admin_client(FakeSources(down={"replies inbox"}), tmp_path)
    page = web.get("/replies")
    assert page.status_code == 200 and "replies inbox" in page.text
    assert "the inbox could not be read" in page.text
    assert web.post("/replies/SM1/handled", data={"csrf_token": csrf}).status_code == 503
    assert web.get("/api/replies", params={"clinic": "a:b"}).status_code == 422

"""The console's door over in-memory sources: passwords, sessions, CSRF, throttling, roles,
reveals and the audit trail."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.booking.store.queries import StoredBooking
from services.notifier.patients.replies import InboxReply, ReplyKind
from services.ops.web.app import create_app
from services.ops.web.auth.guard import Auth
from services.ops.web.auth.passwords import hash_password, verify_password
from services.ops.web.auth.setup import auth_from, first_admin
from services.ops.web.auth.users import Role, User, UsersFileError, read_users, write_users
from services.ops.web.settings import OpsWebSettings
from services.shared.clock import ManualClock
from tests.support.ops_auth import (
    ADMIN,
    SCRIPT_TOKEN,
    VIEWER,
    csrf_of,
    log_in_client,
    make_auth,
)
from tests.unit.ops_web.fakes import NOW, FakeSources, letter, row
from tests.unit.reminders.factories import booking

PHONE = "+447700900123"


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def sources() -> FakeSources:
    text = InboxReply(
        "SM1", "dr-jenny", PHONE, ReplyKind.MESSAGE, None, "Call me, Jane", "bk-1", "p-42", NOW
    )
    return FakeSources(stored=[StoredBooking(booking("bk-1", "p-42"), [])], inbox=[text])


def app_client(auth: Auth, fake: FakeSources | None = None) -> TestClient:
    return TestClient(create_app(fake or sources(), ManualClock(NOW), auth))


def test_a_password_hash_round_trips_and_refuses_anything_else() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse battery ")
    assert not verify_password(None, "correct horse battery")  # no such user: still hashed
    assert not verify_password("not a hash", "x")
    with pytest.raises(ValueError, match="at least 12"):
        hash_password("short")


def test_an_anonymous_visitor_is_sent_to_log_in_and_json_gets_401(tmp_path: Path) -> None:
    web = app_client(make_auth(tmp_path))
    page = web.get("/bookings/bk-1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fbookings%2Fbk-1"
    api = web.get("/api/overview")
    assert api.status_code == 401 and "WWW-Authenticate" in api.headers
    assert web.post("/replies/SM1/handled", follow_redirects=False).status_code == 303
    assert web.get("/healthz").status_code == 200 and web.get("/metrics").status_code == 200


def test_logging_in_goes_back_where_the_visitor_was_and_never_to_another_site(
    tmp_path: Path,
) -> None:
    web = app_client(make_auth(tmp_path))
    form = web.get("/login", params={"next": "/bookings/bk-1"})
    token = csrf_of(form.text)
    login = {"csrf_token": token, "username": VIEWER, "password": "vera-reads-only-1"}
    done = web.post("/login", data={**login, "next": "/bookings/bk-1"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/bookings/bk-1"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    other = TestClient(web.app)
    token = csrf_of(other.get("/login").text)
    away = other.post(
        "/login",
        data={**login, "csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"


def test_a_post_without_the_sessions_csrf_token_is_refused(tmp_path: Path) -> None:
    fake = sources()
    web = app_client(make_auth(tmp_path), fake)
    csrf = log_in_client(web, ADMIN)
    assert web.post("/replies/SM1/handled").status_code == 403
    assert web.post("/replies/SM1/handled", data={"csrf_token": "forged"}).status_code == 403
    assert web.post("/bookings/bk-1/reveal", data={"csrf_token": "forged"}).status_code == 403
    assert web.post("/logout").status_code == 403
    assert fake.inbox[0].handled_at is None
    ok = web.post("/replies/SM1/handled", data={"csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and fake.inbox[0].handled_at is not None


def test_a_login_form_without_its_cookie_is_refused(tmp_path: Path) -> None:
    web = app_client(make_auth(tmp_path))
    token = csrf_of(web.get("/login").text)
    web.cookies.clear()
    answer = web.post("/login", data={"csrf_token": token, "username": ADMIN, "password": "x"})
    assert answer.status_code == 403


def test_a_session_expires_when_idle_and_after_its_lifetime(tmp_path: Path) -> None:
    clock = Ticking()
    web = app_client(make_auth(tmp_path, now=clock, idle=600, lifetime=3600))
    log_in_client(web, VIEWER)
    clock.t += 599
    assert web.get("/api/overview").status_code == 200
    clock.t += 601
    assert web.get("/api/overview").status_code == 401
    assert web.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"

    log_in_client(web, VIEWER)
    for _ in range(8):  # busy all along, yet out after an hour
        clock.t += 500
        web.get("/api/overview")
    assert web.get("/api/overview").status_code == 401


def test_logging_out_ends_the_session(tmp_path: Path) -> None:
    auth = make_auth(tmp_path)
    web = app_client(auth)
    csrf = log_in_client(web, VIEWER)
    kept = dict(web.cookies)
    assert web.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    again = TestClient(web.app, cookies=kept)
    assert again.get("/api/overview").status_code == 401
    assert [e["action"] for e in auth.audit.entries()] == ["login", "logout"]


def test_failed_logins_are_throttled_per_address(tmp_path: Path) -> None:
    auth = make_auth(tmp_path, max_failures=3)
    web = app_client(auth)
    token = csrf_of(web.get("/login").text)
    for _ in range(3):
        wrong = {"csrf_token": token, "username": ADMIN, "password": "guess-guess-guess"}
        assert web.post("/login", data=wrong).status_code == 401
    right = {"csrf_token": token, "username": ADMIN, "password": "ada-may-reveal-12"}
    refused = web.post("/login", data=right)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert [e["action"] for e in auth.audit.entries()] == ["login-refused"] * 3


def test_a_viewer_reads_masked_pages_but_changes_and_reveals_nothing(tmp_path: Path) -> None:
    fake = sources()
    web = app_client(make_auth(tmp_path), fake)
    csrf = log_in_client(web, VIEWER)
    page = web.get("/bookings/bk-1").text
    assert PHONE not in page and "+4477...123" in page and "microsclerotherapy" not in page
    assert 'id="reveal"' not in page and "Mark handled" not in web.get("/replies").text
    assert "Call me, Jane" not in web.get("/replies").text
    assert web.post("/bookings/bk-1/reveal", data={"csrf_token": csrf}).status_code == 403
    assert web.post("/replies/SM1/handled", data={"csrf_token": csrf}).status_code == 403
    assert fake.inbox[0].handled_at is None


def test_an_admins_reveal_shows_one_record_and_is_audited_without_personal_data(
    tmp_path: Path,
) -> None:
    auth = make_auth(tmp_path)
    web = app_client(auth)
    csrf = log_in_client(web, ADMIN)
    assert 'id="reveal"' in web.get("/bookings/bk-1").text
    shown = web.post("/bookings/bk-1/reveal", data={"csrf_token": csrf})
    assert shown.status_code == 200 and PHONE in shown.text and "microsclerotherapy" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    reply = web.post("/replies/SM1/reveal", data={"csrf_token": csrf})
    assert "Call me, Jane" in reply.text
    assert web.post("/replies/SM9/reveal", data={"csrf_token": csrf}).status_code == 404
    assert PHONE not in web.get("/bookings/bk-1").text  # masked again once left
    reveals = [e for e in auth.audit.entries() if e["action"] == "reveal"]
    assert [(e["user"], e["record"]) for e in reveals] == [
        (ADMIN, "booking dr-jenny/bk-1"),
        (ADMIN, "reply SM1"),
    ]
    trail = auth.audit.path.read_text()
    for personal in (PHONE, "Jane", "jane@example.com", "microsclerotherapy", "Call me"):
        assert personal not in trail
    assert stat.S_IMODE(auth.audit.path.stat().st_mode) == 0o600


def test_a_booking_id_two_clinics_use_is_revealed_at_one_and_audited_so(tmp_path: Path) -> None:
    theirs = booking("bk-1", "p-7", clinic_id="other-clinic")
    theirs = theirs.model_copy(
        update={"patient": theirs.patient.model_copy(update={"phone": "+447700900999"})}
    )
    fake = FakeSources(stored=[StoredBooking(booking("bk-1", "p-42"), []),
                               StoredBooking(theirs, [])])  # fmt: skip
    auth = make_auth(tmp_path)
    web = app_client(auth, fake)
    csrf = log_in_client(web, ADMIN)
    page = web.get("/bookings/bk-1").text
    assert "/bookings/bk-1/reveal?clinic=dr-jenny" in page
    assert "/bookings/bk-1/reveal?clinic=other-clinic" in page
    unnamed = web.post("/bookings/bk-1/reveal", data={"csrf_token": csrf})
    assert unnamed.status_code == 409 and "dr-jenny, other-clinic" in unnamed.text
    shown = web.post("/bookings/bk-1/reveal?clinic=other-clinic", data={"csrf_token": csrf})
    assert shown.status_code == 200 and "+447700900999" in shown.text
    assert PHONE not in shown.text  # dr-jenny's patient stays hidden
    bad = web.post("/bookings/bk-1/reveal?clinic=a:b", data={"csrf_token": csrf})
    assert bad.status_code == 422
    reveals = [e["record"] for e in auth.audit.entries() if e["action"] == "reveal"]
    assert reveals == ["booking other-clinic/bk-1"]


def test_scripts_read_the_json_with_the_token_and_change_nothing(tmp_path: Path) -> None:
    web = app_client(make_auth(tmp_path, api_token=SCRIPT_TOKEN))
    bearer = {"Authorization": f"Bearer {SCRIPT_TOKEN}"}
    assert web.get("/api/overview", headers=bearer).status_code == 200
    assert web.get("/api/overview", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert web.get("/", headers=bearer, follow_redirects=False).status_code == 303
    assert web.post("/api/overview", headers=bearer).status_code in (403, 405)


def test_a_user_removed_from_the_file_is_logged_out_and_a_new_role_counts_at_once(
    tmp_path: Path,
) -> None:
    auth = make_auth(tmp_path)
    web = app_client(auth)
    log_in_client(web, ADMIN)
    users = read_users(auth.users.path)
    users[ADMIN] = users[ADMIN].__class__(ADMIN, Role.VIEWER, users[ADMIN].password_hash)
    write_users(auth.users.path, users)
    assert 'id="reveal"' not in web.get("/bookings/bk-1").text
    del users[ADMIN]
    write_users(auth.users.path, users)
    assert web.get("/api/overview").status_code == 401


def test_the_first_start_makes_an_admin_with_a_random_password_kept_for_the_owner_only(
    tmp_path: Path,
) -> None:
    settings = OpsWebSettings(var_dir=tmp_path, ops_login_failure_delay_seconds=0)
    kept = first_admin(settings)
    assert kept == tmp_path / "ops-password"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.users_path.stat().st_mode) == 0o600
    password = kept.read_text().strip()
    assert len(password) >= 20 and password not in settings.users_path.read_text()
    assert first_admin(settings) is None  # once only
    web = app_client(auth_from(settings))
    log_in_client(web, "admin", password)
    assert web.get("/api/overview").status_code == 200

    named = OpsWebSettings(var_dir=tmp_path / "x", ops_users_file=tmp_path / "missing.yaml")
    assert first_admin(named) is None
    with pytest.raises(UsersFileError, match="ops user add"):
        auth_from(named)


def test_a_users_file_that_is_wrong_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(json.dumps({"users": [{"name": "ada", "role": "root", "password_hash": "x"}]}))
    with pytest.raises(UsersFileError, match=r"users\[0\]: role must be viewer or admin"):
        read_users(path)


def test_a_user_limited_to_one_clinic_sees_and_reveals_that_clinics_records_only(
    tmp_path: Path,
) -> None:
    auth = make_auth(tmp_path)
    users = read_users(auth.users.path)
    users["jo"] = User("jo", Role.ADMIN, hash_password("jo-works-at-jenny"), ("dr-jenny",))
    write_users(auth.users.path, users)
    theirs = booking("bk-2", "p-7", clinic_id="other-clinic")
    fake = FakeSources(
        stored=[StoredBooking(booking("bk-1", "p-42"), []), StoredBooking(theirs, [])],
        rows=[row("r-1", "sent", NOW), row("r-2", "failed", NOW, clinic="other-clinic")],
        letters=[letter("notifications:0:1", "dr-jenny:p-42"),
                 letter("notifications:0:2", "other-clinic:p-7")],
        inbox=[
            InboxReply("SM1", "dr-jenny", PHONE, ReplyKind.MESSAGE, None, "Mine", "bk-1", "p-42",
                       NOW),
            InboxReply("SM2", "other-clinic", "+447700900999", ReplyKind.MESSAGE, None, "Theirs",
                       "bk-2", "p-7", NOW),
        ],
    )  # fmt: skip
    web = app_client(auth, fake)
    csrf = log_in_client(web, "jo", "jo-works-at-jenny")
    overview = web.get("/api/overview").json()
    assert [c["clinic_id"] for c in overview["clinics"]] == ["dr-jenny"]
    assert [d["id"] for d in overview["dead_letters"]] == ["notifications:0:1"]
    assert web.get("/api/bookings/bk-2").status_code == 404
    assert web.get("/bookings/bk-2").status_code == 404
    assert web.get("/api/bookings/bk-1").status_code == 200
    assert [r["message_sid"] for r in web.get("/api/replies?show=all").json()["replies"]] == ["SM1"]
    assert web.get("/api/replies?clinic=other-clinic&show=all").json()["replies"] == []
    form = {"csrf_token": csrf}
    assert web.post("/bookings/bk-2/reveal", data=form).status_code == 404
    assert web.post("/replies/SM2/reveal", data=form).status_code == 404
    assert web.post("/dead-letters/notifications:0:2/reveal", data=form).status_code == 404
    assert web.post("/replies/SM2/handled", data=form, follow_redirects=False).status_code == 404
    assert fake.inbox[1].handled_at is None
    assert web.post("/replies/SM1/reveal", data=form).status_code == 200
    reveals = [e["record"] for e in auth.audit.entries() if e["action"] == "reveal"]
    assert reveals == ["reply SM1"]

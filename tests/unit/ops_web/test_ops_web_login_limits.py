"""The login door under pressure: guesses side by side, many addresses, a huge form, a flood."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from services.ops.web.app import create_app
from services.ops.web.auth.guard import Auth, TooBusy, Verifying
from services.shared.clock import ManualClock
from tests.support.ops_auth import ADMIN, VIEWER, csrf_of, make_auth
from tests.unit.ops_web.fakes import NOW, FakeSources

WRONG = "guess-guess-guess"


def client(auth: Auth, address: str = "10.0.0.1") -> httpx.AsyncClient:
    app = create_app(FakeSources(), ManualClock(NOW), auth)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://ops.test")


async def guess(web: httpx.AsyncClient, user: str = ADMIN, password: str = WRONG) -> int:
    token = csrf_of((await web.get("/login")).text)
    form = {"csrf_token": token, "username": user, "password": password}
    return (await web.post("/login", data=form)).status_code


def test_guesses_sent_side_by_side_are_counted_before_their_passwords_are_checked(
    tmp_path: Path,
) -> None:
    auth = make_auth(tmp_path, max_failures=3)

    async def race() -> list[int]:
        async with client(auth) as web:
            await web.get("/login")  # the form's cookie, shared by every guess
            return list(await asyncio.gather(*(guess(web) for _ in range(12))))

    answers = asyncio.run(race())
    assert sorted(answers) == [401] * 3 + [429] * 9


def test_a_user_guessed_at_from_many_addresses_is_locked_and_others_are_not(
    tmp_path: Path,
) -> None:
    auth = make_auth(tmp_path, max_failures=3)

    async def spread() -> tuple[list[int], int, int]:
        answers = []
        for n in range(3):
            async with client(auth, f"10.0.1.{n}") as web:
                answers += [await guess(web) for _ in range(3)]
        async with client(auth, "10.0.2.1") as fresh:
            return answers, await guess(fresh), await guess(fresh, VIEWER)

    answers, admin, viewer = asyncio.run(spread())
    assert answers == [401] * 9
    assert admin == 429  # the name is locked, from a new address too
    assert viewer == 401  # another user from that address may still try


def test_a_huge_login_form_is_not_read_past_the_limit(tmp_path: Path) -> None:
    auth = make_auth(tmp_path)
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(80):  # 5 MiB in all
            pulled += 1
            yield b"x" * 65_536

    async def send() -> int:
        async with client(auth) as web:
            await web.get("/login")
            sent = await web.post(
                "/login",
                content=body(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            return sent.status_code

    assert asyncio.run(send()) == 403
    assert pulled <= 2


def test_password_checks_run_a_few_at_a_time_and_a_flood_is_turned_away() -> None:
    async def flood() -> tuple[int, int, int]:
        verifying = Verifying(at_once=1, waiting=1)
        most = inside = busy = 0

        async def one() -> None:
            nonlocal most, inside, busy
            try:
                async with verifying:
                    inside += 1
                    most = max(most, inside)
                    await asyncio.sleep(0.05)
                    inside -= 1
            except TooBusy:
                busy += 1

        await asyncio.gather(*(one() for _ in range(5)))
        return most, busy, inside

    most, busy, inside = asyncio.run(flood())
    assert most == 1 and busy == 3 and inside == 0


def test_a_right_password_after_failures_logs_in_and_clears_the_address(tmp_path: Path) -> None:
    auth = make_auth(tmp_path, max_failures=3)

    async def story() -> list[int]:
        async with client(auth) as web:
            answers = [await guess(web) for _ in range(2)]
            answers.append(await guess(web, ADMIN, "ada-may-reveal-12"))
        async with client(auth) as again:  # the same address, logged out
            answers += [await guess(again, VIEWER) for _ in range(4)]
        return answers

    assert asyncio.run(story()) == [401, 401, 303, 401, 401, 401, 429]

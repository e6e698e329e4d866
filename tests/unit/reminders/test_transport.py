"""Finishing a delivery that had to wait, as a task would (``transport._finish``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from services.reminders.worker.transport import _finish

T = TypeVar("T")


def started(coro: Coroutine[Any, Any, T]) -> tuple[Coroutine[Any, Any, T], Any]:
    """Run ``coro`` up to where it first waits, as the consumer does; what it waits on."""
    return coro, coro.send(None)


def test_a_coroutine_that_waited_on_a_future_runs_on_to_its_result() -> None:
    async def main() -> list[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def delivery() -> list[str]:
            seen.append(await future)
            await asyncio.sleep(0)  # waits again, on nothing (a bare yield)
            seen.append(await asyncio.wait_for(asyncio.shield(future), 1))
            return seen

        coro, waiting = started(delivery())
        assert waiting is not None and not future.done()
        asyncio.get_running_loop().call_later(0.01, future.set_result, "put")
        return await _finish(coro, waiting)

    assert asyncio.run(main()) == ["put", "put"]


def test_an_error_of_the_awaited_future_is_raised_inside_the_coroutine() -> None:
    async def main() -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def delivery() -> str:
            try:
                return await future
            except LookupError as exc:
                return f"handled {exc}"

        coro, waiting = started(delivery())
        future.set_exception(LookupError("no channel"))
        return await _finish(coro, waiting)

    assert asyncio.run(main()) == "handled no channel"


@pytest.mark.parametrize(
    ("done_first", "expected"),
    [
        (False, ["cancelled at its await", "future cancelled: True"]),
        # The future is done first: the task's cancel cannot cancel it any more.
        (True, ["cancelled at its await", "future cancelled: False"]),
    ],
)
def test_cancelling_the_finisher_cancels_the_coroutine_where_it_waits(
    done_first: bool, expected: list[str]
) -> None:
    async def main() -> list[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def delivery() -> None:
            try:
                await future
                seen.append("ran on")
            except asyncio.CancelledError:
                seen.append("cancelled at its await")
                raise

        coro, waiting = started(delivery())
        task = asyncio.ensure_future(_finish(coro, waiting))
        await asyncio.sleep(0.01)
        if done_first:
            future.set_result("put")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen.append(f"future cancelled: {future.cancelled()}")
        return seen

    assert asyncio.run(main()) == expected

"""The engines themselves: what a failing statement may carry into a log."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from reminderbot.storage.db import create_session_factory
from reminderbot.storage.models import CheckIn, Mood, utcnow
from reminderbot.storage.worker import off_the_loop

MARKER = "MARKER-a-note-only-its-writer-may-read"


async def test_a_failing_statement_never_carries_the_words_in_its_error(
    engine: AsyncEngine,
) -> None:
    """A note saved at a bad moment (here: for a person who is gone) fails; the exception that
    reaches the error handler's log must not hold the note."""
    sessions = create_session_factory(engine)
    async with sessions() as session:
        session.add(CheckIn(person_id=424_242, mood=Mood.HEAVY, note=MARKER, created_at=utcnow()))
        with pytest.raises(DBAPIError) as caught:
            await session.commit()
    assert MARKER not in str(caught.value)
    assert MARKER not in repr(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


async def test_a_failing_statement_off_the_loop_never_carries_the_words_into_the_log(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """/mydata's export runs in a worker thread on an engine of its own; a statement failing
    there must hide its values too, both in the exception and in the traceback logged for it."""
    sessions = create_session_factory(engine)

    async def work(session: AsyncSession) -> None:
        session.add(CheckIn(person_id=424_242, mood=Mood.HEAVY, note=MARKER, created_at=utcnow()))
        await session.flush()

    with pytest.raises(DBAPIError) as caught:
        await off_the_loop(sessions, work)
    logging.getLogger("reminderbot").error("export failed", exc_info=caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
    assert MARKER not in str(caught.value)
    assert MARKER not in repr(caught.value)
    assert MARKER not in caplog.text

"""The engines themselves: what a failing statement may carry into a log."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.storage.db import create_session_factory
from reminderbot.storage.models import CheckIn, Mood, utcnow

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

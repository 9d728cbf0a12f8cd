"""What a database that is down or busy raises, whichever driver is behind the engine.

SQLAlchemy wraps what the driver raises while a statement runs, but not what it raises while
connecting: asyncpg raises a bare ConnectionRefusedError (an OSError), a time-out, or its own
errors ("the database system is shutting down") straight through the pool.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,  # refused, reset, unreachable; TimeoutError is one too
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def is_database_error(error: BaseException | None) -> bool:
    return isinstance(error, DATABASE_ERRORS)

"""Database models. Every row about a person hangs off ``people`` with ON DELETE CASCADE, so
erasing a person is one DELETE and leaves no trace of their Telegram id anywhere.

What a person wrote or chose that says something about them (a note, a mood, "which describes
you", the lines they were sent, their chat id) is stored encrypted, and their Telegram id as a
keyed hash (``storage/crypto.py``); the types do it, so services see plain values. Times,
counts, schedules and states stay plain: the dispatcher and ``reminderbot stats`` query them."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, time
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Time,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from reminderbot.storage.crypto import (
    EncryptedEnum,
    EncryptedInt,
    EncryptedText,
    UserIdHash,
    user_hash,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        if value.tzinfo is not UTC:  # most already are: the claim binds thousands a second
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.Enum], length: int = 24) -> Enum:
    # Stored as plain strings (no native ENUM type), so adding a member needs no type migration.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), time: Time()}


ALL_WEEKDAYS = 0b1111111


class ConsentState(enum.StrEnum):
    GIVEN = "given"
    STOPPED = "stopped"


class Audience(enum.StrEnum):
    """Mirrors reminderbot.content.Audience; 'prefer not to say' is ANYONE."""

    ANYONE = "anyone"
    HURT_PARTNER = "hurt_partner"
    INVOLVED_PARTNER = "involved_partner"


class DeliveryStatus(enum.StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


class Mood(enum.StrEnum):
    STEADY = "steady"
    HEAVY = "heavy"
    NEED_SPACE = "need_space"
    OPEN = "open"


class SharingLevel(enum.StrEnum):
    NOTHING = "nothing"
    NEED_SPACE = "need_space"
    ALL = "all"


class Person(Base):
    """One partner. A row exists only once they said yes; 'not now' stores nothing."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Found by the keyed hash of their Telegram id (``telegram_user_id`` below); the chat id,
    # needed to write to them, is encrypted.
    telegram_user_hash: Mapped[bytes] = mapped_column(UserIdHash(), unique=True)
    chat_id: Mapped[int] = mapped_column(EncryptedInt("people.chat_id"))
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))

    consent: Mapped[ConsentState] = mapped_column(_enum(ConsentState))
    consent_given_at: Mapped[datetime]
    consent_withdrawn_at: Mapped[datetime | None]

    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_since: Mapped[datetime | None]

    # What they receive. Weekdays are a bitmask, Monday = bit 0.
    audience: Mapped[Audience] = mapped_column(
        EncryptedEnum(Audience, "people.audience"), default=Audience.ANYONE
    )
    wants_affirmations: Mapped[bool] = mapped_column(Boolean, default=True)
    wants_practices: Mapped[bool] = mapped_column(Boolean, default=True)
    wants_checkin_prompts: Mapped[bool] = mapped_column(Boolean, default=False)
    weekdays: Mapped[int] = mapped_column(Integer, default=ALL_WEEKDAYS)
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]

    # Pause: paused_at set and paused_until empty means "until I resume".
    paused_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None] = mapped_column(index=True)

    # Discreet delivery: a neutral first line for lock screens, and/or no sound.
    discreet_preview: Mapped[bool] = mapped_column(Boolean, default=False)
    silent: Mapped[bool] = mapped_column(Boolean, default=False)

    # A question the bot asked and the person's next plain text answers (services/conversation),
    # kept here rather than in one process's memory so any instance can take the answer.
    awaiting: Mapped[str | None] = mapped_column(String(16))
    awaiting_until: Mapped[datetime | None]

    # Content rotation: a per-person shuffled order of the pool, walked one step per reminder,
    # so no line repeats until the pool is used up, without a query per send.
    content_seed: Mapped[int] = mapped_column(BigInteger, default=0)
    content_position: Mapped[int] = mapped_column(Integer, default=0)
    # How many days their check-ins and notes are kept (services/retention.py); None: the
    # practice's default. Always read through retention.checkin_days, capped by the maximum.
    keep_checkins_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Pairing (see reminderbot/services/pairing.py). Kept on the person row so the dispatcher
    # decides about couple prompts from the row it already holds, without a join.
    couple_id: Mapped[int | None] = mapped_column(
        ForeignKey("couples.id", ondelete="SET NULL"), index=True
    )
    # This person's own yes to couple prompts, and whether both partners' yeses stand (the
    # same on both rows, so the dispatcher needs no join): prompts go out only while both do.
    wants_couple_prompts: Mapped[bool] = mapped_column(Boolean, default=False)
    couple_prompts_agreed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether this person receives the check-ins their partner chose to share (their own
    # choice as the receiver; the partner is never told).
    receives_partner_checkins: Mapped[bool] = mapped_column(Boolean, default=True)
    # What this person chose to let their partner see; nothing unless they chose it.
    sharing: Mapped[SharingLevel] = mapped_column(_enum(SharingLevel), default=SharingLevel.NOTHING)
    # This person's own hold on shared prompts (only they can lift it early) ...
    shared_hold_at: Mapped[datetime | None]
    shared_hold_until: Mapped[datetime | None]
    # ... and the effect of both partners' holds, the same on both rows: couple prompts rest
    # while shared_paused_at is set and shared_paused_until is empty or still ahead.
    shared_paused_at: Mapped[datetime | None]
    shared_paused_until: Mapped[datetime | None]

    schedules: Mapped[list[Schedule]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )

    # The bot talks in private chats only, where the chat id is the user id: the id is read
    # back from the (decrypted) chat id, and looked up in SQL by its hash.
    @hybrid_property
    def telegram_user_id(self) -> int:
        return self.chat_id

    @telegram_user_id.inplace.setter
    def _telegram_user_id_set(self, value: int) -> None:
        self.telegram_user_hash = user_hash(value)

    @telegram_user_id.inplace.expression
    @classmethod
    def _telegram_user_id_sql(cls) -> ColumnElement[bytes]:
        return cls.telegram_user_hash.expression


class Schedule(Base):
    """One daily local time of one person; ``next_due_at`` (UTC) is what the dispatcher reads."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("person_id", "local_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    local_time: Mapped[time]
    # None: a reminder from the person's chosen kinds; a ContentKind value: only that kind.
    kind: Mapped[str | None] = mapped_column(String(24))
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="schedules")


class Delivery(Base):
    """One occurrence of one schedule. The unique (schedule_id, due_at) key is what makes a
    second send of the same occurrence impossible, even with several dispatchers."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at"),
        Index("ix_deliveries_person_id_due_at", "person_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    kind: Mapped[str | None] = mapped_column(String(24))
    # Encrypted: a line written only for one side ("involved partner") says which side they are.
    content_id: Mapped[str | None] = mapped_column(EncryptedText("deliveries.content_id"))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus), index=True)
    reason: Mapped[str | None] = mapped_column(String(64))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # While CLAIMED: when this row may be taken again. It is a lease while a send is in flight
    # (a crashed process's claims come back when it runs out) and a backoff after a failure.
    retry_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Sends whose fate is unknown (time-outs, crashes mid-send): repeated at most once.
    uncertain: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]


class CheckIn(Base):
    """A one-tap answer to a reminder; one per delivery (a second tap changes it)."""

    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    mood: Mapped[Mood] = mapped_column(EncryptedEnum(Mood, "checkins.mood"))
    note: Mapped[str | None] = mapped_column(EncryptedText("checkins.note"))
    # While set and in the future, the person's next short text is kept as this check-in's note.
    note_open_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The update (Telegram's number for the tap) that set ``mood``: a tap numbered lower, reaching
    # another instance later, never overwrites it. Empty for answers kept before it was recorded.
    update_id: Mapped[int | None] = mapped_column(BigInteger)


class Couple(Base):
    """Two people who each said yes to being connected. Deleting the row unpairs both at once
    (their couple_id becomes NULL)."""

    __tablename__ = "couples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    """An open /pair invite: only the SHA-256 of its token is stored; one per person; deleted
    when used or replaced."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class PartnerNotice(Base):
    """A line for a partner: held here while the receiver is in quiet hours, and, for a shared
    check-in, the record of which mood the partner's one line about it shows (``mood`` empty:
    the line was turned neutral). Rows vanish with the receiver, or with the check-in."""

    __tablename__ = "partner_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    checkin_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkins.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    mood: Mapped[str | None] = mapped_column(EncryptedText("partner_notices.mood"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set while held: not sent before this instant. sent_at is set once it went out.
    send_after: Mapped[datetime | None] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]
    # The line as it stands in the receiver's chat: a changed answer edits it, never adds one.
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)


class HandledUpdate(Base):
    """An update whose effect is committed: Telegram sends an update again after a crash or a
    non-200 answer, and that second delivery changes nothing. Only Telegram's number for the
    update is kept, which says nothing about anyone; rows are forgotten after a few days
    (``telegram/once.py``), long after Telegram stops re-sending."""

    __tablename__ = "handled_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(index=True)


class Secret(Base):
    """Keys the database needs, each encrypted under the operator's data key: the hash key for
    Telegram ids. Opening it at start proves the right data key was given. Nothing here is
    about a person."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)

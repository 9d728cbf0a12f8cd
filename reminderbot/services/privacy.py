"""What we hold about a person: a full export (/mydata) and complete erasure (/delete)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.content import Catalog, ContentKind
from reminderbot.services import pairing
from reminderbot.services.preferences import DAY_KEYS, KIND_FLAGS
from reminderbot.services.resting import is_resting
from reminderbot.services.timekeeping import place_name, zone
from reminderbot.storage import repositories
from reminderbot.storage.models import (
    Base,
    CheckIn,
    ConsentState,
    Delivery,
    DeliveryStatus,
    Invite,
    Mood,
    PartnerNotice,
    Person,
    Schedule,
)

EXPORT_FORMAT = 1


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def row_to_dict(row: Base) -> dict[str, Any]:
    """Every column of a row, so a new column is exported without anyone remembering to."""
    return {attr.key: _plain(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs}


@dataclass(frozen=True, slots=True)
class Held:
    """Everything stored about one person, read once for both files /mydata sends."""

    person: Person
    schedules: Sequence[Schedule]
    deliveries: Sequence[Delivery]
    checkins: Sequence[CheckIn]
    invite: Invite | None
    shared: Sequence[PartnerNotice]  # lines to the partner about their check-ins
    shared_resting: bool


async def held_about(session: AsyncSession, telegram_user_id: int, now: datetime) -> Held | None:
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return None
    invite = (
        await session.execute(select(Invite).where(Invite.person_id == person.id))
    ).scalar_one_or_none()
    return Held(
        person=person,
        schedules=await repositories.schedules_of(session, person.id),
        deliveries=await repositories.deliveries_of(session, person.id),
        checkins=await repositories.checkins_of(session, person.id),
        invite=invite,
        shared=await _shared_notices(session, person.id),
        shared_resting=pairing.shared_resting(person, now),
    )


async def export_person(
    session: AsyncSession, telegram_user_id: int, now: datetime
) -> dict[str, Any] | None:
    held = await held_about(session, telegram_user_id, now)
    return None if held is None else as_json(held, now)


def as_json(held: Held, now: datetime) -> dict[str, Any]:
    """Every stored column, for programs: the complete record beside the file to read."""
    own = row_to_dict(held.person)
    # Stored as a keyed hash (meaningless to them); their id is what they know themselves by.
    own.pop("telegram_user_hash", None)
    own = {"telegram_user_id": held.person.telegram_user_id, **own}
    # The combined shared pause can carry the partner's own pause times: only whether shared
    # prompts rest is theirs to know. Their own hold (shared_hold_*) stays in. Likewise whether
    # both said yes to couple prompts is half the partner's answer; their own yes stays in.
    for column in ("shared_paused_at", "shared_paused_until", "couple_prompts_agreed"):
        own.pop(column, None)
    own["shared_prompts_resting"] = held.shared_resting
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "person": own,
        "schedules": [row_to_dict(r) for r in held.schedules],
        "deliveries": [row_to_dict(r) for r in held.deliveries],
        "checkins": [row_to_dict(r) for r in held.checkins],
        "pairing": _pairing_of(held.invite, held.person.couple_id is not None),
        "shared_with_partner": [
            {
                "checkin_id": notice.checkin_id,
                "mood": notice.mood,
                "shared_at": _plain(notice.sent_at),
                "held_until": _plain(notice.send_after),
            }
            for notice in held.shared
        ],
    }


async def _shared_notices(session: AsyncSession, person_id: int) -> Sequence[PartnerNotice]:
    """Lines to the partner about this person's check-ins: which check-in, which mood (empty
    once the line was turned neutral), when it went out or waits until. The row belongs to the
    partner's chat, so only those fields are shown."""
    query = (
        select(PartnerNotice)
        .join(CheckIn, CheckIn.id == PartnerNotice.checkin_id)
        .where(CheckIn.person_id == person_id)
        .order_by(PartnerNotice.created_at, PartnerNotice.id)
    )
    return (await session.execute(query)).scalars().all()


def _pairing_of(invite: Invite | None, paired: bool) -> dict[str, Any]:
    """Their own side of pairing only (the sharing level and couple prompt choice are in the
    person row): whether they are paired and their open invite, never anything of the partner.
    Partner lines they received are left out: they are the partner's check-ins."""
    return {
        "paired": paired,
        "open_invite": (
            None
            if invite is None
            else {
                "created_at": _plain(invite.created_at),
                "expires_at": _plain(invite.expires_at),
            }
        ),
    }


async def erase_person(session: AsyncSession, telegram_user_id: int) -> int | None:
    """Delete the person and, by cascade, every row about them. Returns the erased person's
    id, or None if we held nothing."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return None
    return await erase(session, person)


async def erase(session: AsyncSession, person: Person) -> int:
    """Delete a person already read and, by cascade, every row about them; returns their id."""
    person_id = person.id
    # Unpair first (a no-op if the caller already did): the partner's row must not keep
    # pointing at a couple of one. Their own data is untouched.
    await pairing.unpair(session, person)
    await repositories.delete_person(session, person_id)
    session.expunge(person)
    return person_id


# ------------------------------------------------------------------- the file a person reads
# One section per line of the welcome's list of what is stored (consent.STORED_LINES), in its
# order: a new topic there gets a section here (a test holds the two together).
TOPICS = (
    "account",
    "consent",
    "choices",
    "describes_you",
    "pauses",
    "sent",
    "checkins",
    "notes",
    "partner",
)
# Every reason a delivery row can end with (delivery.batch.Reason, which services may not
# import; a test holds the two together), each with words under mydata.file.reasons.
REASONS = (
    "stale",
    "paused",
    "quiet_hours",
    "coalesced",
    "inactive",
    "no_content",
    "blocked",
    "chat_not_found",
    "uncertain",
    "rejected",
    "in_flight",
    "retry",
    "internal",
)


def _line(catalog: Catalog, lang: str, key: str, value: str) -> str:
    return catalog.text("mydata.file.line", lang, label=catalog.text(key, lang), value=value)


@dataclass(frozen=True, slots=True)
class _Words:
    """The file's recurring words, looked up once: the export can run to thousands of lines."""

    catalog: Catalog
    lang: str
    tz: tzinfo
    days: tuple[str, ...]
    yes: str
    no: str
    none: str
    kinds: dict[str, str]
    statuses: dict[DeliveryStatus, str]
    reasons: dict[str, str]
    moods: dict[str, str]

    @classmethod
    def of(cls, catalog: Catalog, lang: str, tz: tzinfo) -> _Words:
        return cls(
            catalog,
            lang,
            tz,
            tuple(catalog.text(f"mydata.file.days.{key}", lang) for key in DAY_KEYS),
            catalog.text("mydata.file.yes", lang),
            catalog.text("mydata.file.no", lang),
            catalog.text("mydata.file.none", lang),
            {k.value: catalog.text(f"mydata.file.kinds.{k.value}", lang) for k in ContentKind},
            {s: catalog.text(f"mydata.file.status.{s.value}", lang) for s in DeliveryStatus},
            {r: catalog.text(f"mydata.file.reasons.{r}", lang) for r in REASONS},
            {m.value: catalog.text(f"buttons.mood_{m.value}", lang) for m in Mood},
        )

    def when(self, at: datetime) -> str:
        local = at.astimezone(self.tz)
        return self.catalog.text(
            "mydata.file.when",
            self.lang,
            weekday=self.days[local.weekday()],
            date=local.strftime("%Y-%m-%d"),
            time=local.strftime("%H:%M"),
        )

    def flag(self, value: bool) -> str:
        return self.yes if value else self.no


def readable(held: Held, now: datetime, catalog: Catalog, lang: str) -> str:
    """Everything in ``held`` as plain text to read: names and values in words, times in the
    person's own timezone, days by name; ids, counters and seeds stay in the JSON."""
    person = held.person
    words = _Words.of(catalog, lang, zone(person.timezone))
    sections = {
        "account": _account(held, words),
        "consent": _consent(held, words),
        "choices": _choices(held, words),
        "describes_you": [
            _line(
                catalog,
                lang,
                "mydata.file.audience",
                catalog.text(f"settings.audience_{person.audience.value}", lang),
            )
        ],
        "pauses": _pauses(held, now, words),
        "sent": _sent(held, words),
        "checkins": _checkins(held, words),
        "notes": _notes(held, words),
        "partner": _partner(held, words),
    }
    out = [
        catalog.text("mydata.file.title", lang),
        catalog.text(
            "mydata.file.made", lang, when=words.when(now), timezone=place_name(person.timezone)
        ),
        catalog.text("mydata.file.json", lang),
    ]
    for topic in TOPICS:
        out += ["", catalog.text(f"mydata.file.sections.{topic}", lang), *sections[topic]]
    return "\n".join(out) + "\n"


def _account(held: Held, w: _Words) -> list[str]:
    person, catalog, lang = held.person, w.catalog, w.lang
    if person.reachable:
        reachable = w.yes
    elif person.unreachable_since is not None:
        reachable = catalog.text(
            "mydata.file.unreachable_since", lang, when=w.when(person.unreachable_since)
        )
    else:
        reachable = w.no
    if person.awaiting is None:
        awaiting = w.none
    elif person.awaiting_until is not None:
        awaiting = catalog.text(
            "mydata.file.awaiting_until", lang, when=w.when(person.awaiting_until)
        )
    else:
        awaiting = w.yes
    return [
        _line(catalog, lang, "mydata.file.telegram_id", str(person.telegram_user_id)),
        _line(catalog, lang, "mydata.file.chat_id", str(person.chat_id)),
        _line(catalog, lang, "mydata.file.language", person.language),
        _line(catalog, lang, "mydata.file.timezone", place_name(person.timezone)),
        _line(catalog, lang, "mydata.file.reachable", reachable),
        _line(catalog, lang, "mydata.file.awaiting", awaiting),
        _line(catalog, lang, "mydata.file.first_stored", w.when(person.created_at)),
        _line(catalog, lang, "mydata.file.last_changed", w.when(person.updated_at)),
    ]


def _consent(held: Held, w: _Words) -> list[str]:
    person, catalog, lang = held.person, w.catalog, w.lang
    if person.consent is ConsentState.GIVEN or person.consent_withdrawn_at is None:
        messages = catalog.text("mydata.file.messages_on", lang)
    else:
        messages = catalog.text(
            "mydata.file.messages_stopped", lang, when=w.when(person.consent_withdrawn_at)
        )
    return [
        _line(catalog, lang, "mydata.file.consent_given", w.when(person.consent_given_at)),
        _line(catalog, lang, "mydata.file.messages", messages),
    ]


def _kind(w: _Words, kind: str | None) -> str:
    return w.kinds.get(kind or "") or w.catalog.text("mydata.file.kinds.reminder", w.lang)


def _choices(held: Held, w: _Words) -> list[str]:
    person, catalog, lang = held.person, w.catalog, w.lang
    times = [
        clock(s.local_time) if s.kind is None else f"{clock(s.local_time)} ({_kind(w, s.kind)})"
        for s in sorted(held.schedules, key=lambda s: s.local_time)
    ]
    upcoming = [s.next_due_at for s in held.schedules if s.next_due_at is not None]
    days = [w.days[i] for i in range(len(DAY_KEYS)) if person.weekdays & (1 << i)]
    quiet = (
        w.none
        if person.quiet_start is None or person.quiet_end is None
        else catalog.text(
            "mydata.file.quiet_window",
            lang,
            start=clock(person.quiet_start),
            end=clock(person.quiet_end),
        )
    )
    return [
        _line(catalog, lang, "mydata.file.times", ", ".join(times) or w.none),
        _line(catalog, lang, "mydata.file.next", w.when(min(upcoming)) if upcoming else w.none),
        _line(catalog, lang, "mydata.file.days_chosen", ", ".join(days) or w.none),
        _line(catalog, lang, "mydata.file.quiet", quiet),
        *(
            catalog.text(
                "mydata.file.kind_line",
                lang,
                kind=catalog.text(f"buttons.kind_{kind}", lang),
                chosen=w.flag(getattr(person, flag)),
            )
            for kind, flag in KIND_FLAGS.items()
        ),
        _line(catalog, lang, "mydata.file.discreet", w.flag(person.discreet_preview)),
        _line(catalog, lang, "mydata.file.silent", w.flag(person.silent)),
    ]


def _rest(w: _Words, since: datetime | None, until: datetime | None, now: datetime) -> str:
    if since is None or not is_resting(since, until, now):
        return w.catalog.text("mydata.file.not_paused", w.lang)
    if until is None:
        return w.catalog.text("mydata.file.paused_until_resumed", w.lang, since=w.when(since))
    return w.catalog.text(
        "mydata.file.paused_until", w.lang, since=w.when(since), until=w.when(until)
    )


def _pauses(held: Held, now: datetime, w: _Words) -> list[str]:
    person, catalog, lang = held.person, w.catalog, w.lang
    mine = _rest(w, person.paused_at, person.paused_until, now)
    lines = [_line(catalog, lang, "mydata.file.paused", mine)]
    if person.couple_id is not None or person.shared_hold_at is not None:
        hold = _rest(w, person.shared_hold_at, person.shared_hold_until, now)
        lines.append(_line(catalog, lang, "mydata.file.shared_hold", hold))
        lines.append(
            _line(catalog, lang, "mydata.file.shared_resting", w.flag(held.shared_resting))
        )
    return lines


def _status(w: _Words, delivery: Delivery) -> str:
    status = w.statuses[delivery.status]
    reason = w.reasons.get(delivery.reason or "")
    if delivery.status in (DeliveryStatus.SKIPPED, DeliveryStatus.FAILED) and reason:
        return w.catalog.text("mydata.file.with_reason", w.lang, status=status, reason=reason)
    return status


def _sent(held: Held, w: _Words) -> list[str]:
    catalog, lang = w.catalog, w.lang
    if not held.deliveries:
        return [catalog.text("mydata.file.sent_none", lang)]
    lines = []
    for delivery in held.deliveries:
        lines.append(
            catalog.text(
                "mydata.file.sent_line",
                lang,
                when=w.when(delivery.due_at),
                kind=_kind(w, delivery.kind),
                status=_status(w, delivery),
            )
        )
        item = catalog.item(lang, delivery.content_id) if delivery.content_id else None
        if item is not None and delivery.status is DeliveryStatus.SENT:
            lines.append(catalog.text("mydata.file.sent_text", lang, text=item.text))
    return lines


def _mood(w: _Words, mood: str) -> str:
    return w.moods.get(mood, mood)


def _checkins(held: Held, w: _Words) -> list[str]:
    catalog, lang = w.catalog, w.lang
    if not held.checkins:
        return [catalog.text("mydata.file.checkins_none", lang)]
    lines = []
    for checkin in held.checkins:
        mood = _mood(w, checkin.mood)
        if checkin.updated_at - checkin.created_at >= timedelta(seconds=1):
            lines.append(
                catalog.text(
                    "mydata.file.checkin_changed",
                    lang,
                    when=w.when(checkin.created_at),
                    mood=mood,
                    changed=w.when(checkin.updated_at),
                )
            )
        else:
            lines.append(
                catalog.text(
                    "mydata.file.checkin_line", lang, when=w.when(checkin.created_at), mood=mood
                )
            )
    return lines


def _notes(held: Held, w: _Words) -> list[str]:
    notes = [
        w.catalog.text(
            "mydata.file.note_line", w.lang, when=w.when(checkin.created_at), note=checkin.note
        )
        for checkin in held.checkins
        if checkin.note
    ]
    return notes or [w.catalog.text("mydata.file.notes_none", w.lang)]


def _partner(held: Held, w: _Words) -> list[str]:
    person, catalog, lang = held.person, w.catalog, w.lang
    invite = (
        w.none
        if held.invite is None
        else catalog.text(
            "mydata.file.invite_window",
            lang,
            made=w.when(held.invite.created_at),
            until=w.when(held.invite.expires_at),
        )
    )
    lines = [
        _line(catalog, lang, "mydata.file.paired", w.flag(person.couple_id is not None)),
        _line(catalog, lang, "mydata.file.couple_prompts", w.flag(person.wants_couple_prompts)),
        _line(catalog, lang, "mydata.file.receives", w.flag(person.receives_partner_checkins)),
        _line(
            catalog,
            lang,
            "mydata.file.sharing",
            catalog.text(f"pairing.sharing_{person.sharing.value}", lang),
        ),
        _line(catalog, lang, "mydata.file.invite", invite),
    ]
    made = {checkin.id: checkin.created_at for checkin in held.checkins}
    shared = []
    for notice in held.shared:
        at = made.get(notice.checkin_id or -1)
        if at is None:
            continue
        if not notice.mood:
            shared.append(catalog.text("mydata.file.shared_withdrawn", lang, when=w.when(at)))
        elif notice.sent_at is not None:
            shared.append(
                catalog.text(
                    "mydata.file.shared_line",
                    lang,
                    when=w.when(at),
                    mood=_mood(w, notice.mood),
                    shared=w.when(notice.sent_at),
                )
            )
        elif notice.send_after is not None:
            shared.append(
                catalog.text(
                    "mydata.file.shared_waiting",
                    lang,
                    when=w.when(at),
                    mood=_mood(w, notice.mood),
                    until=w.when(notice.send_after),
                )
            )
    return lines + [_line(catalog, lang, "mydata.file.shared", line) for line in shared or [w.none]]


def clock(at: time) -> str:
    return at.strftime("%H:%M")

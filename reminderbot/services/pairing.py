"""Pairing two partners with consent, shared prompts and their shared pause, and unpairing.

Invites: 256 bits from ``secrets``, stored only as their SHA-256, single use (deleted when used
or replaced), expiring, one open invite per person. The welcome's yes button must not carry the
token (callback data is limited and stays in the chat), so it carries the invite's id and a
binding: an HMAC of the presser's Telegram id keyed with the token's hash. Only someone who
opened the link can hold a valid binding, and nothing is stored about the opener before they say
yes. Everything is checked again on the press.

Shared pause: each partner may hold shared prompts; they rest while either holds them, and only
the one who holds can lift their own hold early. The combined effect is copied onto both rows
(``shared_paused_*``) so the dispatcher needs no join.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services import sharing
from reminderbot.services.pausing import PauseLength, pause_end
from reminderbot.services.resting import is_resting
from reminderbot.services.sharing import Notice, NoticeKind, partner_of
from reminderbot.storage.models import ConsentState, Couple, Invite, Person, SharingLevel

TOKEN_BYTES = 32  # 43 URL-safe characters: within Telegram's 64-character /start payload
# What /start accepts as a token at all; anything else is an ordinary /start.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
BINDING_SHAPE = r"[A-Za-z0-9_-]{22}"


class Refusal(enum.StrEnum):
    INVALID = "invalid"  # unknown, used, replaced, or the inviter can no longer pair
    EXPIRED = "expired"
    OWN = "own"
    YOU_ARE_PAIRED = "you_are_paired"
    ALREADY_CONNECTED = "already_connected"  # the opener's own pairing: the link did its work
    SLOWED = "slowed"  # too many wrong tokens lately


# The refusals that mean "a wrong token", which count towards slowing someone down.
WRONG_TOKEN = frozenset({Refusal.INVALID, Refusal.EXPIRED})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


def binding(invite: Invite, telegram_user_id: int) -> str:
    digest = hmac.new(
        bytes.fromhex(invite.token_hash),
        f"{invite.id}:{telegram_user_id}".encode(),
        hashlib.sha256,
    ).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def binding_ok(invite: Invite, telegram_user_id: int, given: str) -> bool:
    return hmac.compare_digest(binding(invite, telegram_user_id), given)


class WrongTokens:
    """Recent wrong invite tokens per Telegram user, in memory and bounded.

    In memory on purpose: someone trying links has not said yes, so nothing about them goes in
    the database (consent first). Tokens carry 256 bits, so this is a brake, not the defence;
    with several instances each keeps its own count, which still leaves guessing hopeless.
    """

    def __init__(
        self,
        limit: int = 5,
        window: timedelta = timedelta(minutes=10),
        max_people: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_people = max_people
        self._failures: OrderedDict[int, deque[datetime]] = OrderedDict()

    def _recent(self, user_id: int, now: datetime) -> deque[datetime] | None:
        failures = self._failures.get(user_id)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[user_id]
            return None
        return failures

    def slowed(self, user_id: int, now: datetime) -> bool:
        failures = self._recent(user_id, now)
        return failures is not None and len(failures) >= self.limit

    def failed(self, user_id: int, now: datetime) -> None:
        failures = self._recent(user_id, now) or deque(maxlen=self.limit)
        failures.append(now)
        self._failures[user_id] = failures
        self._failures.move_to_end(user_id)
        while len(self._failures) > self.max_people:
            self._failures.popitem(last=False)


# --------------------------------------------------------------------------- invites
@dataclass(frozen=True, slots=True)
class NewInvite:
    token: str
    expires_at: datetime


async def create_invite(
    session: AsyncSession, person: Person, now: datetime, ttl: timedelta
) -> NewInvite:
    """A fresh single-use invite; any earlier open invite of this person stops working."""
    await session.execute(delete(Invite).where(Invite.person_id == person.id))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + ttl
    session.add(
        Invite(
            person_id=person.id, token_hash=hash_token(token), created_at=now, expires_at=expires_at
        )
    )
    await session.flush()
    return NewInvite(token, expires_at)


async def find_invite(session: AsyncSession, token: str) -> Invite | None:
    query = select(Invite).where(Invite.token_hash == hash_token(token))
    return (await session.execute(query)).scalar_one_or_none()


async def check_invite(
    session: AsyncSession, invite: Invite | None, opener: Person | None, now: datetime
) -> Refusal | None:
    """Why this person may not use this invite now, or None."""
    if opener is not None and opener.couple_id is not None:
        # A used link is gone (accepting deletes it), so a paired person opening a link that
        # no longer exists is almost always the one who used it: tell them they are connected,
        # not that something failed. True either way, and news only about themselves.
        if invite is None:
            return Refusal.ALREADY_CONNECTED
        inviter = await session.get(Person, invite.person_id)
        if inviter is not None and inviter.couple_id == opener.couple_id:
            return Refusal.ALREADY_CONNECTED
    if invite is None:
        return Refusal.INVALID
    if invite.expires_at <= now:
        return Refusal.EXPIRED
    if opener is not None and invite.person_id == opener.id:
        return Refusal.OWN
    if opener is not None and opener.couple_id is not None:
        return Refusal.YOU_ARE_PAIRED
    inviter = await session.get(Person, invite.person_id)
    # An inviter who paired with someone else or stopped: the link simply no longer works (the
    # opener is not told why; that would be news about the inviter).
    if inviter is None or inviter.couple_id is not None:
        return Refusal.INVALID
    if inviter.consent is not ConsentState.GIVEN:
        return Refusal.INVALID
    return None


def _reset(person: Person) -> None:
    """A pairing starts and ends with nothing shared and no couple prompts: a new partner never
    inherits what was chosen for an earlier one."""
    person.wants_couple_prompts = False
    person.couple_prompts_agreed = False
    person.receives_partner_checkins = True
    person.sharing = SharingLevel.NOTHING
    person.shared_hold_at = person.shared_hold_until = None
    person.shared_paused_at = person.shared_paused_until = None


@dataclass(frozen=True, slots=True)
class Paired:
    inviter: Person
    partner: Person
    notices: list[Notice]


async def accept(
    session: AsyncSession, invite_id: int, opener: Person, now: datetime
) -> Paired | Refusal:
    """The opener said yes: connect them with the inviter, if everything still holds."""
    invite = await session.get(Invite, invite_id)
    if invite is None:
        return Refusal.INVALID
    # Lock both rows in id order, so two acceptances at once cannot pair anyone twice.
    ids = sorted({invite.person_id, opener.id})
    query = (
        select(Person)
        .where(Person.id.in_(ids))
        .order_by(Person.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    people = {p.id: p for p in (await session.execute(query)).scalars()}
    # Read again under the locks: a concurrent acceptance may have used it meanwhile.
    invite = (
        await session.execute(select(Invite).where(Invite.id == invite_id))
    ).scalar_one_or_none()
    refusal = await check_invite(session, invite, people.get(opener.id), now)
    if refusal is not None or invite is None:
        return refusal or Refusal.INVALID
    inviter, partner = people[invite.person_id], people[opener.id]
    couple = Couple(created_at=now)
    session.add(couple)
    await session.flush()
    for person in (inviter, partner):
        person.couple_id = couple.id
        _reset(person)
    await session.execute(delete(Invite).where(Invite.person_id.in_(ids)))
    await sharing.drop_notices(session, ids)
    await session.flush()
    notices = await sharing.notify(session, inviter, NoticeKind.PAIRED, now)
    return Paired(inviter, partner, notices)


# --------------------------------------------------------------------------- unpairing
async def unpair(session: AsyncSession, person: Person) -> Person | None:
    """End the pairing for both (database only). Returns the former partner, if any."""
    if person.couple_id is None:
        return None
    couple_id = person.couple_id
    partner = await partner_of(session, person)
    ids = [person.id] + ([partner.id] if partner is not None else [])
    for someone in (person, partner):
        if someone is not None:
            someone.couple_id = None
            _reset(someone)
    await sharing.drop_notices(session, ids)
    await session.flush()
    await session.execute(delete(Couple).where(Couple.id == couple_id))
    return partner


async def end_pairing(session: AsyncSession, person: Person, now: datetime) -> list[Notice]:
    """/unpair, or /delete by one partner: unpair, and tell the other one neutral line."""
    partner = await unpair(session, person)
    if partner is None:
        return []
    return await sharing.notify(session, partner, NoticeKind.UNPAIRED, now)


async def set_couple_prompts(session: AsyncSession, person: Person, wanted: bool) -> bool:
    """Opt in or out of couple prompts; False (and nothing changed) when not paired.

    Couple prompts are for both ("if it feels right for both of you"), so they go out only
    while both partners' yeses stand. Both rows are locked, so two answers at once cannot each
    miss the other's; the partner is not told (the prompts simply come, or don't)."""
    people = await _pair_locked(session, person)
    if people is None:
        return False
    for someone in people:
        if someone.id == person.id:
            someone.wants_couple_prompts = wanted
    agreed = all(someone.wants_couple_prompts for someone in people)
    for someone in people:
        someone.couple_prompts_agreed = agreed
    await session.flush()
    return True


class SharedPromptFacts(Protocol):
    """What the couple-prompt rules read of a person: a ``Person`` or a row of these columns
    (the dispatcher reads only these right before each send)."""

    @property
    def couple_id(self) -> int | None: ...
    @property
    def couple_prompts_agreed(self) -> bool: ...
    @property
    def shared_paused_at(self) -> datetime | None: ...
    @property
    def shared_paused_until(self) -> datetime | None: ...


def couple_prompts_due(person: SharedPromptFacts, at: datetime | None) -> bool:
    """Whether a couple prompt may reach this person at ``at``: paired, both partners said
    yes, and shared prompts are not resting then (None: judged as resting while any rest is
    on). The dispatcher asks this at claim time and again right before the send."""
    if person.couple_id is None or not person.couple_prompts_agreed:
        return False
    if at is None:
        return person.shared_paused_at is None
    return not shared_resting(person, at)


async def set_receives_checkins(session: AsyncSession, person: Person, wanted: bool) -> bool:
    """The receiver's own choice about their partner's shared check-ins; the partner is never
    told, and what the partner chose to share stays as it is. Lines still waiting for the end
    of quiet hours are re-checked when they are due, so turning this off drops them."""
    if person.couple_id is None:
        return False
    person.receives_partner_checkins = wanted
    return True


async def set_sharing(session: AsyncSession, person: Person, level: SharingLevel) -> bool:
    if person.couple_id is None:
        return False
    person.sharing = level
    return True


# --------------------------------------------------------------------------- shared pause
def holds_shared(person: Person, now: datetime) -> bool:
    return is_resting(person.shared_hold_at, person.shared_hold_until, now)


def shared_resting(person: SharedPromptFacts, now: datetime) -> bool:
    return is_resting(person.shared_paused_at, person.shared_paused_until, now)


def _combine(people: list[Person], now: datetime) -> None:
    """Copy the combined effect of every active hold onto each row."""
    holds = []
    for person in people:
        if holds_shared(person, now):
            holds.append((person.shared_hold_at, person.shared_hold_until))
        else:
            person.shared_hold_at = person.shared_hold_until = None
    started = min((at for at, _ in holds if at is not None), default=None)
    ends = [until for _, until in holds]
    until = None if not holds or None in ends else max(u for u in ends if u is not None)
    for person in people:
        person.shared_paused_at = started
        person.shared_paused_until = until


class SharedOutcome(enum.Enum):
    NOT_PAIRED = "not_paired"
    RESTING = "resting"  # shared prompts now rest (or rest longer)
    BACK = "back"  # shared prompts are back for both
    STILL_RESTING = "still_resting"  # this person's hold is lifted; the other still holds
    NO_HOLD = "no_hold"  # this person held nothing to lift


@dataclass(frozen=True, slots=True)
class SharedChange:
    outcome: SharedOutcome
    until: datetime | None = None
    notices: tuple[Notice, ...] = ()


async def _pair_locked(session: AsyncSession, person: Person) -> list[Person] | None:
    if person.couple_id is None:
        return None
    query = (
        select(Person)
        .where(Person.couple_id == person.couple_id)
        .order_by(Person.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    people = list((await session.execute(query)).scalars())
    return people if len(people) == 2 else None


async def hold_shared(
    session: AsyncSession, person: Person, length: PauseLength, now: datetime
) -> SharedChange:
    """Rest couple prompts for both, at once. The partner is told only that they rest."""
    people = await _pair_locked(session, person)
    if people is None:
        return SharedChange(SharedOutcome.NOT_PAIRED)
    me = next(p for p in people if p.id == person.id)
    partner = next(p for p in people if p.id != person.id)
    was_resting = shared_resting(me, now)
    me.shared_hold_at = now
    me.shared_hold_until = pause_end(me, length, now)
    _combine(people, now)
    await session.flush()
    notices: list[Notice] = []
    if not was_resting:
        notices = await sharing.notify(session, partner, NoticeKind.RESTING, now)
    return SharedChange(SharedOutcome.RESTING, me.shared_hold_until, tuple(notices))


async def release_shared(session: AsyncSession, person: Person, now: datetime) -> SharedChange:
    """Lift this person's own hold early. The partner hears only if prompts are back."""
    people = await _pair_locked(session, person)
    if people is None:
        return SharedChange(SharedOutcome.NOT_PAIRED)
    me = next(p for p in people if p.id == person.id)
    partner = next(p for p in people if p.id != person.id)
    if not holds_shared(me, now):
        return SharedChange(SharedOutcome.NO_HOLD)
    me.shared_hold_at = me.shared_hold_until = None
    _combine(people, now)
    await session.flush()
    if shared_resting(me, now):
        return SharedChange(SharedOutcome.STILL_RESTING)
    notices = await sharing.notify(session, partner, NoticeKind.RESUMED, now)
    return SharedChange(SharedOutcome.BACK, notices=tuple(notices))

"""Two partners: pairing with consent, couple prompts, the shared pause, sharing by choice,
unpairing and deleting. A leak of one partner's activity to the other is the worst bug here."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.content import ContentKind
from reminderbot.delivery.batch import Outgoing, TickStats
from reminderbot.delivery.reminder import MOODS_BY_CODE, checkin_data
from reminderbot.services.pairing import WrongTokens
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.migrate import downgrade, upgrade
from reminderbot.storage.models import (
    CheckIn,
    ConsentState,
    Couple,
    Delivery,
    Invite,
    Mood,
    PartnerNotice,
    Schedule,
    SharingLevel,
)
from reminderbot.telegram import callbacks
from reminderbot.telegram.notices import flush_held
from reminderbot.telegram.welcome import invited_welcome_text
from tests.support.botdouble import RecordedCall
from tests.support.harness import BotHarness, FakeClock

ALEX = 7001  # invites
SAM = 7002  # is invited
RIVER = 7003  # someone else
LINK = re.compile(r"https://t\.me/reminder_test_bot\?start=([A-Za-z0-9_-]+)")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --------------------------------------------------------------------------- helpers
def calls_to_chat(harness: BotHarness, chat_id: int) -> list[RecordedCall]:
    """Everything the bot did in this person's chat: sends, edits, documents."""
    return [c for c in harness.double.calls if c.params.get("chat_id") == chat_id]


def button_starting(harness: BotHarness, chat_id: int, prefix: str) -> str:
    for call in reversed(harness.double.calls):
        if call.params.get("chat_id") != chat_id:
            continue
        for row in harness.double.buttons(call):
            for _, data in row:
                if data.startswith(prefix):
                    return data
    raise AssertionError(f"no button {prefix!r} in chat {chat_id}")


async def invite(harness: BotHarness, user_id: int) -> str:
    await harness.command(user_id, "/pair")
    found = LINK.search(harness.last_text(user_id))
    assert found is not None, harness.last_text(user_id)
    return found.group(1)


async def open_and_accept(harness: BotHarness, user_id: int, token: str) -> None:
    await harness.command(user_id, "/start", token)
    await harness.press(user_id, button_starting(harness, user_id, "pair:yes:"))


async def pair(harness: BotHarness, a: int = ALEX, b: int = SAM, *, join_b: bool = True) -> None:
    await harness.join(a)
    if join_b:
        await harness.join(b)
    await open_and_accept(harness, b, await invite(harness, a))
    assert await couple_of(harness, a) is not None


async def couple_of(harness: BotHarness, user_id: int) -> int | None:
    person = await harness.person(user_id)
    return None if person is None else person.couple_id


async def count(harness: BotHarness, model: type[object]) -> int:
    async with harness.state.sessions.begin() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def only_couple_prompts(harness: BotHarness, user_id: int, *, opt_in: bool) -> None:
    """Affirmations and practices off, so whatever arrives is a couple prompt (or nothing)."""
    await harness.command(user_id, "/settings")
    await harness.press(user_id, callbacks.settings_data("kindsmenu"))
    await harness.press(user_id, callbacks.settings_data("kind", "affirmation"))
    await harness.press(user_id, callbacks.settings_data("kind", "practice"))
    if opt_in:
        await harness.press(user_id, callbacks.couple_data(True))


def couple_texts(harness: BotHarness) -> set[str]:
    return {i.text for i in harness.state.catalog.items("en", [ContentKind.COUPLE_PROMPT])}


def reminder_texts(harness: BotHarness, chat_id: int) -> list[str]:
    return [
        str(c.params["text"])
        for c in harness.seen(chat_id)
        if any(d.startswith("ci:") for row in harness.double.buttons(c) for _, d in row)
    ]


async def deliver_reminder(harness: BotHarness, clock: FakeClock, user_id: int) -> int:
    """Tick at 09:00 today and return the id of the reminder this person received."""
    clock.set(clock.now.replace(hour=9, minute=0, second=0))
    await harness.tick()
    deliveries = [d for d in await harness.deliveries(user_id) if d.telegram_message_id]
    assert deliveries, "no reminder was sent"
    return deliveries[-1].id


# --------------------------------------------------------------------------- pairing
async def test_pair_link_is_single_use_hashed_and_forwardable(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/pair")
    explain, forward = harness.seen(ALEX)[-2:]
    assert explain.params["text"] == harness.text("pairing.invite_made", hours="48")
    found = LINK.search(str(forward.params["text"]))
    assert found is not None
    token = found.group(1)
    assert len(token) >= 43  # 32 random bytes
    assert forward.params.get("protect_content") in (None, False)  # it is meant to be forwarded
    async with harness.state.sessions.begin() as session:
        (row,) = (await session.execute(select(Invite))).scalars().all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps([str(v) for v in vars(row).values()])


async def test_full_pairing_path_for_a_new_partner(harness: BotHarness) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    await harness.command(SAM, "/start", token)
    welcome = harness.seen(SAM)[-1]
    assert welcome.params["text"] == invited_welcome_text(harness.state, "en")
    assert harness.last_buttons(SAM) == [
        harness.text("pairing.buttons.begin_and_connect"),
        harness.text("pairing.buttons.begin_alone"),
        harness.text("pairing.buttons.not_now"),
    ]
    yes = button_starting(harness, SAM, "pair:yes:")
    assert token not in yes and len(yes.encode()) <= 64
    # Nothing is stored about Sam before the yes.
    assert await harness.person(SAM) is None
    before_alex = len(harness.seen(ALEX))

    await harness.press(SAM, yes)
    sam, alex = await harness.person(SAM), await harness.person(ALEX)
    assert sam is not None and alex is not None
    assert sam.consent is ConsentState.GIVEN
    assert sam.couple_id == alex.couple_id is not None
    assert sam.sharing is alex.sharing is SharingLevel.NOTHING
    assert not sam.wants_couple_prompts and not alex.wants_couple_prompts
    assert harness.all_texts(SAM)[-2:] == [
        harness.text("pairing.connected"),
        harness.text(
            "settings.ask_timezone",
            time="09:00",
            timezone="UTC",
        ),
    ]
    # Alex hears exactly one line: connected, with the couple prompt offer, protected.
    (told,) = harness.seen(ALEX)[before_alex:]
    assert told.params["text"] == harness.text("pairing.connected")
    assert told.params["protect_content"] is True
    assert [label for row in harness.double.buttons(told) for label, _ in row] == [
        harness.text("pairing.buttons.couple_yes"),
        harness.text("pairing.buttons.couple_no"),
    ]
    assert await count(harness, Invite) == 0
    # Single use: the same link does nothing for anyone else.
    await harness.command(RIVER, "/start", token)
    assert harness.last_text(RIVER) == harness.text("pairing.refused.invalid")
    assert await harness.person(RIVER) is None


async def test_an_active_person_confirms_connecting(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.join(SAM)
    token = await invite(harness, ALEX)
    await harness.command(SAM, "/start", token)
    assert harness.last_text(SAM) == harness.text("pairing.invited")
    await harness.press(SAM, button_starting(harness, SAM, "pair:yes:"))
    edit = harness.double.calls_to("editMessageText", chat_id=SAM)[-1]
    assert edit.params["text"] == harness.text("pairing.connected")
    assert await couple_of(harness, SAM) == await couple_of(harness, ALEX) is not None


async def test_not_now_stores_nothing_and_tells_nobody(harness: BotHarness) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    before_alex = len(harness.seen(ALEX))
    await harness.command(SAM, "/start", token)
    await harness.press(SAM, callbacks.PAIR_NO)
    assert harness.double.calls_to("editMessageText", chat_id=SAM)[-1].params[
        "text"
    ] == harness.text("onboarding.not_now")
    assert await harness.person(SAM) is None
    assert len(harness.seen(ALEX)) == before_alex
    assert await count(harness, Invite) == 1  # still Alex's to use


async def test_unknown_token_is_refused_and_changes_nothing(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await invite(harness, ALEX)
    await harness.command(SAM, "/start", "A" * 43)
    assert harness.last_text(SAM) == harness.text("pairing.refused.invalid")
    assert await harness.person(SAM) is None
    assert await count(harness, Couple) == 0
    assert await count(harness, Invite) == 1


async def test_expired_token_is_refused(harness: BotHarness, clock: FakeClock) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    clock.advance(hours=48)
    await harness.command(SAM, "/start", token)
    assert harness.last_text(SAM) == harness.text("pairing.refused.expired")
    assert await harness.person(SAM) is None
    assert await count(harness, Couple) == 0


async def test_expiry_is_checked_again_when_yes_is_pressed(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    clock.advance(hours=47)
    await harness.command(SAM, "/start", token)
    clock.advance(hours=2)
    await harness.press(SAM, button_starting(harness, SAM, "pair:yes:"))
    edit = harness.double.calls_to("editMessageText", chat_id=SAM)[-1]
    assert edit.params["text"] == harness.text("pairing.refused.expired")
    assert await harness.person(SAM) is None  # the yes was to both: neither happened


async def test_own_token_is_refused(harness: BotHarness) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    await harness.command(ALEX, "/start", token)
    assert harness.last_text(ALEX) == harness.text("pairing.refused.own")
    assert await couple_of(harness, ALEX) is None
    assert await count(harness, Invite) == 1


async def test_an_already_paired_opener_is_refused(harness: BotHarness) -> None:
    await pair(harness, ALEX, SAM)
    await harness.join(RIVER)
    token = await invite(harness, RIVER)
    await harness.command(SAM, "/start", token)
    assert harness.last_text(SAM) == harness.text("pairing.refused.you_are_paired")
    assert await couple_of(harness, RIVER) is None
    assert await count(harness, Couple) == 1


async def test_an_already_paired_inviter_cannot_pair_again(harness: BotHarness) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    # Sam opens Alex's link, but before Sam says yes Alex pairs with River instead.
    await harness.command(SAM, "/start", token)
    await harness.join(RIVER)
    await open_and_accept(harness, ALEX, await invite(harness, RIVER))
    await harness.press(SAM, button_starting(harness, SAM, "pair:yes:"))
    edit = harness.double.calls_to("editMessageText", chat_id=SAM)[-1]
    # Sam is not told why: that would be news about Alex.
    assert edit.params["text"] == harness.text("pairing.refused.invalid")
    assert await harness.person(SAM) is None
    # And a paired person cannot make a new invite.
    await harness.command(ALEX, "/pair")
    assert harness.last_text(ALEX) == harness.text("pairing.already_paired")
    assert await count(harness, Invite) == 0


async def test_a_new_pair_replaces_the_old_link(harness: BotHarness) -> None:
    await harness.join(ALEX)
    old = await invite(harness, ALEX)
    new = await invite(harness, ALEX)
    assert old != new
    await harness.command(SAM, "/start", old)
    assert harness.last_text(SAM) == harness.text("pairing.refused.invalid")
    await open_and_accept(harness, SAM, new)
    assert await couple_of(harness, SAM) is not None


async def test_forged_or_borrowed_yes_buttons_do_nothing(harness: BotHarness) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    await harness.command(SAM, "/start", token)
    yes = button_starting(harness, SAM, "pair:yes:")
    invite_id = yes.split(":")[2]
    await harness.press(SAM, callbacks.pair_yes_data(invite_id, "A" * 22), message_id=1)
    # River never opened the link: Sam's button data is no use to River.
    await harness.press(RIVER, yes, message_id=1)
    assert await count(harness, Couple) == 0
    assert await harness.person(SAM) is None and await harness.person(RIVER) is None


async def test_repeated_wrong_tokens_are_slowed_down(harness: BotHarness, clock: FakeClock) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    for i in range(5):
        await harness.command(SAM, "/start", f"wrong-token-number-{i:02d}-xxxxxxxxxxxxxxxxxxx")
        assert harness.last_text(SAM) == harness.text("pairing.refused.invalid")
    await harness.command(SAM, "/start", token)
    assert harness.last_text(SAM) == harness.text("pairing.refused.slowed")
    assert await harness.person(SAM) is None
    clock.advance(minutes=10)
    await open_and_accept(harness, SAM, token)
    assert await couple_of(harness, SAM) is not None


def test_wrong_token_memory_is_bounded() -> None:
    tracker = WrongTokens(limit=2, max_people=3)
    now = utc(2026, 3, 2)
    for user in range(10):
        tracker.failed(user, now)
        tracker.failed(user, now)
    assert [tracker.slowed(user, now) for user in range(10)] == [False] * 7 + [True] * 3
    assert not tracker.slowed(9, now + timedelta(minutes=10))


# --------------------------------------------------------------------------- couple prompts
async def test_couple_prompts_reach_only_those_who_opted_in(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Couple prompts wait for both partners' yes: Alex's yes alone brings nothing."""
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=False)
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert reminder_texts(harness, ALEX) == reminder_texts(harness, SAM) == []
    # Sam turns them on in /settings; from the next day both receive them.
    await harness.command(SAM, "/settings")
    await harness.press(SAM, callbacks.settings_data("partnermenu"))
    await harness.press(SAM, callbacks.settings_data("couple", "toggle"))
    clock.set(utc(2026, 3, 3, 9))
    await harness.tick()
    assert [t in couple_texts(harness) for t in reminder_texts(harness, SAM)] == [True]
    assert [t in couple_texts(harness) for t in reminder_texts(harness, ALEX)] == [True]


# Each step: (who, "yes" or "no"); then whether couple prompts go out (to both, or to neither).
COUPLE_ANSWERS = {
    "alex yes only": ([("alex", "yes")], False),
    "sam yes only": ([("sam", "yes")], False),
    "alex then sam": ([("alex", "yes"), ("sam", "yes")], True),
    "sam then alex": ([("sam", "yes"), ("alex", "yes")], True),
    "sam no, alex yes": ([("sam", "no"), ("alex", "yes")], False),
    "alex no, sam yes": ([("alex", "no"), ("sam", "yes")], False),
    "both yes, then sam no": ([("alex", "yes"), ("sam", "yes"), ("sam", "no")], False),
    "both yes, then alex no": ([("sam", "yes"), ("alex", "yes"), ("alex", "no")], False),
    "both yes, sam no, sam yes": (
        [("alex", "yes"), ("sam", "yes"), ("sam", "no"), ("sam", "yes")],
        True,
    ),
}


@pytest.mark.parametrize("name", list(COUPLE_ANSWERS))
async def test_couple_prompts_go_out_only_while_both_said_yes(
    harness: BotHarness, clock: FakeClock, name: str
) -> None:
    """Through the dispatcher: the offer buttons after pairing, pressed in every order."""
    steps, both = COUPLE_ANSWERS[name]
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=False)
    await only_couple_prompts(harness, SAM, opt_in=False)
    who = {"alex": ALEX, "sam": SAM}
    offer = {
        user_id: harness.message_with_button(user_id, callbacks.couple_data(True))
        for user_id in who.values()
    }
    for person, choice in steps:
        await harness.press(
            who[person], callbacks.couple_data(choice == "yes"), message_id=offer[who[person]]
        )
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    expected = 1 if both else 0
    for user_id in (ALEX, SAM):
        texts = reminder_texts(harness, user_id)
        assert len(texts) == expected, (name, user_id)
        assert all(t in couple_texts(harness) for t in texts)


async def _sam_says_no(harness: BotHarness) -> None:
    await harness.command(SAM, "/settings")
    await harness.press(SAM, callbacks.settings_data("partnermenu"))
    await harness.press(SAM, callbacks.settings_data("couple", "toggle"))


async def _sam_pauses_shared_prompts(harness: BotHarness) -> None:
    await harness.command(SAM, "/pause")
    await harness.press(SAM, callbacks.pause_scope_data("shared"))
    await harness.press(SAM, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True))


async def claimed_couple_prompts(
    harness: BotHarness, clock: FakeClock
) -> tuple[list[Outgoing], TickStats]:
    """A paired couple who both said yes, their 09:00 couple prompts claimed but not sent."""
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=True)
    clock.set(utc(2026, 3, 2, 9))
    stats = TickStats()
    claimed = await harness.dispatcher._claim(stats)
    assert {m.kind for m in claimed} == {ContentKind.COUPLE_PROMPT}
    return claimed, stats


@pytest.mark.parametrize(
    "between",
    [
        pytest.param(_sam_says_no, id="a-later-no"),
        pytest.param(_sam_pauses_shared_prompts, id="a-shared-pause"),
    ],
)
async def test_a_change_between_claim_and_send_stops_a_couple_prompt(
    harness: BotHarness, clock: FakeClock, between: Callable[[BotHarness], Awaitable[None]]
) -> None:
    """A no, or a shared pause, that lands after the claim still stops the prompt for both."""
    claimed, stats = await claimed_couple_prompts(harness, clock)
    await between(harness)
    await harness.dispatcher._send_all(claimed, stats)
    assert reminder_texts(harness, ALEX) == reminder_texts(harness, SAM) == []


async def _sam_unpairs(harness: BotHarness) -> None:
    await harness.command(SAM, "/unpair")
    await harness.press(SAM, callbacks.unpair_data(True))


@pytest.mark.parametrize(
    "between",
    [
        pytest.param(_sam_says_no, id="a-later-no"),
        pytest.param(_sam_pauses_shared_prompts, id="a-shared-pause"),
        pytest.param(_sam_unpairs, id="an-unpairing"),
    ],
)
async def test_a_change_right_before_the_send_stops_a_couple_prompt(
    harness: BotHarness, clock: FakeClock, between: Callable[[BotHarness], Awaitable[None]]
) -> None:
    """The same changes landing after the dispatcher last read the chunk, right before the send:
    only the handler's word that both partners changed makes it read them again."""
    claimed, stats = await claimed_couple_prompts(harness, clock)
    pacer = harness.dispatcher.pacer
    slot, first = pacer.slot, asyncio.Lock()
    changed = False

    async def change_then_slot(chat_id: int) -> None:
        nonlocal changed
        async with first:  # every send waits until the change is done
            if not changed:
                changed = True
                await between(harness)
        await slot(chat_id)

    pacer.slot = change_then_slot  # type: ignore[method-assign]
    await harness.dispatcher._send_all(claimed, stats)
    assert reminder_texts(harness, ALEX) == reminder_texts(harness, SAM) == []


async def test_couple_prompts_arrive_at_each_partners_own_time(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=True)
    await harness.command(SAM, "/times", "20:00")
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert len(reminder_texts(harness, ALEX)) == 1 and reminder_texts(harness, SAM) == []
    clock.set(utc(2026, 3, 2, 20))
    await harness.tick()
    assert len(reminder_texts(harness, SAM)) == 1


# --------------------------------------------------------------------------- pausing
async def test_shared_pause_rests_couple_prompts_for_both_and_says_only_that(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=True)
    before = len(calls_to_chat(harness, SAM))
    await harness.command(ALEX, "/pause")
    assert harness.last_text(ALEX) == harness.text("pairing.pause_scope")
    await harness.press(ALEX, callbacks.pause_scope_data("shared"))
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True))
    assert harness.double.calls_to("editMessageText", chat_id=ALEX)[-1].params[
        "text"
    ] == harness.text("pairing.shared_rest_open")
    told = calls_to_chat(harness, SAM)[before:]
    assert [c.params["text"] for c in told] == [harness.text("pairing.partner_shared_resting")]
    assert told[0].params["protect_content"] is True

    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert reminder_texts(harness, ALEX) == reminder_texts(harness, SAM) == []
    # Sam cannot lift Alex's pause; Sam's /resume is about Sam's own reminders.
    await harness.command(SAM, "/resume")
    assert harness.last_text(SAM) == harness.text("pause.not_paused")
    before_alex = len(calls_to_chat(harness, ALEX))
    await harness.command(ALEX, "/resume")
    assert harness.last_text(ALEX) == harness.text("pairing.shared_back")
    # Sam's line about it, from this morning, now says they are back (edited, not a new one).
    line_id = harness.double.message_id_of(told[0])
    assert line_in_chat(harness, SAM, line_id) == harness.text("pairing.partner_shared_back")
    assert len(calls_to_chat(harness, ALEX)) == before_alex + 1
    clock.set(utc(2026, 3, 3, 9))
    await harness.tick()
    assert len(reminder_texts(harness, ALEX)) == len(reminder_texts(harness, SAM)) == 1


async def test_a_timed_shared_pause_ends_by_itself(harness: BotHarness, clock: FakeClock) -> None:
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=True)
    await harness.command(SAM, "/pause")
    await harness.press(SAM, callbacks.pause_scope_data("shared"))
    await harness.press(SAM, callbacks.pause_length_data(PauseLength.TODAY, shared=True))
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert reminder_texts(harness, ALEX) == []
    clock.set(utc(2026, 3, 3, 9))
    await harness.tick()
    assert len(reminder_texts(harness, ALEX)) == len(reminder_texts(harness, SAM)) == 1


async def test_both_holding_shared_prompts_keeps_them_resting(harness: BotHarness) -> None:
    await pair(harness)
    for who in (ALEX, SAM):
        await harness.command(who, "/pause")
        await harness.press(who, callbacks.pause_scope_data("shared"))
        await harness.press(
            who, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True)
        )
    before_sam = len(calls_to_chat(harness, SAM))
    await harness.command(ALEX, "/resume")
    assert harness.last_text(ALEX) == harness.text("pairing.shared_still_resting")
    assert len(calls_to_chat(harness, SAM)) == before_sam  # nothing changed for Sam


async def test_personal_pause_is_invisible_to_the_partner(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=True)
    before = len(calls_to_chat(harness, SAM))
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_scope_data("mine"))
    assert harness.double.calls_to("editMessageText", chat_id=ALEX)[-1].params[
        "text"
    ] == harness.text("pause.choose")
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.WEEK))
    await harness.command(ALEX, "/resume")
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_scope_data("mine"))
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.THREE_DAYS))
    assert calls_to_chat(harness, SAM)[before:] == []
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert reminder_texts(harness, ALEX) == []
    assert len(reminder_texts(harness, SAM)) == 1  # Sam's couple prompts carry on


async def test_toggling_the_shared_pause_edits_one_line_a_day(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Resting and resuming shared prompts over and over is not a way to fill the partner's
    chat: within a day the one line about it is edited to what is true now."""
    await pair(harness)
    before = len(calls_to_chat(harness, SAM))
    for _ in range(10):
        await harness.command(ALEX, "/pause")
        await harness.press(ALEX, callbacks.pause_scope_data("shared"))
        await harness.press(
            ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True)
        )
        clock.advance(minutes=5)
        await harness.command(ALEX, "/resume")
        clock.advance(minutes=5)
    told = calls_to_chat(harness, SAM)[before:]
    sent = [c for c in told if c.method == "sendMessage"]
    assert [c.params["text"] for c in sent] == [harness.text("pairing.partner_shared_resting")]
    line_id = harness.double.message_id_of(sent[0])
    edits = [c for c in told if c.method == "editMessageText"]
    assert {c.params["message_id"] for c in edits} == {line_id}
    assert line_in_chat(harness, SAM, line_id) == harness.text("pairing.partner_shared_back")
    # A day later a rest is news again: a line of its own.
    clock.advance(hours=24)
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_scope_data("shared"))
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True))
    assert harness.seen(SAM)[-1].params["text"] == harness.text("pairing.partner_shared_resting")
    assert harness.double.message_id_of(harness.seen(SAM)[-1]) != line_id


async def test_a_shared_pause_line_held_for_the_morning_is_edited_later(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await harness.command(SAM, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 23))
    before = len(calls_to_chat(harness, SAM))
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_scope_data("shared"))
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True))
    assert calls_to_chat(harness, SAM)[before:] == []
    clock.set(utc(2026, 3, 3, 7))
    assert await flush_held(harness.state, harness.bot) == 1
    (sent,) = calls_to_chat(harness, SAM)[before:]
    assert sent.params["text"] == harness.text("pairing.partner_shared_resting")
    clock.set(utc(2026, 3, 3, 8))
    await harness.command(ALEX, "/resume")
    told = calls_to_chat(harness, SAM)[before:]
    assert [c.method for c in told] == ["sendMessage", "editMessageText"]
    line_id = harness.double.message_id_of(sent)
    assert line_in_chat(harness, SAM, line_id) == harness.text("pairing.partner_shared_back")


# --------------------------------------------------------------------------- sharing
SHARED_LINES = {
    "s": "sharing.partner_checked_in.steady",
    "h": "sharing.partner_checked_in.heavy",
    "n": "sharing.partner_checked_in.need_space",
    "o": "sharing.partner_checked_in.open",
}
NEUTRAL_LINE = "sharing.partner_checkin_withdrawn"


def shared_line(harness: BotHarness, key: str) -> str:
    """What the partner reads for a shared check-in: the mood, and that nothing is asked."""
    return harness.text(key) + "\n\n" + harness.text("sharing.nothing_asked")


async def choose_sharing(harness: BotHarness, user_id: int, level: SharingLevel) -> None:
    await harness.command(user_id, "/settings")
    await harness.press(user_id, callbacks.settings_data("partnermenu"))
    await harness.press(user_id, callbacks.settings_data("share", level.value))


@pytest.mark.parametrize("level", list(SharingLevel))
async def test_each_sharing_level_shares_exactly_what_was_chosen(
    harness: BotHarness, clock: FakeClock, level: SharingLevel
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, level)
    shared = {
        SharingLevel.NOTHING: set(),
        SharingLevel.NEED_SPACE: {"n"},
        SharingLevel.ALL: {"s", "h", "n", "o"},
    }[level]
    for day, mood in enumerate("shno"):
        clock.set(utc(2026, 3, 2 + day, 9))
        await harness.tick()
        delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
        before = len(calls_to_chat(harness, SAM))
        await harness.press(ALEX, checkin_data(delivery.id, MOODS_BY_CODE[mood]))
        await harness.say(ALEX, "a private note, never shared")
        told = calls_to_chat(harness, SAM)[before:]
        # Sam's own reminder of the day may be in the chat already; only new calls count.
        expected = [shared_line(harness, SHARED_LINES[mood])] if mood in shared else []
        assert [c.params["text"] for c in told] == expected
        for call in told:
            assert call.params["protect_content"] is True
            assert "note" not in str(call.params["text"])


async def test_a_changed_answer_is_shared_once_per_mood(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.NEED_SPACE)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, SAM))
    for mood in "nsn":
        await harness.press(ALEX, checkin_data(delivery_id, MOODS_BY_CODE[mood]))
    told = calls_to_chat(harness, SAM)[before:]
    sent = [c.params["text"] for c in told if c.method == "sendMessage"]
    assert sent == [shared_line(harness, "sharing.partner_checked_in.need_space")]


async def test_a_shared_line_respects_discreet_and_silent(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(SAM, "/settings")
    await harness.press(SAM, callbacks.settings_data("discreetmenu"))
    await harness.press(SAM, callbacks.settings_data("discreet", "preview"))
    await harness.press(SAM, callbacks.settings_data("discreet", "silent"))
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    line = harness.seen(SAM)[-1]
    assert line.params["text"] == (
        harness.text("reminder.discreet_first_line")
        + "\n\n"
        + shared_line(harness, "sharing.partner_checked_in.heavy")
    )
    assert line.params["disable_notification"] is True
    assert line.params["protect_content"] is True


async def test_a_shared_line_waits_for_the_end_of_quiet_hours(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(ALEX, "/times", "23:00")
    await harness.command(SAM, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 23))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery.id, Mood.NEED_SPACE))
    assert calls_to_chat(harness, SAM)[before:] == []
    clock.set(utc(2026, 3, 3, 6, 59))
    assert await flush_held(harness.state, harness.bot) == 0
    clock.set(utc(2026, 3, 3, 7, 0))
    assert await flush_held(harness.state, harness.bot) == 1
    told = calls_to_chat(harness, SAM)[before:]
    assert [c.params["text"] for c in told] == [
        shared_line(harness, "sharing.partner_checked_in.need_space")
    ]
    assert await flush_held(harness.state, harness.bot) == 0


async def test_a_held_line_is_dropped_when_the_owner_stops_sharing(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(ALEX, "/times", "23:00")
    await harness.command(SAM, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 23))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    await harness.press(ALEX, checkin_data(delivery.id, Mood.HEAVY))
    await choose_sharing(harness, ALEX, SharingLevel.NOTHING)
    before = len(calls_to_chat(harness, SAM))
    clock.set(utc(2026, 3, 3, 7, 0))
    assert await flush_held(harness.state, harness.bot) == 0
    assert calls_to_chat(harness, SAM)[before:] == []
    assert await count(harness, PartnerNotice) == 0


def line_in_chat(harness: BotHarness, chat_id: int, message_id: int) -> str:
    """The text of one message in a chat as it stands now, after every edit."""
    text = ""
    for call in calls_to_chat(harness, chat_id):
        if call.method == "sendMessage":
            this = harness.double.message_id_of(call)
        elif call.method == "editMessageText":
            this = int(str(call.params.get("message_id")))
        else:
            continue
        if this == message_id:
            text = str(call.params["text"])
    return text


async def test_alternating_taps_send_the_partner_one_line(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Twenty taps are not twenty lines: one line per reminder, edited to the latest answer."""
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, SAM))
    for i in range(20):
        await harness.press(ALEX, checkin_data(delivery_id, MOODS_BY_CODE["hs"[i % 2]]))
    told = calls_to_chat(harness, SAM)[before:]
    sent = [c for c in told if c.method == "sendMessage"]
    assert len(sent) == 1
    line_id = harness.double.message_id_of(sent[0])
    assert {c.method for c in told} == {"sendMessage", "editMessageText"}
    assert {c.params["message_id"] for c in told if c.method == "editMessageText"} == {line_id}
    assert line_in_chat(harness, SAM, line_id) == shared_line(harness, SHARED_LINES["s"])
    assert not harness.double.violations


async def test_a_tap_taken_back_turns_the_line_neutral(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.NEED_SPACE)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    (sent,) = calls_to_chat(harness, SAM)[before:]
    line_id = harness.double.message_id_of(sent)
    # A mis-tap, taken back: the new answer is not one Alex shares, so the line goes neutral.
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    assert line_in_chat(harness, SAM, line_id) == harness.text(NEUTRAL_LINE)
    edits = len(calls_to_chat(harness, SAM))
    # Still not shared: nothing to change
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    assert len(calls_to_chat(harness, SAM)) == edits
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    assert line_in_chat(harness, SAM, line_id) == shared_line(harness, SHARED_LINES["n"])
    told = calls_to_chat(harness, SAM)[before:]
    assert [c.method for c in told] == ["sendMessage", "editMessageText", "editMessageText"]


async def test_an_answer_changed_at_night_edits_the_line_without_a_new_one(
    harness: BotHarness, clock: FakeClock
) -> None:
    """The line went out before Sam's quiet hours; Alex changes the answer at night. An edit
    makes no sound, so it is made at once: a mis-tap should not stand until morning."""
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(ALEX, "/times", "21:00")
    await harness.command(SAM, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 21))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery.id, Mood.HEAVY))
    (sent,) = calls_to_chat(harness, SAM)[before:]
    clock.set(utc(2026, 3, 2, 23))
    await harness.press(ALEX, checkin_data(delivery.id, Mood.STEADY))
    line_id = harness.double.message_id_of(sent)
    assert line_in_chat(harness, SAM, line_id) == shared_line(harness, SHARED_LINES["s"])
    assert [c.method for c in calls_to_chat(harness, SAM)[before:]] == [
        "sendMessage",
        "editMessageText",
    ]
    clock.set(utc(2026, 3, 3, 7))
    assert await flush_held(harness.state, harness.bot) == 0


async def test_a_line_waiting_for_the_morning_carries_the_latest_answer(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(ALEX, "/times", "23:00")
    await harness.command(SAM, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 23))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    before = len(calls_to_chat(harness, SAM))
    for mood in "hshs":
        await harness.press(ALEX, checkin_data(delivery.id, MOODS_BY_CODE[mood]))
    assert calls_to_chat(harness, SAM)[before:] == []
    clock.set(utc(2026, 3, 3, 7))
    assert await flush_held(harness.state, harness.bot) == 1
    (sent,) = calls_to_chat(harness, SAM)[before:]
    assert sent.params["text"] == shared_line(harness, SHARED_LINES["s"])
    # A change after the morning line went out edits it.
    await harness.press(ALEX, checkin_data(delivery.id, Mood.OPEN))
    line_id = harness.double.message_id_of(sent)
    assert line_in_chat(harness, SAM, line_id) == shared_line(harness, SHARED_LINES["o"])
    assert [c.method for c in calls_to_chat(harness, SAM)[before:]] == [
        "sendMessage",
        "editMessageText",
    ]


async def receive_toggle(harness: BotHarness, user_id: int) -> None:
    await harness.command(user_id, "/settings")
    await harness.press(user_id, callbacks.settings_data("partnermenu"))
    await harness.press(user_id, callbacks.settings_data("receive", "toggle"))


async def test_the_receiver_can_turn_shared_checkins_off_without_unpairing(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    before_alex = len(calls_to_chat(harness, ALEX))
    await receive_toggle(harness, SAM)
    sam = await harness.person(SAM)
    assert sam is not None and sam.couple_id is not None and not sam.receives_partner_checkins
    # Alex is not told, and what Alex chose stays as it was.
    assert calls_to_chat(harness, ALEX)[before_alex:] == []
    alex = await harness.person(ALEX)
    assert alex is not None and alex.sharing is SharingLevel.ALL
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    assert calls_to_chat(harness, SAM)[before:] == []
    # Back on: the next answer reaches Sam again.
    await receive_toggle(harness, SAM)
    before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    assert [c.params["text"] for c in calls_to_chat(harness, SAM)[before:]] == [
        shared_line(harness, SHARED_LINES["n"])
    ]


async def test_turning_shared_checkins_off_drops_a_line_waiting_for_the_morning(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(ALEX, "/times", "23:00")
    await harness.command(SAM, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 23))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    await harness.press(ALEX, checkin_data(delivery.id, Mood.HEAVY))
    await receive_toggle(harness, SAM)
    before = len(calls_to_chat(harness, SAM))
    clock.set(utc(2026, 3, 3, 7))
    assert await flush_held(harness.state, harness.bot) == 0
    assert calls_to_chat(harness, SAM)[before:] == []


async def test_the_receivers_settings_show_and_offer_the_switch(harness: BotHarness) -> None:
    await pair(harness)
    await harness.command(SAM, "/settings")
    summary = harness.last_text(SAM)
    on = harness.text("settings.on")
    assert harness.text("pairing.summary_receives", receives=on) in summary
    await harness.press(SAM, callbacks.settings_data("partnermenu"))
    labels = harness.last_buttons(SAM)
    chosen = harness.text("buttons.chosen", label=harness.text("pairing.buttons.receive_checkins"))
    assert chosen in labels


# --------------------------------------------------------------------------- unpair, delete
@pytest.mark.parametrize("who", ["inviter", "invited"])
async def test_unpair_from_either_side(harness: BotHarness, clock: FakeClock, who: str) -> None:
    await pair(harness)
    await only_couple_prompts(harness, ALEX, opt_in=True)
    await only_couple_prompts(harness, SAM, opt_in=True)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    me, other = (ALEX, SAM) if who == "inviter" else (SAM, ALEX)
    await harness.command(me, "/unpair")
    assert harness.last_text(me) == harness.text("pairing.unpair_confirm")
    await harness.press(me, callbacks.unpair_data(False))
    assert await couple_of(harness, me) is not None
    before = len(calls_to_chat(harness, other))
    await harness.command(me, "/unpair")
    await harness.press(me, callbacks.unpair_data(True))
    assert harness.double.calls_to("editMessageText", chat_id=me)[-1].params[
        "text"
    ] == harness.text("pairing.unpaired")
    told = calls_to_chat(harness, other)[before:]
    assert [c.params["text"] for c in told] == [harness.text("pairing.partner_unpaired")]
    for user_id in (ALEX, SAM):
        person = await harness.person(user_id)
        assert person is not None
        assert person.couple_id is None and not person.wants_couple_prompts
        assert person.sharing is SharingLevel.NOTHING
    assert await count(harness, Couple) == 0
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert reminder_texts(harness, ALEX) == reminder_texts(harness, SAM) == []


async def test_delete_by_one_partner_unpairs_and_keeps_the_others_data(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await choose_sharing(harness, SAM, SharingLevel.ALL)
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    for user_id in (ALEX, SAM):
        delivery = [d for d in await harness.deliveries(user_id) if d.telegram_message_id][-1]
        await harness.press(user_id, checkin_data(delivery.id, Mood.STEADY))
        await harness.say(user_id, "mine alone")
    sam = await harness.person(SAM)
    assert sam is not None
    owned = (
        (Schedule, Schedule.person_id),
        (Delivery, Delivery.person_id),
        (CheckIn, CheckIn.person_id),
    )
    sam_rows = {}
    async with harness.state.sessions.begin() as session:
        for model, owner in owned:
            query = select(func.count()).select_from(model).where(owner == sam.id)
            sam_rows[model.__name__] = int((await session.execute(query)).scalar_one())
    before = len(calls_to_chat(harness, SAM))
    await harness.command(ALEX, "/delete")
    await harness.press(ALEX, callbacks.delete_data(True))
    told = calls_to_chat(harness, SAM)[before:]
    assert [c.params["text"] for c in told] == [harness.text("pairing.partner_unpaired")]
    assert await harness.person(ALEX) is None
    sam_after = await harness.person(SAM)
    assert sam_after is not None and sam_after.couple_id is None
    assert sam_after.consent is ConsentState.GIVEN
    async with harness.state.sessions.begin() as session:
        for model in (Schedule, Delivery, CheckIn):
            query = select(func.count()).select_from(model)
            assert int((await session.execute(query)).scalar_one()) == sam_rows[model.__name__]
        notes = (await session.execute(select(CheckIn.note))).scalars().all()
    assert notes == ["mine alone"]
    assert await count(harness, Couple) == 0
    assert await count(harness, PartnerNotice) == 0


def _values(tree: object) -> list[object]:
    """Every scalar value in a decoded JSON document."""
    if isinstance(tree, dict):
        return [value for item in tree.values() for value in _values(item)]
    if isinstance(tree, list):
        return [value for item in tree for value in _values(item)]
    return [tree]


async def test_mydata_has_own_pairing_and_nothing_of_the_partner(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.NEED_SPACE)
    await harness.command(SAM, "/pause")
    await harness.press(SAM, callbacks.pause_scope_data("shared"))
    await harness.press(SAM, callbacks.pause_length_data(PauseLength.WEEK, shared=True))
    await harness.command(ALEX, "/mydata")
    text, document = harness.double.calls_to("sendDocument", chat_id=ALEX)  # to read, JSON
    data = json.loads(document.files["document"])
    assert data["pairing"] == {"paired": True, "open_invite": None}
    assert data["person"]["sharing"] == "need_space"
    assert data["person"]["shared_prompts_resting"] is True
    assert "shared_paused_until" not in data["person"]  # Sam's pause end is Sam's
    sam = await harness.person(SAM)
    assert sam is not None
    # Sam's Telegram id is no value anywhere in Alex's file (compared as values, not as a
    # substring: a random content seed may contain the digits 7002).
    assert SAM not in _values(data) and str(SAM) not in _values(data)
    assert sam.shared_hold_until is not None
    assert sam.shared_hold_until.isoformat() not in document.files["document"].decode()
    # Nor in the file to read, in any form: not Sam's id, not when Sam's pause ends.
    readable = text.files["document"].decode()
    assert str(SAM) not in readable
    assert sam.shared_hold_until.strftime("%Y-%m-%d") not in readable.split("Written", 1)[1]


async def test_mydata_does_not_spell_out_the_partners_couple_prompt_answer(
    harness: BotHarness,
) -> None:
    """Whether both said yes is half the partner's answer: /mydata holds one's own yes only."""
    await pair(harness)
    await harness.press(SAM, callbacks.couple_data(True))
    await harness.press(ALEX, callbacks.couple_data(False))
    await harness.command(SAM, "/mydata")
    _, document = harness.double.calls_to("sendDocument", chat_id=SAM)  # to read, JSON
    data = json.loads(document.files["document"])
    assert data["person"]["wants_couple_prompts"] is True
    assert "couple_prompts_agreed" not in data["person"]


async def test_existing_single_people_are_untouched_by_the_migration(
    engine: AsyncEngine,
) -> None:
    await downgrade(engine, "0001")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO people (telegram_user_id, chat_id, language, timezone, consent,"
                " consent_given_at, reachable, audience, wants_affirmations, wants_practices,"
                " wants_checkin_prompts, weekdays, discreet_preview, silent, content_seed,"
                " content_position, created_at, updated_at) VALUES (1, 1, 'en', 'UTC', 'given',"
                " :now, true, 'anyone', true, true, false, 127, false, false, 0, 0, :now, :now)"
            ),
            {"now": datetime(2026, 3, 1)},
        )
    await upgrade(engine, "0004")  # the last revision with plain ids (0007 encrypts them)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT couple_id, sharing, wants_couple_prompts FROM people")
            )
        ).one()
    await upgrade(engine)
    assert row.couple_id is None
    assert row.sharing == "nothing"
    assert not row.wants_couple_prompts


async def test_the_migration_keeps_couple_prompts_only_where_both_said_yes(
    engine: AsyncEngine,
) -> None:
    await downgrade(engine, "0002")
    people = (
        "INSERT INTO people (telegram_user_id, chat_id, language, timezone, consent,"
        " consent_given_at, reachable, audience, wants_affirmations, wants_practices,"
        " wants_checkin_prompts, weekdays, discreet_preview, silent, content_seed,"
        " content_position, created_at, updated_at, couple_id, wants_couple_prompts, sharing)"
        " VALUES (:id, :id, 'en', 'UTC', 'given', :now, true, 'anyone', true, true, false, 127,"
        " false, false, 0, 0, :now, :now, :couple, :wants, 'nothing')"
    )
    now = datetime(2026, 3, 1)
    async with engine.begin() as connection:
        for couple in (1, 2):
            await connection.execute(
                text("INSERT INTO couples (id, created_at) VALUES (:id, :now)"),
                {"id": couple, "now": now},
            )
        for user, couple, wants in ((1, 1, True), (2, 1, True), (3, 2, True), (4, 2, False)):
            await connection.execute(
                text(people), {"id": user, "couple": couple, "wants": wants, "now": now}
            )
    await upgrade(engine, "0004")  # the last revision with plain ids (0007 encrypts them)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT telegram_user_id, couple_prompts_agreed, receives_partner_checkins"
                    " FROM people ORDER BY telegram_user_id"
                )
            )
        ).all()
    await upgrade(engine)
    assert [(r[0], bool(r[1]), bool(r[2])) for r in rows] == [
        (1, True, True),
        (2, True, True),
        (3, False, True),
        (4, False, True),
    ]


async def test_a_stopped_partner_can_still_unpair(harness: BotHarness) -> None:
    await pair(harness)
    await harness.command(ALEX, "/stop")
    await harness.press(ALEX, callbacks.stop_data(True))
    await harness.command(ALEX, "/unpair")
    await harness.press(ALEX, callbacks.unpair_data(True))
    assert harness.last_text(SAM) == harness.text("pairing.partner_unpaired")
    assert await couple_of(harness, ALEX) is None and await couple_of(harness, SAM) is None


async def test_a_stopped_partner_hears_nothing(harness: BotHarness, clock: FakeClock) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    await harness.command(SAM, "/stop")
    await harness.press(SAM, callbacks.stop_data(True))
    before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_scope_data("shared"))
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True))
    await harness.command(ALEX, "/unpair")
    await harness.press(ALEX, callbacks.unpair_data(True))
    assert calls_to_chat(harness, SAM)[before:] == []

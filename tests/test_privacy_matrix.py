"""The privacy matrix: for every action of partner A, exactly what partner B receives.

Each case pairs Alex (A) with Sam (B), delivers both a reminder, then lets Alex act. Everything
the bot does in Sam's chat during the action (sends, edits, documents) is compared with the
expected list: empty unless Alex chose to share, or pairing itself changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

import pytest
from telegram.ext import CommandHandler

from reminderbot.content import ContentKind
from reminderbot.delivery.reminder import checkin_data, pause_data
from reminderbot.services import preferences
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.models import Audience, Mood, SharingLevel
from reminderbot.telegram import callbacks
from tests.support import factories
from tests.support.harness import BotHarness, FakeClock
from tests.test_couples import ALEX, SAM, calls_to_chat, invite, pair, shared_line

Action = Callable[[BotHarness, "Scene"], Awaitable[None]]


@dataclass
class Scene:
    delivery_id: int  # Alex's reminder of the day


@dataclass(frozen=True)
class Case:
    name: str
    act: Action
    told: tuple[str, ...] = ()  # UI keys of the lines Sam receives, in order
    needs: tuple[str, ...] = field(default=())  # commands that must be registered
    edited: tuple[str, ...] = ()  # UI keys Sam's one line is edited to (a change), in order
    sam_first: tuple[str, ...] = ()  # settings buttons Sam presses before Alex acts


def line_text(h: BotHarness, key: str) -> str:
    if key.startswith("sharing.partner_checked_in."):
        return shared_line(h, key)
    return h.text(key)


def command(name: str, args: str = "") -> Action:
    async def act(h: BotHarness, scene: Scene) -> None:
        await h.command(ALEX, f"/{name}", args)

    return act


def steps(*parts: Action) -> Action:
    async def act(h: BotHarness, scene: Scene) -> None:
        for part in parts:
            await part(h, scene)

    return act


def press(data: str | Callable[[int], str]) -> Action:
    """Press a button: its data, or a builder given the scene's delivery (a reminder's button)."""

    async def act(h: BotHarness, scene: Scene) -> None:
        await h.press(ALEX, data if isinstance(data, str) else data(scene.delivery_id))

    return act


def settings_button(data: str) -> Action:
    """Open /settings and press one of its buttons on that message."""

    async def act(h: BotHarness, scene: Scene) -> None:
        await h.command(ALEX, "/settings")
        message_id = h.double.message_id_of(h.seen(ALEX)[-1])
        await h.press(ALEX, data, message_id=message_id)

    return act


def share(level: SharingLevel) -> Action:
    return settings_button(callbacks.settings_data("share", level.value))


def tap(mood: Mood) -> Action:
    return press(lambda delivery: checkin_data(delivery, mood))


def say(text: str) -> Action:
    async def act(h: BotHarness, scene: Scene) -> None:
        await h.say(ALEX, text)

    return act


def send_media(kind: str) -> Action:
    async def act(h: BotHarness, scene: Scene) -> None:
        await h.process(factories.media_update(h.bot, ALEX, kind, caption="for me only"))

    return act


SHARED_LINE = {mood: f"sharing.partner_checked_in.{mood.value}" for mood in Mood}
SHARES = {
    SharingLevel.NOTHING: frozenset[Mood](),
    SharingLevel.NEED_SPACE: frozenset({Mood.NEED_SPACE}),
    SharingLevel.ALL: frozenset(Mood),
}


def settings_data() -> list[str]:
    """Every /settings button there is, from the same tables the handler uses."""
    data = [callbacks.settings_data("main"), callbacks.settings_data("partnermenu")]
    data += [callbacks.settings_data(s) for s in ("tzmenu", "timesmenu", "daysmenu", "quietmenu")]
    data += [callbacks.settings_data(s) for s in ("kindsmenu", "whomenu", "discreetmenu")]
    data += [
        callbacks.settings_data("tz", "Europe/Berlin"),
        callbacks.settings_data("tz", "America/New_York"),
    ]
    data += [callbacks.settings_data("times", name) for name in preferences.TIME_PRESETS]
    data += [callbacks.settings_data("days", name) for name in preferences.DAY_PRESETS]
    data += [callbacks.settings_data("day", str(i)) for i in range(7)]
    data += [callbacks.settings_data("quiet", name) for name in preferences.QUIET_PRESETS]
    data += [callbacks.settings_data("kind", kind) for kind in preferences.KIND_FLAGS]
    data += [callbacks.settings_data("who", a.value) for a in Audience]
    data += [
        callbacks.settings_data("discreet", "preview"),
        callbacks.settings_data("discreet", "silent"),
        callbacks.settings_data("couple", "toggle"),
    ]
    data += [callbacks.settings_data("receive", "toggle")]
    data += [callbacks.settings_data("share", level.value) for level in SharingLevel]
    data += [callbacks.settings_data("langmenu")]
    data += [callbacks.language_data(code) for code in ("de", "es", "en")]
    return data


def cases() -> list[Case]:
    out = [
        Case("/start", command("start")),
        Case("/start with a junk token", command("start", "x" * 43)),
        Case("/help", command("help")),
        Case("/settings", command("settings")),
        Case("/language", steps(command("language"), press(callbacks.language_data("es")))),
        Case("/times", command("times", "07:15 21:30")),
        Case("/times wrong", command("times", "soon")),
        Case("/timezone", command("timezone", "Europe/Berlin")),
        Case("/timezone asks", command("timezone")),
        Case("/timezone typed", steps(command("timezone"), say("Tokyo"))),
        Case("/quiet", command("quiet", "22:00 07:00")),
        Case("/quiet off", command("quiet", "off")),
        Case("/pause cancel", steps(command("pause"), press(callbacks.PAUSE_CANCEL))),
        Case(
            "pause button on a reminder",
            steps(
                press(pause_data),
                press(callbacks.pause_scope_data("mine")),
                press(callbacks.pause_length_data(PauseLength.TODAY)),
            ),
        ),
        Case(
            "/resume after a personal pause",
            steps(
                command("pause"),
                press(callbacks.pause_scope_data("mine")),
                press(callbacks.pause_length_data(PauseLength.UNTIL_RESUMED)),
                command("resume"),
            ),
        ),
        Case("/resume when nothing rests", command("resume")),
        Case("/checkins", command("checkins"), needs=("checkins",)),
        Case("/support", command("support"), needs=("support",)),
        Case(
            "support button",
            steps(tap(Mood.HEAVY), press(callbacks.SUPPORT_NOW)),
            needs=("support",),
        ),
        Case("/mydata", command("mydata")),
        Case("/stop", steps(command("stop"), press(callbacks.stop_data(True)))),
        Case("/stop cancelled", steps(command("stop"), press(callbacks.stop_data(False)))),
        Case(
            "/stop then /start again",
            steps(
                command("stop"),
                press(callbacks.stop_data(True)),
                command("start"),
                press(callbacks.consent_data(True)),
            ),
        ),
        Case(
            "/delete",
            steps(command("delete"), press(callbacks.delete_data(True))),
            told=("pairing.partner_unpaired",),
        ),
        Case("/delete cancelled", steps(command("delete"), press(callbacks.delete_data(False)))),
        Case(
            "/unpair",
            steps(command("unpair"), press(callbacks.unpair_data(True))),
            told=("pairing.partner_unpaired",),
        ),
        Case("/unpair cancelled", steps(command("unpair"), press(callbacks.unpair_data(False)))),
        Case("/pair while paired", command("pair")),
        Case("couple prompts yes", press(callbacks.couple_data(True))),
        Case("couple prompts no", press(callbacks.couple_data(False))),
        Case("unknown command", command("nonsense")),
        Case("free text", say("hello there")),
        Case("a voice message", send_media("voice")),
        Case("a photo with a caption", send_media("photo")),
        Case("a sticker", send_media("sticker")),
        Case(
            "quiet hours over a time, moved",
            steps(
                command("times", "23:00"),
                command("quiet", "22:00 07:00"),
                press(callbacks.move_data(time(23, 0), time(7, 0))),
            ),
        ),
        Case(
            "a note after a check-in (sharing nothing)",
            steps(tap(Mood.HEAVY), say("only for me")),
        ),
        Case(
            "a note after a shared check-in",
            steps(share(SharingLevel.ALL), tap(Mood.STEADY), say("only for me")),
            told=(SHARED_LINE[Mood.STEADY],),
        ),
        Case(
            "shared pause then resume",
            steps(
                command("pause"),
                press(callbacks.pause_scope_data("shared")),
                press(callbacks.pause_length_data(PauseLength.WEEK, shared=True)),
                command("resume"),
            ),
            told=("pairing.partner_shared_resting",),
            edited=("pairing.partner_shared_back",),
        ),
        Case(
            "shared pause cancelled",
            steps(
                command("pause"),
                press(callbacks.pause_scope_data("shared")),
                press(callbacks.PAUSE_CANCEL),
            ),
        ),
    ]
    heavy, steady, need = (
        SHARED_LINE[Mood.HEAVY],
        SHARED_LINE[Mood.STEADY],
        SHARED_LINE[Mood.NEED_SPACE],
    )
    withdrawn = "sharing.partner_checkin_withdrawn"
    out += [
        Case(
            "share all, twenty alternating taps",
            steps(share(SharingLevel.ALL), *[tap(Mood.HEAVY), tap(Mood.STEADY)] * 10),
            told=(heavy,),
            edited=(steady,) + (heavy, steady) * 9,
        ),
        Case(
            "share need space, a need-space tap taken back",
            steps(share(SharingLevel.NEED_SPACE), tap(Mood.NEED_SPACE), tap(Mood.STEADY)),
            told=(need,),
            edited=(withdrawn,),
        ),
        Case(
            "share need space, taken back and tapped again",
            steps(
                share(SharingLevel.NEED_SPACE),
                tap(Mood.NEED_SPACE),
                tap(Mood.STEADY),
                tap(Mood.HEAVY),
                tap(Mood.NEED_SPACE),
            ),
            told=(need,),
            edited=(withdrawn, need),
        ),
        Case(
            "share need space, steady then need space",
            steps(share(SharingLevel.NEED_SPACE), tap(Mood.STEADY), tap(Mood.NEED_SPACE)),
            told=(need,),
        ),
        Case(
            "share all, tap, share nothing, change the answer",
            steps(share(SharingLevel.ALL), tap(Mood.HEAVY), share(SharingLevel.NOTHING)),
            told=(heavy,),
        ),
        Case(
            "share all, tap, share nothing, tap again",
            steps(
                share(SharingLevel.ALL),
                tap(Mood.HEAVY),
                share(SharingLevel.NOTHING),
                tap(Mood.STEADY),
            ),
            told=(heavy,),
            edited=(withdrawn,),
        ),
        Case(
            "share all while Sam turned shared check-ins off",
            steps(share(SharingLevel.ALL), tap(Mood.HEAVY), tap(Mood.STEADY)),
            sam_first=(
                callbacks.settings_data("partnermenu"),
                callbacks.settings_data("receive", "toggle"),
            ),
        ),
        Case(
            "Alex turns their own receiving off, then shares",
            steps(
                settings_button(callbacks.settings_data("receive", "toggle")),
                share(SharingLevel.ALL),
                tap(Mood.OPEN),
            ),
            told=(SHARED_LINE[Mood.OPEN],),
        ),
    ]
    for data in settings_data():
        out.append(Case(f"settings {data}", settings_button(data)))
    for length in PauseLength:
        out.append(
            Case(
                f"/pause my reminders {length.value}",
                steps(
                    command("pause"),
                    press(callbacks.pause_scope_data("mine")),
                    press(callbacks.pause_length_data(length)),
                ),
            )
        )
        out.append(
            Case(
                f"/pause shared prompts {length.value}",
                steps(
                    command("pause"),
                    press(callbacks.pause_scope_data("shared")),
                    press(callbacks.pause_length_data(length, shared=True)),
                ),
                told=("pairing.partner_shared_resting",),
            )
        )
    for level in SharingLevel:
        for mood in Mood:
            told = (SHARED_LINE[mood],) if mood in SHARES[level] else ()
            out.append(
                Case(f"share {level.value}, tap {mood.value}", steps(share(level), tap(mood)), told)
            )
    return out


def registered_commands(h: BotHarness) -> set[str]:
    return {
        name
        for handlers in h.application.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
async def test_what_partner_b_receives(harness: BotHarness, clock: FakeClock, case: Case) -> None:
    missing = [name for name in case.needs if name not in registered_commands(harness)]
    if missing:
        pytest.skip(f"/{missing[0]} is not registered yet")
    await pair(harness)
    await harness.press(ALEX, callbacks.couple_data(True))
    await harness.press(SAM, callbacks.couple_data(True))
    # An ordinary day: each has received a reminder of their own.
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    if case.sam_first:
        await harness.command(SAM, "/settings")
        message_id = harness.double.message_id_of(harness.seen(SAM)[-1])
        for data in case.sam_first:
            await harness.press(SAM, data, message_id=message_id)
    before = len(calls_to_chat(harness, SAM))

    await case.act(harness, Scene(delivery.id))

    received = calls_to_chat(harness, SAM)[before:]
    sent = [c for c in received if c.method == "sendMessage"]
    edits = [c for c in received if c.method == "editMessageText"]
    assert len(sent) + len(edits) == len(received)
    assert [c.params["text"] for c in sent] == [line_text(harness, key) for key in case.told]
    for call in sent:
        assert call.params["protect_content"] is True
    # A change only ever edits the one line about it (a check-in, or shared prompts).
    assert [c.params["text"] for c in edits] == [line_text(harness, key) for key in case.edited]
    if edits:
        assert {c.params["message_id"] for c in edits} == {harness.double.message_id_of(sent[-1])}


async def test_the_matrix_covers_every_registered_command(harness: BotHarness) -> None:
    """A new command must get a row in the matrix above."""
    covered = {"start", "help", "settings", "times", "timezone", "quiet", "pause", "resume"}
    covered |= {"checkins", "support", "mydata", "stop", "delete", "unpair", "pair", "language"}
    assert registered_commands(harness) <= covered


async def test_opening_a_link_tells_the_inviter_nothing(harness: BotHarness) -> None:
    """Only a yes connects; looking at the invitation is not news for the inviter."""
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    before = len(calls_to_chat(harness, ALEX))
    await harness.command(SAM, "/start", token)
    await harness.press(SAM, callbacks.PAIR_NO)
    assert calls_to_chat(harness, ALEX)[before:] == []


@pytest.mark.parametrize("alex", ["yes", "no", "unanswered"])
@pytest.mark.parametrize("sam", ["yes", "no", "unanswered"])
async def test_couple_prompts_follow_both_answers_and_tell_nobody(
    harness: BotHarness, clock: FakeClock, alex: str, sam: str
) -> None:
    """Alex's couple-prompt answer reaches Sam only as prompts that come (both said yes) or
    don't: no line about it, either way."""
    await pair(harness)
    for user_id in (ALEX, SAM):
        await harness.command(user_id, "/settings")
        await harness.press(user_id, callbacks.settings_data("kindsmenu"))
        await harness.press(user_id, callbacks.settings_data("kind", "affirmation"))
        await harness.press(user_id, callbacks.settings_data("kind", "practice"))
    if sam != "unanswered":
        await harness.press(SAM, callbacks.couple_data(sam == "yes"))
    before = len(calls_to_chat(harness, SAM))
    if alex != "unanswered":
        await harness.press(ALEX, callbacks.couple_data(alex == "yes"))
    assert calls_to_chat(harness, SAM)[before:] == []
    seen_before = {user_id: len(harness.seen(user_id)) for user_id in (ALEX, SAM)}
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    await harness.tick()
    prompts = {i.text for i in harness.state.catalog.items("en", [ContentKind.COUPLE_PROMPT])}
    for user_id in (ALEX, SAM):
        received = [str(c.params["text"]) for c in harness.seen(user_id)[seen_before[user_id] :]]
        got = [t for t in received if t in prompts]
        assert len(got) == (1 if alex == sam == "yes" else 0), user_id

"""Words that say what the bot does: how many times, what settings mean, and a picture whose
rows read like the buttons and whose labels fit.

Database tests run on SQLite and PostgreSQL, against the strict Telegram double.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import combinations

import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from reminderbot.delivery.reminder import MOODS_BY_CODE, checkin_data
from reminderbot.services import chart
from reminderbot.services.schedules import MAX_DAILY_TIMES
from reminderbot.storage.models import Mood
from tests.support.harness import BotHarness, FakeClock
from tests.test_checkins_support import DrawnCharts, joined, reminder_at, utc

ALEX = 8201
BUTTON_LIMIT = 40  # the longest button label the words check allows, in any language


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> DrawnCharts:
    drawn = DrawnCharts()
    monkeypatch.setattr(chart, "render", drawn)
    return drawn


async def test_times_are_explained_as_one_to_a_number_in_words(harness: BotHarness) -> None:
    await harness.join(ALEX)
    most = harness.text(f"numbers.{MAX_DAILY_TIMES}")
    await harness.command(ALEX, "/times", " ".join(f"0{h}:00" for h in range(MAX_DAILY_TIMES + 1)))
    assert harness.last_text(ALEX) == harness.text("settings.times_usage", most=most)
    await harness.command(ALEX, "/help")
    assert most in harness.last_text(ALEX)


async def test_the_times_command_in_the_menu_says_how_many_times(harness: BotHarness) -> None:
    """The menu is where most people meet /times: its line says one to six, as /help does."""
    most = harness.text(f"numbers.{MAX_DAILY_TIMES}")
    # The menu for everyone whose language has no menu of its own: the default language's.
    (menu,) = [
        c for c in harness.double.calls_to("setMyCommands") if "language_code" not in c.params
    ]
    commands = menu.params["commands"]
    assert isinstance(commands, list)
    (times,) = [c["description"] for c in commands if c["command"] == "times"]
    assert f"one to {most}" in times
    assert "/times 08:30 20:00" in times


async def test_settings_show_checkin_buttons_as_always_there(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/settings")
    summary = harness.last_text(ALEX).splitlines()
    # A line of its own says the buttons are always under a reminder ...
    assert harness.text("settings.checkin_buttons") in summary
    # ... and check-in prompts are listed with the other kinds, off until chosen.
    kinds = harness.text(
        "settings.kinds",
        affirmations=harness.text("settings.on"),
        practices=harness.text("settings.on"),
        checkin_prompts=harness.text("settings.off"),
    ).splitlines()
    position = summary.index(kinds[0])
    assert summary[position : position + len(kinds)] == kinds


def reminder_button_order(harness: BotHarness, chat_id: int) -> list[Mood]:
    """The moods of the latest reminder's check-in buttons, in reading order."""
    for call in reversed(harness.seen(chat_id)):
        codes = [
            data.rsplit(":", 1)[1]
            for row in harness.double.buttons(call)
            for _, data in row
            if data.startswith("ci:")
        ]
        if codes:
            return [MOODS_BY_CODE[code] for code in codes]
    raise AssertionError("no reminder")


async def test_the_pictures_rows_follow_the_buttons_order(
    harness: BotHarness, clock: FakeClock, drawn: DrawnCharts
) -> None:
    await joined(harness, ALEX)
    delivery = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery, Mood.OPEN))
    await harness.command(ALEX, "/checkins")
    (picture,) = drawn.charts
    order = reminder_button_order(harness, ALEX)
    assert [mood for mood, _ in picture.moods] == order
    assert [label for _, label in picture.moods] == [
        harness.text(f"buttons.mood_{mood.value}") for mood in order
    ]


# --------------------------------------------------------------------------- the drawing itself
def a_chart(labels: dict[Mood, str], months: str = "Mar") -> chart.MoodChart:
    days = tuple(date(2026, 3, 1) + timedelta(days=i) for i in range(28))
    order = (Mood.STEADY, Mood.HEAVY, Mood.NEED_SPACE, Mood.OPEN)
    return chart.MoodChart(
        title="Your last four weeks",
        days=days,
        day_labels=tuple(f"{d.day} {months}" for d in days),
        moods=tuple((mood, labels[mood]) for mood in order),
        counts={(days[i], order[i % 4]): 1 + i % 3 for i in range(28)},
    )


ENGLISH = {
    Mood.STEADY: "Steady",
    Mood.HEAVY: "Heavy",
    Mood.NEED_SPACE: "Need space",
    Mood.OPEN: "Open to closeness",
}
LONGEST = {  # as long as a button label may be
    Mood.STEADY: "Ich fühle mich heute ruhig und gefestigt",
    Mood.HEAVY: "Schwer",
    Mood.NEED_SPACE: "Ich brauche heute Raum und etwas Abstand",
    Mood.OPEN: "Beziehungsvertrauenswiederherstellungen!",  # one word, no space to wrap at
}


def texts_of(figure: Figure) -> list[Text]:
    (axes,) = figure.axes
    found = [*axes.get_yticklabels(), *axes.get_xticklabels()]
    if figure._suptitle is not None:
        found.append(figure._suptitle)
    return [text for text in found if text.get_visible() and text.get_text()]


@pytest.mark.parametrize("labels", [ENGLISH, LONGEST], ids=["english", "longest"])
def test_the_pictures_labels_fit(labels: dict[Mood, str]) -> None:
    assert max(len(label) for label in LONGEST.values()) == BUTTON_LIMIT
    figure = chart.figure_for(a_chart(labels))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    assert isinstance(renderer, RendererAgg)
    page = figure.bbox
    (axes,) = figure.axes
    plot = axes.get_window_extent(renderer)
    texts = texts_of(figure)
    extents = {text.get_text(): text.get_window_extent(renderer) for text in texts}
    for name, box in extents.items():
        assert page.x0 <= box.x0 and box.x1 <= page.x1, f"{name!r} runs off the side"
        assert page.y0 <= box.y0 and box.y1 <= page.y1, f"{name!r} runs off the top or bottom"
    for (a, first), (b, second) in combinations(extents.items(), 2):
        assert not Bbox.intersection(first, second), f"{a!r} and {b!r} overlap"
    # The row labels leave the dots at least half the picture.
    assert plot.width >= page.width / 2
    # Every row label reads in full (wrapped onto lines, never cut).
    shown = ["".join(t.get_text().split()) for t in axes.get_yticklabels()]
    assert sorted(shown) == sorted("".join(label.split()) for label in labels.values())


def test_the_pictures_rows_are_drawn_top_down_in_the_charts_order() -> None:
    figure = chart.figure_for(a_chart(ENGLISH))
    figure.canvas.draw()
    (axes,) = figure.axes
    labels = sorted(axes.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text().replace("\n", " ") for t in labels] == list(ENGLISH.values())

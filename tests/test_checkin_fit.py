"""Check-ins that fit: prompts the four buttons can answer, a note that follows its answer, and
a picture in calm colours whose last date is not cut off."""

from __future__ import annotations

import colorsys

import pytest
from matplotlib.backends.backend_agg import RendererAgg

from reminderbot.content import ContentKind
from reminderbot.delivery.reminder import checkin_data
from reminderbot.services import chart
from reminderbot.storage.models import Mood
from tests.support.harness import BotHarness, FakeClock, catalog
from tests.test_checkins_support import DrawnCharts, joined, reminder_at, utc
from tests.test_wording import ENGLISH, LONGEST, a_chart

ALEX = 8601
# The prompts that once asked what the buttons could not answer ("How safe do you feel inside
# today?" answered with "Open to closeness").
ONCE_MISFIT = ("what-is-your-body-saying", "how-safe-inside")
# The word of each button a prompt must offer, so every answer reads as one to its question.
BUTTON_WORDS = {
    Mood.STEADY: "steady",
    Mood.HEAVY: "heavy",
    Mood.NEED_SPACE: "space",
    Mood.OPEN: "closeness",
}


def test_prompts_that_once_misfit_offer_the_buttons_answers() -> None:
    items = {i.id: i for i in catalog().items("en", [ContentKind.CHECKIN_PROMPT])}
    for item_id in ONCE_MISFIT:
        text = items[item_id].text.casefold()
        assert all(word in text for word in BUTTON_WORDS.values()), item_id
        assert items[item_id].source  # still drawn from the article


async def test_a_note_follows_a_changed_answer_in_checkins(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chart, "render", DrawnCharts())
    await joined(harness, ALEX)
    delivery = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery, Mood.STEADY))
    await harness.say(ALEX, "a long day")
    await harness.press(ALEX, checkin_data(delivery, Mood.HEAVY))
    await harness.command(ALEX, "/checkins")
    listing = next(t for t in reversed(harness.all_texts(ALEX)) if "a long day" in t)
    heavy, steady = harness.text("buttons.mood_heavy"), harness.text("buttons.mood_steady")
    assert harness.text("history.note_line", mood=heavy, note="a long day") in listing
    assert harness.text("history.note_line", mood=steady, note="a long day") not in listing


def _hue_saturation(colour: str) -> tuple[float, float]:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, _, saturation = colorsys.rgb_to_hls(r, g, b)
    return hue * 360, saturation


def _contrast_on_white(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def test_the_moods_are_drawn_in_calm_colours() -> None:
    hues = []
    for mood, colour in chart.COLOURS.items():
        hue, saturation = _hue_saturation(colour)
        # No red or orange: they read as alarm, and no answer is a bad one.
        warm = hue < 40 or hue > 330
        assert not (warm and saturation > 0.3), f"{mood.value} is drawn in {colour}"
        # Dots a person can see on white (WCAG's 3:1 for graphics).
        assert _contrast_on_white(colour) >= 3, f"{mood.value} is too pale"
        hues.append(hue)
    # Each mood its own hue.
    assert all(abs(a - b) >= 25 for i, a in enumerate(hues) for b in hues[i + 1 :])


@pytest.mark.parametrize("labels", [ENGLISH, LONGEST], ids=["english", "longest"])
@pytest.mark.parametrize("month", ["Mar", "Sep", "Dec"])
def test_todays_date_keeps_a_margin_from_the_edge(labels: dict[Mood, str], month: str) -> None:
    figure = chart.figure_for(a_chart(labels, month))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    assert isinstance(renderer, RendererAgg)
    (axes,) = figure.axes
    last = axes.get_xticklabels()[-1].get_window_extent(renderer)
    # At least a tenth of an inch of white beyond the last date, whatever the font draws.
    assert figure.bbox.x1 - last.x1 >= chart.DPI / 10

"""The /checkins picture: one row per mood, one column per day, a dot where they checked in.

A pure function from data to PNG bytes, drawn in memory with matplotlib's Agg canvas (no pyplot,
no files). Callers run it in a worker thread so drawing never holds up the event loop. It only
ever shows dates and mood levels, never a person's own words. Matplotlib is imported at the first
drawing, not with the bot: with numpy it costs most of a second of CPU, at every start.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from typing import TYPE_CHECKING

from reminderbot.storage.models import Mood

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# About 1200 x 750 pixels: sharp on a phone, and under Telegram's 1280 px photo size.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 5.0, 150
# Calm colours, none of them a red or an orange (which read as alarm or warning), each dark
# enough on white (3:1) and a hue of its own, so no answer looks like a bad one.
COLOURS: dict[Mood, str] = {
    Mood.STEADY: "#3f8f7f",  # teal
    Mood.HEAVY: "#5b5f9e",  # indigo
    Mood.NEED_SPACE: "#8c7d55",  # sand
    Mood.OPEN: "#8a6fae",  # lavender
}
# Room on each side (inches) beyond what the layout measures: today's date, the last label,
# sits under the last column and must never touch the picture's edge.
SIDE_PAD_INCHES = 0.2
# Dot areas in points squared: one check-in a day, each further one a little bigger.
DOT_AREA, DOT_AREA_STEP, DOT_AREA_MAX = 110.0, 45.0, 240.0
# Row labels are button labels (up to 40 characters): longer ones wrap onto lines of about this
# many characters, in a smaller size, so the dots keep most of the width and nothing is cut.
ROW_LABEL_WIDTH = 18
ROW_LABEL_SIZE, ROW_LABEL_SIZE_WRAPPED = 19, 15
# Matplotlib's font and text caches are shared between figures; one drawing at a time.
_drawing = threading.Lock()


@dataclass(frozen=True, slots=True)
class MoodChart:
    title: str
    days: tuple[date, ...]  # oldest first
    day_labels: tuple[str, ...]  # one per day, already in the person's language
    moods: tuple[tuple[Mood, str], ...]  # the rows, top first, with their labels
    counts: Mapping[tuple[date, Mood], int]  # check-ins per (day, mood)


def render(chart: MoodChart) -> bytes:
    """The chart as PNG bytes."""
    with _drawing:
        buffer = BytesIO()
        figure_for(chart).savefig(buffer, format="png", facecolor="white")
        return buffer.getvalue()


def _row_label(label: str) -> str:
    return "\n".join(textwrap.wrap(label, ROW_LABEL_WIDTH)) or label


def figure_for(chart: MoodChart) -> Figure:
    """The chart drawn on an Agg canvas, not yet saved (tests measure it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    layout = ConstrainedLayoutEngine(w_pad=SIDE_PAD_INCHES)
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rows = len(chart.moods)
    for row, (mood, _) in enumerate(chart.moods):
        xs, sizes = [], []
        for column, day in enumerate(chart.days):
            count = chart.counts.get((day, mood), 0)
            if count:
                xs.append(column)
                sizes.append(min(DOT_AREA + DOT_AREA_STEP * (count - 1), DOT_AREA_MAX))
        y = rows - 1 - row
        axes.axhline(y, color="#e6e6e6", linewidth=1.0, zorder=0)
        axes.scatter(xs, [y] * len(xs), s=sizes, color=COLOURS[mood], zorder=2, clip_on=False)

    columns = len(chart.days)
    # A tick on every seventh day counting back from today, so today is always labelled.
    ticks = list(range(columns - 1, -1, -7))[::-1]
    axes.set_xticks(ticks, [chart.day_labels[i] for i in ticks], fontsize=17)
    for tick in ticks:
        axes.axvline(tick, color="#f0f0f0", linewidth=1.0, zorder=0)
    axes.set_xlim(-0.8, columns - 0.2)
    labels = [_row_label(label) for _, label in reversed(chart.moods)]
    axes.set_yticks(range(rows), labels)
    for text in axes.get_yticklabels():
        wrapped = "\n" in text.get_text()
        text.set_fontsize(ROW_LABEL_SIZE_WRAPPED if wrapped else ROW_LABEL_SIZE)
    axes.set_ylim(-0.6, rows - 0.4)
    axes.tick_params(length=0, pad=8)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color("#bbbbbb")
    figure.suptitle(chart.title, fontsize=22, x=0.02, ha="left")
    return figure

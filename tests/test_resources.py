"""Which words the editing loop checks and shows (issue 21, finding 8): the ones `run` serves,
and a note when the working folder holds another, different copy."""

from __future__ import annotations

import shutil
from pathlib import Path

from reminderbot.resources import unserved_edits, unserved_edits_note

REPO = Path(__file__).resolve().parents[1]


def _copy(to: Path) -> Path:
    shutil.copytree(REPO / "messages", to)
    return to


def test_an_edited_copy_here_is_pointed_out(tmp_path: Path) -> None:
    served = _copy(tmp_path / "installed" / "messages")
    here = tmp_path / "checkout"
    local = _copy(here / "messages")
    assert unserved_edits(served, here) is None  # the same words: nothing to say
    ui = local / "en" / "ui.yaml"
    ui.write_text(ui.read_text().replace("Would you like to begin?", "Shall we begin?"))
    assert unserved_edits(served, here) == local
    note = unserved_edits_note(served, here, chosen=False)
    assert note is not None
    assert str(served) in note and "REMINDERBOT_MESSAGES_DIR=./messages" in note
    assert note.count(". ") == 0 and note.endswith(".")  # one sentence
    # Named by the operator (messages_dir): their choice, no note.
    assert unserved_edits_note(served, here, chosen=True) is None


def test_the_served_folder_itself_or_none_here_says_nothing(tmp_path: Path) -> None:
    served = _copy(tmp_path / "messages")
    assert unserved_edits(served, tmp_path) is None
    assert unserved_edits(served, tmp_path / "elsewhere") is None

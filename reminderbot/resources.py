"""Where the shipped words (``messages/``) and default configuration (``config/``) live.

The repository keeps one editable copy at its top level. A built wheel carries them as package
data under ``reminderbot/_data`` (copied by ``setup.py`` at build time), so an installed bot finds
them wherever it runs; a source checkout or editable install reads the top-level folders.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "_data"
MESSAGES_VARIABLE = "REMINDERBOT_MESSAGES_DIR"


def shipped(name: str) -> Path:
    """The shipped ``messages`` or ``config`` folder."""
    installed = DATA_DIR / name
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / name


def _files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def unserved_edits(served: Path, here: Path) -> Path | None:
    """``here/messages`` when it is another copy of the words than ``served`` and differs from
    it: after ``pip install .`` a checkout's edited words are not the ones the bot serves."""
    local = here / "messages"
    if not (local / "en").is_dir() or local.resolve() == served.resolve():
        return None
    try:
        differs = _files(local) != _files(served)
    except OSError:
        return None  # unreadable here: the check of the served words says what it can
    return local if differs else None


def unserved_edits_note(served: Path, here: Path, *, chosen: bool) -> str | None:
    """One sentence for an editor whose ``messages/`` here is not what ``run`` serves, or None.

    ``chosen``: the operator named the words (``messages_dir``), so a copy here is not theirs
    to be told about."""
    if chosen:
        return None
    local = unserved_edits(served, here)
    if local is None:
        return None
    return (
        f"./messages here differs from the words `reminderbot run` serves ({served}), so your "
        f"edits there are not checked or shown; set {MESSAGES_VARIABLE}=./messages to check, "
        "try and serve them."
    )

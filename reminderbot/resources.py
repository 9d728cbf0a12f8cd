"""Where the shipped words (``messages/``) and default configuration (``config/``) live.

The repository keeps one editable copy at its top level. A built wheel carries them as package
data under ``reminderbot/_data`` (copied by ``setup.py`` at build time), so an installed bot finds
them wherever it runs; a source checkout or editable install reads the top-level folders.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "_data"


def shipped(name: str) -> Path:
    """The shipped ``messages`` or ``config`` folder."""
    installed = DATA_DIR / name
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / name

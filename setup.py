"""Build hook: the wheel carries the top-level ``messages/`` and ``config/`` as package data.

They stay the one editable copy in the repository; at build time they are copied to
``reminderbot/_data`` inside the wheel, where ``reminderbot.resources.shipped`` finds them.
Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("messages", "config")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        # An editable install reads the top-level folders in place.
        if getattr(self, "editable_mode", False):
            return
        for name in SHIPPED:
            target = Path(self.build_lib) / "reminderbot" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithData})

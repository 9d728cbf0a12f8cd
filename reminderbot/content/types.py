"""The content types shared by the loader, the validator and the catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ContentKind(StrEnum):
    AFFIRMATION = "affirmation"
    PRACTICE = "practice"
    COUPLE_PROMPT = "couple_prompt"
    CHECKIN_PROMPT = "checkin_prompt"
    GROUNDING = "grounding"


class Audience(StrEnum):
    ANYONE = "anyone"
    HURT_PARTNER = "hurt_partner"
    INVOLVED_PARTNER = "involved_partner"


@dataclass(frozen=True, slots=True)
class ContentItem:
    id: str
    kind: ContentKind
    audience: Audience
    text: str
    source: str


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the message files, phrased for the editor who has to fix it."""

    file: str  # relative to the messages folder's parent, e.g. "messages/en/ui.yaml"
    key: str  # dotted UI key, content id, "line 12", or "" when the whole file is meant
    reason: str

    def __str__(self) -> str:
        if not self.key:
            return f"{self.file}: {self.reason}"
        return f"{self.file}: {self.key}: {self.reason}"


class MessagesError(Exception):
    """The message files are not usable; ``problems`` lists everything found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

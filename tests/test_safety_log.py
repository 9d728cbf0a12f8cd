"""The hazard log (docs/safety.md, issue 23) names only guards and tests that exist.

Every ``tests/file.py::test_name`` must be a test function in that file (or ``Class::test``), and
every ``reminderbot/file.py::name`` a function, class, method (``Class.method``) or constant
there, found by reading the source with ``ast``: renaming or deleting a test that proves a guard
fails here until the log says what proves it now.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "docs" / "safety.md"
REFERENCE = re.compile(r"`((?:tests|reminderbot)/[\w/]+\.py)::([\w.:]+)`")
SECTION = re.compile(r"^## (H\d+)\. (.+)$", re.MULTILINE)
# The hazards issue 23 asks the log to cover, as its headings say them.
REQUIRED = (
    "A message reaches the wrong person",
    "A partner learns what was not shared",
    "Support contacts are wrong or missing",
    "A reminder storm",
    "A pause that does not hold",
    "A lock-screen preview read by someone else",
    'A lost "erase everything"',
    "words in logs",
)


@cache
def names_in(path: str) -> frozenset[str]:
    """Top-level functions, classes and assigned names, and Class.method for methods."""
    tree = ast.parse((REPO / path).read_text(), filename=path)
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found.add(f"{node.name}.{item.name}")
        if isinstance(node, ast.Assign):
            found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
    return frozenset(found)


def missing(text: str) -> list[str]:
    """Every reference in ``text`` that names no file, test or guard."""
    problems = []
    for path, name in REFERENCE.findall(text):
        if not (REPO / path).is_file():
            problems.append(f"{path}: no such file")
            continue
        if path.startswith("tests/"):
            *owner, test = name.split("::")
            if not test.startswith("test_"):
                problems.append(f"{path}::{name}: not a test name")
            name = ".".join([*owner, test])
        if name not in names_in(path):
            problems.append(f"{path}::{name}: not found")
    return problems


def sections() -> dict[str, tuple[str, str]]:
    text = LOG.read_text()
    heads = list(SECTION.finditer(text))
    ends = [h.start() for h in heads[1:]] + [len(text)]
    return {
        h.group(1): (h.group(2), text[h.end() : end]) for h, end in zip(heads, ends, strict=True)
    }


def test_every_test_and_guard_the_hazard_log_names_exists() -> None:
    text = LOG.read_text()
    assert len(REFERENCE.findall(text)) >= 60
    assert missing(text) == []


def test_the_check_catches_a_renamed_test_or_guard() -> None:
    assert missing("`tests/test_delivery.py::test_a_pause_that_never_was`")
    assert missing("`tests/test_nowhere.py::test_anything`")
    assert missing("`tests/test_delivery.py::utc`")  # exists, but is not a test
    assert missing("`reminderbot/delivery/policy.py::Gate.never`")
    assert missing("`reminderbot/delivery/policy.py::no_such_guard`")
    assert missing("`tests/test_delivery.py::test_a_timeout_is_retried_at_most_once`") == []
    assert missing("`reminderbot/delivery/policy.py::Gate.of`") == []
    assert missing("`reminderbot/services/consent.py::STORED_LINES`") == []


def test_each_hazard_has_causes_guards_and_tests_and_the_required_ones_are_there() -> None:
    found = sections()
    titles = [title for title, _ in found.values()]
    for required in REQUIRED:
        assert any(required.lower() in title.lower() for title in titles), required
    table = set(re.findall(r"^\| (H\d+) \|", LOG.read_text(), re.MULTILINE))
    assert table == set(found)  # each hazard in the summary table has its section, and back
    for hazard, (title, body) in found.items():
        for part in ("**Causes.**", "**Guards.**", "**Tests.**", "**Residual.**"):
            assert part in body, f"{hazard} {title}: no {part}"
        guards = body.split("**Guards.**")[1].split("**Tests.**")[0]
        tests = body.split("**Tests.**")[1].split("**Residual.**")[0]
        assert REFERENCE.search(guards) and "reminderbot/" in guards, f"{hazard}: no guard"
        assert re.search(r"`tests/[\w/]+\.py::test_\w+`", tests), f"{hazard}: no test"

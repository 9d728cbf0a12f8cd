"""The package's import rules, read from the source with ``ast`` (nothing is imported).

Layers, top to bottom (ARCHITECTURE.md explains each):

    cli, __main__              the composition root: may import anything, nothing imports it
    telegram                   updates in, replies out
    delivery, sandbox          sending reminders; the local fake Telegram
    services                   the rules, no Telegram objects
    content, storage, config   words, the database, settings
    botapi, logs, metrics,     shared utilities with no reminderbot imports above them
    resources, reminderbot

A module may import its own package and any package on a lower layer; packages on the same
layer may use each other only one way round. Services and below never import python-telegram-bot.
Imports inside functions and under ``TYPE_CHECKING`` count: they are dependencies all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import reminderbot

ROOT = Path(reminderbot.__file__).parent
PACKAGE = "reminderbot"

LAYERS: dict[str, int] = {
    "cli": 4,
    "__main__": 4,
    "telegram": 3,
    "delivery": 2,
    "sandbox": 2,
    "services": 1,
    "content": 0,
    "storage": 0,
    "config": 0,
    "botapi": 0,
    "logs": 0,
    "metrics": 0,  # Prometheus counters; imports nothing of ours
    "resources": 0,  # where the shipped words and config live
    "": 0,  # reminderbot/__init__.py: the version
}
LAYER_NAMES = {
    4: "the composition root",
    3: "telegram",
    2: "delivery/sandbox",
    1: "services",
    0: "content/storage/config",
}

# The messages validator runs at start-up through the loader and in `reminderbot messages check`;
# the running bot reads words through content's Catalog and helpers, never the validator.
VALIDATOR = ("reminderbot.content.check", "reminderbot.content.usage")
VALIDATOR_USERS = ("reminderbot.content", "reminderbot.cli")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (a name from a package counts as the package)
    line: int

    def where(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source != PACKAGE and not source.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                # `from reminderbot.services import schedules` imports a module.
                candidate = f"{source}.{alias.name}"
                yield Import(name, candidate if candidate in known else source, node.lineno)


def all_imports() -> list[Import]:
    found = modules()
    known = set(found)
    # One entry per import statement and target, however many names it brings in.
    return list(
        dict.fromkeys(imp for name, path in found.items() for imp in imports_of(name, path, known))
    )


def package_of(module: str) -> str:
    """The top-level part of reminderbot a module belongs to ('' for reminderbot itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_part_of_the_package_has_a_layer() -> None:
    unplaced = sorted({package_of(m) for m in modules()} - set(LAYERS))
    assert not unplaced, (
        f"reminderbot/{unplaced[0]} has no layer: add it to LAYERS in tests/test_architecture.py "
        "and to the layers in ARCHITECTURE.md"
    )


def test_imports_point_down() -> None:
    upward = []
    for imp in all_imports():
        source, target = package_of(imp.module), package_of(imp.target)
        if source != target and LAYERS[target] > LAYERS[source]:
            upward.append(
                f"{imp.where()}: {LAYER_NAMES[LAYERS[source]]} may not import "
                f"{LAYER_NAMES[LAYERS[target]]}; move what it needs down to "
                f"{LAYER_NAMES[LAYERS[source]]} or below, or pass it in from above"
            )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_cycle_between_packages() -> None:
    imports = all_imports()
    edges: dict[str, set[str]] = {}
    for imp in imports:
        source, target = package_of(imp.module), package_of(imp.target)
        if source != target:
            edges.setdefault(source, set()).add(target)
    groups = cycles(edges)
    lines = []
    for group in groups:
        lines.append(" <-> ".join(group) + " (one of these imports has to go):")
        lines.extend(
            f"  {imp.where()}"
            for imp in imports
            if package_of(imp.module) in group
            and package_of(imp.target) in group
            and package_of(imp.module) != package_of(imp.target)
        )
    assert not groups, "packages that import each other:\n" + "\n".join(lines)


def test_no_cycle_between_content_modules() -> None:
    """The loader (catalog), its types and the validator (check, usage) never go in a circle."""
    imports = [i for i in all_imports() if i.module.startswith("reminderbot.content.")]
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if imp.target.startswith("reminderbot.content.") and imp.target != imp.module:
            edges.setdefault(imp.module, set()).add(imp.target)
    groups = cycles(edges)
    lines = []
    for group in groups:
        lines.append(" <-> ".join(group) + " (one of these imports has to go):")
        lines.extend(f"  {i.where()}" for i in imports if i.module in group and i.target in group)
    assert not groups, "content modules that import each other:\n" + "\n".join(lines)


def test_only_the_loader_and_the_cli_use_the_validator() -> None:
    misuse = [
        f"{imp.where()}: the validator is for the loader and `messages check`; take what you "
        "need from reminderbot.content (or add it there)"
        for imp in all_imports()
        if imp.target in VALIDATOR and not imp.module.startswith(VALIDATOR_USERS)
    ]
    assert not misuse, "\n".join(misuse)


def libraries_of(path: Path) -> Iterator[tuple[str, int]]:
    """The top-level name of every absolute import (a library, or reminderbot), with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.split(".")[0], node.lineno


def test_no_telegram_objects_below_delivery() -> None:
    """Services and what they stand on know people, not Updates: python-telegram-bot is for the
    telegram layer and for delivery, which sends."""
    found = [
        f"{name} (line {line}) imports {library}: services and below take plain values; keep "
        "the Telegram object in the handler or the dispatcher and pass what it carries"
        for name, path in modules().items()
        if LAYERS[package_of(name)] <= LAYERS["services"]
        for library, line in libraries_of(path)
        if library == "telegram"
    ]
    assert not found, "\n".join(found)


def test_the_rules_see_imports_of_every_form(tmp_path: Path) -> None:
    """The walker itself: plain, from, relative, function-local and TYPE_CHECKING imports."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import reminderbot.telegram.app\n"
        "from reminderbot.services import pairing\n"
        "from ..telegram import keyboards\n"
        "if TYPE_CHECKING:\n"
        "    from reminderbot.delivery.dispatcher import Dispatcher\n"
        "def f() -> None:\n"
        "    from . import rotation\n"
        "    from telegram.error import BadRequest\n"
    )
    path = tmp_path / "dispatcher.py"
    path.write_text(source, encoding="utf-8")
    known = {
        "reminderbot.services.pairing",
        "reminderbot.telegram.keyboards",
        "reminderbot.delivery.rotation",
    }
    found = {i.target for i in imports_of("reminderbot.delivery.dispatcher", path, known)}
    assert found == {
        "reminderbot.telegram.app",
        "reminderbot.services.pairing",
        "reminderbot.telegram.keyboards",
        "reminderbot.delivery.dispatcher",
        "reminderbot.delivery.rotation",
    }
    # python-telegram-bot is seen; reminderbot.telegram is not mistaken for it.
    assert [line for library, line in libraries_of(path) if library == "telegram"] == [9]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


HANDLERS = "reminderbot.telegram.handlers"


def handler_cross_imports(imports: list[Import]) -> list[str]:
    """Imports from one handler module of another (or of the handlers package)."""
    return [
        f"{imp.where()}: handlers share through telegram/ (acting, callbacks, menus, notices, "
        "replies); move what both need there, or wire them together in telegram/app.py"
        for imp in imports
        if imp.module.startswith(HANDLERS + ".")
        and (imp.target == HANDLERS or imp.target.startswith(HANDLERS + "."))
        and imp.target != imp.module
    ]


def test_no_handler_module_imports_another() -> None:
    """Each handler module stands on its own: what two of them share lives beside them."""
    found = handler_cross_imports(all_imports())
    assert not found, "\n".join(found)


def test_the_handler_rule_sees_a_handler_importing_another() -> None:
    imports = [
        Import(f"{HANDLERS}.pausing", f"{HANDLERS}.pairing", 3),
        Import(f"{HANDLERS}.fallback", HANDLERS, 4),
        Import(f"{HANDLERS}.pausing", "reminderbot.telegram.notices", 5),
        Import("reminderbot.telegram.app", f"{HANDLERS}.pairing", 6),
    ]
    found = handler_cross_imports(imports)
    assert [line.split(":")[0] for line in found] == [
        f"{HANDLERS}.pausing (line 3) imports {HANDLERS}.pairing",
        f"{HANDLERS}.fallback (line 4) imports {HANDLERS}",
    ]

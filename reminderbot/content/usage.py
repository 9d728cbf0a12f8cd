"""Which message keys the code asks for, and with which placeholders: a static scan of the package.

The words check compares ``messages/`` against this, so an editor's typo (a misspelled
placeholder, a deleted key) fails ``reminderbot messages check`` instead of the bot at run time.
The scan reads the source with :mod:`ast` and imports nothing, so it runs from the installed
package and sees every handler, including ones no test reaches.

A key is found in every call ``<...>state.text(key, lang, **params)`` (the application state,
which always fills in ``{practice_name}``) and ``<...>catalog.text(key, lang, **params)``.
The key expression may be a literal, a conditional, a local variable, a helper's parameter (its
callers' arguments are followed), a local function's return values, or an f-string whose parts
come from constant tuples and dicts, enums (``Mood.STEADY``, ``for level in SharingLevel``) or
loops over them. What a scan cannot know (``person.audience.value``) is named in
:data:`KEY_FAMILIES`; any other key the scan cannot work out is reported, so nothing slips past.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from reminderbot.content.types import Problem

HOLE = "{}"  # stands for a part of a key the scan could not work out; keys never contain braces
# Receivers of ``.text(...)`` calls, by their last name, and the placeholders each fills in itself.
RECEIVERS: Mapping[str, frozenset[str]] = {
    "state": frozenset({"practice_name"}),  # AppState.text
    "catalog": frozenset(),  # Catalog.text
}
# Key families whose varying part comes from a value the scan can't follow (an attribute of a
# row or an exception): the pattern, with {} for that part, and the enum or constant, as
# "module:Name", whose values fill it in.
KEY_FAMILIES: Mapping[str, str] = {
    "buttons.mood_{}": "reminderbot.storage.models:Mood",
    "sharing.partner_checked_in.{}": "reminderbot.storage.models:Mood",
    "settings.audience_{}": "reminderbot.storage.models:Audience",
    "pairing.sharing_{}": "reminderbot.storage.models:SharingLevel",
    "pairing.refused.{}": "reminderbot.services.pairing:Refusal",
}
_MOST_BINDINGS = 1000  # a key expression that varies more than this is reported, not expanded
# Source that may hold a ``.text(`` call; only such modules are walked for calls (the others are
# parsed only when a name is followed into them). The scan runs at every start of the bot.
_MAY_CALL_TEXT = re.compile(r"\.\s*text\s*\(")


@dataclass(frozen=True)
class KeyUse:
    """One place in the code that asks for message text."""

    file: str  # e.g. "reminderbot/telegram/handlers/help.py"
    line: int
    keys: frozenset[str]
    params: frozenset[str]  # placeholders the call fills in by name
    implicit: frozenset[str]  # filled in by the receiver itself; a text may leave them out
    open_params: bool  # the call passes **params: which names is unknown
    caption: bool  # the text is sent as a caption (a shorter limit)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class CodeUsage:
    uses: list[KeyUse] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # places the scan could not read

    def used_keys(self) -> frozenset[str]:
        return frozenset(key for use in self.uses for key in use.keys)


def package_root() -> Path:
    """The installed ``reminderbot`` package folder."""
    import reminderbot

    return Path(reminderbot.__file__).resolve().parent


def scan_code(root: Path | None = None) -> CodeUsage:
    """Every message key the package under ``root`` (default: the installed one) asks for."""
    root = package_root() if root is None else root
    index = _Index(root)
    usage = CodeUsage()
    for module in index.calling_text():
        for call in module.text_calls():
            _Resolver(index, module).use(call, usage)
    usage.uses.sort(key=lambda use: (use.file, use.line))
    return usage


# --- the package as parsed modules ------------------------------------------------------------


class _Module:
    def __init__(self, name: str, file: str, tree: ast.Module) -> None:
        self.name = name
        self.file = file
        self.tree = tree
        self.imports: dict[str, tuple[str, str | None]] = {}  # local name -> (module, name)
        self.assigned: dict[str, list[ast.expr]] = {}  # module-level name -> values
        self.classes: dict[str, ast.ClassDef] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (alias.name, None)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            else:
                for target, value in _assignments(node):
                    self.assigned.setdefault(target, []).append(value)

    @cached_property
    def parents(self) -> dict[ast.AST, ast.AST]:
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        return parents

    def text_calls(self) -> Iterator[ast.Call]:
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "text"
                and _last_name(node.func.value) in RECEIVERS
                and node.args
            ):
                yield node

    def enclosing(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self.parents.get(node)
        while current is not None:
            yield current
            current = self.parents.get(current)

    def enum_values(self, name: str) -> list[str] | None:
        cls = self.classes.get(name)
        if cls is None or not any("Enum" in (_last_name(base) or "") for base in cls.bases):
            return None
        values = []
        for statement in cls.body:
            for _, value in _assignments(statement):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    values.append(value.value)
        return values


def _assignments(node: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    targets: list[ast.expr] = []
    value: ast.expr | None = None
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign | ast.NamedExpr):
        targets, value = [node.target], node.value
    for target in targets:
        if isinstance(target, ast.Name) and value is not None:
            yield target.id, value


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Index:
    """The package's modules by dotted name, each parsed the first time it is needed."""

    def __init__(self, root: Path) -> None:
        self._paths: dict[str, tuple[Path, str]] = {}  # name -> (path, file as reported)
        self._parsed: dict[str, _Module] = {}
        package = root.name
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            file = "/".join([package, *path.relative_to(root).parts])
            self._paths[".".join(parts)] = (path, file)

    def module(self, name: str) -> _Module | None:
        if name not in self._parsed:
            if name not in self._paths:
                return None
            self._parse(name, self._paths[name][0].read_text(encoding="utf-8"))
        return self._parsed[name]

    def _parse(self, name: str, source: str) -> _Module:
        path, file = self._paths[name]
        module = _Module(name, file, ast.parse(source, filename=str(path)))
        self._parsed[name] = module
        return module

    def calling_text(self) -> Iterator[_Module]:
        """The modules whose source may call ``.text(``, in file order."""
        for name, (path, _) in self._paths.items():
            source = path.read_text(encoding="utf-8")
            if _MAY_CALL_TEXT.search(source):
                yield self._parsed.get(name) or self._parse(name, source)

    def family(self, target: str) -> list[str] | None:
        module_name, _, name = target.partition(":")
        module = self.module(module_name)
        return None if module is None else module.enum_values(name)


# --- working out the values of an expression --------------------------------------------------

# A function definition as the scan sees it: the function and the module it lives in.
_Function = ast.FunctionDef | ast.AsyncFunctionDef
_Comprehension = ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp


class _Resolver:
    """Values of expressions in one module. Values are strings (enum members by their value);
    a part that can't be worked out is HOLE."""

    def __init__(
        self,
        index: _Index,
        module: _Module,
        depth: int = 0,
        visiting: set[tuple[str, int]] | None = None,
    ) -> None:
        self.index = index
        self.module = module
        self.depth = depth
        # Names being worked out, so ``x = x or default`` adds nothing instead of looping.
        self.visiting: set[tuple[str, int]] = set() if visiting is None else visiting

    def _child(self, module: _Module | None = None) -> _Resolver:
        return _Resolver(self.index, module or self.module, self.depth + 1, self.visiting)

    def use(self, call: ast.Call, usage: CodeUsage) -> None:
        key_expr = call.args[0]
        function = self._function_of(call)
        names = {n.id for n in ast.walk(key_expr) if isinstance(n, ast.Name)}
        if (
            function is not None
            and isinstance(key_expr, ast.Name)
            and key_expr.id in _parameters(function)
            and any(k.arg is None for k in call.keywords)
        ):
            return  # a wrapper passing its own key and **params through; its callers count
        keys: set[str] = set()
        too_many = False
        for env in self._bindings(call, names):
            if env is None:
                too_many = True
                break
            keys |= self.values(key_expr, call, env)
        expanded: set[str] = set()
        for key in keys:
            expanded |= self._expand(key)
        unknown = sorted(key for key in expanded if HOLE in key)
        if too_many or unknown or not expanded:
            shown = ast.unparse(key_expr)
            what = f" (it may be {unknown[0]})" if unknown else ""
            usage.problems.append(
                Problem(
                    self.module.file,
                    f"line {call.lineno}",
                    f"the check can't tell which message key {shown} is{what}; write the key "
                    "out, or name the values of its {} part in KEY_FAMILIES "
                    "(reminderbot/content/usage.py)",
                )
            )
            expanded -= set(unknown)
        if not expanded:
            return
        receiver = _last_name(call.func.value) if isinstance(call.func, ast.Attribute) else None
        parent = self.module.parents.get(call)
        usage.uses.append(
            KeyUse(
                file=self.module.file,
                line=call.lineno,
                keys=frozenset(expanded),
                params=frozenset(k.arg for k in call.keywords if k.arg is not None),
                implicit=RECEIVERS.get(receiver or "", frozenset()),
                open_params=any(k.arg is None for k in call.keywords),
                caption=isinstance(parent, ast.keyword) and parent.arg == "caption",
            )
        )

    def _expand(self, key: str) -> set[str]:
        if HOLE not in key:
            return {key}
        target = KEY_FAMILIES.get(key)
        values = self.index.family(target) if target else None
        if not values:
            return {key}
        return {key.replace(HOLE, value) for value in values}

    def _bindings(self, at: ast.AST, names: set[str]) -> Iterator[dict[str, str] | None]:
        """Every combination of the names' values, so a conditional on a name is decided per
        value (``key if "." in key else f"buttons.{key}"``); None when there are too many."""
        choices = {name: sorted(self.name_values(name, at)) for name in sorted(names)}
        count = 1
        for values in choices.values():
            count *= max(len(values), 1)
        if count > _MOST_BINDINGS:
            yield None
            return
        for combination in itertools.product(*choices.values()):
            yield dict(zip(choices, combination, strict=True))

    def values(self, expr: ast.AST, at: ast.AST, env: Mapping[str, str]) -> set[str]:
        match expr:
            case ast.Constant(value=str() as text):
                return {text}
            case ast.Constant(value=int() as number) if not isinstance(number, bool):
                return {str(number)}
            case ast.Name(id=name):
                return {env[name]} if name in env else self.name_values(name, at)
            case ast.JoinedStr(values=parts):
                result = {""}
                for part in parts:
                    inner = part.value if isinstance(part, ast.FormattedValue) else part
                    pieces = self.values(inner, at, env)
                    result = {a + b for a in result for b in pieces}
                    if len(result) > _MOST_BINDINGS:
                        return {HOLE}
                return result
            case ast.IfExp(test=test, body=body, orelse=orelse):
                decided = self._decide(test, at, env)
                if decided is None:
                    return self.values(body, at, env) | self.values(orelse, at, env)
                return self.values(body if decided else orelse, at, env)
            case ast.BoolOp(op=ast.Or(), values=options):
                return set().union(*(self.values(option, at, env) for option in options))
            case ast.BinOp(op=ast.Add(), left=left, right=right):
                return {
                    a + b for a in self.values(left, at, env) for b in self.values(right, at, env)
                }
            case ast.Await(value=inner):
                return self.values(inner, at, env)
            case ast.Attribute(value=base, attr="value"):
                return self.values(base, at, env)
            case ast.Attribute(value=ast.Name(id=owner), attr=member):
                value = self._member(owner, member)
                return {value} if value is not None else {HOLE}
            case ast.Subscript(value=container):
                return self._items(container, at, env, subscript=True) or {HOLE}
            case ast.Call(
                func=ast.Attribute(value=base, attr="replace"),
                args=[ast.Constant(value=str() as old), ast.Constant(value=str() as new)],
            ):
                return {value.replace(old, new) for value in self.values(base, at, env)}
            case ast.Call(func=ast.Attribute(value=container, attr="get"), args=[_, *default]):
                found = self._items(container, at, env, subscript=True)
                for fallback in default:
                    found |= self.values(fallback, at, env)
                return found or {HOLE}
            case ast.Call(func=ast.Name(id="str"), args=[inner]):
                return self.values(inner, at, env)
            case ast.Call(func=ast.Name(id=name)):
                return self._returns(name, at) or {HOLE}
        return {HOLE}

    def _decide(self, test: ast.expr, at: ast.AST, env: Mapping[str, str]) -> bool | None:
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return None
        left, right = self.values(test.left, at, env), self.values(test.comparators[0], at, env)
        if len(left) != 1 or len(right) != 1 or HOLE in left | right:
            return None
        a, b = next(iter(left)), next(iter(right))
        match test.ops[0]:
            case ast.In():
                return a in b
            case ast.NotIn():
                return a not in b
            case ast.Eq():
                return a == b
            case ast.NotEq():
                return a != b
        return None

    # --- names ---

    def name_values(self, name: str, at: ast.AST) -> set[str]:
        if self.depth > 8:
            return {HOLE}
        for scope in self.module.enclosing(at):
            if isinstance(scope, _Function | ast.Module):
                marker = (name, id(scope))
                break
        else:
            marker = (name, id(self.module.tree))
        if marker in self.visiting:
            return set()
        self.visiting.add(marker)
        try:
            return self._name_values(name, at)
        finally:
            self.visiting.discard(marker)

    def _name_values(self, name: str, at: ast.AST) -> set[str]:
        for scope in self.module.enclosing(at):
            if isinstance(scope, _Comprehension):
                for generator in scope.generators:
                    found = self._loop_values(generator.target, generator.iter, name, scope)
                    if found is not None:
                        return found
            elif isinstance(scope, ast.For):
                found = self._loop_values(scope.target, scope.iter, name, scope)
                if found is not None:
                    return found
            elif isinstance(scope, _Function):
                local = [
                    value
                    for node in ast.walk(scope)
                    for target, value in _assignments(node)
                    if target == name
                ]
                if local:
                    return set().union(*(self.values(v, v, {}) for v in local))
                if name in _parameters(scope):
                    return self._arguments(scope, name)
        if name in self.module.assigned:
            return set().union(*(self.values(v, v, {}) for v in self.module.assigned[name]))
        return {HOLE}

    def _loop_values(
        self, target: ast.expr, iterable: ast.expr, name: str, at: ast.AST
    ) -> set[str] | None:
        if isinstance(target, ast.Name):
            if target.id != name:
                return None
            return self._items(iterable, at, {}) or {HOLE}
        if isinstance(target, ast.Tuple):
            positions = [
                i for i, t in enumerate(target.elts) if isinstance(t, ast.Name) and t.id == name
            ]
            if not positions:
                return None
            position = positions[0]
            match iterable:
                case ast.Call(func=ast.Name(id="enumerate"), args=[inner]) if position == 1:
                    return self._items(inner, at, {}) or {HOLE}
                case ast.Call(func=ast.Attribute(value=inner, attr="items")) if position == 0:
                    return self._items(inner, at, {}) or {HOLE}
            return {HOLE}
        return None

    def _items(
        self, container: ast.expr, at: ast.AST, env: Mapping[str, str], subscript: bool = False
    ) -> set[str]:
        """The elements of a constant collection or enum (a dict's keys, or its values when
        ``subscript``); empty when unknown."""
        match container:
            case ast.Tuple(elts=elements) | ast.List(elts=elements) | ast.Set(elts=elements):
                return set().union(*(self.values(e, at, env) for e in elements))
            case ast.Dict(keys=keys, values=values):
                chosen = values if subscript else [k for k in keys if k is not None]
                return set().union(*(self.values(e, at, env) for e in chosen))
            case ast.Call(func=ast.Name(id="frozenset" | "tuple" | "set"), args=[inner]):
                return self._items(inner, at, env)
            case ast.Call(func=ast.Attribute(value=inner, attr="keys")):
                return self._items(inner, at, env)
            case ast.Name(id=name):
                enum_values = self._enum(name)
                if enum_values is not None:
                    return set(enum_values)
                if name in self.module.assigned:
                    return set().union(
                        *(self._items(v, v, {}, subscript) for v in self.module.assigned[name])
                    )
                imported = self._imported(name)
                if imported is not None:
                    module, original = imported
                    return self._child(module)._items(ast.Name(id=original), at, env, subscript)
        return set()

    def _imported(self, name: str) -> tuple[_Module, str] | None:
        origin = self.module.imports.get(name)
        if origin is None or origin[1] is None:
            return None
        module = self.index.module(origin[0])
        return None if module is None else (module, origin[1])

    def _enum(self, name: str) -> list[str] | None:
        values = self.module.enum_values(name)
        if values is not None:
            return values
        imported = self._imported(name)
        if imported is None:
            return None
        module, original = imported
        return module.enum_values(original)

    def _module_named(self, alias: str) -> _Module | None:
        """The package module a local name stands for (``from reminderbot.services import
        schedules``, ``import reminderbot.services.schedules as schedules``)."""
        origin = self.module.imports.get(alias)
        if origin is None:
            return None
        name = origin[0] if origin[1] is None else f"{origin[0]}.{origin[1]}"
        return self.index.module(name)

    def _member(self, owner: str, member: str) -> str | None:
        module_named = self._module_named(owner)
        if module_named is not None:
            found = set().union(
                *(
                    self._child(module_named).values(v, v, {})
                    for v in module_named.assigned.get(member, [])
                )
            )
            return next(iter(found)) if len(found) == 1 else None
        module: _Module | None = self.module
        name = owner
        if owner not in self.module.classes:
            imported = self._imported(owner)
            module, name = imported if imported else (None, owner)
        cls = module.classes.get(name) if module else None
        if cls is None:
            return None
        for statement in cls.body:
            for target, value in _assignments(statement):
                if target == member and isinstance(value, ast.Constant):
                    return str(value.value)
        return None

    # --- functions ---

    def _function_of(self, node: ast.AST) -> _Function | None:
        for scope in self.module.enclosing(node):
            if isinstance(scope, _Function):
                return scope
        return None

    def _definitions(self, name: str, at: ast.AST) -> list[tuple[_Function, ast.AST]]:
        """Functions called ``name`` visible from ``at``, with the scope that defines each."""
        scopes: list[ast.AST] = [s for s in self.module.enclosing(at) if isinstance(s, _Function)]
        scopes.append(self.module.tree)
        for scope in scopes:
            body = scope.body if isinstance(scope, _Function | ast.Module) else []
            found = [
                (node, scope)
                for node in _walk_same_scope(body)
                if isinstance(node, _Function) and node.name == name
            ]
            if found:
                return found
        return []

    def _returns(self, name: str, at: ast.AST) -> set[str]:
        result: set[str] = set()
        for function, _ in self._definitions(name, at):
            inner = self._child()
            for node in _walk_same_scope(function.body):
                if isinstance(node, ast.Return) and node.value is not None:
                    result |= inner.values(node.value, node, {})
        return result

    def _arguments(self, function: _Function, name: str) -> set[str]:
        """What callers in this module pass for parameter ``name`` of ``function``."""
        parameters = _parameters(function)
        position = parameters.index(name)
        scope = self.module.parents.get(function, self.module.tree)
        inner = self._child()
        result: set[str] = set()
        for node in ast.walk(scope):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == function.name
            ):
                continue
            passed: ast.expr | None = None
            if position < len(node.args):
                passed = node.args[position]
            for keyword in node.keywords:
                if keyword.arg == name:
                    passed = keyword.value
            if passed is None:
                default = _default(function, name)
                if default is not None:
                    result |= inner.values(default, default, {})
                continue
            for env in inner._bindings(
                node, {n.id for n in ast.walk(passed) if isinstance(n, ast.Name)}
            ):
                if env is None:
                    return {HOLE}
                result |= inner.values(passed, node, env)
        return result or {HOLE}


def _parameters(function: _Function) -> list[str]:
    arguments = function.args
    return [a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]


def _default(function: _Function, name: str) -> ast.expr | None:
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    offset = len(positional) - len(arguments.defaults)
    for index, argument in enumerate(positional):
        if argument.arg == name and index >= offset:
            return arguments.defaults[index - offset]
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        if argument.arg == name:
            return default
    return None


def _walk_same_scope(body: Sequence[ast.stmt]) -> Iterator[ast.AST]:
    """Nodes of a function body, without descending into nested functions or classes."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _Function | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))

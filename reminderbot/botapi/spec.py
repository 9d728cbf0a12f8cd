"""The Telegram Bot API as data (``api.min.json``, Bot API 10.1), and a strict validator.

Both the offline test double and the sandbox's local Bot API server use this, so a call the real
server would refuse (unknown method or parameter, missing required field, wrong type, text over
its documented length, callback data over 64 bytes, an ``attach://`` name with no upload) fails
in our tests too. Limits are read from the spec's own descriptions ("1-4096 characters",
"1-64 bytes", "must include 2-10 items"), never hard-coded per field.

Everything is compiled once in :meth:`BotApiSpec.load`; a call costs a walk over the values it
actually has, so a benchmark can push many calls through it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# "1-4096 characters after entities parsing", "1-64 bytes", "1-64 Bytes".
_LENGTH = re.compile(r"\b(\d+)-(\d+) (characters|bytes)\b", re.IGNORECASE)
# Array sizes: "list of 1-100 identifiers", "must include 2-10 items", "At most 100 commands can
# be specified".
_ITEMS = re.compile(r"\b(?:list of|include) (\d+)-(\d+)\b", re.IGNORECASE)
_MOST_ITEMS = re.compile(r"\bAt most (\d+) [\w ]+? can be specified", re.IGNORECASE)
# Integer ranges, only the two phrasings that have no exceptions attached ("or 0x7FFFFFFF").
_RANGE = re.compile(
    r"\b(?:Values between (\d+)-(\d+) are accepted|Must be between (\d+) and (\d+) if specified)",
    re.IGNORECASE,
)
# Discriminators of abstract types: "Scope type, must be chat", 'always "creator"'.
_CONSTANT = re.compile(r"(?:must be|always) [“\"]?([\w-]+)[”\"]?\s*$")
# Rules across a type's fields, from its description.
_ONE_OF_OTHERS = re.compile(
    r"(Exactly|At most) one of the fields other than ([\w, ]+?) must be used", re.IGNORECASE
)
_ONE_OF_LISTED = re.compile(r"(Exactly) one of the fields (\w+(?:, \w+)*,? or \w+) must be used")
_ONE_OF_OPTIONAL = re.compile(
    r"(exactly|At most) one of the optional fields(?: can be present|\.)", re.IGNORECASE
)
_STRING_INSTEAD = "String can be used instead of this object"
_INTEGER = re.compile(r"-?\d+")
_HTML_TAG = re.compile(r"<[^>]*>")
_ATTACH = "attach://"
_SCALARS = frozenset({"Integer", "Float", "Boolean", "String", "InputFile"})

# (path, problem): paths are built only on the way out, and only for values that are wrong.
_Problems = list[tuple[str, str]]


class BotApiViolation(Exception):
    """A call the real Bot API would refuse; ``problems`` says every reason, not just the first."""

    def __init__(self, method: str, problems: list[str]) -> None:
        super().__init__(f"{method}: " + "; ".join(problems))
        self.method = method
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    types: tuple[str, ...]
    required: bool
    length: tuple[int, int, bool] | None  # (min, max, counted in UTF-8 bytes)
    items: tuple[int, int] | None  # array size
    value_range: tuple[int, int] | None  # integers
    constant: str | None  # the discriminator value of a subtype ("chat")
    after_entities: bool  # the length counts text after parse_mode markup is removed
    takes_file: bool  # an upload (or "attach://name") is allowed here


def _field(raw: Mapping[str, Any]) -> Field:
    description: str = raw.get("description", "")
    types = tuple(raw["types"])
    length = items = value_range = None
    constant = None
    if "String" in types:
        if match := _LENGTH.search(description):
            bytes_ = match.group(3).lower() == "bytes"
            length = (int(match.group(1)), int(match.group(2)), bytes_)
        if match := _CONSTANT.search(description):
            constant = match.group(1)
    if any(t.startswith("Array of ") for t in types):
        if match := _ITEMS.search(description):
            items = (int(match.group(1)), int(match.group(2)))
        elif match := _MOST_ITEMS.search(description):
            items = (0, int(match.group(1)))
    if "Integer" in types and (match := _RANGE.search(description)):
        low, high = (g for g in match.groups() if g is not None)
        value_range = (int(low), int(high))
    return Field(
        name=raw["name"],
        types=types,
        required=bool(raw["required"]),
        length=length,
        items=items,
        value_range=value_range,
        constant=constant,
        after_entities="after entities parsing" in description,
        takes_file="InputFile" in types or _ATTACH in description,
    )


@dataclass(frozen=True, slots=True)
class _Abstract:
    subtypes: tuple[str, ...]
    discriminator: str | None  # the field whose constant picks the subtype
    by_constant: Mapping[str, str]


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class BotApiSpec:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = data.get("version", "")
        self._methods: dict[str, dict[str, Field]] = {}
        self._canonical: dict[str, str] = {}
        self._returns: dict[str, list[str]] = {}
        for name, method in data["methods"].items():
            self._methods[name] = {f["name"]: _field(f) for f in method.get("fields", [])}
            self._canonical[name.lower()] = name
            self._returns[name] = list(method.get("returns", []))
        self._types: dict[str, dict[str, Field]] = {}
        for name, kind in data["types"].items():
            self._types[name] = {f["name"]: _field(f) for f in kind.get("fields", [])}
        # (exactly one?, the fields of which at most / exactly one may be set)
        self._one_of: dict[str, tuple[bool, frozenset[str]]] = {}
        self._string_instead: set[str] = set()
        for name, kind in data["types"].items():
            description = " ".join(kind.get("description", []))
            if rule := self._one_of_rule(self._types[name], description):
                self._one_of[name] = rule
            if _STRING_INSTEAD in description:
                self._string_instead.add(name)
        self._abstract: dict[str, _Abstract] = {}
        for name, kind in data["types"].items():
            if kind.get("subtypes"):
                self._abstract[name] = self._compile_abstract(tuple(kind["subtypes"]))
        self._required: dict[str, tuple[str, ...]] = {
            name: tuple(f.name for f in fields.values() if f.required)
            for name, fields in (self._methods | self._types).items()
        }

    def _compile_abstract(self, subtypes: tuple[str, ...]) -> _Abstract:
        # Subtypes are told apart by one constant field (type, status or source) when they have one.
        for key in ("type", "status", "source"):
            constants = {}
            for sub in subtypes:
                field = self._types.get(sub, {}).get(key)
                if field is None or field.constant is None:
                    break
                constants[field.constant] = sub
            else:
                return _Abstract(subtypes, key, constants)
        return _Abstract(subtypes, None, {})

    @staticmethod
    def _one_of_rule(
        fields: Mapping[str, Field], description: str
    ) -> tuple[bool, frozenset[str]] | None:
        optional = {f.name for f in fields.values() if not f.required}
        if match := _ONE_OF_OTHERS.search(description):
            others = set(re.split(r",\s*(?:and\s+)?|\s+and\s+", match.group(2)))
            names = optional - others
        elif match := _ONE_OF_LISTED.search(description):
            names = set(re.split(r",\s*(?:or\s+)?|\s+or\s+", match.group(2))) & set(fields)
        elif match := _ONE_OF_OPTIONAL.search(description):
            names = optional
        else:
            return None
        return match.group(1).lower() == "exactly", frozenset(names)

    @classmethod
    @cache
    def load(cls) -> BotApiSpec:
        text = resources.files("reminderbot.botapi").joinpath("api.min.json").read_text("utf-8")
        return cls(json.loads(text))

    def canonical(self, method: str) -> str | None:
        """The spec's spelling of a method; names are case-insensitive on Telegram's server."""
        return self._canonical.get(method.lower())

    def has_method(self, method: str) -> bool:
        return self.canonical(method) is not None

    def return_types(self, method: str) -> list[str]:
        name = self.canonical(method)
        return list(self._returns[name]) if name else []

    def fields(self, method: str) -> Mapping[str, Field]:
        name = self.canonical(method)
        return self._methods[name] if name else {}

    # ------------------------------------------------------------------ wire form
    def decode_wire(self, method: str, form: Mapping[str, str]) -> dict[str, object]:
        """Form or multipart string values -> Python values, by each field's spec types.

        Strings stay strings; "Integer or String" (chat_id) becomes an int when it is one; all
        else (numbers, booleans, objects, arrays) is JSON, as python-telegram-bot and Telegram's
        own server encode it. Unknown parameters stay strings for :meth:`validate` to refuse.
        """
        name = self.canonical(method)
        if name is None:
            raise BotApiViolation(method, ["unknown method"])
        fields = self._methods[name]
        decoded: dict[str, object] = {}
        problems = []
        for key, raw in form.items():
            spec = fields.get(key)
            if spec is None or all(t in ("String", "InputFile") for t in spec.types):
                decoded[key] = raw
            elif "String" in spec.types:
                decoded[key] = int(raw) if _INTEGER.fullmatch(raw) else raw
            else:
                try:
                    decoded[key] = json.loads(raw)
                except json.JSONDecodeError:
                    types = " or ".join(spec.types)
                    problems.append(f"{key}: {raw[:40]!r} is not valid JSON for {types}")
        if problems:
            raise BotApiViolation(name, problems)
        return decoded

    # ------------------------------------------------------------------ validation
    def validate(
        self, method: str, params: Mapping[str, object], files: Collection[str] = ()
    ) -> None:
        """Raise :class:`BotApiViolation` listing every reason Telegram would refuse this call.

        ``files`` names the multipart parts uploaded with it: one named like a parameter is that
        parameter; others must be referenced as ``attach://<name>`` somewhere in the values.
        """
        name = self.canonical(method)
        if name is None:
            raise BotApiViolation(method, ["unknown method"])
        fields = self._methods[name]
        problems: _Problems = []
        attached: set[str] = set()
        uploaded = set(files)
        for key, value in params.items():
            field = fields.get(key)
            if field is None:
                problems.append((key, "unknown parameter"))
            elif value is not None:
                self._check_field(field, value, params, uploaded, attached, problems, key)
        for key in self._required[name]:
            if params.get(key) is None and key not in uploaded:
                problems.append((key, "missing required parameter"))
        for key in sorted(uploaded - attached):
            field = fields.get(key)
            if field is None:
                problems.append((key, "uploaded file is neither a parameter nor attach://-ed"))
            elif not field.takes_file:
                problems.append((key, f"cannot be a file (expects {' or '.join(field.types)})"))
            elif params.get(key) is not None:
                problems.append((key, "given both as a value and as an uploaded file"))
        if problems:
            raise BotApiViolation(name, [f"{path}: {problem}" for path, problem in problems])

    def _check_field(
        self,
        field: Field,
        value: object,
        siblings: Mapping[str, object],
        files: set[str],
        attached: set[str],
        problems: _Problems,
        path: str,
    ) -> None:
        found = self._check_union(field.types, value, files, attached)
        if found:
            problems.extend(_under(path, found))
            return
        if isinstance(value, str):
            if field.takes_file and value.startswith(_ATTACH):
                attach_name = value.removeprefix(_ATTACH)
                attached.add(attach_name)
                if attach_name not in files:
                    problems.append((path, f"{value!r} names no uploaded file"))
            if field.constant is not None and value != field.constant:
                problems.append((path, f"must be {field.constant!r}, not {value!r}"))
            if field.length is not None:
                low, high, in_bytes = field.length
                if in_bytes:
                    size, unit = len(value.encode("utf-8")), "bytes"
                else:
                    # Characters, as Telegram counts them once markup is parsed out.
                    text = _visible(value, siblings) if field.after_entities else value
                    size, unit = len(text), "characters"
                    if field.after_entities and low <= size and low > 0 and not text.strip():
                        # Telegram trims message text; all-blank text is refused as empty.
                        problems.append((path, "empty once whitespace is trimmed"))
                if not low <= size <= high:
                    problems.append((path, f"{size} {unit}, allowed {low}-{high}"))
        elif isinstance(value, list) and field.items is not None:
            low, high = field.items
            if not low <= len(value) <= high:
                problems.append((path, f"{len(value)} items, allowed {low}-{high}"))
        elif field.value_range is not None and isinstance(value, int):
            low, high = field.value_range
            if not low <= value <= high:
                problems.append((path, f"{value} is outside {low}-{high}"))

    def _check_union(
        self, types: Iterable[str], value: object, files: set[str], attached: set[str]
    ) -> _Problems:
        """Problems of ``value`` against the best fitting alternative; [] when one fits."""
        kind = _kind(value)
        best: _Problems | None = None
        best_rank = (0, 0)
        names = []
        for type_name in types:
            names.append(type_name)
            if not self._same_kind(type_name, kind, value):
                continue
            found = self._check_type(type_name, value, files, attached)
            if not found:
                return []
            # Report against the alternative the caller most likely meant: the object sharing
            # most keys with the value, then the one with fewest problems.
            fields = self._types.get(type_name, {})
            shared = len(fields.keys() & value.keys()) if isinstance(value, dict) else 0
            rank = (-shared, len(found))
            if best is None or rank < best_rank:
                best, best_rank = found, rank
        if best is not None:
            return best
        return [("", f"expected {' or '.join(names)}, got {kind}")]

    def _same_kind(self, type_name: str, kind: str, value: object) -> bool:
        if type_name.startswith("Array of "):
            return kind == "Array"
        if kind == "String" and type_name in self._string_instead:
            return True
        if type_name in _SCALARS:
            if type_name == "InputFile":
                return kind == "String" and str(value).startswith(_ATTACH)
            return kind == type_name or (type_name == "Float" and kind == "Integer")
        abstract = self._abstract.get(type_name)
        if abstract is not None and abstract.discriminator is None:
            return True  # e.g. RichText, whose subtypes include String and arrays
        return kind == "object"

    def _check_type(
        self, type_name: str, value: object, files: set[str], attached: set[str]
    ) -> _Problems:
        if type_name.startswith("Array of "):
            inner = type_name.removeprefix("Array of ")
            if not isinstance(value, list):
                return [("", f"expected {type_name}, got {_kind(value)}")]
            problems: _Problems = []
            for index, item in enumerate(value):
                found = self._check_union((inner,), item, files, attached)
                problems.extend(_under(f"[{index}]", found))
            return problems
        if type_name in _SCALARS or isinstance(value, str):
            return []  # the kind already matched (or a String stands in for this object)
        abstract = self._abstract.get(type_name)
        if abstract is not None:
            return self._check_abstract(type_name, abstract, value, files, attached)
        fields = self._types.get(type_name)
        if fields is None or not isinstance(value, dict):
            return [("", f"expected {type_name}, got {_kind(value)}")]
        return self._check_object(type_name, fields, value, files, attached)

    def _check_abstract(
        self,
        type_name: str,
        abstract: _Abstract,
        value: object,
        files: set[str],
        attached: set[str],
    ) -> _Problems:
        if abstract.discriminator is not None and isinstance(value, dict):
            tag = value.get(abstract.discriminator)
            sub = abstract.by_constant.get(tag) if isinstance(tag, str) else None
            if sub is None:
                allowed = ", ".join(sorted(abstract.by_constant))
                return [(abstract.discriminator, f"{tag!r} is not a {type_name} ({allowed})")]
            return self._check_type(sub, value, files, attached)
        return self._check_union(abstract.subtypes, value, files, attached)

    def _check_object(
        self,
        type_name: str,
        fields: Mapping[str, Field],
        value: Mapping[Any, object],
        files: set[str],
        attached: set[str],
    ) -> _Problems:
        problems: _Problems = []
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                problems.append((str(key), f"unknown field of {type_name}"))
            elif item is not None:
                self._check_field(field, item, value, files, attached, problems, key)
        for key in self._required[type_name]:
            if value.get(key) is None:
                problems.append((key, f"missing required field of {type_name}"))
        rule = self._one_of.get(type_name)
        if rule is not None:
            exactly, names = rule
            used = sorted(k for k in names if value.get(k) is not None)
            if len(used) > 1 or (exactly and not used):
                wanted = "exactly" if exactly else "at most"
                choices = ", ".join(sorted(names))
                problems.append(("", f"{type_name} needs {wanted} one of {choices}; has {used}"))
        return problems


def _under(prefix: str, problems: _Problems) -> _Problems:
    joined = []
    for path, problem in problems:
        if not path or path.startswith("["):
            joined.append((prefix + path, problem))
        else:
            joined.append((f"{prefix}.{path}", problem))
    return joined


def _visible(text: str, siblings: Mapping[str, object]) -> str:
    """The text Telegram counts: HTML tags and entities parsed out when parse_mode is HTML.

    Markdown is counted as sent, which can only over-count, so it never hides a real violation.
    """
    mode = siblings.get("parse_mode")
    if isinstance(mode, str) and mode.upper() == "HTML":
        return html.unescape(_HTML_TAG.sub("", text))
    return text

"""The Telegram Bot API as data (``api.min.json``, Bot API 10.1), and a strict validator.

Both the offline test double and the sandbox's local Bot API server use this, so a call the real
server would refuse (unknown method or field, missing required field, wrong type, text over its
documented length, callback data over 64 bytes) fails in our tests too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_LIMIT = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_SCALARS = {"Integer", "Float", "Boolean", "String", "True"}


class BotApiViolation(Exception):
    def __init__(self, method: str, problems: list[str]) -> None:
        super().__init__(f"{method}: " + "; ".join(problems))
        self.method = method
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    types: tuple[str, ...]
    required: bool
    limit: tuple[int, int, str] | None  # (min, max, "characters" | "bytes")


def _field(raw: Mapping[str, Any]) -> Field:
    match = _LIMIT.search(raw.get("description", ""))
    limit = (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None
    return Field(raw["name"], tuple(raw["types"]), bool(raw["required"]), limit)


def _utf16_length(text: str) -> int:
    # Telegram counts message length in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


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
        self._subtypes: dict[str, list[str]] = {}
        for name, kind in data["types"].items():
            self._types[name] = {f["name"]: _field(f) for f in kind.get("fields", [])}
            if kind.get("subtypes"):
                self._subtypes[name] = list(kind["subtypes"])

    @classmethod
    @cache
    def load(cls) -> BotApiSpec:
        text = resources.files("reminderbot.botapi").joinpath("api.min.json").read_text("utf-8")
        return cls(json.loads(text))

    def canonical(self, method: str) -> str | None:
        """Method names are case-insensitive on Telegram's server."""
        return self._canonical.get(method.lower())

    def has_method(self, method: str) -> bool:
        return self.canonical(method) is not None

    def return_types(self, method: str) -> list[str]:
        name = self.canonical(method)
        return list(self._returns.get(name, [])) if name else []

    # ------------------------------------------------------------------ wire form
    def decode_wire(self, method: str, form: Mapping[str, str]) -> dict[str, object]:
        """Form or multipart string values -> Python values, by each field's spec types."""
        name = self.canonical(method)
        if name is None:
            raise BotApiViolation(method, ["unknown method"])
        fields = self._methods[name]
        decoded: dict[str, object] = {}
        problems = []
        for key, raw in form.items():
            spec = fields.get(key)
            if spec is None or spec.types == ("String",):
                decoded[key] = raw
                continue
            if "String" in spec.types and not raw.lstrip("-").isdigit():
                decoded[key] = raw
                continue
            try:
                decoded[key] = json.loads(raw)
            except json.JSONDecodeError:
                if "String" in spec.types:
                    decoded[key] = raw
                else:
                    problems.append(f"{key}: {raw[:40]!r} is not valid JSON for {spec.types}")
        if problems:
            raise BotApiViolation(name, problems)
        return decoded

    # ------------------------------------------------------------------ validation
    def validate(
        self, method: str, params: Mapping[str, object], files: Collection[str] = ()
    ) -> None:
        name = self.canonical(method)
        if name is None:
            raise BotApiViolation(method, ["unknown method"])
        problems: list[str] = []
        self._check_object(name, self._methods[name], params, files, problems, top=True)
        if problems:
            raise BotApiViolation(name, problems)

    def _check_object(
        self,
        where: str,
        fields: Mapping[str, Field],
        value: Mapping[str, object],
        files: Collection[str],
        problems: list[str],
        *,
        top: bool = False,
    ) -> None:
        for key in value:
            if key not in fields:
                problems.append(f"{where}: unknown field {key!r}")
        for field in fields.values():
            present = key_present = field.name in value and value[field.name] is not None
            if top and not present and field.name in files:
                key_present = True
            if field.required and not key_present:
                problems.append(f"{where}: missing required field {field.name!r}")
            if present:
                self._check_value(f"{where}.{field.name}", field, value[field.name], problems)

    def _check_value(self, where: str, field: Field, value: object, problems: list[str]) -> None:
        if not any(self._fits(t, value, where, []) for t in field.types):
            errors: list[str] = []
            for t in field.types:
                self._fits(t, value, where, errors)
            problems.append(
                f"{where}: {type(value).__name__} does not fit {' or '.join(field.types)}"
                + (f" ({errors[0]})" if errors else "")
            )
            return
        if field.limit and isinstance(value, str):
            low, high, unit = field.limit
            size = len(value.encode("utf-8")) if unit == "bytes" else _utf16_length(value)
            if not low <= size <= high:
                problems.append(f"{where}: {size} {unit}, allowed {low}-{high}")

    def _fits(self, type_name: str, value: object, where: str, problems: list[str]) -> bool:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return False
            inner = type_name.removeprefix("Array of ")
            return all(self._fits(inner, item, f"{where}[]", problems) for item in value)
        match type_name:
            case "Integer":
                return isinstance(value, int) and not isinstance(value, bool)
            case "Float":
                return isinstance(value, int | float) and not isinstance(value, bool)
            case "Boolean":
                return isinstance(value, bool)
            case "True":
                return value is True
            case "String":
                return isinstance(value, str)
            case "InputFile":
                return isinstance(value, str) and value.startswith("attach://")
        if type_name in self._subtypes:
            return any(self._fits(sub, value, where, problems) for sub in self._subtypes[type_name])
        fields = self._types.get(type_name)
        if fields is None or not isinstance(value, dict):
            return False
        found: list[str] = []
        self._check_object(type_name, fields, _plain(value), (), found)
        problems.extend(found)
        return not found


def _plain(value: Mapping[Any, Any]) -> dict[str, object]:
    return {str(k): v for k, v in value.items()}

"""One Bot API call, from its parameters to Telegram's answer.

The one path both fake Telegrams take: the sandbox server's Bot API route (botapi_routes.py)
and the offline test double (tests/support/botdouble.py) each turn their request into a call of
:func:`answer` and its :class:`Answer` into their own kind of response. Storage, edits, faults,
flood limits, spec checks and Telegram's error bodies therefore exist once, here and in
``methods`` and ``state``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation
from reminderbot.sandbox import methods
from reminderbot.sandbox.methods import Upload
from reminderbot.sandbox.state import (
    QUERY_INVALID,
    ApiError,
    Fault,
    FaultKind,
    JsonDict,
    SandboxState,
    is_send,
    retry_after_error,
)

CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_OUTAGE = frozenset({FaultKind.OUTAGE})
_ANSWERED_FAULTS = frozenset(FaultKind) - _OUTAGE
NO_UPLOADS: Mapping[str, Upload] = {}


@dataclass
class Answer:
    """What Telegram does with one call: a result, an error body, or no answer at all."""

    params: Mapping[str, Any]  # as decoded from the wire (the raw form if it never decoded)
    result: object = None  # when ``error`` and ``outage`` are both None
    error: ApiError | None = None  # Telegram's refusal: status and body
    outage: Fault | None = None  # no Bot API answer at all (a reset, a 502 page, a hang)
    fault: Fault | None = None  # the injected fault that answered, if one did
    violation: BotApiViolation | None = None  # the spec refuses the call: the bot has a bug

    @property
    def status(self) -> int:
        return 200 if self.error is None else self.error.status

    def body(self) -> JsonDict:
        if self.error is not None:
            return self.error.payload()
        return {"ok": True, "result": self.result}


def chat_id_of(params: Mapping[str, object]) -> int | None:
    value = params.get("chat_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def fault_error(fault: Fault) -> ApiError:
    if fault.kind is FaultKind.RETRY_AFTER:
        return retry_after_error(fault.retry_after)
    if fault.kind is FaultKind.BLOCKED:
        return ApiError(403, "Forbidden: bot was blocked by the user")
    if fault.kind is FaultKind.QUERY_TOO_OLD:
        return ApiError(400, QUERY_INVALID)
    return ApiError(400, "Bad Request: chat not found")


async def answer(
    state: SandboxState,
    spec: BotApiSpec,
    method: str,
    params: Mapping[str, Any],
    uploads: Mapping[str, Upload] = NO_UPLOADS,
    *,
    wire: bool = True,
    validate: bool = True,
) -> Answer:
    """Carry out one call of ``method`` (the spec's spelling, or the name as it came).

    ``wire``: ``params`` are a form's strings, decoded by the spec's types before anything
    else; otherwise they are values already (a JSON body, or PTB's own values in the double).
    ``validate=False`` skips the spec check (benchmarks); an unknown method is refused anyway.
    """
    chat_id = chat_id_of(params)
    # An outage comes first: there is no server to validate anything.
    outage = state.take_fault(method, chat_id, kinds=_OUTAGE)
    if outage is not None:
        return Answer(_readable(spec, method, params, wire), outage=outage, fault=outage)
    if not spec.has_method(method):
        violation = BotApiViolation(method, ["unknown method"])
        state.record_violation(method, violation.problems, dict(params))
        return Answer(params, error=ApiError(404, "Not Found"), violation=violation)
    if validate:
        try:
            decoded: Mapping[str, Any] = spec.decode_wire(method, params) if wire else params
            spec.validate(method, decoded, files=uploads.keys())
        except BotApiViolation as violation:
            state.record_violation(method, violation.problems, dict(params))
            error = ApiError(400, "Bad Request: " + "; ".join(violation.problems))
            return Answer(params, error=error, violation=violation)
        params = decoded
    fault = state.take_fault(method, chat_id, kinds=_ANSWERED_FAULTS)
    if fault is not None:
        return Answer(params, error=fault_error(fault), fault=fault)
    try:
        if is_send(method):
            wait = state.rate_limit.admit(chat_id, state.monotonic())
            if wait is not None:
                raise retry_after_error(wait)
        if method == "getUpdates":
            result = await _get_updates(state, params)
        else:
            result = methods.call(state, method, spec.return_types(method), params, uploads)
    except ApiError as error:
        return Answer(params, error=error)
    return Answer(params, result=result)


def _readable(
    spec: BotApiSpec, method: str, params: Mapping[str, Any], wire: bool
) -> Mapping[str, Any]:
    """The parameters decoded if they can be, for whoever records a call that got no answer."""
    if not wire:
        return params
    try:
        return spec.decode_wire(method, params)
    except BotApiViolation:
        return params


async def _get_updates(state: SandboxState, params: Mapping[str, Any]) -> object:
    if state.webhook_url:
        raise ApiError(409, CONFLICT_WEBHOOK)
    state.poll_generation += 1
    generation = state.poll_generation
    state.touch()  # wakes an older long poll so it can step aside
    offset = params.get("offset")
    limit = int(params.get("limit") or 100)
    allowed = params.get("allowed_updates")
    timeout = min(float(params.get("timeout") or 0), state.max_poll_seconds)
    # Real time, not state.monotonic: a test's frozen clock must not hold a poll forever.
    deadline = time.monotonic() + timeout
    while True:
        version = state.version
        updates = state.take_updates(offset, limit, allowed)
        left = deadline - time.monotonic()
        if updates or left <= 0:
            return updates
        await state.wait_changed(version, left)
        if state.poll_generation != generation:
            raise ApiError(409, CONFLICT_OTHER_POLL)

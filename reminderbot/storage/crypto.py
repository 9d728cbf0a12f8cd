"""Encryption at rest: what people wrote and chose is stored as AES-GCM ciphertext, their
Telegram id as a keyed hash, and no service ever sees either (the column types below do it).

A stored value is ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag``.
The key id (the first 4 bytes of SHA-256 of the key) says which of the operator's keys opens
it, so several keys can be given: the first encrypts, all of them decrypt, and
``reminderbot db rotate-key`` re-encrypts every row under the first. The nonce is random per
value. The associated data is the table and column, so a value moved into another column does
not decrypt (ARCHITECTURE.md says what that does not cover, and why).

The hash key for Telegram ids is random, made once per database and stored in ``secrets``
encrypted under the data key: rotating the data key re-wraps that one row and every look-up
keeps working. Opening that row is also the check at start that the right key was given.

The keys live in this module, process-wide, because a SQLAlchemy type sees only the value and
the dialect: ``use()`` installs them once at start (and in each test run).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators

VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 4
NONCE_BYTES = 12
HEADER_BYTES = 1 + KEY_ID_BYTES
# The secrets row holding the hash key for Telegram ids, and its associated data.
HASH_KEY_NAME = "user_id_hash_key"


class DataKeyError(Exception):
    """A key is missing, malformed or wrong; the message is one sentence for the operator."""


def new_key() -> str:
    """A fresh data key as the operator writes it: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_key(text: str, where: str) -> bytes:
    """One key from its base64 form; ``where`` names the setting or file in the error."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode() + b"==")
    except (binascii.Error, ValueError) as exc:
        raise DataKeyError(f"A data key in {where} is not base64.") from exc
    if len(raw) != KEY_BYTES:
        raise DataKeyError(
            f"A data key in {where} is {len(raw)} bytes, not {KEY_BYTES}; make one with "
            "`reminderbot db new-key`."
        )
    return raw


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


class Keyring:
    """The operator's keys: the first encrypts, all decrypt. One AESGCM object per key, made
    once and reused for every value."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise DataKeyError("No data key was given.")
        self._ciphers: dict[bytes, AESGCM] = {}
        for key in keys:
            self._ciphers.setdefault(key_id(key), AESGCM(key))
        self.first_id = key_id(keys[0])
        self._first = self._ciphers[self.first_id]
        self._header = bytes([VERSION]) + self.first_id

    @property
    def ids(self) -> frozenset[bytes]:
        return frozenset(self._ciphers)

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return self._header + nonce + self._first.encrypt(nonce, plaintext, context)

    def decrypt(self, blob: bytes, context: bytes) -> bytes:
        """Raises DataKeyError when no key given opens it (a retired key, or another's)."""
        if len(blob) < HEADER_BYTES + NONCE_BYTES or blob[0] != VERSION:
            raise DataKeyError("A stored value is not one this version of reminderbot wrote.")
        cipher = self._ciphers.get(bytes(blob[1:HEADER_BYTES]))
        if cipher is None:
            raise DataKeyError(
                f"A stored value was encrypted with data key {stored_key_id(blob)}, which was "
                "not given."
            )
        nonce = bytes(blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES])
        try:
            return cipher.decrypt(nonce, bytes(blob[HEADER_BYTES + NONCE_BYTES :]), context)
        except InvalidTag as exc:
            raise DataKeyError("A stored value was changed, or moved from another column.") from exc


def stored_key_id(blob: bytes) -> str:
    """The key id a stored value names, as the operator sees it (8 hex digits)."""
    return bytes(blob[1:HEADER_BYTES]).hex()


# --------------------------------------------------------------------------- process-wide keys
_keyring: Keyring | None = None
_missing = "No data key was given: set REMINDERBOT_DATA_KEY or data_key_file."
_hash_key: bytes | None = None
_user_hash: Any = None  # an hmac object keyed with the database's hash key, copied per use


def use(
    keyring: Keyring | None, hash_key: bytes | None = None, *, missing: str | None = None
) -> None:
    """Install the keys every encrypted column uses in this process. Without a keyring,
    ``missing`` is the sentence the first use of one raises (why there is none)."""
    global _keyring, _missing
    _keyring = keyring
    if missing is not None:
        _missing = missing
    use_hash_key(hash_key)


def current() -> tuple[Keyring | None, bytes | None]:
    """The keys in use, to put back with ``use`` after borrowing others."""
    return _keyring, _hash_key


def use_hash_key(hash_key: bytes | None) -> None:
    global _hash_key, _user_hash
    _hash_key = hash_key
    _user_hash = None if hash_key is None else hmac.new(hash_key, digestmod=hashlib.sha256)


def hash_key_for_new_database() -> bytes:
    """The hash key a database being encrypted gets: the one this process already uses (tests
    share one across their databases), else a new random one, installed."""
    if _hash_key is None:
        use_hash_key(secrets.token_bytes(KEY_BYTES))
    assert _hash_key is not None
    return _hash_key


def keyring() -> Keyring:
    if _keyring is None:
        raise DataKeyError(_missing)
    return _keyring


def user_hash(telegram_user_id: int) -> bytes:
    """The stored form of a Telegram user id: HMAC-SHA256 under the database's hash key."""
    if _user_hash is None:
        raise DataKeyError("The database's hash key is not loaded in this process.")
    mac = _user_hash.copy()
    mac.update(b"%d" % telegram_user_id)
    return bytes(mac.digest())


def wrap_hash_key(hash_key: bytes) -> bytes:
    return keyring().encrypt(hash_key, HASH_KEY_NAME.encode())


def unwrap_hash_key(blob: bytes) -> bytes:
    return keyring().decrypt(blob, HASH_KEY_NAME.encode())


# --------------------------------------------------------------------------- key files
def read_key_file(path: Path) -> list[bytes]:
    """Keys one per line, the first encrypts; blank lines and # comments are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataKeyError(f"The data key file {path} cannot be read ({exc.strerror}).") from exc
    keys = [
        parse_key(line, str(path)) for line in lines if line.strip() and not line.startswith("#")
    ]
    if not keys:
        raise DataKeyError(f"The data key file {path} holds no key.")
    return keys


def parse_keys(text: str, where: str) -> list[bytes]:
    """Keys separated by commas (or whitespace), the first encrypts."""
    keys = [parse_key(part, where) for part in text.replace(",", " ").split()]
    if not keys:
        raise DataKeyError(f"{where} is set but holds no key.")
    return keys


def create_key_file(path: Path) -> bytes:
    """A new key in a new file readable by this user only (never overwrites one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(
            "# reminderbot data key: without it the database cannot be read.\n"
            "# Back it up apart from the database. Several keys: one a line, the first encrypts.\n"
            f"{key}\n"
        )
    return parse_key(key, str(path))


# --------------------------------------------------------------------------- column types
class Encrypted(TypeDecorator[Any]):
    """Base of the encrypted column types: bytes in the database, plain values in Python.

    Only ``IS NULL`` / ``IS NOT NULL`` may be asked of the column in SQL: an equality would
    compare ciphertexts (each value has its own nonce) and silently match nothing, so it
    raises instead."""

    impl = LargeBinary
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[Any]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            null_test = op in (operators.is_, operators.is_not) or (
                op in (operators.eq, operators.ne) and other == (None,)
            )
            if not null_test:
                raise TypeError("an encrypted column can only be tested for NULL in SQL")
            return super().operate(op, *other, **kwargs)

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context
        self._ad = context.encode()

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return keyring().encrypt(self.encode(value), self._ad)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self.decode(keyring().decrypt(value, self._ad))


class EncryptedText(Encrypted):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return str(value).encode()

    def decode(self, data: bytes) -> str:
        return data.decode()


class EncryptedInt(Encrypted):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return b"%d" % value

    def decode(self, data: bytes) -> int:
        return int(data)


class EncryptedEnum(Encrypted):
    cache_ok = True

    def __init__(self, enum_class: type[enum.Enum], context: str) -> None:
        super().__init__(context)
        self.enum_class = enum_class

    def encode(self, value: Any) -> bytes:
        # A member, or its value as a string (services sometimes assign "given" for GIVEN).
        member = value if isinstance(value, self.enum_class) else self.enum_class(value)
        return str(member.value).encode()

    def decode(self, data: bytes) -> enum.Enum:
        return self.enum_class(data.decode())


class UserIdHash(TypeDecorator[bytes]):
    """A Telegram user id stored as its keyed hash: an int bound here is hashed (so
    ``Person.telegram_user_id == 123`` finds them); bytes are an already computed hash."""

    impl = LargeBinary(32)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return user_hash(int(value))

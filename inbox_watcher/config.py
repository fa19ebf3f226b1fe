"""Configuration: ``watcher.toml`` and the customer files it points to, loaded and checked.

``load_config(path)`` returns a frozen ``Config`` or raises ``ConfigError`` listing every problem
found, all at once, each naming the file and the dotted key in plain words::

    config/customers/westside.toml: po.pattern: does not compile: missing ) at position 12

``check_config(path)`` returns the same problems without raising.

Units: durations ("30s", "5m", "1h", "1d", "500ms" or a plain number of seconds) become float
seconds; sizes ("25MB", "512KiB", "1G" or a plain number of bytes; K, M and G count in 1024s)
become int bytes. Relative paths (``password_file``, ``ca_file``, ``customers.dir``, a relative
SQLite database) resolve against the folder of the file that names them.

Secrets are never held in clear by the config objects: a password comes from ``password_env`` or
``password_file`` and is read when ``password()`` is called. An inline ``password = "..."`` is
refused unless the same section says ``allow_inline_secrets = true``; it is then held as a
``SecretStr`` whose repr is masked.

``config_reference_markdown()`` renders every key with its type, default and meaning (the
README's configuration reference is built from it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import fnmatch
import ipaddress
import json
import math
import os
import re
import shlex
import string
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticUndefined

from extractors.rules import DEFAULT_LABELS, CustomerRules, RuleError

EX_CONFIG = 78  # sysexits.h: the exit code for a configuration error

# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in a configuration file: which file, which dotted key, what is wrong."""

    file: str
    key: str  # dotted, as "imap.port" or "po.pattern"; "" for the file as a whole
    message: str

    def __str__(self) -> str:
        if self.key:
            return f"{self.file}: {self.key}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --------------------------------------------------------------------------------------------
# Units

_NUMBER = r"(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)"
_DURATION_RE = re.compile(rf"{_NUMBER}\s*(?P<unit>ms|s|m|h|d)?", re.IGNORECASE)
_DURATION_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_RE = re.compile(rf"{_NUMBER}\s*(?P<unit>b|k|kb|kib|m|mb|mib|g|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS: dict[str, int] = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DURATION_HINT = 'write a number with a unit, such as "30s", "5m", "1h", "1d", or plain seconds'
_SIZE_HINT = 'write a number with a unit, such as "512KB", "25MB", "1GB", or plain bytes'


def _q(value: object) -> str:
    """A value as TOML would write it, for messages: "text" in double quotes."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_duration(value: object) -> float:
    """Seconds in a duration: "30s", "5m", "1h", "1d", "500ms", "0.5s", 30 or 2.5 (seconds).

    Raises ValueError (in plain words) for anything else and for zero or negative durations.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a duration: {_DURATION_HINT}")
    if isinstance(value, str):
        m = _DURATION_RE.fullmatch(value.strip())
        if m is None:
            raise ValueError(f"{_q(value)} is not a duration: {_DURATION_HINT}")
        seconds = float(m["number"]) * _DURATION_UNITS[(m["unit"] or "s").lower()]
    else:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError("is too long a duration")
    if seconds <= 0:
        raise ValueError(f"must be longer than zero: {_DURATION_HINT}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact text for a duration that ``parse_duration`` reads back to ``seconds``."""
    for unit in ("d", "h", "m"):
        size = _DURATION_UNITS[unit]
        count = seconds / size
        if count >= 1 and count.is_integer() and float(int(count)) * size == seconds:
            return f"{int(count)}{unit}"
    if seconds.is_integer():
        return f"{int(seconds)}s"
    return f"{seconds!r}s"


def parse_size(value: object) -> int:
    """Bytes in a size: "25MB", "512KiB", "1.5G", "800B" or a plain integer of bytes.

    K, M and G count in 1024s whether written "KB" or "KiB". Raises ValueError otherwise and for
    zero or negative sizes.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a size: {_SIZE_HINT}")
    if isinstance(value, str):
        m = _SIZE_RE.fullmatch(value.strip())
        if m is None:
            raise ValueError(f"{_q(value)} is not a size: {_SIZE_HINT}")
        try:
            number = Decimal(m["number"])
        except InvalidOperation:
            raise ValueError(f"{_q(value)} is not a size: {_SIZE_HINT}") from None
        unit = (m["unit"] or "b").lower()[0]
        total = number * _SIZE_UNITS[unit]
        if total.adjusted() > 30:
            raise ValueError("is too large a size")
        size = int(total)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number of bytes: {_SIZE_HINT}")
        size = int(value)
    else:
        size = value
    if size <= 0:
        raise ValueError(f"must be more than zero: {_SIZE_HINT}")
    return size


def format_size(size: int) -> str:
    """The shortest exact text for a size that ``parse_size`` reads back to ``size``."""
    for unit in ("g", "m", "k"):
        count, rest = divmod(size, _SIZE_UNITS[unit])
        if count and not rest:
            return f"{count}{unit.upper()}B"
    return f"{size}B"


def parse_clock(value: object) -> dt.time:
    """A 24-hour time of day: "07:00" (or a TOML local time such as 07:00:00)."""
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise ValueError("must be a local time of day without an offset; set schedule.timezone")
        return value.replace(microsecond=0)
    if isinstance(value, str):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if m is not None and int(m[1]) < 24 and int(m[2]) < 60:
            return dt.time(int(m[1]), int(m[2]))
        raise ValueError(
            f'{_q(value)} is not a time of day: write 24-hour "HH:MM", such as "07:00"'
        )
    raise ValueError('must be a time of day in quotes, such as "07:00"')


# --------------------------------------------------------------------------------------------
# Field types and checks (each raises ValueError with the words a person reads)


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def _resolve_path(value: object, info: ValidationInfo) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a path in quotes")
    path = Path(value.strip()).expanduser()
    return Path(os.path.abspath(_base_dir(info) / path))


def _check_readable_file(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"the file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"the file {path} cannot be read: {exc.strerror}") from None
    return path


def _check_secret_file(path: Path, info: ValidationInfo) -> Path:
    if (info.context or {}).get("defer_secrets"):
        return path  # read (and its problems reported) when the password is needed
    _read_secret_file(_check_readable_file(path))
    return path


def _check_dir(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"the folder {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder")
    return path


_MAX_SECRET_BYTES = 64 * 1024


def _read_secret_file(path: Path) -> str:
    """The password held in a file (a trailing newline is not part of it)."""
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"the file {path} cannot be read: {exc.strerror}") from None
    if len(data) > _MAX_SECRET_BYTES:
        raise ValueError(f"the file {path} is larger than 64 KiB: is it the right file?")
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"the file {path} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"the file {path} is empty")
    return text


def _check_env_var(name: str, info: ValidationInfo) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        # Not echoed: an admin may have typed the password itself here.
        raise ValueError(
            "is not an environment variable name (letters, digits and _; the value is not shown "
            "in case it is the password itself)"
        )
    if (info.context or {}).get("defer_secrets"):
        return name  # read (and a missing variable reported) when the password is needed
    value = os.environ.get(name)
    if value is None:
        raise ValueError(f"the environment variable {name} is not set")
    if not value:
        raise ValueError(f"the environment variable {name} is empty")
    return name


def _check_host(host: str) -> str:
    if any(ch.isspace() for ch in host) or "/" in host:
        raise ValueError(f"{_q(host)} is not a host name or address")
    return host


def _check_address(address: str) -> str:
    if not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", address):
        raise ValueError(f"{_q(address)} is not an email address")
    return address


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = 'such as "Europe/Berlin" or "UTC"'
        try:
            from zoneinfo import available_timezones  # noqa: PLC0415 - slow, only on error

            close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        except OSError:
            close = []
        if close:
            hint = f'did you mean "{close[0]}"?'
        raise ValueError(f"unknown time zone {_q(name)}: use an IANA name; {hint}") from None
    return name


NonEmptyStr = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
Host = Annotated[NonEmptyStr, AfterValidator(_check_host)]
Address = Annotated[NonEmptyStr, AfterValidator(_check_address)]
EnvVarName = Annotated[NonEmptyStr, AfterValidator(_check_env_var)]
ConfigPath = Annotated[Path, BeforeValidator(_resolve_path)]
ReadableFile = Annotated[Path, BeforeValidator(_resolve_path), AfterValidator(_check_readable_file)]
SecretFile = Annotated[Path, BeforeValidator(_resolve_path), AfterValidator(_check_secret_file)]
Folder = Annotated[Path, BeforeValidator(_resolve_path), AfterValidator(_check_dir)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
ClockTime = Annotated[dt.time, BeforeValidator(parse_clock)]
TimeZoneName = Annotated[NonEmptyStr, AfterValidator(_check_timezone)]
Security = Literal["ssl", "starttls", "none"]


def _key(default: Any, kind: str, doc: str, shown: str = "", **constraints: Any) -> Any:
    """A config key: its default (parsed like a written value), its kind and its meaning;
    `shown` is the default as the reference tells it when it is derived from other keys."""
    extra: dict[str, JsonValue] = {"kind": kind, "shown": shown} if shown else {"kind": kind}
    return Field(
        default,
        description=doc,
        json_schema_extra=extra,
        validate_default=default is not PydanticUndefined and default is not None,
        **constraints,
    )


REQUIRED: Any = PydanticUndefined


def _is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Sections


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    NAME: ClassVar[str] = ""
    _file: str = PrivateAttr("")

    @model_validator(mode="after")
    def _remember_file(self, info: ValidationInfo) -> _Section:
        if isinstance(info.context, Mapping):
            self._file = str(info.context.get("file", ""))
        return self


class _HasPassword(_Section):
    """A section that may name a password source (imap, digest, database)."""

    def _password(self) -> str | None:
        inline: SecretStr | None = getattr(self, "inline_password", None)
        env: str | None = getattr(self, "password_env", None)
        file: Path | None = getattr(self, "password_file", None)
        if inline is not None:
            return inline.get_secret_value()
        if env is not None:
            value = os.environ.get(env)
            if not value:
                state = "is not set" if value is None else "is empty"
                raise ConfigError(
                    [
                        ConfigProblem(
                            self._file,
                            f"{self.NAME}.password_env",
                            f"the environment variable {env} {state}",
                        )
                    ]
                )
            return value
        if file is not None:
            try:
                return _read_secret_file(file)
            except ValueError as exc:
                raise ConfigError(
                    [ConfigProblem(self._file, f"{self.NAME}.password_file", str(exc))]
                ) from None
        return None


_ENV_SOURCE_DOC = "Name of the environment variable holding the password (read when needed)."
_FILE_SOURCE_DOC = (
    "File holding only the password (a trailing newline is ignored); relative to this file's "
    "folder. Fits systemd `LoadCredential=`."
)
_INLINE_DOC = "The password itself. Refused unless `allow_inline_secrets = true` in this section."
_ALLOW_INLINE_DOC = "Accept an inline `password` in this section (not recommended)."
_ALLOW_PLAINTEXT_DOC = (
    'Allow `security = "none"` to a host other than this machine (loopback needs no flag): '
    "the password then crosses the network in clear."
)


def _default_port(data: Any, key: str, ports: Mapping[str, int], fallback: str) -> Any:
    if isinstance(data, dict) and key not in data:
        security = data.get("security", fallback)
        data = {**data, key: ports.get(security, ports[fallback])}
    return data


class MailboxAction(BaseModel):
    """One entry of `imap.actions`: after the record of a message of `folder` whose outcome is
    `on` is committed, add `add_flags` (IMAP keywords such as "$PO-Linked", or system flags such
    as "\\Flagged") and/or move it to `move_to` (MOVE where the server has it, else COPY and
    delete)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: NonEmptyStr
    on: Literal["linked", "flagged"]
    add_flags: tuple[NonEmptyStr, ...] = ()
    move_to: NonEmptyStr | None = None

    @field_validator("add_flags")
    @classmethod
    def _flag_names(cls, flags: tuple[str, ...]) -> tuple[str, ...]:
        for flag in flags:
            if flag.lower() in _REFUSED_FLAGS:
                raise ValueError(
                    f"{flag} is not allowed: po-watcher never deletes or drafts mail (use a "
                    'keyword such as "$PO-Flagged", or "\\Flagged" or "\\Seen")'
                )
            if not _FLAG_NAME.fullmatch(flag):
                raise ValueError(
                    f'{flag!r} is not an IMAP flag name (a keyword such as "$PO-Flagged": '
                    "letters, digits and $-_.; no spaces, quotes or brackets; or a system flag "
                    'such as "\\Flagged")'
                )
        return flags

    @model_validator(mode="after")
    def _does_something(self) -> MailboxAction:
        if not self.add_flags and self.move_to is None:
            raise ValueError("needs add_flags or move_to")
        return self


# RFC 3501 flag: "\" and an atom (a system flag), or an atom (a keyword); atoms here are kept to
# the characters servers agree on. \Deleted would delete the message at the next EXPUNGE.
_FLAG_NAME = re.compile(r"\\?[A-Za-z0-9$_.\-]{1,64}")
_REFUSED_FLAGS = frozenset({"\\deleted", "\\draft", "\\recent"})


class ImapConfig(_HasPassword):
    """`[imap]`: the mailbox to watch."""

    NAME: ClassVar[str] = "imap"

    host: Host = _key(REQUIRED, "text", "Name or address of the IMAP server.")
    port: StrictInt = _key(
        993,
        "integer",
        "IMAP port.",
        shown="993 with `ssl`, 143 otherwise",
        ge=1,
        le=65535,
    )
    security: Security = _key(
        "ssl",
        '"ssl", "starttls" or "none"',
        "`ssl`: TLS from the first byte; `starttls`: upgrade a plain connection; `none`: no "
        "TLS (loopback hosts only, unless `allow_plaintext = true`).",
    )
    allow_plaintext: StrictBool = _key(False, "boolean", _ALLOW_PLAINTEXT_DOC)
    username: NonEmptyStr = _key(REQUIRED, "text", "Login name, usually the mailbox's address.")
    password_env: EnvVarName | None = _key(None, "text", _ENV_SOURCE_DOC)
    password_file: SecretFile | None = _key(None, "path", _FILE_SOURCE_DOC)
    inline_password: SecretStr | None = Field(
        None, alias="password", description=_INLINE_DOC, json_schema_extra={"kind": "text"}
    )
    allow_inline_secrets: StrictBool = _key(False, "boolean", _ALLOW_INLINE_DOC)
    folders: tuple[NonEmptyStr, ...] = _key(
        ("INBOX",), "list of text", "Mailbox folders to watch.", min_length=1
    )
    account: NonEmptyStr = _key(
        REQUIRED,
        "text",
        "Name of this account in the database and in message keys. "
        "Changing it later makes every message look new.",
        shown="`username@host`",
    )
    ca_file: ReadableFile | None = _key(
        None,
        "path",
        "Extra CA certificate (PEM) trusted when verifying the server's TLS "
        "certificate, for a private CA or a self-signed server.",
    )
    timeout: Duration = _key("30s", "duration", "Socket timeout for connecting and each command.")
    reconnect_retries: StrictInt = _key(
        4,
        "integer",
        "Reconnections per folder and poll when the server drops or refuses the connection "
        "(not a refused login); then the folder waits for the next poll.",
        ge=0,
        le=100,
    )
    reconnect_wait_max: Duration = _key(
        "30s",
        "duration",
        "Longest wait between two reconnections; the waits double from 1 s up to it.",
    )
    batch_size: StrictInt = _key(200, "integer", "Messages fetched per IMAP FETCH.", ge=1, le=10000)
    max_message_size: Size = _key(
        "25MB",
        "size",
        "Larger messages are not downloaded; they are recorded as unreadable, with the sender "
        "and subject from their headers.",
    )
    actions: tuple[MailboxAction, ...] = _key(
        (),
        "list of tables",
        "What to do to a message in the mailbox after its record is committed, per folder and "
        'outcome, e.g. `{ folder = "INBOX", on = "flagged", add_flags = ["$PO-Flagged"] }` or '
        '`{ folder = "INBOX", on = "linked", move_to = "Orders/Linked" }` (write a subfolder '
        "with the server's separator: \"Orders.Linked\" on Dovecot's default layout; the folder "
        "must exist). Default: nothing (the mailbox is only read).",
    )

    @model_validator(mode="after")
    def _actions_fit_folders(self) -> ImapConfig:
        for i, action in enumerate(self.actions):
            if action.folder not in self.folders:
                raise ValueError(
                    f"actions[{i}].folder {_q(action.folder)} is not one of the watched folders"
                )
            if action.move_to is not None and action.move_to in self.folders:
                raise ValueError(
                    f"actions[{i}].move_to {_q(action.move_to)} is a watched folder: moved "
                    "messages would be read again as new mail"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        data = _default_port(data, "port", {"ssl": 993, "starttls": 143, "none": 143}, "ssl")
        if isinstance(data, dict) and "account" not in data:
            user, host = data.get("username"), data.get("host")
            if isinstance(user, str) and isinstance(host, str):
                data = {**data, "account": f"{user.strip()}@{host.strip()}"}
            else:  # username or host is reported; do not report account as well
                data = {**data, "account": "unknown"}
        return data

    @field_validator("folders")
    @classmethod
    def _distinct_folders(cls, folders: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({f for f in folders if folders.count(f) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(map(_q, repeated))} more than once")
        return folders

    def password(self) -> str:
        """The IMAP password, read now from its source; ConfigError when the source is gone."""
        value = self._password()
        if value is None:
            raise ConfigError([ConfigProblem(self._file, "imap", "has no password source")])
        return value


class DatabaseConfig(_HasPassword):
    """`[database]`: where the state lives."""

    NAME: ClassVar[str] = "database"

    url: NonEmptyStr = _key(
        "sqlite:///po-watcher.db",
        "text",
        "SQLAlchemy URL: `sqlite:///file.db` (relative to this file's folder), "
        "`sqlite:////absolute/path.db` or `postgresql+psycopg://user@host/db`. Loaded as an "
        "absolute URL.",
    )
    password_env: EnvVarName | None = _key(None, "text", _ENV_SOURCE_DOC)
    password_file: SecretFile | None = _key(None, "path", _FILE_SOURCE_DOC)
    inline_password: SecretStr | None = Field(
        None, alias="password", description=_INLINE_DOC, json_schema_extra={"kind": "text"}
    )
    allow_inline_secrets: StrictBool = _key(
        False, "boolean", _ALLOW_INLINE_DOC + " Also allows a password inside `url`."
    )
    busy_timeout: Duration = _key(
        "30s",
        "duration",
        "How long a write waits for a lock another process holds (SQLite's busy timeout, "
        "PostgreSQL's lock_timeout) before the poll gives up; the next poll tries again.",
    )

    @field_validator("url")
    @classmethod
    def _resolve_url(cls, url: str, info: ValidationInfo) -> str:
        m = re.fullmatch(r"(sqlite|postgresql)(\+\w+)?://(.*)", url, re.DOTALL)
        if m is None:
            raise ValueError(
                "must start with sqlite:/// (a file) or postgresql:// (a server), "
                "such as sqlite:///po-watcher.db"
            )
        if m[1] == "postgresql":
            if m[2] not in (None, "+psycopg"):
                raise ValueError(
                    f"names the driver {m[2][1:]!r}, which po-watcher does not ship; write "
                    f"postgresql+psycopg://{m[3][:40]} (psycopg 3) or postgresql://"
                )
            return url
        rest = m[3]
        if rest in ("", "/:memory:") or rest.startswith("/:memory:?"):
            return url
        if not rest.startswith("/"):
            raise ValueError("a SQLite URL has three slashes: sqlite:///po-watcher.db")
        file, sep, query = rest[1:].partition("?")
        if file.startswith("file:"):
            return url
        path = Path(os.path.abspath(_base_dir(info) / Path(file).expanduser()))
        if not path.parent.is_dir():
            hint = ""
            top = file.split("/", 1)[0]
            if "/" in file and top and Path("/", top).is_dir():  # "var/lib/...": /var exists
                hint = f" (an absolute path takes four slashes: sqlite:////{file})"
            raise ValueError(f"the folder {path.parent} for the database does not exist{hint}")
        return f"{m[1]}{m[2] or ''}:///{path.as_posix()}{sep}{query}"

    def __repr_args__(self) -> typing.Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (_mask_url(value) if name == "url" else value)

    def password(self) -> str | None:
        """The database password from `password_env`/`password_file`, read now, or None."""
        return self._password()

    def url_with_password(self) -> str:
        """`url` with the password from its source put in (as SQLAlchemy wants it)."""
        secret = self._password()
        if secret is None:
            return self.url
        parts = urlsplit(self.url)
        user = quote(parts.username or "", safe="")
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:{quote(secret, safe='')}@{host}{port}"
        return urlunsplit(parts._replace(netloc=netloc))


def _mask_url(url: object) -> object:
    if not isinstance(url, str):
        return url
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class ScheduleConfig(_Section):
    """`[schedule]`: when to poll and when to send the digest."""

    NAME: ClassVar[str] = "schedule"

    poll_every: Duration = _key("5m", "duration", "Time between two polls of the mailbox.")
    digest_at: ClockTime = _key(
        "07:00", "time", 'Time of day ("HH:MM", 24-hour) the daily digest is sent.'
    )
    timezone: TimeZoneName | None = _key(
        None,
        "text",
        'IANA time zone for `digest_at`, such as "Europe/Berlin". Default: the machine\'s.',
    )

    @property
    def tzinfo(self) -> dt.tzinfo:
        """The time zone for `digest_at`: `timezone`, else the machine's own."""
        if self.timezone is not None:
            return ZoneInfo(self.timezone)
        return _local_zone()


def _local_zone() -> dt.tzinfo:
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # not an IANA name (e.g. a POSIX TZ rule): fall back to /etc/localtime
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return dt.datetime.now().astimezone().tzinfo or dt.UTC


class DigestConfig(_HasPassword):
    """`[digest]`: the daily email listing what needs a person."""

    NAME: ClassVar[str] = "digest"

    to: tuple[Address, ...] = _key(
        REQUIRED, "list of addresses", "Who receives the digest.", min_length=1
    )
    sender: Address = Field(
        REQUIRED,
        alias="from",
        description="From address of the digest.",
        json_schema_extra={"kind": "text", "shown": "`imap.username`"},
    )
    smtp_host: Host = _key(REQUIRED, "text", "SMTP server that sends the digest.")
    smtp_port: StrictInt = _key(
        587,
        "integer",
        "SMTP port.",
        shown="587 with `starttls`, 465 with `ssl`, 25 with `none`",
        ge=1,
        le=65535,
    )
    security: Security = _key(
        "starttls",
        '"ssl", "starttls" or "none"',
        "TLS for SMTP, as for `[imap]` (`none`: loopback hosts only unless `allow_plaintext`).",
    )
    allow_plaintext: StrictBool = _key(False, "boolean", _ALLOW_PLAINTEXT_DOC)
    username: NonEmptyStr | None = _key(
        None, "text", "SMTP login. Without it the digest is sent without logging in."
    )
    password_env: EnvVarName | None = _key(None, "text", _ENV_SOURCE_DOC)
    password_file: SecretFile | None = _key(None, "path", _FILE_SOURCE_DOC)
    inline_password: SecretStr | None = Field(
        None, alias="password", description=_INLINE_DOC, json_schema_extra={"kind": "text"}
    )
    allow_inline_secrets: StrictBool = _key(False, "boolean", _ALLOW_INLINE_DOC)
    subject: NonEmptyStr = _key(
        "PO watcher: {count} message(s) need a person ({date})",
        "text",
        "Subject line; `{count}` (the flags still open: new ones and those of earlier "
        "digests), `{date}` and `{mailbox}` (the IMAP account: tells apart the digests of two "
        "daemons watching two mailboxes) are filled in.",
    )
    silent_after_days: StrictInt = _key(
        14,
        "integer",
        "List a customer in the digest when no mail came from it for this many days (0: never).",
        ge=0,
        le=3650,
    )
    send_when_empty: StrictBool = _key(
        True,
        "boolean",
        "Send the digest on days with nothing to report (no flags, new or open, no mailbox or "
        'customer problems): a daily "nothing needs you today" shows that the watcher is alive. '
        "`false` sends nothing on such days.",
    )
    timeout: Duration = _key("30s", "duration", "SMTP socket timeout.")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return _default_port(
            data, "smtp_port", {"ssl": 465, "starttls": 587, "none": 25}, "starttls"
        )

    @field_validator("subject")
    @classmethod
    def _subject_fields(cls, subject: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(subject) if name}
        except ValueError as exc:
            raise ValueError(f"is not a valid template: {exc}") from None
        unknown = sorted(names - {"count", "date", "mailbox"})
        if unknown:
            raise ValueError(
                f"names {', '.join('{' + n + '}' for n in unknown)}; only {{count}}, {{date}} "
                "and {mailbox} are filled in"
            )
        return subject

    def password(self) -> str | None:
        """The SMTP password, read now from its source, or None when there is no login."""
        return self._password()


class LimitsConfig(_Section):
    """`[limits]`: bounds against hostile or broken input."""

    NAME: ClassVar[str] = "limits"

    pattern_timeout: Duration = _key(
        "0.5s", "duration", "Longest time one customer pattern may spend on one text."
    )
    pdf_max_pages: StrictInt = _key(
        50, "integer", "Pages read per PDF; later pages are skipped and flagged.", ge=1
    )
    pdf_max_bytes: Size = _key("20MB", "size", "Larger PDF attachments are not opened.")
    pdf_time_limit: Duration = _key("20s", "duration", "Wall time for reading one PDF.")
    pdf_memory_limit: Size = _key("512MB", "size", "Memory for the worker reading one PDF.")
    max_mime_parts: StrictInt = _key(
        1000, "integer", "MIME parts per message; beyond it the message is unreadable.", ge=1
    )
    max_depth: StrictInt = _key(
        10, "integer", "Nesting depth of MIME parts and forwarded messages.", ge=1
    )
    max_attachments: StrictInt = _key(100, "integer", "Attachments read per message.", ge=1)
    max_attempts: StrictInt = _key(
        3,
        "integer",
        "Tries for a message that keeps failing before it is recorded as unreadable.",
        ge=1,
    )
    workers: StrictInt = _key(
        0, "integer", "Processes extracting in parallel; 0: one per CPU.", ge=0, le=256
    )

    @property
    def worker_count(self) -> int:
        """`workers`, with 0 meaning the number of CPUs."""
        return self.workers or os.cpu_count() or 1


class CustomersConfig(_Section):
    """`[customers]`: where the customer files are."""

    NAME: ClassVar[str] = "customers"

    dir: Folder = _key(
        "customers",
        "path",
        "Folder of customer files (`*.toml`, one per customer; the file name is the customer's "
        "id). Relative to this file's folder.",
    )


_AUTO_REPLY_SUBJECT = re.compile(
    r"\s*(?:\[[^\]]{0,30}\]\s*)?(?:automatic\s+reply|auto[\s-]?reply|autoreply|out\s+of\s+(?:the\s+)?"
    r"office|abwesenheitsnotiz|automatische\s+antwort|r[ée]ponse\s+automatique|"
    r"respuesta\s+autom[áa]tica|risposta\s+automatica|automatisch\s+antwoord)\b",
    re.IGNORECASE,
)


class IgnoreConfig(_Section):
    """`[ignore]`: mail that is never flagged (newsletters, carriers, auto-replies). Such a
    message is still read and recorded, and linked when it names a known PO; a flag it would
    raise is closed at once as dismissed, with the rule in the note (`po-watcher messages`
    shows them), and no folder action for flagged mail touches it."""

    NAME: ClassVar[str] = "ignore"

    senders: tuple[StrictStr, ...] = _key(
        (),
        "list of text",
        'Globs on the From address, such as "newsletter@*" or "*@carrier.example" (letter case '
        'does not count). A glob matching every address ("*") is refused.',
    )
    subjects: tuple[StrictStr, ...] = _key(
        (),
        "list of text",
        'Globs on the whole subject, such as "Delivery Status Notification*" or "*newsletter*" '
        "(letter case does not count).",
    )
    auto_replies: StrictBool = _key(
        True,
        "boolean",
        "Automatic replies (out of office) are not flagged: an `Auto-Submitted: auto-replied`, "
        "`X-Autoreply` or `Precedence: auto_reply` header, or a subject starting with "
        '"Automatic reply", "Auto-Reply", "Out of Office", "Abwesenheitsnotiz", "Automatische '
        'Antwort", "Réponse automatique", "Respuesta automática", "Risposta automatica" or '
        '"Automatisch antwoord". One that names a known PO (its subject repeats yours) is '
        "still linked to it; only its flag is closed.",
    )

    @field_validator("senders", "subjects")
    @classmethod
    def _real_globs(cls, globs: tuple[str, ...]) -> tuple[str, ...]:
        for glob in globs:
            if not glob.strip("*? "):
                raise ValueError(f"{glob!r} would match every message: name what to ignore")
        return tuple(glob.strip().lower() for glob in globs)

    def rule_for(self, sender: str, subject: str, auto_reply: bool = False) -> str | None:
        """The rule that ignores a message, in words, or None. ``auto_reply``: its headers say
        it is an automatic reply."""
        if self.auto_replies and (auto_reply or _AUTO_REPLY_SUBJECT.match(subject)):
            return "it is an automatic reply ([ignore] auto_replies)"
        address = sender.strip().lower()
        for glob in self.senders:
            if address and fnmatch.fnmatchcase(address, glob):
                return f"the sender matches {glob!r} in [ignore] senders"
        title = " ".join(subject.split()).lower()
        for glob in self.subjects:
            if title and fnmatch.fnmatchcase(title, glob):
                return f"the subject matches {glob!r} in [ignore] subjects"
        return None


class ServiceConfig(_Section):
    """`[service]`: the optional HTTP endpoint with `/healthz` and `/metrics`."""

    NAME: ClassVar[str] = "service"

    health_port: StrictInt = _key(
        0,
        "integer",
        "Port of the `/healthz` and `/metrics` endpoint; 0: no endpoint.",
        ge=0,
        le=65535,
    )
    health_host: Host = _key(
        "127.0.0.1", "text", "Address the endpoint listens on (keep it local or firewalled)."
    )


class PoRules(BaseModel):
    """`[po]` of a customer file: how the customer's PO numbers look."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: StrictStr = _key(
        REQUIRED,
        "regex",
        "Regular expression (the `regex` package) finding a PO number as written; named groups "
        "feed `format` (a name may stand in several alternatives, `(?P<n>...)|(?P<n>...)`). "
        "Write it in single quotes (a TOML literal string) so that backslashes stay as written. "
        "Text is searched with typographic dashes (en dash, minus sign, "
        "non-breaking hyphen) read as `-`, non-breaking spaces as spaces, full-width forms "
        "(Japanese and Chinese mail) and other scripts' digits as ASCII, and invisible marks "
        "(left-to-right mark, zero-width space) removed, so write `-`, ` ` and `\\d` or `[0-9]`. "
        "For a customer writing Chinese, Japanese or Korean, bound the number with "
        "`(?<![A-Za-z0-9-])` and `(?![A-Za-z0-9-])` rather than `\\w`, which also matches their "
        "letters (a number written right after them would be missed).",
    )
    format: StrictStr | None = _key(
        None,
        "text",
        "Canonical form, a `str.format` template over the named groups plus the specs `:upper` "
        'and `:lower`, such as "{year}-{seq:0>5}-{dept:upper}"; a group that did not take part '
        "in the match is empty text. Default: the match without spaces, upper-cased.",
    )
    valid: StrictStr | None = _key(
        None, "regex", "Regex a well-formed canonical number matches whole. Default: `pattern`."
    )
    labels: tuple[StrictStr, ...] | None = _key(
        None,
        "list of text",
        'Words that introduce a PO number in this customer\'s mail ("PO", "Order Ref"). '
        "Default: " + ", ".join(f'"{label}"' for label in DEFAULT_LABELS) + "; a list given "
        "here replaces it (list those you want to keep). Between a label and its number may "
        'stand separators (`:`, `#`, `-`, `=`, `°`, a table cell\'s `|`) and one of "No.", '
        '"Nr.", "Num.", "Number", "Nummer", "Numéro", "N°", "Nº", "№" (or "N" before the '
        'digits, as Cyrillic keyboards stand it in), "Ref", "Reference", "ID", '
        'then a verb ("is", "was", "ist", "lautet", "est": "our PO is 45012345"); do not list '
        'those. Dots in a label are optional ("P.O." finds "PO", and "P/O"); letter case and '
        "accents do "
        'not count ("Siparis no" finds "SİPARİŞ NO", "Numéro" finds "NUMERO"). A label is '
        'a whole word, so list the inflected forms a language writes (Polish "zamówienia", '
        'Czech "objednávky", Italian "dell\'ordine"); Chinese and Japanese labels are found '
        'inside a run of characters too ("我司订单号"). A label listed here wins over the decoy '
        "words that otherwise drop a number after them or under their table column (invoice, "
        'contract, requisition...): a customer that calls its PO the "Contract Number" (US '
        'federal buyers) lists "Contract Number".',
    )
    ignore_case: StrictBool = _key(True, "boolean", "`pattern` ignores letter case.")
    strangers: Literal["labelled", "known"] = _key(
        "labelled",
        "text",
        "What counts of this customer's numbers in mail from senders on no customer's list (a "
        'colleague forwarding, a supplier, a buyer\'s private address): "labelled", a number '
        'after a PO label or a known PO; or "known", only known POs, the others named in the '
        "reasons: for a format other companies write too (SAP's 45..., which suppliers quote "
        "for your own company's orders).",
    )


class CustomerFile(BaseModel):
    """A customer file, `customers/<id>.toml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmptyStr = _key(REQUIRED, "text", "The customer's name, as people know it.")
    senders: tuple[StrictStr, ...] = _key(
        REQUIRED,
        "list of text",
        "Globs on the From address that route a message to this customer, such as "
        '"*@westside-tools.example". An accounts-payable mailbox whose own POs come back on '
        'every supplier\'s invoice may route all senders with "*"; every sender is then the '
        "customer's own, so the caution for unlisted senders (`strangers`) does not apply: a "
        'value after a label such as "your order" that fits no format is `malformed`.',
    )
    po: PoRules = Field(description="The PO number rules.", json_schema_extra={"kind": "table"})


_SECTIONS: dict[str, type[_Section]] = {
    "imap": ImapConfig,
    "database": DatabaseConfig,
    "schedule": ScheduleConfig,
    "digest": DigestConfig,
    "limits": LimitsConfig,
    "customers": CustomersConfig,
    "ignore": IgnoreConfig,
    "service": ServiceConfig,
}
_REQUIRED_SECTIONS = ("imap", "digest")

DEFAULT_PATH = Path("config/watcher.toml")  # --config's default, relative to the working folder


# --------------------------------------------------------------------------------------------
# The loaded configuration


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs, checked and resolved."""

    path: Path  # the watcher.toml it came from, absolute
    imap: ImapConfig
    database: DatabaseConfig
    schedule: ScheduleConfig
    digest: DigestConfig
    limits: LimitsConfig
    customers: tuple[CustomerRules, ...]
    customers_dir: Path
    service: ServiceConfig
    ignore: IgnoreConfig = dataclasses.field(default_factory=IgnoreConfig)
    skipped: tuple[ConfigProblem, ...] = ()  # problems of customer files left out (clerk commands)

    def service_port(self) -> int | None:
        """The port of the health/metrics endpoint, or None when it is off."""
        return self.service.health_port or None

    def customer(self, customer_id: str) -> CustomerRules | None:
        return next((c for c in self.customers if c.id == customer_id), None)

    @property
    def command(self) -> str:
        """``po-watcher`` as a clerk types it for this configuration: with ``--config`` unless
        it is the default one (as the daemon runs it from /etc, a bare command would fail)."""
        if self.path.resolve() == DEFAULT_PATH.resolve():
            return "po-watcher"
        return f"po-watcher --config {shlex.quote(str(self.path))}"


def load_config(
    path: Path, *, defer_secrets: bool = False, skip_broken_customers: bool = False
) -> Config:
    """Load and check `path` and its customer files; ConfigError lists every problem found.
    ``defer_secrets``: password files are not read now but when a password is needed (then a
    problem with one raises ConfigError naming its key): for commands that may need none, such
    as listing flags on a machine without the IMAP password."""
    config, problems = _load(
        Path(path), defer_secrets=defer_secrets, skip_broken_customers=skip_broken_customers
    )
    if problems or config is None:
        raise ConfigError(problems or [ConfigProblem(str(path), "", "could not be loaded")])
    return config


def check_config(path: Path) -> list[ConfigProblem]:
    """Every problem in `path` and its customer files (empty when it loads)."""
    return _load(Path(path))[1]


def _load(
    path: Path, *, defer_secrets: bool = False, skip_broken_customers: bool = False
) -> tuple[Config | None, list[ConfigProblem]]:
    """The configuration and every problem found. ``skip_broken_customers``: a customer file
    with problems is left out (its problems are in ``Config.skipped``) instead of failing the
    whole load: for the clerk's commands, so that an admin's broken regex does not hide the
    flags."""
    file = str(path)
    data, problem = _read_toml(path, file)
    if data is None:
        return None, [problem] if problem else []
    base_dir = Path(os.path.abspath(path)).parent
    context = {"base_dir": base_dir, "file": file, "defer_secrets": defer_secrets}
    problems: list[ConfigProblem] = []
    for key in data:
        if key not in _SECTIONS:
            problems.append(ConfigProblem(file, key, _unknown_key_words(key, list(_SECTIONS), "")))
    imap_raw = data.get("imap")
    sections: dict[str, _Section] = {}
    for name, model in _SECTIONS.items():
        raw = data.get(name)
        if raw is None:
            if name in _REQUIRED_SECTIONS:
                problems.append(ConfigProblem(file, name, f"is missing: add a [{name}] table"))
                continue
            raw = {}
        if not isinstance(raw, dict):
            problems.append(ConfigProblem(file, name, f"must be a table, written [{name}]"))
            continue
        if name == "digest" and "from" not in raw and isinstance(imap_raw, dict):
            user = imap_raw.get("username")
            if isinstance(user, str) and "@" in user:
                raw = {**raw, "from": user.strip()}
        problems.extend(_cross_checks(file, name, raw))
        try:
            sections[name] = model.model_validate(raw, context=context)
        except ValidationError as exc:
            problems.extend(_problems_from(exc, file, model, prefix=(name,)))

    customers: list[CustomerRules] = []
    skipped: list[ConfigProblem] = []  # problems of customer files
    customers_section = sections.get("customers")
    if isinstance(customers_section, CustomersConfig):
        raw_dir = (data.get("customers") or {}).get("dir", "customers")
        shown_dir = path.parent / Path(str(raw_dir)).expanduser()
        files = sorted(p for p in customers_section.dir.glob("*.toml") if p.is_file())
        if not files:
            problems.append(
                ConfigProblem(
                    file,
                    "customers.dir",
                    f"holds no customer files (*.toml) in {customers_section.dir}",
                )
            )
        for customer_path in files:
            rules = _load_customer(customer_path, str(shown_dir / customer_path.name))
            if isinstance(rules, CustomerRules):
                customers.append(rules)
            else:
                skipped.extend(rules)

    if problems or (skipped and not skip_broken_customers):
        return None, problems + skipped
    config = Config(
        path=Path(os.path.abspath(path)),
        imap=typing.cast(ImapConfig, sections["imap"]),
        database=typing.cast(DatabaseConfig, sections["database"]),
        schedule=typing.cast(ScheduleConfig, sections["schedule"]),
        digest=typing.cast(DigestConfig, sections["digest"]),
        limits=typing.cast(LimitsConfig, sections["limits"]),
        customers=tuple(customers),
        customers_dir=typing.cast(CustomersConfig, sections["customers"]).dir,
        service=typing.cast(ServiceConfig, sections["service"]),
        ignore=typing.cast(IgnoreConfig, sections["ignore"]),
        skipped=tuple(skipped),
    )
    return config, []


def _read_toml(path: Path, file: str) -> tuple[dict[str, Any] | None, ConfigProblem | None]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, ConfigProblem(file, "", "does not exist")
    except OSError as exc:
        return None, ConfigProblem(file, "", f"cannot be read: {exc.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, ConfigProblem(file, "", f"is not UTF-8 text (byte {exc.start})")
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        words = str(exc)
        m = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", words, re.DOTALL)
        if m is not None:
            words = f"line {m[2]}, column {m[3]}: {m[1]}"
        elif words.endswith("(at end of document)"):
            words = f"at the end: {words.removesuffix(' (at end of document)')}"
        hint = next((h for k, h in _TOML_HINTS if k in words), "")
        return None, ConfigProblem(file, "", f"is not valid TOML: {words}{hint}")
    except RecursionError:
        return None, ConfigProblem(file, "", "is not valid TOML: nested too deeply to read")


# The usual causes of tomllib's messages in a file an admin wrote.
_TOML_HINTS = (
    (
        "Unescaped '\\'",
        " (a regex or Windows path in double quotes: write it in single quotes, "
        "pattern = '(?P<num>\\d{6})', where a backslash is itself)",
    ),
    ("Illegal character '\\n'", " (a string not closed on its line: a quote is missing)"),
    ("Unclosed array", " (a list not closed with ]: a quote or a comma is missing inside it)"),
    ("Cannot overwrite a value", " (a key or [section] written twice)"),
)


def _cross_checks(file: str, section: str, raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """Checks across keys of one section, made on the written values so they always run."""
    problems: list[ConfigProblem] = []

    def add(key: str, message: str) -> None:
        problems.append(ConfigProblem(file, f"{section}.{key}" if key else section, message))

    if section in ("imap", "digest", "database"):
        sources = [k for k in ("password", "password_env", "password_file") if k in raw]
        allow_inline = raw.get("allow_inline_secrets") is True
        if "password" in raw and not allow_inline:
            add(
                "password",
                "an inline password is refused: name an environment variable with "
                "password_env or a file with password_file (or set allow_inline_secrets = true "
                f"in [{section}])",
            )
        url = raw.get("url")
        if section == "database" and isinstance(url, str) and not allow_inline:
            try:
                has_password = urlsplit(url).password is not None
            except ValueError:
                has_password = False
            if has_password:
                add(
                    "url",
                    "holds a password: move it to password_env or password_file (or set "
                    "allow_inline_secrets = true in [database])",
                )
        if len(sources) > 1:
            add(sources[1], f"give one password source, not {' and '.join(sources)}")
        if section == "imap" and not sources:
            add(
                "",
                "needs a password: set password_env (the name of an environment variable) "
                "or password_file (a file holding only the password)",
            )
        if section == "digest" and "username" in raw and not sources:
            add("username", "is set but no password is: set password_env or password_file too")
        if section == "digest" and sources and "username" not in raw:
            add(sources[0], "is set but digest.username is not: set the SMTP login too")
    if section in ("imap", "digest"):
        host = raw.get("host" if section == "imap" else "smtp_host")
        if (
            raw.get("security") == "none"
            and isinstance(host, str)
            and not _is_loopback(host)
            and raw.get("allow_plaintext") is not True
        ):
            add(
                "security",
                f'"none" would send the password in clear to {host}: use "ssl" or '
                f'"starttls", or set allow_plaintext = true in [{section}] (loopback hosts such '
                "as 127.0.0.1 need no flag)",
            )
    return problems


_CUSTOMER_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _load_customer(path: Path, file: str) -> CustomerRules | list[ConfigProblem]:
    data, problem = _read_toml(path, file)
    if data is None:
        return [problem] if problem else []
    problems: list[ConfigProblem] = []
    customer_id = path.stem
    if not _CUSTOMER_ID.fullmatch(customer_id):
        problems.append(
            ConfigProblem(
                file,
                "",
                f"the file name is the customer's id; {_q(customer_id)} must use lower-case "
                "letters, digits, '-' and '_' only (such as westside.toml)",
            )
        )
    try:
        model: CustomerFile | None = CustomerFile.model_validate(data)
    except ValidationError as exc:
        model = None
        problems.extend(_problems_from(exc, file, CustomerFile, prefix=()))
    reported = {p.key for p in problems}
    kwargs = _rules_arguments(model, data)
    if kwargs is None:
        return problems
    result = CustomerRules.compile(customer_id, **kwargs)
    if isinstance(result, CustomerRules) and not problems:
        return result
    if not isinstance(result, CustomerRules):
        problems.extend(
            ConfigProblem(file, err.key, err.message)
            for err in result
            if not _already_reported(err, reported)
            and not (err.key == "po.valid" and kwargs["valid"] is None)  # the pattern's error
        )
    return problems


def _already_reported(err: RuleError, reported: set[str]) -> bool:
    return any(
        err.key == k
        or err.key.startswith(k + ".")
        or err.key.startswith(k + "[")
        or k.startswith(err.key + "[")
        for k in reported
    )


def _rules_arguments(model: CustomerFile | None, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The arguments of CustomerRules.compile: from the checked model, or, when it failed, from
    whatever written values have the right types (so a broken pattern is reported too)."""
    if model is not None:
        return {
            "name": model.name,
            "senders": model.senders,
            "pattern": model.po.pattern,
            "format": model.po.format,
            "valid": model.po.valid,
            "labels": model.po.labels,
            "ignore_case": model.po.ignore_case,
            "strangers": model.po.strangers,
        }
    po = data.get("po")
    if not isinstance(po, dict) or not isinstance(po.get("pattern"), str):
        return None

    def texts(value: object) -> list[str] | None:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None

    def text(value: object) -> str | None:
        return value if isinstance(value, str) else None

    ignore_case = po.get("ignore_case", True)
    senders = texts(data.get("senders"))
    return {
        "name": text(data.get("name")) or "",
        "senders": ["*"] if senders is None else senders,
        "pattern": po["pattern"],
        "format": text(po.get("format")),
        "valid": text(po.get("valid")),
        "labels": texts(po.get("labels")),
        "ignore_case": ignore_case if isinstance(ignore_case, bool) else True,
    }


# --------------------------------------------------------------------------------------------
# Turning pydantic's errors into plain words


def _toml_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return "a date or time"
    return type(value).__name__


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model describing the table at `loc` inside `model` (None when it is not a table)."""
    for part in loc:
        if isinstance(part, int):
            continue  # the n-th table of an array of tables ([[imap.actions]]): same model
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        candidates = typing.get_args(field.annotation) or (field.annotation,)
        sub = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if sub is None:
            return None
        model = sub
    return model


def _unknown_key_words(key: str, known: Sequence[str], table: str) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f'unknown key: did you mean "{close[0]}"?'
    homes = [name for name, model in _SECTIONS.items() if key in _keys_of(model) and name != table]
    if key in _keys_of(PoRules) and table != "po":
        homes.append("po")
    if homes:
        return f"unknown key here: it belongs in [{homes[0]}]"
    where = f"in [{table}]" if table else "at the top"
    return f"unknown key; the keys {where} are: {', '.join(known)}"


def _words(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx", {})
    got = _toml_kind(err.get("input"))
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("string_type", "string_sub_type"):
        return f"must be text in quotes, not {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {got}"
    if kind in ("tuple_type", "list_type"):
        return f'must be a list, such as ["a", "b"], not {got}'
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table, not {got}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", '"')
        return f"must be one of {expected}, not {_q(err.get('input'))}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    return err["msg"]


def _problems_from(
    exc: ValidationError, file: str, model: type[BaseModel], prefix: tuple[str, ...]
) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, str | int)]
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            known = _keys_of(parent) if parent is not None else []
            table = _dotted([*prefix, *loc[:-1]])
            message = _unknown_key_words(str(loc[-1]), known, table)
        else:
            message = _words(err)
        problems.append(ConfigProblem(file, _dotted([*prefix, *loc]), message))
    return problems


# --------------------------------------------------------------------------------------------
# Reference


def _shown_default(value: object) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    return f"`{value}`"


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    rows = ["| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = f"{prefix}{field.alias or name}"
        doc = (field.description or "").replace("|", "\\|")
        shown = extra.get("shown") or _shown_default(field.default)
        rows.append(f"| `{key}` | {extra.get('kind', '')} | {shown} | {doc} |")
    return rows


def config_reference_markdown() -> str:
    """Markdown tables of every key of `watcher.toml` and of a customer file."""
    lines = ["### watcher.toml", ""]
    for name, model in _SECTIONS.items():
        required = " (required)" if name in _REQUIRED_SECTIONS else ""
        lines += [f"#### [{name}]{required}", "", *_table(model, ""), ""]
    lines += ["### customers/&lt;id&gt;.toml", "", *_table(CustomerFile, ""), ""]
    lines += ["#### [po]", "", *_table(PoRules, ""), ""]
    lines += [
        'Durations: `"30s"`, `"5m"`, `"1h"`, `"1d"`, `"500ms"` or plain seconds. '
        'Sizes: `"512KB"`, `"25MB"`, `"1GB"` (K, M, G count in 1024s) or plain bytes.',
    ]
    return "\n".join(lines) + "\n"

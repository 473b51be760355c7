"""Write Weir plugins in Python: the helpers of the Rust SDK (plugins/sdk) and
the glue that turns a plugin into the component's exports.

A plugin is a subclass of `Plugin` with an `info` (`Info`), an optional
`Config` dataclass (parsed strictly from the route's `plugin_config`: an
unknown key is refused), and `transform_record(config, record)`, which returns
a `Document`, a list of them, or `None` (dropped), and raises `RecordError`
(failed, with the reason). `export(plugin)` gives the three classes that
componentize-py looks for in the app module:

    Transform, Metadata, Schema = weir_plugin_sdk.export(MyPlugin())

Helpers, as in the Rust SDK: `record_text` (a record's text, gunzipped with
a cap when it starts like gzip), `gunzip_capped` (decompression is never
uncapped), `lines`, `epoch_ms_to_iso` / `epoch_seconds_to_iso` /
`iso_to_epoch_ms`, `check_index_name`, `parse_config`, `Document`, `log` and
`geoip` (the host's imports; natively, `log` writes to stderr and `geoip`
answers `None`).

Everything but `export`, `log` and `geoip` is plain Python, so a plugin's
logic is unit-tested natively (`run_batch` runs a batch as the host would).
Only the standard library is used.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
import zlib
from typing import Any, Iterator, Optional, Sequence, Union

__all__ = [
    "Context",
    "Document",
    "Dropped",
    "Failed",
    "GZIP_MAGIC",
    "GunzipError",
    "Info",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_EPOCH_MS",
    "NoOptions",
    "Ok",
    "Plugin",
    "RecordError",
    "WIT_PACKAGE",
    "check_index_name",
    "epoch_ms_to_iso",
    "epoch_seconds_to_iso",
    "export",
    "geoip",
    "gunzip_capped",
    "is_gzip",
    "iso_to_epoch_ms",
    "json_object",
    "lines",
    "log",
    "outcome_json",
    "parse_config",
    "record_text",
    "run_batch",
    "validate_config",
]

#: The contract this SDK is written against (`wit/plugin.wit`).
WIT_PACKAGE = "weir:plugin@0.1.2"

#: The most bytes a gzip record may decompress to (64 MiB, the largest body
#: Firehose sends), as the Rust SDK's `MAX_DECOMPRESSED_BYTES`.
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

#: The gzip magic bytes (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"

#: The largest epoch-millisecond value accepted: 9999-12-31T23:59:59.999Z.
MAX_EPOCH_MS = 253_402_300_799_999

_S64_MIN = -(1 << 63)
_S64_MAX = (1 << 63) - 1


class RecordError(Exception):
    """A record cannot be transformed: `RecordError(reason)` fails that record
    only (WIT `outcome::failed`), with the reason in its dead letter."""

    @property
    def reason(self) -> str:
        """The reason given."""
        return str(self.args[0]) if self.args else "record refused"


class GunzipError(RecordError):
    """`gunzip_capped` refused its input: past the cap, or not gzip."""


# --------------------------------------------------------------------------
# Records: gzip (always capped), text, lines.


def is_gzip(data: bytes) -> bool:
    """Whether `data` starts like a gzip stream (`GZIP_MAGIC`)."""
    return bytes(data[:2]) == GZIP_MAGIC


#: The most bytes `gunzip_capped` asks zlib for at once.
_GUNZIP_STEP = 1 << 20


def gunzip_capped(data: bytes, cap: int) -> bytes:
    """Decompress gzip `data` (every member), refusing to produce more than
    `cap` bytes: memory use is bounded by `cap` whatever the input (a few KiB
    of gzip bomb cannot exhaust the plugin's memory).

    Raises `GunzipError` with the Rust SDK's wording:
    `gzip data decompresses to more than the cap of N bytes` or
    `invalid gzip data: ...`.
    """
    if cap < 0:
        raise ValueError("cap must be >= 0")
    # Chunks in a list (joined once at the end), not a growing bytearray:
    # a refused bomb never holds more than the cap.
    chunks = []
    total = 0
    rest = bytes(data)
    while True:
        d = zlib.decompressobj(31)  # gzip wrapper
        pending = rest
        while not d.eof:
            try:
                # One byte past the cap tells "exactly cap" from "more"; at
                # most 1 MiB a call.
                chunk = d.decompress(pending, min(cap + 1 - total, _GUNZIP_STEP))
            except zlib.error as e:
                raise GunzipError("invalid gzip data: %s" % e) from None
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise GunzipError("gzip data decompresses to more than the cap of %d bytes" % cap)
            pending = d.unconsumed_tail
            if not chunk and not pending and not d.eof:
                raise GunzipError("invalid gzip data: unexpected end of file")
        rest = d.unused_data
        if not rest:
            return b"".join(chunks)
        if not is_gzip(rest):
            raise GunzipError("invalid gzip data: invalid gzip header")


def record_text(record: bytes, cap: int = MAX_DECOMPRESSED_BYTES) -> str:
    """A record's text: gunzipped with `gunzip_capped` (at most `cap` bytes)
    when it starts with the gzip magic, else the record itself; then decoded
    as UTF-8. Raises `RecordError` with the reason (`record is not UTF-8: ...`
    or the gunzip's)."""
    data = gunzip_capped(record, cap) if is_gzip(record) else bytes(record)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(
            "record is not UTF-8: invalid utf-8 sequence at byte %d" % e.start
        ) from None


def lines(record: bytes) -> Iterator[bytes]:
    """The non-empty lines of a record (`\\n` or `\\r\\n`), for sources that put
    several lines in one record."""
    for line in bytes(record).split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip(b" \t\r\n\x0b\x0c"):
            yield line


# --------------------------------------------------------------------------
# JSON.

#: The deepest nesting `json_object` accepts (serde_json's limit). Inside a
#: component CPython's `json` exhausts the wasm stack at about 1000 levels and
#: traps (failing the whole batch) instead of raising `RecursionError`.
MAX_JSON_DEPTH = 128

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_OPEN_CLOSE = re.compile(r"[\[\]{}]")


def _too_deep(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _JSON_OPEN_CLOSE.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def json_object(text: str, max_depth: int = MAX_JSON_DEPTH) -> dict:
    """Parse `text` as one JSON object (a log). Raises `RecordError`:
    `invalid JSON: ...`, `JSON nests deeper than 128 levels`, or `a log must be
    a JSON object, got an array`. Checks the depth first, so a hostile record
    fails alone instead of overflowing the component's stack."""
    if _too_deep(text, max_depth):
        raise RecordError("invalid JSON: nests deeper than %d levels" % max_depth)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise RecordError("invalid JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise RecordError("a log must be a JSON object, got %s" % _kind(value))
    return value


# --------------------------------------------------------------------------
# Time: epoch <-> ISO-8601 UTC, the form OpenSearch maps as `date`.


def _civil_from_days(z: int) -> tuple[int, int, int]:
    # Howard Hinnant's civil_from_days, as weir-common's.
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _days_from_civil(y: int, m: int, d: int) -> int:
    y = y - 1 if m <= 2 else y
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def epoch_ms_to_iso(ms: int) -> Optional[str]:
    """Milliseconds since the Unix epoch as ISO-8601 UTC with milliseconds
    (`2019-12-13T23:40:12.771Z`); `None` outside 1970-01-01..=9999-12-31 or
    for anything but an `int` (a `bool` or a `float` included)."""
    if type(ms) is not int or not 0 <= ms <= MAX_EPOCH_MS:
        return None
    secs, millis = divmod(ms, 1000)
    days, sod = divmod(secs, 86_400)
    y, mo, d = _civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        y, mo, d, sod // 3600, sod % 3600 // 60, sod % 60, millis,
    )


def epoch_seconds_to_iso(secs: int) -> Optional[str]:
    """Seconds since the Unix epoch as ISO-8601 UTC (`2014-10-21T21:24:44Z`);
    `None` outside 1970-01-01..=9999-12-31."""
    if type(secs) is not int:
        return None
    iso = epoch_ms_to_iso(secs * 1000)
    return None if iso is None else iso[:19] + "Z"


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def iso_to_epoch_ms(s: str) -> Optional[int]:
    """An RFC 3339 timestamp (`2014-03-06T17:10:34Z`,
    `2021-02-04T17:51:55.123456+02:00`) as milliseconds since the Unix epoch
    (the fraction truncated); `None` for anything else, for a date that does
    not exist, and outside 1970-01-01..=9999-12-31 (as weir-common's)."""
    m = _ISO.fullmatch(s) if isinstance(s, str) else None
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not 1 <= mo <= 12 or not 1 <= d <= month_days[mo - 1] or h > 23 or mi > 59 or sec > 59:
        return None
    millis = int((m.group(7) or "0")[:3].ljust(3, "0"))
    offset = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * 60_000 * (1 if m.group(9) == "+" else -1)
    ms = ((_days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + millis - offset
    return ms if 0 <= ms <= MAX_EPOCH_MS else None


# --------------------------------------------------------------------------
# Index names.

_INDEX_REFUSED = set('\\/*?"<>|,#:')


def check_index_name(name: str) -> Optional[str]:
    """Why OpenSearch would refuse `name` as an index name, or `None` when it
    accepts it (the host's own check: not empty, at most 255 bytes, not `.`
    or `..`, not starting with `-`, `_` or `+`, no uppercase, whitespace,
    control character or any of ``\\ / * ? " < > | , # :``)."""
    if not name:
        return "index name is empty"
    if len(name.encode("utf-8")) > 255:
        return "index name is longer than 255 bytes: %s" % json.dumps(name)
    if name in (".", ".."):
        return "index name cannot be %s" % json.dumps(name)
    if name[0] in "-_+":
        return "index name %s cannot start with `-`, `_` or `+`" % json.dumps(name)
    for c in name:
        if c.isupper() or c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in _INDEX_REFUSED:
            return "index name %s has a character OpenSearch refuses: %r" % (json.dumps(name), c)
    return None


# --------------------------------------------------------------------------
# Config: the route's `plugin_config`, parsed strictly into a dataclass.


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The config of a plugin that takes no options: only `{}` (or an empty
    text) is accepted."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


_WANTED = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "an object"}


def _check_type(key: str, value: Any, hint: Any) -> Any:
    """`value` if it fits the type hint `hint` (bool, int, float, str, list,
    dict, their parametrised forms, `Optional`/unions of them; anything else is
    not checked), else raises `ValueError` naming `key`."""
    origin = typing.get_origin(hint)
    if origin is Union or type(hint).__name__ == "UnionType":
        for arm in typing.get_args(hint):
            if arm is type(None):
                if value is None:
                    return value
                continue
            try:
                return _check_type(key, value, arm)
            except ValueError:
                pass
        wanted = " or ".join(_WANTED.get(a, "null") for a in typing.get_args(hint))
        raise ValueError("`%s`: invalid type: %s, expected %s" % (key, _kind(value), wanted))
    base = origin or hint
    if base is typing.Any or base not in _WANTED:
        return value
    ok = isinstance(value, base)
    if base in (int, float) and isinstance(value, bool):
        ok = False
    elif base is float and isinstance(value, int):
        ok, value = True, float(value)
    if not ok:
        raise ValueError("`%s`: invalid type: %s, expected %s" % (key, _kind(value), _WANTED[base]))
    return value


def parse_config(text: str, config_type: type = NoOptions) -> Any:
    """Parse a plugin's config (JSON text, `{}` when the route gives none; an
    all-whitespace text reads as `{}`) into `config_type`, a dataclass whose
    fields are the options (a field with a default is optional). Values are
    checked against the fields' type hints (`bool`, `int`, `float`, `str`,
    `list`, `dict`, `Optional[...]`); a `__post_init__` that raises
    `ValueError` refuses the value with its message.

    Raises `ValueError` naming what is wrong, in the Rust SDK's words:
    `plugin config is not valid JSON: ...`, `plugin config must be a JSON
    object, got an array`, ``unknown option `x`, expected one of `a`, `b` ``,
    ``unknown option `x`: the plugin takes none``, ``missing field `a` ``,
    `` `a`: invalid type: ... ``.
    """
    if not dataclasses.is_dataclass(config_type):
        raise TypeError("config_type must be a dataclass")
    if not isinstance(text, str) or not text.strip(" \t\r\n"):
        text = "{}"
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError("plugin config is not valid JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise ValueError("plugin config must be a JSON object, got %s" % _kind(value))
    fields = [f for f in dataclasses.fields(config_type) if f.init]
    names = [f.name for f in fields]
    hints = typing.get_type_hints(config_type)
    for key in value:
        if key not in names:
            if not names:
                raise ValueError("unknown option `%s`: the plugin takes none" % key)
            if len(names) == 1:
                raise ValueError("unknown option `%s`, expected `%s`" % (key, names[0]))
            raise ValueError(
                "unknown option `%s`, expected one of %s" % (key, ", ".join("`%s`" % n for n in names))
            )
    args = {}
    for f in fields:
        if f.name in value:
            args[f.name] = _check_type(f.name, value[f.name], hints.get(f.name, Any))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError("missing field `%s`" % f.name)
    try:
        return config_type(**args)
    except ValueError as e:
        raise ValueError(str(e)) from None


# --------------------------------------------------------------------------
# Documents, outcomes, plugin info.


def _json_text(value: Any) -> str:
    # Compact, UTF-8, and never NaN/Infinity (not JSON).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclasses.dataclass
class Document:
    """One document for the sink (WIT `document`): `body` is one JSON object,
    given as a `dict` (written compactly, keys in order) or as JSON text;
    `index` is the index asked for (`None`: the route's), `id` a
    deterministic document id (`None`: the host derives one), `timestamp_ms`
    the event time in milliseconds since the epoch (for date-patterned index
    names; not added to the body)."""

    body: Union[dict, str]
    index: Optional[str] = None
    id: Optional[str] = None
    timestamp_ms: Optional[int] = None

    def body_text(self) -> str:
        """The body as JSON text (raises `RecordError` when it is not a JSON
        object or cannot be written as JSON)."""
        if isinstance(self.body, str):
            return self.body
        if not isinstance(self.body, dict):
            raise RecordError("document body must be a JSON object, got %s" % _kind(self.body))
        try:
            return _json_text(self.body)
        except (TypeError, ValueError) as e:
            raise RecordError("document body is not JSON: %s" % e) from None

    def checked(self) -> "Document":
        """This document with its body as text and its fields checked against
        the WIT types (raises `RecordError`)."""
        ts = self.timestamp_ms
        if ts is not None and (type(ts) is not int or not _S64_MIN <= ts <= _S64_MAX):
            raise RecordError("document timestamp_ms must be an integer (s64), got %r" % (ts,))
        for name in ("index", "id"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise RecordError("document %s must be a string, got %s" % (name, _kind(v)))
        return Document(self.body_text(), self.index, self.id, ts)


@dataclasses.dataclass(frozen=True)
class Ok:
    """The record gave these documents (possibly none)."""

    documents: list


@dataclasses.dataclass(frozen=True)
class Dropped:
    """The record is deliberately not indexed; it counts as delivered."""


@dataclasses.dataclass(frozen=True)
class Failed:
    """The record cannot be transformed; the reason goes to its dead letter."""

    reason: str


Outcome = Union[Ok, Dropped, Failed]


@dataclasses.dataclass(frozen=True)
class Info:
    """What a plugin says about itself (WIT `metadata.plugin-info`, and the
    `schema` export's index properties)."""

    #: Short name, for example `waf`.
    name: str
    #: The plugin's own version (semver).
    version: str = "0.1.0"
    #: Fields of its documents that hold ISO-8601 dates (mapped as `date`).
    date_fields: Sequence[str] = ()
    #: The index pattern it suggests for a route (`waf-%Y.%m.%d`).
    default_index: Optional[str] = None
    #: A JSON Schema of its config, as a dict or JSON text; `None`: no options.
    config_schema: Union[dict, str, None] = None
    #: OpenSearch mapping `properties` it suggests (dict or JSON text).
    index_properties: Union[dict, str, None] = None

    def config_schema_text(self) -> Optional[str]:
        """`config_schema` as JSON text."""
        s = self.config_schema
        return s if s is None or isinstance(s, str) else _json_text(s)

    def index_properties_text(self) -> Optional[str]:
        """`index_properties` as JSON text."""
        p = self.index_properties
        return p if p is None or isinstance(p, str) else _json_text(p)


@dataclasses.dataclass(frozen=True)
class Context:
    """What the host knows about the batch (WIT `batch-context`)."""

    tenant: str = ""
    route: str = ""
    request_id: str = ""
    source_arn: Optional[str] = None
    common_attributes: Sequence[tuple] = ()
    config: str = "{}"


class Plugin:
    """A Weir plugin. Subclass it: set `info` (an `Info`) and `Config` (a
    dataclass of the options; `NoOptions` by default) and implement
    `transform_record`, or `transform` for a plugin that needs the whole
    batch."""

    #: What the plugin says about itself.
    info: Info = Info("plugin")
    #: The config dataclass, parsed strictly from the route's `plugin_config`.
    Config: type = NoOptions

    def transform_record(self, config: Any, record: bytes) -> Union[Document, list, None]:
        """Transform one record: a `Document`, a list of them, or `None`
        (dropped); raise `RecordError(reason)` for a record that cannot be
        transformed."""
        raise NotImplementedError

    def transform(self, config: Any, ctx: Context, records: Sequence[bytes]) -> list:
        """Transform a batch: one outcome per record, in order. By default
        `transform_record` for each, an exception failing only its record."""
        return [self.outcome_of(config, record) for record in records]

    def outcome_of(self, config: Any, record: bytes) -> Outcome:
        """`transform_record`'s answer for one record, as an outcome: a
        `RecordError` (or any other exception, worded `internal error: ...`)
        fails the record alone instead of trapping the whole batch."""
        try:
            got = self.transform_record(config, record)
            if got is None:
                return Dropped()
            docs = [got] if isinstance(got, Document) else list(got)
            return Ok([d.checked() for d in docs])
        except RecordError as e:
            return Failed(e.reason)
        except Exception as e:  # a bug in one record must not fail the batch
            return Failed("internal error: %s: %s" % (type(e).__name__, e))


def validate_config(plugin: Plugin, text: str) -> Optional[str]:
    """Why the route's config is refused (WIT `validate-config`), or `None`."""
    try:
        parse_config(text, plugin.Config)
    except ValueError as e:
        return str(e)
    return None


def run_batch(plugin: Plugin, records: Sequence[bytes], config: str = "{}", ctx: Optional[Context] = None) -> list:
    """Run a batch as the host does (WIT `transform`): the config parsed once
    (when it does not parse, every record fails with `invalid plugin config:
    ...`), then one outcome per record. Use it in native tests."""
    ctx = ctx or Context(config=config)
    try:
        parsed = parse_config(config, plugin.Config)
    except ValueError as e:
        return [Failed("invalid plugin config: %s" % e) for _ in records]
    outcomes = list(plugin.transform(parsed, ctx, [bytes(r) for r in records]))
    if len(outcomes) != len(records):
        raise RuntimeError("transform returned %d outcomes for %d records" % (len(outcomes), len(records)))
    return outcomes


def outcome_json(record: int, outcome: Outcome) -> dict:
    """One outcome as `weir plugin run` prints it (and as `cases/*.out.ndjson`
    holds it): `{"record": i, "outcome": "ok", "documents": [...]}` and so on."""
    if isinstance(outcome, Ok):
        docs = []
        for d in outcome.documents:
            try:
                body = json.loads(d.body_text())
            except ValueError:
                body = d.body_text()
            docs.append({"index": d.index, "id": d.id, "timestamp_ms": d.timestamp_ms, "body": body})
        return {"record": record, "outcome": "ok", "documents": docs}
    if isinstance(outcome, Dropped):
        return {"record": record, "outcome": "dropped"}
    return {"record": record, "outcome": "failed", "reason": outcome.reason}


# --------------------------------------------------------------------------
# The host's imports (WIT `host.log`, `enrich.geoip`): the generated bindings
# inside the component, a stand-in natively.

_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level: str, message: str) -> None:
    """Write one line to the host's log (`level`: trace, debug, info, warn or
    error). Natively it goes to stderr."""
    if level not in _LEVELS:
        raise ValueError("level must be one of %s" % ", ".join(_LEVELS))
    try:
        from wit_world.imports import host  # type: ignore[import-not-found]
    except ImportError:
        print("[%s] %s" % (level, message), file=sys.stderr)
        return
    host.log(getattr(host.Level, level.upper()), message)


def geoip(ip: str) -> Any:
    """Where a public address is (WIT `enrich.geoip`: the generated `Geo`
    record), or `None`. Natively always `None`."""
    try:
        from wit_world.imports import enrich  # type: ignore[import-not-found]
    except ImportError:
        return None
    return enrich.geoip(ip)


# --------------------------------------------------------------------------
# The component's exports (componentize-py).


def export(plugin: Plugin) -> tuple:
    """The classes componentize-py exports, `(Transform, Metadata, Schema)`,
    for `plugin`; assign them in the app module under those names. Only
    inside a component build (the generated `wit_world` bindings)."""
    from componentize_py_types import Err  # type: ignore[import-not-found]
    from wit_world import exports  # type: ignore[import-not-found]
    from wit_world.exports.metadata import PluginInfo  # type: ignore[import-not-found]
    from wit_world.imports import types as wit  # type: ignore[import-not-found]

    def to_wit(outcome: Outcome) -> Any:
        if isinstance(outcome, Ok):
            return wit.Outcome_Ok([wit.Document(d.index, d.id, d.timestamp_ms, d.body_text()) for d in outcome.documents])
        if isinstance(outcome, Dropped):
            return wit.Outcome_Dropped()
        return wit.Outcome_Failed(outcome.reason)

    class Transform(exports.Transform):  # type: ignore[misc, valid-type]
        def validate_config(self, config: str) -> None:
            reason = validate_config(plugin, config)
            if reason is not None:
                raise Err(reason)

        def transform(self, ctx: Any, records: list) -> list:
            context = Context(
                ctx.tenant,
                ctx.route,
                ctx.request_id,
                ctx.source_arn,
                tuple((a.key, a.value) for a in ctx.common_attributes),
                ctx.config,
            )
            return [to_wit(o) for o in run_batch(plugin, records, ctx.config, context)]

    class Metadata(exports.Metadata):  # type: ignore[misc, valid-type]
        def info(self) -> Any:
            i = plugin.info
            return PluginInfo(i.name, i.version, list(i.date_fields), i.default_index, i.config_schema_text())

    class Schema(exports.Schema):  # type: ignore[misc, valid-type]
        def index_properties(self) -> Optional[str]:
            return plugin.info.index_properties_text()

    return Transform, Metadata, Schema

"""Weir plugin for AWS WAF logs, in Python (the twin of plugins/waf).

Built with componentize-py against wit/plugin.wit (`weir:plugin@0.1.1`,
world `plugin`: `transform` and `metadata`) to show that the plugin contract
does not depend on Rust.
Only the Python standard library is used.

Behaviour, as in the Rust plugin: each record is one WAF log (JSON; a
record holding several whitespace/newline-separated JSON values gives one
document each), plain or gzip, or a CloudWatch Logs payload of them (one
document per log event, its id the log event's; a `CONTROL_MESSAGE` is
dropped). The epoch-millisecond `timestamp` becomes an ISO-8601 UTC
string with milliseconds (`2019-12-13T23:40:12.771Z`), also added first as
`@timestamp`; every other field is kept as it came, in order. A log that is not a JSON object, or whose
`timestamp` is missing or not an epoch-millisecond number, fails its record
with the reason; the other records of the batch are unaffected. Documents
carry the event time in `timestamp-ms` and no index or id.

Config: none (`{}`); unknown keys are refused.

Two paths, as in the Rust plugin:

- the fast path (the common case): the record is checked to be JSON without
  being built, each log's top-level integer `timestamp` is found and the ISO
  string spliced in its place; every other byte of the log is kept as it
  came (spacing, number spelling, escapes, duplicate keys).
- the full path (everything else: a float or negative timestamp, an escaped
  top-level key, `timestamp` missing or twice, invalid JSON, not UTF-8): the
  log is parsed and written back compactly, as serde_json's `Value` does.

The Rust twin uses serde_json; this file reproduces what serde_json accepts
(strictly in the full path, leniently like its `IgnoredAny` in the fast
path), the numbers it reads (including its float parsing and how it turns
big integers into floats), how it writes them back, and the wording and
position of its syntax errors. The work is done by the standard `json`
module (C-accelerated); a small port of serde_json's parser runs only to
word the reason of a record that does not parse, and a stack-based checker
only for records that nest deeper than `json` can go inside the component.
"""

import itertools
import json
import math
import re

# --------------------------------------------------------------------------
# Constants shared with the Rust SDK (plugins/sdk/src/lib.rs).

#: The largest epoch-millisecond value accepted: 9999-12-31T23:59:59.999Z.
MAX_EPOCH_MS = 253_402_300_799_999

_U64_MAX = (1 << 64) - 1
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_I32_MAX = (1 << 31) - 1
_I32_MIN = -(1 << 31)

#: Characters Rust's `str::trim` removes (Unicode White_Space); Python's
#: `str.strip()` also removes U+001C..U+001F, which Rust keeps.
_RUST_WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: `POW10` of serde_json: 1e0..=1e308 as correctly rounded f64 literals.
_POW10 = [float("1e%d" % i) for i in range(309)]


class RecordError(Exception):
    """A record (or config) cannot be used; the argument is the reason."""


class _OutOfRange(Exception):
    """serde_json would refuse this number ("number out of range")."""


class _Refused(Exception):
    """serde_json would refuse what Python's `json` just accepted."""


# --------------------------------------------------------------------------
# Numbers, exactly as serde_json 1.x reads them (without its
# `float_roundtrip` / `arbitrary_precision` features, as Weir builds it).


def _overflows(acc, digit, limit):
    # serde_json's `overflow!(acc * 10 + digit, limit)`.
    return acc >= limit // 10 and (acc > limit // 10 or digit > limit % 10)


def _f64_from_parts(positive, significand, exponent):
    f = float(significand)  # `u64 as f64`: round to nearest, ties to even
    while True:
        idx = abs(exponent) if exponent != _I32_MIN else None
        if idx is not None and idx < len(_POW10):
            if exponent >= 0:
                f *= _POW10[idx]
                if math.isinf(f):
                    raise _OutOfRange()
            else:
                f /= _POW10[idx]
            break
        if f == 0.0:
            break
        if exponent >= 0:
            raise _OutOfRange()
        f /= 1e308
        exponent += 308
    return f if positive else -f


def serde_number(s):
    """The value serde_json gives the (well-formed) JSON number literal `s`:
    an `int` where serde_json keeps a u64/i64, else a `float` (raises
    `_OutOfRange` where serde_json refuses it)."""
    n = len(s)
    positive = s[0] != "-"
    i = 0 if positive else 1
    sig = 0
    exponent = 0
    long_int = False
    if s[i] == "0":
        i += 1
    else:
        while i < n and "0" <= s[i] <= "9":
            d = ord(s[i]) - 48
            if _overflows(sig, d, _U64_MAX):
                long_int = True
                break
            sig = sig * 10 + d
            i += 1
    if long_int:
        # parse_long_integer: further integer digits only scale.
        while i < n and "0" <= s[i] <= "9":
            i += 1
            exponent += 1
    elif i == n or s[i] not in ".eE":
        if positive:
            return sig
        neg = -sig
        if _I64_MIN <= neg < 0:
            return neg
        return -float(sig)  # `-0`, and below i64::MIN
    if i < n and s[i] == ".":
        i += 1
        after = 0
        while i < n and "0" <= s[i] <= "9":
            d = ord(s[i]) - 48
            if _overflows(sig, d, _U64_MAX):
                # parse_decimal_overflow: ignore the remaining digits.
                while i < n and "0" <= s[i] <= "9":
                    i += 1
                break
            sig = sig * 10 + d
            after -= 1
            i += 1
        exponent += after
    if i < n and s[i] in "eE":
        i += 1
        positive_exp = True
        if s[i] in "+-":
            positive_exp = s[i] == "+"
            i += 1
        exp = 0
        while i < n:
            d = ord(s[i]) - 48
            if _overflows(exp, d, _I32_MAX):
                # parse_exponent_overflow
                if sig != 0 and positive_exp:
                    raise _OutOfRange()
                return 0.0 if positive else -0.0
            exp = exp * 10 + d
            i += 1
        if positive_exp:
            exponent = min(exponent + exp, _I32_MAX)
        else:
            exponent = max(exponent - exp, _I32_MIN)
    return _f64_from_parts(positive, sig, exponent)


def format_f64(f):
    """A finite float as serde_json writes it (zmij: shortest round-trip
    digits, `1.0`, `1e+16`, `1e-7`, `0.00001`)."""
    if f == 0.0:
        return "-0.0" if math.copysign(1.0, f) < 0 else "0.0"
    r = repr(f)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    e = 0
    if "e" in r:
        r, exp = r.split("e")
        e = int(exp)
    ip, _, fp = r.partition(".")
    digits = (ip + fp).lstrip("0")
    k = e - len(fp)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k  # 10^(kk-1) <= |f| < 10^kk
    if 0 <= k and kk <= 16:
        out = digits + "0" * (kk - length) + ".0"
    elif 0 < kk <= 16:
        out = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        out = "0." + "0" * (-kk) + digits
    else:
        x = kk - 1
        exp = ("e+%d" % x) if x >= 0 else ("e-%d" % -x)
        out = (digits if length == 1 else digits[0] + "." + digits[1:]) + exp
    return sign + out


# --------------------------------------------------------------------------
# JSON reading: the fast path (Python's json module, with hooks that make it
# read numbers like serde_json and refuse what serde_json refuses).

_state = {"odd_float": False}


def _parse_int(s):
    if len(s) <= 18:
        if s == "-0":
            return -0.0
        return int(s)
    return _number(s)


def _number(s):
    v = serde_number(s)
    if type(v) is float and v != 0.0 and abs(v) < 1e-4:
        # repr() writes these with a zero-padded exponent or in exponent
        # form where serde_json does not: serialize them by hand.
        _state["odd_float"] = True
    return v


def _parse_constant(name):
    raise _Refused(name)  # NaN, Infinity, -Infinity


_DECODER = json.JSONDecoder(
    parse_float=_number, parse_int=_parse_int, parse_constant=_parse_constant
)
_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: A string (to its closing quote, or to the end of the text: never fails, so
#: never backtracks), or a bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
#: What may follow a top-level number/true/false/null (serde_json's
#: `StreamDeserializer::peek_end_of_value`).
_END_OF_VALUE = frozenset(' \n\t\r"[]{},:')
#: serde_json's recursion limit: the 128th nested array/object is refused.
_MAX_DEPTH = 127


def _too_deep(text):
    """Whether `text` may nest arrays/objects deeper than serde_json allows.

    Python's `json` must never see such text: in the component its C parser
    exhausts the wasm call stack (a trap, failing the whole batch) long
    before Python's own recursion limit. Linear time; strings are skipped.
    The running depth is an upper bound of what the `json` parser reaches:
    it can only under-count after a stray closing bracket, where that parser
    has already stopped with an error."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return False
    steps = map(_DEPTH_STEP.get, _TOKEN.findall(text), itertools.repeat(0))
    return max(itertools.accumulate(steps), default=0) > _MAX_DEPTH


def _has_surrogates(values):
    try:
        json.dumps(values, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _invalid_json(data, stream, fallback):
    """The serde_json error for `data`, as `invalid JSON: …`."""
    message = serde_error(data, stream)
    if message is None:  # should not happen: the two parsers disagree
        message = fallback or "unreadable"
    return "invalid JSON: " + message


def json_values(record):
    """Every JSON value in a record (one, or several separated by whitespace
    as in NDJSON), like the SDK's `json_values`. Raises `RecordError` with
    the reason (`invalid JSON: …`, `empty record: no JSON value`)."""
    _state["odd_float"] = False
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(_invalid_json(record, True, str(e))) from None
    if _too_deep(text):
        message = serde_error(record, True)
        if message is not None:
            raise RecordError("invalid JSON: " + message)
    values = []
    n = len(text)
    i = _WS.match(text, 0).end()
    while i < n:
        first = text[i]
        try:
            value, end = _DECODER.raw_decode(text, i)
        except (ValueError, _OutOfRange, _Refused, RecursionError) as e:
            raise RecordError(_invalid_json(record, True, repr(e))) from None
        if first not in '[{"' and end < n and text[end] not in _END_OF_VALUE:
            raise RecordError(_invalid_json(record, True, "trailing characters"))
        values.append(value)
        i = _WS.match(text, end).end()
    if _SURROGATE_ESCAPE.search(text) and _has_surrogates(values):
        raise RecordError(_invalid_json(record, True, "lone surrogate"))
    if not values:
        raise RecordError("empty record: no JSON value")
    return values


def json_value(text):
    """One JSON value and nothing else, like `serde_json::from_str`. Raises
    `RecordError` with serde_json's message (no prefix)."""
    _state["odd_float"] = False
    data = text.encode("utf-8")
    if _too_deep(text):
        message = serde_error(data, False)
        if message is not None:
            raise RecordError(message)
    try:
        i = _WS.match(text, 0).end()
        value, end = _DECODER.raw_decode(text, i)
        if _WS.match(text, end).end() != len(text):
            raise ValueError("trailing characters")
        if _SURROGATE_ESCAPE.search(text) and _has_surrogates(value):
            raise ValueError("lone surrogate")
    except (ValueError, _OutOfRange, _Refused, RecursionError) as e:
        raise RecordError(serde_error(data, False) or repr(e)) from None
    return value


# --------------------------------------------------------------------------
# JSON reading: the slow path, a port of serde_json's parser (SliceRead) that
# only finds the first error, with serde_json's wording and position.

_EOF_LIST = "EOF while parsing a list"
_EOF_OBJECT = "EOF while parsing an object"
_EOF_STRING = "EOF while parsing a string"
_EOF_VALUE = "EOF while parsing a value"
_EXPECTED_COLON = "expected `:`"
_EXPECTED_LIST_COMMA_OR_END = "expected `,` or `]`"
_EXPECTED_OBJECT_COMMA_OR_END = "expected `,` or `}`"
_EXPECTED_IDENT = "expected ident"
_EXPECTED_VALUE = "expected value"
_INVALID_ESCAPE = "invalid escape"
_INVALID_NUMBER = "invalid number"
_NUMBER_OUT_OF_RANGE = "number out of range"
_INVALID_CODE_POINT = "invalid unicode code point"
_CONTROL_CHARACTER = "control character (\\u0000-\\u001F) found while parsing a string"
_KEY_MUST_BE_A_STRING = "key must be a string"
_LONE_LEADING_SURROGATE = "lone leading surrogate in hex escape"
_TRAILING_COMMA = "trailing comma"
_TRAILING_CHARACTERS = "trailing characters"
_UNEXPECTED_END_OF_HEX_ESCAPE = "unexpected end of hex escape"
_RECURSION_LIMIT = "recursion limit exceeded"

_WS_BYTES = frozenset(b" \n\t\r")
_WS_RUN = re.compile(rb"[ \n\t\r]*")
#: The bytes a string runs over without a closer look.
_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
#: A well-formed JSON number; group 2 is its exponent part.
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NUMBER_CONTINUES = frozenset(b"0123456789.eE+-")
_END_OF_VALUE_BYTES = frozenset(b' \n\t\r"[]{},:')
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\x08",
    ord("f"): b"\x0c",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}


class _Syntax(Exception):
    pass


class _Scanner:
    def __init__(self, data):
        self.b = data
        self.n = len(data)
        self.i = 0
        self.remaining_depth = 128

    # positions ------------------------------------------------------------
    def _at(self, index, code, back=0):
        start = self.b.rfind(b"\n", 0, index) + 1
        line = 1 + self.b.count(b"\n", 0, start)
        column = max(0, index - start - back)
        return _Syntax("%s at line %d column %d" % (code, line, column))

    def error(self, code):
        """An error about a byte already consumed (serde's `error`)."""
        return self._at(self.i, code)

    def peek_error(self, code):
        """An error about the next byte (serde's `peek_error`)."""
        return self._at(min(self.n, self.i + 1), code)

    # bytes ----------------------------------------------------------------
    def peek(self):
        return self.b[self.i] if self.i < self.n else None

    def next(self):
        if self.i < self.n:
            self.i += 1
            return self.b[self.i - 1]
        return None

    def whitespace(self):
        i = self.i
        if i < self.n:
            c = self.b[i]
            if c not in _WS_BYTES:
                return c
            i = self.i = _WS_RUN.match(self.b, i).end()
            if i < self.n:
                return self.b[i]
        return None

    def digit(self):
        c = self.peek()
        return c - 48 if c is not None and 48 <= c <= 57 else None

    # values ---------------------------------------------------------------
    def value(self):
        c = self.whitespace()
        if c is None:
            raise self.peek_error(_EOF_VALUE)
        if c == 0x6E:  # n
            self.i += 1
            self.ident(b"ull")
        elif c == 0x74:  # t
            self.i += 1
            self.ident(b"rue")
        elif c == 0x66:  # f
            self.i += 1
            self.ident(b"alse")
        elif c == 0x2D or 0x30 <= c <= 0x39:  # - 0-9
            if not self.plain_number():
                if c == 0x2D:
                    self.i += 1
                self.integer(c != 0x2D)
        elif c == 0x22:  # "
            self.i += 1
            self.string()
        elif c == 0x5B:  # [
            self.nested(self.seq)
            c = self.whitespace()
            if c == 0x5D:
                self.i += 1
        elif c == 0x7B:  # {
            self.nested(self.map)
            c = self.whitespace()
            if c == 0x7D:
                self.i += 1
        else:
            raise self.peek_error(_EXPECTED_VALUE)

    def nested(self, body):
        self.remaining_depth -= 1
        if self.remaining_depth == 0:
            raise self.peek_error(_RECURSION_LIMIT)
        self.i += 1
        body()
        self.remaining_depth += 1

    def ident(self, rest):
        for expected in rest:
            c = self.next()
            if c is None:
                raise self.error(_EOF_VALUE)
            if c != expected:
                raise self.error(_EXPECTED_IDENT)

    def seq(self):
        first = True
        while True:
            c = self.whitespace()
            if c is None:
                raise self.peek_error(_EOF_LIST)
            if c == 0x5D:  # ]
                return
            if first:
                first = False
            elif c == 0x2C:  # ,
                self.i += 1
                c = self.whitespace()
                if c == 0x5D:
                    raise self.peek_error(_TRAILING_COMMA)
                if c is None:
                    raise self.peek_error(_EOF_VALUE)
            else:
                raise self.peek_error(_EXPECTED_LIST_COMMA_OR_END)
            self.value()

    def map(self):
        first = True
        while True:
            c = self.whitespace()
            if c is None:
                raise self.peek_error(_EOF_OBJECT)
            if c == 0x7D:  # }
                return
            if first:
                first = False
                if c != 0x22:
                    raise self.peek_error(_KEY_MUST_BE_A_STRING)
            elif c == 0x2C:  # ,
                self.i += 1
                c = self.whitespace()
                if c == 0x7D:
                    raise self.peek_error(_TRAILING_COMMA)
                if c is None:
                    raise self.peek_error(_EOF_VALUE)
                if c != 0x22:
                    raise self.peek_error(_KEY_MUST_BE_A_STRING)
            else:
                raise self.peek_error(_EXPECTED_OBJECT_COMMA_OR_END)
            self.i += 1
            self.string()
            c = self.whitespace()
            if c is None:
                raise self.peek_error(_EOF_OBJECT)
            if c != 0x3A:  # :
                raise self.peek_error(_EXPECTED_COLON)
            self.i += 1
            self.value()

    # numbers --------------------------------------------------------------
    def plain_number(self):
        """Skip a well-formed number serde_json reads without error (the
        common case, at regex speed); `False` leaves the rest to the exact
        state machine below."""
        m = _NUMBER.match(self.b, self.i)
        if m is None:
            return False
        end = m.end()
        if end < self.n and self.b[end] in _NUMBER_CONTINUES:
            return False  # `01`, `1.`, `1e`, ...: an error to place exactly
        # Out of range needs a long number or an exponent of 3+ digits.
        if end - self.i > 40 or (m.lastindex == 2 and m.end(2) - m.start(2) > 3):
            try:
                serde_number(m.group().decode("ascii"))
            except _OutOfRange:
                return False
        self.i = end
        return True

    def integer(self, positive):
        c = self.next()
        if c is None:
            raise self.error(_EOF_VALUE)
        if c == 0x30:
            if self.digit() is not None:
                raise self.peek_error(_INVALID_NUMBER)
            self.number(positive, 0)
        elif 0x31 <= c <= 0x39:
            sig = c - 48
            while True:
                d = self.digit()
                if d is None:
                    self.number(positive, sig)
                    return
                if _overflows(sig, d, _U64_MAX):
                    self.long_integer(positive, sig)
                    return
                self.i += 1
                sig = sig * 10 + d
        else:
            raise self.error(_INVALID_NUMBER)

    def number(self, positive, sig):
        c = self.peek()
        if c == 0x2E:
            self.decimal(positive, sig, 0)
        elif c == 0x65 or c == 0x45:
            self.exponent(positive, sig, 0)

    def long_integer(self, positive, sig):
        exponent = 0
        while self.digit() is not None:
            self.i += 1
            exponent += 1
        c = self.peek()
        if c == 0x2E:
            self.decimal(positive, sig, exponent)
        elif c == 0x65 or c == 0x45:
            self.exponent(positive, sig, exponent)
        else:
            self.from_parts(positive, sig, exponent)

    def decimal(self, positive, sig, exponent_before):
        self.i += 1
        after = 0
        while True:
            d = self.digit()
            if d is None:
                break
            if _overflows(sig, d, _U64_MAX):
                while self.digit() is not None:
                    self.i += 1
                c = self.peek()
                if c == 0x65 or c == 0x45:
                    self.exponent(positive, sig, exponent_before + after)
                else:
                    self.from_parts(positive, sig, exponent_before + after)
                return
            self.i += 1
            sig = sig * 10 + d
            after -= 1
        if after == 0:
            if self.peek() is not None:
                raise self.peek_error(_INVALID_NUMBER)
            raise self.peek_error(_EOF_VALUE)
        c = self.peek()
        if c == 0x65 or c == 0x45:
            self.exponent(positive, sig, exponent_before + after)
        else:
            self.from_parts(positive, sig, exponent_before + after)

    def exponent(self, positive, sig, starting):
        self.i += 1
        positive_exp = True
        c = self.peek()
        if c == 0x2B:
            self.i += 1
        elif c == 0x2D:
            self.i += 1
            positive_exp = False
        c = self.next()
        if c is None:
            raise self.error(_EOF_VALUE)
        if not 0x30 <= c <= 0x39:
            raise self.error(_INVALID_NUMBER)
        exp = c - 48
        while True:
            d = self.digit()
            if d is None:
                break
            self.i += 1
            if _overflows(exp, d, _I32_MAX):
                if sig != 0 and positive_exp:
                    raise self.error(_NUMBER_OUT_OF_RANGE)
                while self.digit() is not None:
                    self.i += 1
                return
            exp = exp * 10 + d
        if positive_exp:
            final = min(starting + exp, _I32_MAX)
        else:
            final = max(starting - exp, _I32_MIN)
        self.from_parts(positive, sig, final)

    def from_parts(self, positive, sig, exponent):
        try:
            _f64_from_parts(positive, sig, exponent)
        except _OutOfRange:
            raise self.error(_NUMBER_OUT_OF_RANGE) from None

    # strings --------------------------------------------------------------
    def string(self):
        b, n = self.b, self.n
        scratch = bytearray()
        escaped = False
        start = self.i
        while True:
            i = self.i = _STRING_RUN.match(b, self.i).end()
            if i == n:
                raise self.error(_EOF_STRING)
            c = b[i]
            if c == 0x22:
                content = b[start:i]
                if escaped:
                    scratch += content
                    content = bytes(scratch)
                self.i = i + 1
                try:
                    content.decode("utf-8")
                except UnicodeDecodeError as e:
                    # serde_json points back from the closing quote to the
                    # first bad byte (approximate when the string had escapes).
                    back = len(content) - e.start
                    raise self._at(self.i, _INVALID_CODE_POINT, back) from None
                return
            if c == 0x5C:
                scratch += b[start:i]
                escaped = True
                self.i = i + 1
                self.escape(scratch)
                start = self.i
            else:
                self.i = i + 1
                raise self.error(_CONTROL_CHARACTER)

    def escape(self, scratch):
        c = self.next()
        if c is None:
            raise self.error(_EOF_STRING)
        simple = _SIMPLE_ESCAPES.get(c)
        if simple is not None:
            scratch += simple
        elif c == 0x75:  # u
            self.unicode_escape(scratch)
        else:
            raise self.error(_INVALID_ESCAPE)

    def hex4(self):
        if self.n - self.i < 4:
            self.i = self.n
            raise self.error(_EOF_STRING)
        digits = self.b[self.i : self.i + 4]
        self.i += 4
        if not all(d in _HEX for d in digits):
            raise self.error(_INVALID_ESCAPE)
        return int(digits, 16)

    def unicode_escape(self, scratch):
        n1 = self.hex4()
        if 0xDC00 <= n1 <= 0xDFFF:
            raise self.error(_LONE_LEADING_SURROGATE)
        if not 0xD800 <= n1 <= 0xDBFF:
            scratch += chr(n1).encode("utf-8")
            return
        for expected in (0x5C, 0x75):  # `\` then `u`
            c = self.peek()
            if c is None:
                raise self.error(_EOF_STRING)
            self.i += 1
            if c != expected:
                raise self.error(_UNEXPECTED_END_OF_HEX_ESCAPE)
        n2 = self.hex4()
        if not 0xDC00 <= n2 <= 0xDFFF:
            raise self.error(_LONE_LEADING_SURROGATE)
        scratch += chr((((n1 - 0xD800) << 10) | (n2 - 0xDC00)) + 0x10000).encode("utf-8")


def serde_error(data, stream):
    """The first error serde_json reports for `data` (bytes): read as a
    stream of values (`Deserializer::into_iter`, `stream=True`) or as one
    value (`from_str`/`from_slice`). `None` when it reads without error."""
    scanner = _Scanner(data)
    try:
        if stream:
            while True:
                c = scanner.whitespace()
                if c is None:
                    return None
                scanner.remaining_depth = 128
                scanner.value()
                if c not in b'[{"':
                    nxt = scanner.peek()
                    if nxt is not None and nxt not in _END_OF_VALUE_BYTES:
                        raise scanner.peek_error(_TRAILING_CHARACTERS)
        else:
            scanner.value()
            if scanner.whitespace() is not None:
                raise scanner.peek_error(_TRAILING_CHARACTERS)
            return None
    except _Syntax as e:
        return str(e)


# --------------------------------------------------------------------------
# JSON writing, as serde_json's `Value::to_string` (compact, keys in order,
# non-ASCII as is, floats as zmij writes them).


def to_json(value):
    if not _state["odd_float"]:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _dump(value)


def _dump(v):
    t = type(v)
    if t is dict:
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=False) + ":" + _dump(x) for k, x in v.items()
            )
            + "}"
        )
    if t is list:
        return "[" + ",".join(_dump(x) for x in v) + "]"
    if t is float:
        return format_f64(v)
    return json.dumps(v, ensure_ascii=False)


def json_kind(value):
    """The JSON type name of a value, for error messages (the SDK's)."""
    if value is None:
        return "null"
    t = type(value)
    if t is bool:
        return "a boolean"
    if t is int or t is float:
        return "a number"
    if t is str:
        return "a string"
    if t is list:
        return "an array"
    return "an object"


# --------------------------------------------------------------------------
# Time.


def _civil_from_days(days):
    # Howard Hinnant's algorithm, as in the SDK.
    z = days + 719_468
    era = z // 146_097
    doe = z % 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def epoch_ms_to_iso(ms):
    """`2019-12-13T23:40:12.771Z`; `None` outside 1970..=9999."""
    if not 0 <= ms <= MAX_EPOCH_MS:
        return None
    secs, millis = divmod(ms, 1000)
    days, sod = divmod(secs, 86_400)
    y, mo, d = _civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        y,
        mo,
        d,
        sod // 3600,
        (sod % 3600) // 60,
        sod % 60,
        millis,
    )


# --------------------------------------------------------------------------
# The WAF plugin.


def validate_config(config):
    """`None` when the config is acceptable, else the reason. The WAF plugin
    takes no options (the SDK's `check_no_options(config, "waf")`)."""
    if not config.strip(_RUST_WS):
        return None
    try:
        value = json_value(config)
    except RecordError as e:
        return "plugin config is not valid JSON: %s" % e.args[0]
    if type(value) is not dict:
        return "plugin config must be a JSON object, got %s" % json_kind(value)
    for key in value:
        return "unknown option `%s`: the waf plugin takes none" % key
    return None


def _epoch_ms(ts):
    """An epoch-millisecond number (an integer, or a float with no fraction)."""
    t = type(ts)
    if t is int and _I64_MIN <= ts <= _I64_MAX:
        return ts
    if t is int:  # a u64 above i64::MAX
        f = float(ts)
    elif t is float:
        f = ts
    else:
        f = None
    if f is not None and f.is_integer() and 0.0 <= f <= float(MAX_EPOCH_MS):
        return int(f)
    if t is int:
        got = str(ts)
    elif t is float:
        got = format_f64(ts)
    else:
        got = json_kind(ts)
    raise RecordError("`timestamp` must be epoch milliseconds (a number), got %s" % got)


def transform_log(log):
    """Rewrite one WAF log: (body JSON text, timestamp-ms)."""
    if type(log) is not dict:
        raise RecordError("a WAF log must be a JSON object, got %s" % json_kind(log))
    if "timestamp" not in log:
        raise RecordError("missing `timestamp`")
    ms = _epoch_ms(log["timestamp"])
    iso = epoch_ms_to_iso(ms)
    if iso is None:
        raise RecordError(
            "`timestamp` %d is outside 1970..=9999 in epoch milliseconds" % ms
        )
    log["timestamp"] = iso  # keeps the key's place
    out = {"@timestamp": iso}  # first; a log's own `@timestamp` is replaced
    out.update((k, v) for k, v in log.items() if k != "@timestamp")
    return to_json(out), ms


#: The most bytes a gzip record may decompress to (the SDK's
#: `MAX_DECOMPRESSED_BYTES`, 64 MiB).
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024


def _gunzip_capped(record):
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = d.decompress(record, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as e:
        raise RecordError("invalid gzip data: %s" % e) from None
    if len(data) <= MAX_DECOMPRESSED_BYTES and not d.eof:
        raise RecordError("invalid gzip data: truncated")
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise RecordError(
            "gzip data decompresses past the cap of %d bytes" % MAX_DECOMPRESSED_BYTES
        )
    return data


def transform_record(record):
    """One record (one or more WAF logs, plain or gzip, or a CloudWatch Logs
    payload of them): a list of (body, timestamp-ms, id), `None` to drop the
    record, or `RecordError` with the reason."""
    docs = fast_path(record)
    if docs is not None:
        return docs
    if record[:2] == b"\x1f\x8b":
        return _plain_record(_gunzip_capped(record))
    return _payload_or_full_path(record)


def _plain_record(record):
    docs = fast_path(record)
    if docs is not None:
        return docs
    return _payload_or_full_path(record)


def _payload_or_full_path(record):
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        payloads = _cwl_payloads(text)
        if payloads is not None:
            return _payload_documents(payloads)
    return _full_path(record)


def _cwl_payloads(text):
    """The CloudWatch Logs payloads of `text` (as the SDK's `cwl` module
    reads them), or `None` when it is not only payloads."""
    if not text.lstrip(" \t\n\r").startswith("{") or '"messageType"' not in text:
        return None
    decoder = json.JSONDecoder()
    payloads, i, ws = [], 0, re.compile(r"[ \t\n\r]*")
    i = ws.match(text, i).end()
    while i < len(text):
        try:
            value, i = decoder.raw_decode(text, i)
        except ValueError:
            return None
        i = ws.match(text, i).end()
        if type(value) is not dict:
            return None
        kind = value.get("messageType")
        events = value.get("logEvents", [])
        if not isinstance(kind, str) or type(events) is not list:
            return None
        for e in events:
            if type(e) is not dict:
                return None
            if any(e.get(k) is not None and not isinstance(e[k], str) for k in ("id", "message")):
                return None
        payloads.append((kind, events))
    return payloads or None


def _payload_documents(payloads):
    docs, all_control = [], True
    for kind, events in payloads:
        if kind == "CONTROL_MESSAGE":
            continue
        if kind != "DATA_MESSAGE":
            raise RecordError(
                "unknown CloudWatch Logs messageType %s (expected DATA_MESSAGE or CONTROL_MESSAGE)"
                % json.dumps(kind, ensure_ascii=False)
            )
        all_control = False
        for i, event in enumerate(events):
            message = event.get("message")
            if message is None:
                raise RecordError("logEvents[%d] has no string `message`" % i)
            try:
                got = _plain_log(message.encode("utf-8"))
            except RecordError as e:
                raise RecordError("logEvents[%d]: %s" % (i, e.args[0])) from None
            event_id = event.get("id") or None
            docs.extend((body, ms, doc_id or event_id) for body, ms, doc_id in got)
    return None if all_control else docs


def _plain_log(record):
    docs = fast_path(record)
    return docs if docs is not None else _full_path(record)


def _full_path(record):
    values = json_values(record)
    docs = []
    for i, value in enumerate(values):
        try:
            docs.append(transform_log(value) + (None,))
        except RecordError as e:
            if i == 0:
                raise
            raise RecordError("log %d of the record: %s" % (i + 1, e.args[0])) from None
    return docs

# --------------------------------------------------------------------------
# The fast path, as the Rust plugin's (SDK `json_value_spans` and
# `top_level_member`): check the record is valid JSON without building it,
# find each log's top-level integer `timestamp` and splice the ISO string in
# its place, keeping every other byte as it came. Anything unusual (not
# UTF-8, a float or negative timestamp, an escaped top-level key, `timestamp`
# twice or missing, invalid JSON) returns `None` and the full path above
# handles the record, and words its error.
#
# Like serde_json's `IgnoredAny`, the check is grammar only: it accepts
# lone surrogate escapes, numbers out of f64 range and any nesting depth.


def _ignore(_text):
    return 0


_LENIENT_DECODER = json.JSONDecoder(
    parse_float=_ignore, parse_int=_ignore, parse_constant=_parse_constant
)
_WS_STR = re.compile(r"[ \t\n\r]*")
_LENIENT_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+"')
_NUMBER_STR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PRIMITIVE_END = re.compile(r"[^,}\] \t\n\r]*")
_DIGITS = re.compile(r"[0-9]{1,15}")


def _lenient_value(text, i):
    """The end of the JSON value at `i` (after whitespace), or `None` when it
    is not valid JSON. Iterative (a stack, not recursion): any depth."""
    n = len(text)
    stack = []
    while True:
        # A value.
        i = _WS_STR.match(text, i).end()
        if i >= n:
            return None
        c = text[i]
        if c == '"':
            m = _LENIENT_STRING.match(text, i)
            if m is None:
                return None
            i = m.end()
        elif c == "-" or "0" <= c <= "9":
            m = _NUMBER_STR.match(text, i)
            if m is None:
                return None
            i = m.end()
        elif text.startswith("true", i) or text.startswith("null", i):
            i += 4
        elif text.startswith("false", i):
            i += 5
        elif c == "[" or c == "{":
            i = _WS_STR.match(text, i + 1).end()
            close = "]" if c == "[" else "}"
            if text.startswith(close, i):
                i += 1
            else:
                stack.append(close)
                if c == "{":
                    i = _lenient_key(text, i)
                    if i is None:
                        return None
                continue
        else:
            return None
        # After a value: `,` and the next one, or close containers.
        while stack:
            i = _WS_STR.match(text, i).end()
            if i >= n:
                return None
            c = text[i]
            if c == ",":
                i += 1
                if stack[-1] == "}":
                    i = _lenient_key(text, _WS_STR.match(text, i).end())
                    if i is None:
                        return None
                break
            if c != stack[-1]:
                return None
            stack.pop()
            i += 1
        else:
            return i


def _lenient_key(text, i):
    """After `{` or `,` in an object: a key and its `:`; the index after."""
    m = _LENIENT_STRING.match(text, i)
    if m is None:
        return None
    i = _WS_STR.match(text, m.end()).end()
    if not text.startswith(":", i):
        return None
    return i + 1


def json_value_spans(text):
    """The (start, end) of every JSON value in `text` (as `json_values`
    would read them, but not built, and leniently), or `None`; and whether
    the text may nest too deep for Python's `json`."""
    deep = _too_deep(text)
    n = len(text)
    spans = []
    i = _WS_STR.match(text, 0).end()
    while i < n:
        first = text[i]
        if deep:
            end = _lenient_value(text, i)
            if end is None:
                return None, deep
        else:
            try:
                end = _LENIENT_DECODER.raw_decode(text, i)[1]
            except (ValueError, _Refused, RecursionError):
                return None, deep
        if first not in '[{"' and end < n and text[end] not in _END_OF_VALUE:
            return None, deep
        spans.append((i, end))
        i = _WS_STR.match(text, end).end()
    return (spans, deep) if spans else (None, deep)


def _string_end(b, i):
    """The index after the string opening at `i`, and whether it holds an
    escape (the SDK's `string_end`)."""
    m = _TOKEN_STR.match(b, i)
    return m.end(), "\\" in m.group()


_TOKEN_STR = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_FOUND = object()


def _value_end(b, i, deep):
    c = b[i] if i < len(b) else ""
    if c == '"':
        return _string_end(b, i)[0]
    if c == "{" or c == "[":
        if not deep:
            # `b` is valid JSON: the parser finds the same end, in C.
            return _LENIENT_DECODER.raw_decode(b, i)[1]
        depth = 0
        for m in _TOKEN.finditer(b, i):
            t = m.group()
            if t == "{" or t == "[":
                depth += 1
            elif t == "}" or t == "]":
                depth -= 1
                if depth == 0:
                    return m.end()
        return len(b)
    return _PRIMITIVE_END.match(b, i).end()


def top_level_member(b, key, deep=True):
    """Where the value of the top-level member `key` of the JSON object `b`
    (valid JSON) is: (start, end), `_NOT_FOUND`, or `None` when the fast
    path cannot tell (a top-level key written with escapes, or `key` twice).
    `deep=False` promises that `b` nests too little to trouble `json`."""
    if not b.startswith("{"):
        return None
    found = _NOT_FOUND
    i = 1
    while True:
        i = _WS_STR.match(b, i).end()
        c = b[i : i + 1]
        if c == "}":
            return found
        if c != '"':
            return None
        key_end, escaped = _string_end(b, i)
        name = b[i + 1 : max(key_end - 1, 0)]
        i = _WS_STR.match(b, key_end).end()
        if not b.startswith(":", i):
            return None
        i = _WS_STR.match(b, i + 1).end()
        start = i
        i = _value_end(b, i, deep)
        if escaped:
            return None
        if name == key:
            if found is not _NOT_FOUND:
                return None
            found = (start, i)
        i = _WS_STR.match(b, i).end()
        c = b[i : i + 1]
        if c == ",":
            i += 1
        elif c == "}":
            return found
        else:
            return None


def fast_path(record):
    """The documents of the common case, or `None` (see above)."""
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        return None
    spans, deep = json_value_spans(text)
    if spans is None:
        return None
    docs = []
    for start, end in spans:
        span = text[start:end]
        if '"@timestamp"' in span:
            return None  # its own `@timestamp`: the full path replaces it
        member = top_level_member(span, "timestamp", deep)
        if member is None or member is _NOT_FOUND:
            return None
        a, b = member
        if _DIGITS.fullmatch(span, a, b) is None:
            return None
        ms = int(span[a:b])
        iso = epoch_ms_to_iso(ms)
        if iso is None:
            return None
        # `@timestamp` first, then the log after its `{`, the ISO in place
        docs.append(('{"@timestamp":"' + iso + '",' + span[1:a] + '"' + iso + '"' + span[b:], ms, None))
    return docs


# --------------------------------------------------------------------------
# The component's export (bindings generated by componentize-py at build
# time; absent when this file is imported natively, e.g. by tests).

#: What the plugin says about itself (the WIT `metadata` export), as the
#: Rust plugin's `INFO`: (name, date fields, suggested index, config schema).
INFO = ("waf", ["@timestamp", "timestamp"], "waf", None)

#: The plugin's own version (WIT `plugin-info.version`).
VERSION = "0.1.0"

try:
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.exports.metadata import PluginInfo
    from wit_world.imports.types import Document, Outcome_Dropped, Outcome_Failed, Outcome_Ok
except ImportError:  # pragma: no cover - native use
    exports = None

if exports is not None:

    class Metadata(exports.Metadata):
        def info(self):
            name, date_fields, default_index, config_schema = INFO
            return PluginInfo(name, VERSION, date_fields, default_index, config_schema)

    class Schema(exports.Schema):
        def index_properties(self):
            # WIT 0.1.2 `schema`: nothing to suggest (this twin writes no
            # ECS fields; the Rust plugin suggests their mappings).
            return None

    class Transform(exports.Transform):
        def validate_config(self, config):
            reason = validate_config(config)
            if reason is not None:
                raise Err(reason)

        def transform(self, ctx, records):
            out = []
            for record in records:
                try:
                    docs = transform_record(record)
                    if docs is None:
                        out.append(Outcome_Dropped())
                        continue
                    out.append(
                        Outcome_Ok([Document(None, doc_id, ms, body) for body, ms, doc_id in docs])
                    )
                except RecordError as e:
                    out.append(Outcome_Failed(e.args[0]))
                except Exception as e:  # a bug here must not fail the batch
                    out.append(
                        Outcome_Failed("internal error: %s: %s" % (type(e).__name__, e))
                    )
            return out

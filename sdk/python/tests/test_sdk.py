"""Unit tests of the Python SDK, run natively: `python3 -m unittest discover -s tests`."""

import dataclasses
import gzip
import os
import sys
import unittest
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import weir_plugin_sdk as weir  # noqa: E402


class Gzip(unittest.TestCase):
    def test_within_at_and_over_the_cap(self):
        data = b"x" * 1000
        z = gzip.compress(data)
        self.assertEqual(weir.gunzip_capped(z, 1000), data)
        with self.assertRaises(weir.GunzipError) as e:
            weir.gunzip_capped(z, 999)
        self.assertEqual(e.exception.reason, "gzip data decompresses to more than the cap of 999 bytes")

    def test_a_bomb_stops_at_the_cap(self):
        bomb = gzip.compress(b"\0" * (64 << 20))  # about 64 KiB of gzip
        with self.assertRaises(weir.GunzipError):
            weir.gunzip_capped(bomb, 1 << 20)

    def test_members_truncation_and_garbage(self):
        self.assertEqual(weir.gunzip_capped(gzip.compress(b"ab") + gzip.compress(b"cd"), 10), b"abcd")
        z = gzip.compress(b"hello world")
        for bad in (z[:-3], z[:12], z + b"junk", z[:10] + b"\xff" * 8):
            with self.assertRaises(weir.GunzipError) as e:
                weir.gunzip_capped(bad, 100)
            self.assertTrue(e.exception.reason.startswith("invalid gzip data"), e.exception.reason)


class Records(unittest.TestCase):
    def test_text_plain_gzip_and_not_utf8(self):
        self.assertEqual(weir.record_text(b"caf\xc3\xa9"), "café")
        self.assertEqual(weir.record_text(gzip.compress(b"hi")), "hi")
        with self.assertRaises(weir.RecordError) as e:
            weir.record_text(b"a\xffb")
        self.assertEqual(e.exception.reason, "record is not UTF-8: invalid utf-8 sequence at byte 1")
        with self.assertRaises(weir.RecordError):
            weir.record_text(gzip.compress(b"x" * 100), cap=10)

    def test_lines(self):
        self.assertEqual(list(weir.lines(b"a\r\n\n  \nb")), [b"a", b"b"])

    def test_json_object(self):
        self.assertEqual(weir.json_object('{"a": "[[["}'), {"a": "[[["})
        for text, why in (("[1]", "got an array"), ("{", "invalid JSON"), ("[" * 200 + "]" * 200, "deeper than 128")):
            with self.assertRaises(weir.RecordError) as e:
                weir.json_object(text)
            self.assertIn(why, e.exception.reason)


class Time(unittest.TestCase):
    def test_epoch_to_iso_and_back(self):
        self.assertEqual(weir.epoch_ms_to_iso(1576280412771), "2019-12-13T23:40:12.771Z")
        self.assertEqual(weir.epoch_ms_to_iso(0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(weir.epoch_ms_to_iso(weir.MAX_EPOCH_MS), "9999-12-31T23:59:59.999Z")
        for bad in (-1, weir.MAX_EPOCH_MS + 1, 1.5, True, "1", None):
            self.assertIsNone(weir.epoch_ms_to_iso(bad), bad)
        self.assertEqual(weir.epoch_seconds_to_iso(1413926684), "2014-10-21T21:24:44Z")
        self.assertEqual(weir.iso_to_epoch_ms("2019-12-13T23:40:12.771Z"), 1576280412771)
        self.assertEqual(weir.iso_to_epoch_ms("2021-02-04T17:51:55.123456+02:00"), 1612453915123)
        for bad in ("2021-02-29T00:00:00Z", "2021-01-01", "1969-12-31T23:59:59Z", "2021-01-01T24:00:00Z"):
            self.assertIsNone(weir.iso_to_epoch_ms(bad), bad)


class Config(unittest.TestCase):
    @dataclasses.dataclass
    class Options:
        index: Optional[str] = None
        keep: bool = False
        size: int = 10

    def test_defaults_values_and_refusals(self):
        self.assertEqual(weir.parse_config("  ", self.Options), self.Options())
        self.assertEqual(weir.parse_config('{"keep": true, "size": 3}', self.Options).size, 3)
        for text, why in (
            ('{"kep": 1}', "unknown option `kep`, expected one of `index`, `keep`, `size`"),
            ('{"keep": 1}', "`keep`: invalid type: a number, expected a boolean"),
            ('{"size": true}', "`size`: invalid type: a boolean, expected an integer"),
            ('{"index": 3}', "`index`: invalid type: a number, expected a string or null"),
            ("[]", "plugin config must be a JSON object, got an array"),
            ("{", "plugin config is not valid JSON: "),
        ):
            with self.assertRaises(ValueError) as e:
                weir.parse_config(text, self.Options)
            self.assertTrue(str(e.exception).startswith(why), str(e.exception))

    def test_no_options_and_required_fields(self):
        self.assertEqual(weir.parse_config("{}"), weir.NoOptions())
        with self.assertRaisesRegex(ValueError, "unknown option `a`: the plugin takes none"):
            weir.parse_config('{"a": 1}')

        @dataclasses.dataclass
        class Needs:
            name: str

        with self.assertRaisesRegex(ValueError, "missing field `name`"):
            weir.parse_config("{}", Needs)


class Echo(weir.Plugin):
    info = weir.Info("echo", date_fields=["at"], config_schema={"type": "object"})

    def transform_record(self, config, record):
        text = weir.record_text(record)
        if text == "drop":
            return None
        if text == "boom":
            raise KeyError("bug")
        if text == "two":
            return [weir.Document({"n": 1}), weir.Document({"n": 2}, id="b")]
        if text == "nan":
            return weir.Document({"x": float("nan")})
        return weir.Document({"echo": text}, index="echo", timestamp_ms=5)


class Plugins(unittest.TestCase):
    def test_one_outcome_per_record_in_order(self):
        out = weir.run_batch(Echo(), [b"hi", b"drop", b"two", b"\xff", b"boom", b"nan"])
        self.assertEqual(out[0], weir.Ok([weir.Document('{"echo":"hi"}', "echo", None, 5)]))
        self.assertEqual(out[1], weir.Dropped())
        self.assertEqual([d.body for d in out[2].documents], ['{"n":1}', '{"n":2}'])
        self.assertIn("not UTF-8", out[3].reason)
        self.assertEqual(out[4], weir.Failed("internal error: KeyError: 'bug'"))
        self.assertIn("not JSON", out[5].reason)

    def test_a_refused_config_fails_every_record(self):
        out = weir.run_batch(Echo(), [b"a", b"b"], '{"x": 1}')
        self.assertEqual(out, [weir.Failed("invalid plugin config: unknown option `x`: the plugin takes none")] * 2)
        self.assertIsNotNone(weir.validate_config(Echo(), "[]"))

    def test_outcome_json_is_what_weir_plugin_run_prints(self):
        [o] = weir.run_batch(Echo(), [b"hi"])
        self.assertEqual(
            weir.outcome_json(0, o),
            {"record": 0, "outcome": "ok", "documents": [{"index": "echo", "id": None, "timestamp_ms": 5, "body": {"echo": "hi"}}]},
        )
        self.assertEqual(weir.outcome_json(1, weir.Failed("x")), {"record": 1, "outcome": "failed", "reason": "x"})

    def test_info_texts(self):
        self.assertEqual(Echo.info.config_schema_text(), '{"type":"object"}')
        self.assertIsNone(Echo.info.index_properties_text())

    def test_index_names(self):
        self.assertIsNone(weir.check_index_name("waf-2024.01.01"))
        for bad in ("", "Waf", "_x", "a b", "a:b", ".", "a" * 256):
            self.assertIsNotNone(weir.check_index_name(bad), bad)

    def test_export_needs_a_component(self):
        with self.assertRaises(ImportError):
            weir.export(Echo())


if __name__ == "__main__":
    unittest.main()

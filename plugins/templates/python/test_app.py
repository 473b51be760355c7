"""Unit tests of the plugin, run natively: `python3 -m unittest`."""

import gzip
import unittest

import weir_plugin_sdk as weir

from app import PLUGIN

WAF = b'{"timestamp":1576280412771,"action":"BLOCK","httpRequest":{"requestId":"r-1"}}'


class PluginTest(unittest.TestCase):
    def test_timestamp_becomes_iso_and_id_comes_from_the_request(self):
        [out] = weir.run_batch(PLUGIN, [WAF])
        doc = out.documents[0]
        self.assertEqual(doc.id, "r-1")
        self.assertEqual(doc.timestamp_ms, 1576280412771)
        self.assertTrue(doc.body.startswith('{"@timestamp":"2019-12-13T23:40:12.771Z","timestamp":"2019-12-13T23:40:12.771Z"'))

    def test_gzip_records_and_the_index_option(self):
        [out] = weir.run_batch(PLUGIN, [gzip.compress(WAF)], '{"index": "waf-x"}')
        self.assertEqual(out.documents[0].index, "waf-x")

    def test_bad_records_fail_alone(self):
        out = weir.run_batch(PLUGIN, [b"{nope", b"[1]", b'{"timestamp": "x"}', WAF])
        self.assertIsInstance(out[0], weir.Failed)
        self.assertIn("invalid JSON", out[0].reason)
        self.assertIn("JSON object", out[1].reason)
        self.assertIn("epoch milliseconds", out[2].reason)
        self.assertIsInstance(out[3], weir.Ok)

    def test_unknown_options_and_bad_index_are_refused(self):
        self.assertIn("unknown option `indx`", weir.validate_config(PLUGIN, '{"indx": "a"}'))
        self.assertIn("`index`", weir.validate_config(PLUGIN, '{"index": "UPPER"}'))
        self.assertIsNone(weir.validate_config(PLUGIN, ""))


if __name__ == "__main__":
    unittest.main()

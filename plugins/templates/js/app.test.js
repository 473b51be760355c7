// Unit tests of the plugin, run natively: `node --test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

import * as weir from './vendor/weir-plugin-sdk/index.js';
import { plugin } from './app.js';

const WAF = new TextEncoder().encode('{"timestamp":1576280412771,"action":"BLOCK","httpRequest":{"requestId":"r-1"}}');

test('timestamp becomes ISO and the id comes from the request', () => {
  const [out] = weir.runBatch(plugin, [WAF]);
  const [doc] = out.val;
  assert.equal(doc.id, 'r-1');
  assert.equal(doc.timestampMs, 1576280412771);
  assert.ok(doc.body.startsWith('{"@timestamp":"2019-12-13T23:40:12.771Z","timestamp":"2019-12-13T23:40:12.771Z"'), doc.body);
});

test('gzip records and the index option', () => {
  const [out] = weir.runBatch(plugin, [gzipSync(WAF)], '{"index": "waf-x"}');
  assert.equal(out.val[0].index, 'waf-x');
});

test('bad records fail alone', () => {
  const enc = (s) => new TextEncoder().encode(s);
  const out = weir.runBatch(plugin, [enc('{nope'), enc('[1]'), enc('{"timestamp": "x"}'), WAF]);
  assert.equal(out[0].tag, 'failed');
  assert.match(out[0].val, /invalid JSON/);
  assert.match(out[1].val, /JSON object/);
  assert.match(out[2].val, /epoch milliseconds/);
  assert.equal(out[3].tag, 'ok');
});

test('unknown options and bad index names are refused', () => {
  assert.match(weir.validateConfig(plugin, '{"indx": "a"}'), /unknown option `indx`/);
  assert.match(weir.validateConfig(plugin, '{"index": "UPPER"}'), /`index`/);
  assert.equal(weir.validateConfig(plugin, ''), undefined);
});

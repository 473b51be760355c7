// Unit tests of the JavaScript SDK, run natively: `node --test test/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib, { deflateRawSync, gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';

import * as weir from '../src/index.js';

const enc = (s) => new TextEncoder().encode(s);

test('gunzip agrees with zlib on every block type, within the cap', () => {
  const inputs = [
    new Uint8Array(0),
    enc('hello'),
    enc('abc'.repeat(10000)),
    randomBytes(70000), // stored blocks
    enc(JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ i, s: `v${i % 37}` })))), // dynamic
  ];
  for (const input of inputs) {
    for (const level of [0, 1, 9]) {
      const z = gzipSync(input, { level });
      assert.deepEqual(weir.gunzipCapped(z, input.length), new Uint8Array(input));
    }
  }
  // Several members, and a header with a name.
  const two = Buffer.concat([gzipSync('ab'), gzipSync('cd')]);
  assert.equal(new TextDecoder().decode(weir.gunzipCapped(two, 10)), 'abcd');
});

test('gunzip: a stored block after compressed ones (bytes read ahead go back)', () => {
  const input = Buffer.from('abc'.repeat(1000) + 'xyz'.repeat(50));
  // Compressed blocks, a sync flush (an empty stored block), then a final
  // empty stored block, wrapped in a gzip header and trailer by hand.
  const body = Buffer.concat([
    zlib.deflateRawSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH }),
    Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]),
  ]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(input), 0);
  trailer.writeUInt32LE(input.length, 4);
  const gz = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), body, trailer]);
  assert.deepEqual(Buffer.from(weir.gunzipCapped(gz, input.length)), input);
  assert.deepEqual(Buffer.from(zlib.gunzipSync(gz)), input);
});

test('gunzip agrees with zlib on many sizes (the bit buffer at block and member ends)', () => {
  for (let i = 0; i < 300; i++) {
    const input = Buffer.from(JSON.stringify(Array.from({ length: (i * 37) % 900 }, (_, j) => ({ j, s: `v${(j * i) % 97}` }))));
    for (const level of [1, 6]) {
      const z = gzipSync(input, { level });
      assert.deepEqual(Buffer.from(weir.gunzipCapped(z, input.length)), input, `size ${input.length}, level ${level}`);
    }
  }
});

test('gunzip refuses past the cap, and a bomb stops there', () => {
  const z = gzipSync('x'.repeat(1000));
  assert.throws(() => weir.gunzipCapped(z, 999), { message: 'gzip data decompresses to more than the cap of 999 bytes' });
  const bomb = gzipSync(Buffer.alloc(64 << 20));
  assert.ok(bomb.length < 100_000);
  assert.throws(() => weir.gunzipCapped(bomb, 1 << 20), weir.GunzipError);
});

test('gunzip refuses broken input with a reason', () => {
  const z = gzipSync('hello world, hello world');
  const bad = [z.subarray(0, z.length - 3), z.subarray(0, 12), Buffer.concat([z, enc('junk')]), Buffer.concat([z.subarray(0, 10), Buffer.alloc(8, 0xff)])];
  const flipped = Buffer.from(z);
  flipped[z.length - 6] ^= 1; // the CRC
  bad.push(flipped);
  for (const b of bad) {
    assert.throws(() => weir.gunzipCapped(b, 100), (e) => e instanceof weir.GunzipError && e.message.startsWith('invalid gzip data'));
  }
  assert.ok(deflateRawSync('x').length > 0);
});

test('record text: plain, gzip, not UTF-8, lines', () => {
  assert.equal(weir.recordText(enc('café')), 'café');
  assert.equal(weir.recordText(gzipSync('hi')), 'hi');
  assert.throws(() => weir.recordText(Uint8Array.of(0x61, 0xff)), { message: 'record is not UTF-8' });
  assert.throws(() => weir.recordText(gzipSync('x'.repeat(100)), 10), weir.RecordError);
  assert.deepEqual([...weir.lines(enc('a\r\n\n  \nb'))].map((l) => new TextDecoder().decode(l)), ['a', 'b']);
});

test('jsonObject: objects only, depth capped', () => {
  assert.deepEqual(weir.jsonObject('{"a":"[[["}'), { a: '[[[' });
  assert.throws(() => weir.jsonObject('[1]'), { message: 'a log must be a JSON object, got an array' });
  assert.throws(() => weir.jsonObject('{'), /invalid JSON/);
  assert.throws(() => weir.jsonObject('['.repeat(200) + ']'.repeat(200)), /deeper than 128/);
});

test('epoch to ISO-8601 and back', () => {
  assert.equal(weir.epochMsToIso(1576280412771), '2019-12-13T23:40:12.771Z');
  assert.equal(weir.epochMsToIso(1576280412771n), '2019-12-13T23:40:12.771Z');
  assert.equal(weir.epochMsToIso(0), '1970-01-01T00:00:00.000Z');
  assert.equal(weir.epochMsToIso(weir.MAX_EPOCH_MS), '9999-12-31T23:59:59.999Z');
  for (const bad of [-1, weir.MAX_EPOCH_MS + 1, 1.5, true, '1', null]) assert.equal(weir.epochMsToIso(bad), undefined, String(bad));
  assert.equal(weir.epochSecondsToIso(1413926684), '2014-10-21T21:24:44Z');
  assert.equal(weir.isoToEpochMs('2019-12-13T23:40:12.771Z'), 1576280412771);
  assert.equal(weir.isoToEpochMs('2021-02-04T17:51:55.123456+02:00'), 1612453915123);
  assert.equal(weir.isoToEpochMs('0099-01-01T00:00:00Z'), undefined);
  for (const bad of ['2021-02-29T00:00:00Z', '2021-01-01', '1969-12-31T23:59:59Z', '2021-01-01T24:00:00Z']) {
    assert.equal(weir.isoToEpochMs(bad), undefined, bad);
  }
});

test('strict config: defaults, types, unknown keys, checks', () => {
  const options = {
    index: { type: 'string', check: weir.checkIndexName },
    keep: { type: 'boolean', default: false },
    size: { type: 'integer', default: 10 },
  };
  assert.deepEqual(weir.parseConfig('  ', options), { index: undefined, keep: false, size: 10 });
  assert.equal(weir.parseConfig('{"size": 3}', options).size, 3);
  for (const [text, why] of [
    ['{"kep": 1}', 'unknown option `kep`, expected one of `index`, `keep`, `size`'],
    ['{"keep": 1}', '`keep`: invalid type: a number, expected a boolean'],
    ['{"size": 1.5}', '`size`: invalid type: a number, expected an integer'],
    ['{"index": "A"}', '`index`: index name "A" has a character OpenSearch refuses: "A"'],
    ['[]', 'plugin config must be a JSON object, got an array'],
  ]) {
    assert.throws(() => weir.parseConfig(text, options), { message: why });
  }
  assert.throws(() => weir.parseConfig('{', options), /^RecordError: plugin config is not valid JSON/);
  assert.throws(() => weir.parseConfig('{"a":1}'), { message: 'unknown option `a`: the plugin takes none' });
  assert.throws(() => weir.parseConfig('{}', { name: { type: 'string', required: true } }), { message: 'missing field `name`' });
  const schema = JSON.parse(weir.configSchema(options));
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(Object.keys(schema.properties), ['index', 'keep', 'size']);
});

const echo = weir.definePlugin({
  info: { name: 'echo', dateFields: ['at'] },
  transformRecord(_config, record) {
    const text = weir.recordText(record);
    if (text === 'drop') return null;
    if (text === 'boom') throw new TypeError('bug');
    if (text === 'two') return [weir.document({ n: 1 }), weir.document({ n: 2 }, { id: 'b' })];
    if (text === 'list') return weir.document([1]);
    return weir.document({ echo: text }, { index: 'echo', timestampMs: 5 });
  },
});

test('one outcome per record, in order; a bad record fails alone', () => {
  const out = weir.runBatch(echo, ['hi', 'drop', 'two', 'boom', 'list'].map(enc).concat([Uint8Array.of(0xff)]));
  assert.deepEqual(out[0], weir.ok([{ index: 'echo', id: undefined, timestampMs: 5, body: '{"echo":"hi"}' }]));
  assert.deepEqual(out[1], weir.dropped());
  assert.deepEqual(out[2].val.map((d) => d.body), ['{"n":1}', '{"n":2}']);
  assert.deepEqual(out[3], weir.failed('internal error: TypeError: bug'));
  assert.deepEqual(out[4], weir.failed('document body must be a JSON object, got an array'));
  assert.deepEqual(out[5], weir.failed('record is not UTF-8'));
});

test('a refused config fails every record; validateConfig names it', () => {
  const out = weir.runBatch(echo, [enc('a'), enc('b')], '{"x":1}');
  assert.deepEqual(out, Array(2).fill(weir.failed('invalid plugin config: unknown option `x`: the plugin takes none')));
  assert.equal(weir.validateConfig(echo, '{}'), undefined);
});

test('exports: WIT shapes (s64 as BigInt), a refused config thrown as the err', () => {
  const { transform, metadata, schema } = weir.exportPlugin(echo);
  const [o] = transform.transform({ config: '{}' }, [enc('hi')]);
  assert.equal(o.val[0].timestampMs, 5n);
  assert.throws(() => transform.validateConfig('{"x":1}'), (e) => e === 'unknown option `x`: the plugin takes none');
  assert.deepEqual(metadata.info(), { name: 'echo', version: '0.1.0', dateFields: ['at'], defaultIndex: undefined, configSchema: undefined });
  assert.equal(schema.indexProperties(), undefined);
  assert.deepEqual(weir.outcomeJson(0, weir.runBatch(echo, [enc('hi')])[0]), {
    record: 0,
    outcome: 'ok',
    documents: [{ index: 'echo', id: null, timestamp_ms: 5, body: { echo: 'hi' } }],
  });
});

test('index names', () => {
  assert.equal(weir.checkIndexName('waf-2024.01.01'), undefined);
  for (const bad of ['', 'Waf', '_x', 'a b', 'a:b', '.', 'a'.repeat(256), 'a\u0001']) assert.notEqual(weir.checkIndexName(bad), undefined, bad);
});

// Write Weir plugins in JavaScript (ComponentizeJS, weir:plugin@0.1.x): the
// helpers of the Rust SDK (plugins/sdk) and the glue that turns a plugin into
// the component's exports. Plain ES modules, no dependency: everything but
// `exportPlugin` runs in Node too, so a plugin's logic is unit-tested there
// (`runBatch` runs a batch as the host would).

import { GunzipError, RecordError, gunzipCapped, isGzip } from './gunzip.js';

export { GZIP_MAGIC, GunzipError, RecordError, gunzipCapped, isGzip } from './gunzip.js';

/** The contract this SDK is written against (`wit/plugin.wit`). */
export const WIT_PACKAGE = 'weir:plugin@0.1.2';

/** The most bytes a gzip record may decompress to (64 MiB, the largest body
 * Firehose sends), as the Rust SDK's `MAX_DECOMPRESSED_BYTES`. */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

/** The largest epoch-millisecond value accepted: 9999-12-31T23:59:59.999Z. */
export const MAX_EPOCH_MS = 253_402_300_799_999;

/** The deepest nesting `jsonObject` accepts (serde_json's limit). */
export const MAX_JSON_DEPTH = 128;

const S64_MIN = -(2n ** 63n);
const S64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------
// Records: text (gzip always capped), lines, JSON.

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A record's text: gunzipped with `gunzipCapped` (at most `cap` bytes) when
 * it starts with the gzip magic, else the record itself; then decoded as
 * UTF-8. Throws `RecordError` with the reason (`record is not UTF-8` or the
 * gunzip's).
 * @param {Uint8Array} record
 * @param {number} [cap]
 * @returns {string}
 */
export function recordText(record, cap = MAX_DECOMPRESSED_BYTES) {
  const data = isGzip(record) ? gunzipCapped(record, cap) : record;
  try {
    return UTF8.decode(data);
  } catch {
    throw new RecordError('record is not UTF-8');
  }
}

/**
 * The non-empty lines of a record (`\n` or `\r\n`), as byte arrays.
 * @param {Uint8Array} record
 * @returns {Generator<Uint8Array>}
 */
export function* lines(record) {
  let start = 0;
  for (let i = 0; i <= record.length; i++) {
    if (i === record.length || record[i] === 0x0a) {
      let end = i;
      if (end > start && record[end - 1] === 0x0d) end--;
      const line = record.subarray(start, end);
      if (line.some((b) => b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a && b !== 0x0b && b !== 0x0c)) {
        yield line;
      }
      start = i + 1;
    }
  }
}

/** What kind of JSON value `v` is, in the Rust SDK's words. */
function kind(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
  if (typeof v === 'string') return 'a string';
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}

/** How many times `c` occurs in `text`, counting up to `limit + 1`. */
function countUpTo(text, c, limit) {
  let n = 0;
  for (let i = text.indexOf(c); i !== -1 && n <= limit; i = text.indexOf(c, i + 1)) n++;
  return n;
}

/** Whether `text` nests deeper than `limit` (strings skipped). The common
 * case costs a few `indexOf` calls: ComponentizeJS runs JavaScript (and
 * regular expressions) in an interpreter, where a loop over every character
 * costs more than `JSON.parse`. */
function tooDeep(text, limit) {
  if (countUpTo(text, '[', limit) + countUpTo(text, '{', limit) <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * Parse `text` as one JSON object (a log). Throws `RecordError`:
 * `invalid JSON: ...`, `invalid JSON: nests deeper than 128 levels`, or
 * `a log must be a JSON object, got an array`.
 * @param {string} text
 * @param {number} [maxDepth]
 * @returns {Record<string, unknown>}
 */
export function jsonObject(text, maxDepth = MAX_JSON_DEPTH) {
  if (tooDeep(text, maxDepth)) throw new RecordError(`invalid JSON: nests deeper than ${maxDepth} levels`);
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RecordError(`invalid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RecordError(`a log must be a JSON object, got ${kind(value)}`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Time: epoch <-> ISO-8601 UTC, the form OpenSearch maps as `date`.

const pad = (n, w) => String(n).padStart(w, '0');

/**
 * Milliseconds since the Unix epoch (an integer number or a bigint) as
 * ISO-8601 UTC with milliseconds (`2019-12-13T23:40:12.771Z`); `undefined`
 * outside 1970-01-01..=9999-12-31 or for anything else.
 * @param {unknown} ms
 * @returns {string | undefined}
 */
export function epochMsToIso(ms) {
  if (typeof ms === 'bigint') ms = ms >= 0n && ms <= BigInt(MAX_EPOCH_MS) ? Number(ms) : -1;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > MAX_EPOCH_MS) return undefined;
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}

/**
 * Seconds since the Unix epoch as ISO-8601 UTC (`2014-10-21T21:24:44Z`);
 * `undefined` outside 1970-01-01..=9999-12-31.
 * @param {unknown} secs
 * @returns {string | undefined}
 */
export function epochSecondsToIso(secs) {
  if (typeof secs === 'bigint') secs = secs >= 0n && secs <= BigInt(MAX_EPOCH_MS) ? Number(secs) : -1;
  if (typeof secs !== 'number' || !Number.isInteger(secs)) return undefined;
  const iso = epochMsToIso(secs * 1000);
  return iso === undefined ? undefined : `${iso.slice(0, 19)}Z`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 timestamp (`2014-03-06T17:10:34Z`,
 * `2021-02-04T17:51:55.123456+02:00`) as milliseconds since the Unix epoch
 * (the fraction truncated); `undefined` for anything else, a date that does
 * not exist, and outside 1970-01-01..=9999-12-31.
 * @param {string} s
 * @returns {number | undefined}
 */
export function isoToEpochMs(s) {
  const m = typeof s === 'string' ? ISO.exec(s) : null;
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] || h > 23 || mi > 59 || sec > 59) return undefined;
  const millis = Number((m[7] ?? '0').slice(0, 3).padEnd(3, '0'));
  let offset = 0;
  if (m[9]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offset = (oh * 60 + om) * 60_000 * (m[9] === '+' ? 1 : -1);
  }
  const base = new Date(0);
  base.setUTCFullYear(y, mo - 1, d);
  base.setUTCHours(h, mi, sec, millis);
  const ms = base.getTime() - offset;
  return ms >= 0 && ms <= MAX_EPOCH_MS ? ms : undefined;
}

// ---------------------------------------------------------------------------
// Index names.

const INDEX_REFUSED = new Set('\\/*?"<>|,#:');

/**
 * Why OpenSearch would refuse `name` as an index name, or `undefined` when it
 * accepts it (the host's own check).
 * @param {string} name
 * @returns {string | undefined}
 */
export function checkIndexName(name) {
  if (typeof name !== 'string' || name.length === 0) return 'index name is empty';
  if (new TextEncoder().encode(name).length > 255) return `index name is longer than 255 bytes: ${JSON.stringify(name)}`;
  if (name === '.' || name === '..') return `index name cannot be ${JSON.stringify(name)}`;
  if ('-_+'.includes(name[0])) return `index name ${JSON.stringify(name)} cannot start with \`-\`, \`_\` or \`+\``;
  for (const c of name) {
    // No `\p{...}` escapes: ComponentizeJS's engine is built without ICU.
    const code = c.codePointAt(0);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    if (c !== c.toLowerCase() || /\s/.test(c) || control || INDEX_REFUSED.has(c)) {
      return `index name ${JSON.stringify(name)} has a character OpenSearch refuses: ${JSON.stringify(c)}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Config: the route's `plugin_config`, parsed strictly.

const TYPES = {
  boolean: [(v) => typeof v === 'boolean', 'a boolean'],
  integer: [(v) => Number.isInteger(v), 'an integer'],
  number: [(v) => typeof v === 'number', 'a number'],
  string: [(v) => typeof v === 'string', 'a string'],
  array: [(v) => Array.isArray(v), 'an array'],
  object: [(v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'an object'],
};

/**
 * Parse a plugin's config (JSON text, `{}` when the route gives none; an
 * all-whitespace text reads as `{}`) against `options`, an object of option
 * name → `{ type, default, required, check, description }` (`type`: boolean,
 * integer, number, string, array or object; `check(value)` returns a reason
 * to refuse the value, or nothing). The result has every option: the value
 * given, else its `default`.
 *
 * Throws `RecordError` (a plain reason) naming what is wrong, in the Rust
 * SDK's words: `plugin config is not valid JSON: ...`, `plugin config must
 * be a JSON object, got an array`, ``unknown option `x`, expected one of `a`,
 * `b` ``, ``unknown option `x`: the plugin takes none``, ``missing field `a` ``,
 * `` `a`: invalid type: ... ``.
 * @param {string} text
 * @param {Record<string, {type?: string, default?: unknown, required?: boolean, check?: (v: unknown) => string | undefined}>} [options]
 * @returns {Record<string, unknown>}
 */
export function parseConfig(text, options = {}) {
  if (typeof text !== 'string' || text.trim() === '') text = '{}';
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RecordError(`plugin config is not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RecordError(`plugin config must be a JSON object, got ${kind(value)}`);
  }
  const names = Object.keys(options);
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(options, key)) {
      if (names.length === 0) throw new RecordError(`unknown option \`${key}\`: the plugin takes none`);
      if (names.length === 1) throw new RecordError(`unknown option \`${key}\`, expected \`${names[0]}\``);
      throw new RecordError(`unknown option \`${key}\`, expected one of ${names.map((n) => `\`${n}\``).join(', ')}`);
    }
  }
  const config = {};
  for (const [name, spec] of Object.entries(options)) {
    if (!Object.hasOwn(value, name)) {
      if (spec.required) throw new RecordError(`missing field \`${name}\``);
      config[name] = spec.default;
      continue;
    }
    const v = value[name];
    const type = spec.type && TYPES[spec.type];
    if (spec.type && !type) throw new TypeError(`option ${name}: unknown type ${spec.type}`);
    if (type && !type[0](v)) throw new RecordError(`\`${name}\`: invalid type: ${kind(v)}, expected ${type[1]}`);
    const why = spec.check?.(v);
    if (why) throw new RecordError(`\`${name}\`: ${why}`);
    config[name] = v;
  }
  return config;
}

/**
 * The JSON Schema of `options` (as `parseConfig` reads them), for
 * `info.configSchema`; `undefined` for a plugin without options.
 * @param {Record<string, {type?: string, default?: unknown, required?: boolean, description?: string}>} options
 * @returns {string | undefined}
 */
export function configSchema(options) {
  const names = Object.keys(options ?? {});
  if (names.length === 0) return undefined;
  const properties = {};
  for (const [name, spec] of Object.entries(options)) {
    const p = {};
    if (spec.type) p.type = spec.type;
    if (spec.default !== undefined) p.default = spec.default;
    if (spec.description) p.description = spec.description;
    properties[name] = p;
  }
  const required = names.filter((n) => options[n].required);
  return JSON.stringify({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  });
}

// ---------------------------------------------------------------------------
// Documents and outcomes (the WIT shapes, as ComponentizeJS maps them).

/**
 * One document for the sink (WIT `document`). `body` is one JSON object
 * (an object, written with `JSON.stringify`, or JSON text); `index` the index
 * asked for (`undefined`: the route's); `id` a deterministic document id
 * (`undefined`: the host derives one); `timestampMs` the event time in
 * milliseconds since the epoch (for date-patterned index names).
 * @param {object | string} body
 * @param {{index?: string, id?: string, timestampMs?: number | bigint}} [fields]
 */
export function document(body, { index, id, timestampMs } = {}) {
  let text = body;
  if (typeof body !== 'string') {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new RecordError(`document body must be a JSON object, got ${kind(body)}`);
    }
    text = JSON.stringify(body);
  }
  for (const [name, v] of [['index', index], ['id', id]]) {
    if (v !== undefined && v !== null && typeof v !== 'string') {
      throw new RecordError(`document ${name} must be a string, got ${kind(v)}`);
    }
  }
  if (timestampMs !== undefined && timestampMs !== null) {
    const big = typeof timestampMs === 'bigint' ? timestampMs : Number.isInteger(timestampMs) ? BigInt(timestampMs) : null;
    if (big === null || big < S64_MIN || big > S64_MAX) {
      throw new RecordError(`document timestampMs must be an integer (s64), got ${String(timestampMs)}`);
    }
  }
  return { index: index ?? undefined, id: id ?? undefined, timestampMs: timestampMs ?? undefined, body: text };
}

/** The record gave these documents. @param {ReturnType<typeof document>[]} documents */
export const ok = (documents) => ({ tag: 'ok', val: documents });
/** The record is deliberately not indexed; it counts as delivered. */
export const dropped = () => ({ tag: 'dropped' });
/** The record cannot be transformed; the reason goes to its dead letter. @param {string} reason */
export const failed = (reason) => ({ tag: 'failed', val: String(reason) });

// ---------------------------------------------------------------------------
// Plugins.

/**
 * A plugin: `info` ({ name, version, dateFields, defaultIndex, configSchema,
 * indexProperties }), `options` (for `parseConfig`; `{}`: none), and
 * `transformRecord(config, record)`, which returns a document, an array of
 * them, or `null`/`undefined` (dropped), and throws `RecordError` (failed);
 * or `transform(config, ctx, records)` for a plugin that needs the batch.
 * @param {{info: object, options?: object, transformRecord?: Function, transform?: Function}} plugin
 */
export function definePlugin(plugin) {
  if (!plugin?.info?.name) throw new TypeError('a plugin needs info.name');
  if (!plugin.transformRecord && !plugin.transform) throw new TypeError('a plugin needs transformRecord or transform');
  const info = {
    version: '0.1.0',
    dateFields: [],
    defaultIndex: undefined,
    configSchema: configSchema(plugin.options),
    indexProperties: undefined,
    ...plugin.info,
  };
  return Object.freeze({ options: {}, ...plugin, info });
}

/**
 * `transformRecord`'s answer for one record, as an outcome: a `RecordError`
 * (or any other exception, worded `internal error: ...`) fails the record
 * alone instead of trapping the whole batch.
 */
export function outcomeOf(plugin, config, record) {
  try {
    const got = plugin.transformRecord(config, record);
    if (got === null || got === undefined) return dropped();
    const docs = Array.isArray(got) ? got : [got];
    return ok(docs.map((d) => document(d.body, d)));
  } catch (e) {
    if (e instanceof RecordError) return failed(e.message);
    return failed(`internal error: ${e?.name ?? 'Error'}: ${e?.message ?? String(e)}`);
  }
}

/** Why the route's config is refused (WIT `validate-config`), or `undefined`. */
export function validateConfig(plugin, text) {
  try {
    parseConfig(text, plugin.options);
    return undefined;
  } catch (e) {
    if (e instanceof RecordError) return e.message;
    throw e;
  }
}

/**
 * Run a batch as the host does (WIT `transform`): the config parsed once
 * (when it does not parse, every record fails with `invalid plugin config:
 * ...`), then one outcome per record. Use it in tests.
 * @param {ReturnType<typeof definePlugin>} plugin
 * @param {Uint8Array[]} records
 * @param {string} [configText]
 * @param {object} [ctx]
 */
export function runBatch(plugin, records, configText = '{}', ctx = undefined) {
  let config;
  try {
    config = parseConfig(configText, plugin.options);
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    return records.map(() => failed(`invalid plugin config: ${e.message}`));
  }
  const context = ctx ?? { tenant: '', route: '', requestId: '', sourceArn: undefined, commonAttributes: [], config: configText };
  const outcomes = plugin.transform
    ? plugin.transform(config, context, records)
    : records.map((r) => outcomeOf(plugin, config, r));
  if (outcomes.length !== records.length) {
    throw new Error(`transform returned ${outcomes.length} outcomes for ${records.length} records`);
  }
  return outcomes;
}

/**
 * One outcome as `weir plugin run` prints it (and as `cases/*.out.ndjson`
 * holds it).
 */
export function outcomeJson(record, outcome) {
  if (outcome.tag === 'ok') {
    return {
      record,
      outcome: 'ok',
      documents: outcome.val.map((d) => {
        let body;
        try {
          body = JSON.parse(d.body);
        } catch {
          body = d.body;
        }
        const ts = d.timestampMs === undefined ? null : Number(d.timestampMs);
        return { index: d.index ?? null, id: d.id ?? null, timestamp_ms: ts, body };
      }),
    };
  }
  if (outcome.tag === 'dropped') return { record, outcome: 'dropped' };
  return { record, outcome: 'failed', reason: outcome.val };
}

/**
 * The component's exports for `plugin`, `{ transform, metadata, schema }`,
 * shaped as ComponentizeJS expects them; export each from the app module:
 *
 *     const exported = exportPlugin(plugin);
 *     export const { transform, metadata, schema } = exported;
 */
export function exportPlugin(plugin) {
  const toWit = (o) =>
    o.tag === 'ok'
      ? {
          tag: 'ok',
          val: o.val.map((d) => ({
            index: d.index,
            id: d.id,
            timestampMs: d.timestampMs === undefined ? undefined : BigInt(d.timestampMs),
            body: d.body,
          })),
        }
      : o;
  return {
    transform: {
      validateConfig(config) {
        const why = validateConfig(plugin, config);
        // ComponentizeJS: a thrown value is the `err` of a `result` export.
        if (why !== undefined) throw why;
      },
      transform(ctx, records) {
        return runBatch(plugin, records, ctx.config, ctx).map(toWit);
      },
    },
    metadata: {
      info() {
        const i = plugin.info;
        return {
          name: i.name,
          version: i.version,
          dateFields: [...i.dateFields],
          defaultIndex: i.defaultIndex,
          configSchema: typeof i.configSchema === 'object' && i.configSchema ? JSON.stringify(i.configSchema) : i.configSchema,
        };
      },
    },
    schema: {
      indexProperties() {
        const p = plugin.info.indexProperties;
        return typeof p === 'object' && p ? JSON.stringify(p) : p;
      },
    },
  };
}

// __NAME__: a Weir plugin (written by `weir plugin new --lang js`).
//
// Each record is one JSON log with an epoch-millisecond `timestamp` (as AWS
// WAF writes them), plain or gzip. The document is the log with `timestamp`
// turned into ISO-8601 UTC (so that OpenSearch maps it as a date) and copied
// first as `@timestamp`; its id is the log's `httpRequest.requestId` when it
// has one; its index is the config's `index` when set (else the route's). A
// record that is not such a log fails alone, with the reason.
//
// Config: `{}` or `{"index": "name"}`; any other key is refused.

import * as weir from './vendor/weir-plugin-sdk/index.js';

export const plugin = weir.definePlugin({
  info: {
    name: '__NAME__',
    version: '0.1.0',
    dateFields: ['@timestamp', 'timestamp'],
    defaultIndex: '__NAME__-%Y.%m.%d',
  },
  options: {
    index: {
      type: 'string',
      description: "Index to ask for (default: the route's).",
      check: weir.checkIndexName,
    },
  },
  transformRecord(config, record) {
    const log = weir.jsonObject(weir.recordText(record));
    if (!Object.hasOwn(log, 'timestamp')) throw new weir.RecordError('missing `timestamp`');
    const ms = log.timestamp;
    const iso = weir.epochMsToIso(ms);
    if (iso === undefined) {
      throw new weir.RecordError(`\`timestamp\` must be epoch milliseconds (1970..9999), got ${JSON.stringify(ms)}`);
    }
    const body = { '@timestamp': iso, ...log };
    body.timestamp = iso;
    const requestId = log.httpRequest?.requestId;
    return weir.document(body, {
      index: config.index,
      id: typeof requestId === 'string' ? requestId : undefined,
      timestampMs: ms,
    });
  },
});

// The component's exports (WIT `transform`, `metadata`, `schema`).
const exported = weir.exportPlugin(plugin);
export const transform = exported.transform;
export const metadata = exported.metadata;
export const schema = exported.schema;

"""__NAME__: a Weir plugin (written by `weir plugin new --lang python`).

Each record is one JSON log with an epoch-millisecond `timestamp` (as AWS WAF
writes them), plain or gzip. The document is the log with `timestamp` turned
into ISO-8601 UTC (so that OpenSearch maps it as a date) and copied first as
`@timestamp`; its id is the log's `httpRequest.requestId` when it has one; its
index is the config's `index` when set (else the route's). A record that is
not such a log fails alone, with the reason.

Config: `{}` or `{"index": "name"}`; any other key is refused.
"""

import dataclasses
import json
from typing import Optional

import weir_plugin_sdk as weir


@dataclasses.dataclass(frozen=True)
class Config:
    """The route's `plugin_config`."""

    #: The index to ask for; `None`: the route's.
    index: Optional[str] = None

    def __post_init__(self):
        if self.index is not None:
            why = weir.check_index_name(self.index)
            if why is not None:
                raise ValueError("`index`: " + why)


class Plugin(weir.Plugin):
    """Epoch-millisecond `timestamp` -> ISO-8601 `@timestamp`."""

    info = weir.Info(
        "__NAME__",
        "0.1.0",
        date_fields=["@timestamp", "timestamp"],
        default_index="__NAME__-%Y.%m.%d",
        config_schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"index": {"type": "string", "description": "Index to ask for (default: the route's)."}},
            "additionalProperties": False,
        },
    )
    Config = Config

    def transform_record(self, config, record):
        log = weir.json_object(weir.record_text(record))
        if "timestamp" not in log:
            raise weir.RecordError("missing `timestamp`")
        ms = log["timestamp"]
        iso = weir.epoch_ms_to_iso(ms)
        if iso is None:
            raise weir.RecordError("`timestamp` must be epoch milliseconds (1970..9999), got %s" % json.dumps(ms))
        body = {"@timestamp": iso, **log}
        body["timestamp"] = iso
        request = log.get("httpRequest")
        request_id = request.get("requestId") if isinstance(request, dict) else None
        return weir.Document(
            body,
            index=config.index,
            id=request_id if isinstance(request_id, str) else None,
            timestamp_ms=ms,
        )


PLUGIN = Plugin()

try:  # inside the component (componentize-py's generated bindings)
    Transform, Metadata, Schema = weir.export(PLUGIN)
except ImportError:  # natively: tests import this module
    pass

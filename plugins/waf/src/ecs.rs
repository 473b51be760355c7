//! The ECS fields of a WAF log ([`weir_plugin_sdk::ecs`]).
//!
//! | ECS | from |
//! |---|---|
//! | `event.kind` | `event` |
//! | `event.category` | `[web]` |
//! | `event.type` | `[access, allowed]` (`ALLOW`), `[access, denied]` (`BLOCK`, `CAPTCHA`, `CHALLENGE`), `[access, info]` (`COUNT`), `[access]` |
//! | `event.outcome` | `success` (`ALLOW`), `failure` (`BLOCK`, `CAPTCHA`, `CHALLENGE`: the request did not reach the origin), `unknown` |
//! | `event.action` | `action`, as it came |
//! | `event.provider` | the service of the `webaclId` ARN (`wafv2`), else `waf` |
//! | `event.dataset` | `aws.waf` |
//! | `event.id` | `httpRequest.requestId` |
//! | `cloud.account.id`, `cloud.region` | the `webaclId` ARN (no region for a `global/` web ACL) |
//! | `source.address`, `source.ip` | `httpRequest.clientIp` (GeoIP; `httpRequest.country` when GeoIP has no country) |
//! | `network.protocol` | `http` |
//! | `http.request.method` | `httpRequest.httpMethod` |
//! | `url.path`, `url.query` | `httpRequest.uri`, `httpRequest.args` (when not empty) |
//! | `user_agent.original` | the `User-Agent` header (any case) |
//! | `rule.id` | `terminatingRuleId` |
//! | `rule.ruleset` | the web ACL's name (from the `webaclId` ARN), else `webaclId` |
//! | `related.ip` | `source.ip` |
//!
//! A field used here that is not a string (an object for `action`, …) is
//! left out; it never fails a log. On the fast path the fields are found by
//! the same single scan that finds `timestamp` (no second parse).

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};
use weir_plugin_sdk::ecs::{Ecs, Endpoint, Roots, arn_region_account};
use weir_plugin_sdk::json::{Visit, json_str};

/// How deep [`Collector`] needs [`scan_visit`](weir_plugin_sdk::json::scan_visit)
/// to go: the log (1), `httpRequest` (2), `headers` (3), a header (4).
pub(crate) const VISIT_DEPTH: usize = 4;

/// The fields of a WAF log that ECS fields come from (each when it is a
/// string).
#[derive(Default)]
pub(crate) struct WafFields<'a> {
    action: Option<Cow<'a, str>>,
    rule_id: Option<Cow<'a, str>>,
    webacl_id: Option<Cow<'a, str>>,
    client_ip: Option<Cow<'a, str>>,
    country: Option<Cow<'a, str>>,
    uri: Option<Cow<'a, str>>,
    args: Option<Cow<'a, str>>,
    method: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
}

impl<'a> WafFields<'a> {
    /// The fields of a parsed log (the full path).
    pub(crate) fn from_map(log: &'a Map<String, Value>) -> WafFields<'a> {
        let s = |v: Option<&'a Value>| v.and_then(Value::as_str).map(Cow::Borrowed);
        let req = log.get("httpRequest").and_then(Value::as_object);
        let r = |key: &str| s(req.and_then(|r| r.get(key)));
        let headers = req.and_then(|r| r.get("headers")).and_then(Value::as_array);
        let user_agent = headers.into_iter().flatten().find_map(|h| {
            let h = h.as_object()?;
            let name = h.get("name")?.as_str()?;
            name.eq_ignore_ascii_case("user-agent")
                .then(|| h.get("value")?.as_str())?
        });
        WafFields {
            action: s(log.get("action")),
            rule_id: s(log.get("terminatingRuleId")),
            webacl_id: s(log.get("webaclId")),
            client_ip: r("clientIp"),
            country: r("country"),
            uri: r("uri"),
            args: r("args"),
            method: r("httpMethod"),
            request_id: r("requestId"),
            user_agent: user_agent.map(Cow::Borrowed),
        }
    }

    /// Append the ECS fields to `body`, skipping the roots in `present`.
    pub(crate) fn append_to(&self, body: &mut String, present: Roots) {
        self.ecs().append_to(body, present);
    }

    /// The ECS members alone ([`Ecs::to_members`]).
    pub(crate) fn to_members(&self, present: Roots) -> String {
        self.ecs().to_members(present)
    }

    fn ecs(&self) -> Ecs<'_> {
        let action = self.action.as_deref();
        let (types, outcome): (&'static [&'static str], _) = match action {
            Some("ALLOW") => (&["access", "allowed"], "success"),
            Some("BLOCK" | "CAPTCHA" | "CHALLENGE") => (&["access", "denied"], "failure"),
            Some("COUNT") => (&["access", "info"], "unknown"),
            _ => (&["access"], "unknown"),
        };
        let webacl = self.webacl_id.as_deref();
        let arn = webacl.and_then(arn_parts);
        Ecs {
            kind: Some("event"),
            category: &["web"],
            types,
            action,
            outcome: Some(outcome),
            provider: Some(arn.map_or("waf", |a| a.service)),
            dataset: Some("aws.waf"),
            id: self.request_id.as_deref(),
            account_id: arn.and_then(|a| a.account),
            region: arn.and_then(|a| a.region),
            source: Endpoint {
                address: self.client_ip.as_deref(),
                port: None,
                country: self.country.as_deref().filter(|c| c.len() == 2),
            },
            protocol: Some("http"),
            http_method: self.method.as_deref(),
            url_path: self.uri.as_deref(),
            url_query: self.args.as_deref(),
            user_agent: self.user_agent.as_deref(),
            rule_id: self.rule_id.as_deref(),
            ruleset: arn.and_then(|a| a.webacl_name).or(webacl),
            ..Ecs::default()
        }
    }
}

/// Where the fields are in each log of a record, as the fast path's single
/// scan finds them ([`Collector::visit`] is its visitor); then read with
/// [`Collector::fields`]. A key written with escapes is not recognised (its
/// field is left out).
pub(crate) struct Collector<'a> {
    record: &'a [u8],
    logs: Vec<Ranges>,
}

/// The ranges (in the record) of one log's fields.
#[derive(Default)]
struct Ranges {
    action: Option<Range<usize>>,
    rule_id: Option<Range<usize>>,
    webacl_id: Option<Range<usize>>,
    client_ip: Option<Range<usize>>,
    country: Option<Range<usize>>,
    uri: Option<Range<usize>>,
    args: Option<Range<usize>>,
    method: Option<Range<usize>>,
    request_id: Option<Range<usize>>,
    user_agent: Option<Range<usize>>,
    /// The header object whose name is `User-Agent`.
    ua_object: Option<usize>,
    /// The last header value seen before its name, with its object.
    pending_value: Option<(usize, Range<usize>)>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(record: &'a [u8]) -> Collector<'a> {
        Collector {
            record,
            logs: Vec::new(),
        }
    }

    /// Note a member the scan met.
    pub(crate) fn visit(&mut self, v: &Visit<'_>) {
        if v.escaped {
            return;
        }
        if self.logs.len() <= v.value {
            self.logs.resize_with(v.value + 1, Ranges::default);
        }
        let Some(r) = self.logs.get_mut(v.value) else {
            return;
        };
        let range = Some(v.range.clone());
        match (v.path, v.key) {
            ([], b"action") => r.action = range,
            ([], b"terminatingRuleId") => r.rule_id = range,
            ([], b"webaclId") => r.webacl_id = range,
            ([b"httpRequest"], key) => match key {
                b"clientIp" => r.client_ip = range,
                b"country" => r.country = range,
                b"uri" => r.uri = range,
                b"args" => r.args = range,
                b"httpMethod" => r.method = range,
                b"requestId" => r.request_id = range,
                _ => {}
            },
            ([b"httpRequest", b"headers"], b"name") if r.user_agent.is_none() => {
                let name = self.record.get(v.range.clone()).unwrap_or_default();
                if name.len() == 12 && name[1..11].eq_ignore_ascii_case(b"user-agent") {
                    r.ua_object = Some(v.object);
                    if let Some((object, value)) = r.pending_value.take() {
                        r.user_agent = (object == v.object).then_some(value);
                    }
                }
            }
            ([b"httpRequest", b"headers"], b"value") if r.user_agent.is_none() => {
                if r.ua_object == Some(v.object) {
                    r.user_agent = range;
                } else {
                    r.pending_value = Some((v.object, v.range.clone()));
                }
            }
            _ => {}
        }
    }

    /// The fields of log `i` of the record.
    pub(crate) fn fields(&self, i: usize) -> WafFields<'a> {
        let Some(r) = self.logs.get(i) else {
            return WafFields::default();
        };
        let s = |range: &Option<Range<usize>>| {
            let raw = self.record.get(range.clone()?)?;
            json_str(std::str::from_utf8(raw).ok()?)
        };
        WafFields {
            action: s(&r.action),
            rule_id: s(&r.rule_id),
            webacl_id: s(&r.webacl_id),
            client_ip: s(&r.client_ip),
            country: s(&r.country),
            uri: s(&r.uri),
            args: s(&r.args),
            method: s(&r.method),
            request_id: s(&r.request_id),
            user_agent: s(&r.user_agent),
        }
    }
}

/// What a `webaclId` ARN tells.
#[derive(Clone, Copy)]
struct WebAclArn<'a> {
    service: &'a str,
    region: Option<&'a str>,
    account: Option<&'a str>,
    webacl_name: Option<&'a str>,
}

/// `arn:aws:wafv2:<region>:<account>:<regional|global>/webacl/<name>/<id>`;
/// a `global/` web ACL (CloudFront) has no region.
fn arn_parts(arn: &str) -> Option<WebAclArn<'_>> {
    let (region, account) = arn_region_account(arn)?;
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2)?;
    let resource = parts.nth(2)?;
    let global = resource.starts_with("global/");
    let webacl_name = resource
        .split('/')
        .nth(2)
        .filter(|n| !n.is_empty() && resource.split('/').nth(1) == Some("webacl"));
    Some(WebAclArn {
        service,
        region: region.filter(|_| !global),
        account,
        webacl_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_acl_arns() {
        let a = arn_parts("arn:aws:wafv2:us-east-1:123456789012:global/webacl/hello/59").unwrap();
        assert_eq!(
            (a.service, a.region, a.account, a.webacl_name),
            ("wafv2", None, Some("123456789012"), Some("hello"))
        );
        let a = arn_parts("arn:aws:wafv2:eu-west-1:1:regional/webacl/x/1").unwrap();
        assert_eq!((a.region, a.webacl_name), (Some("eu-west-1"), Some("x")));
        assert!(arn_parts("585e38b5-afce").is_none());
    }
}

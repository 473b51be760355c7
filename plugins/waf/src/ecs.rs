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
use std::cell::RefCell;
use std::ops::Range;

use serde_json::{Map, Value};
use weir_plugin_sdk::ecs::{Ecs, Endpoint, Roots};
use weir_plugin_sdk::json::{
    Paths, Visit, VisitAt, array_object_members, json_str, name_value, same,
};

/// The members [`Collector`] reads, for
/// [`scan_visit`](weir_plugin_sdk::json::scan_visit): some of the log's,
/// and of its `httpRequest`'s, whose `headers` are then read by
/// [`array_object_members`] ([`Collector::visit`] tells the members by
/// their indices here).
pub(crate) const VISIT: Paths<'static> = &[
    VisitAt::only(
        &[],
        &[b"action", b"terminatingRuleId", b"webaclId", b"httpRequest"],
    ),
    VisitAt::only(
        &[b"httpRequest"],
        &[
            b"clientIp",
            b"country",
            b"uri",
            b"args",
            b"httpMethod",
            b"requestId",
            b"headers",
        ],
    ),
];

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
    /// Read by the fast path's scan: a borrowed string is a JSON string
    /// literal's text without escapes (the scan refused any control
    /// character), so it needs no escaping ([`Ecs::verbatim`]).
    scanned: bool,
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
            // decoded strings: they may hold anything
            scanned: false,
        }
    }

    /// Append the ECS members alone to `out` ([`Ecs::write_members`]).
    pub(crate) fn write_members(&self, out: &mut String, present: Roots) -> bool {
        self.ecs().write_members(out, present)
    }

    /// The ECS members alone ([`Ecs::to_members`]).
    pub(crate) fn to_members(&self, present: Roots) -> String {
        self.ecs().to_members(present)
    }

    fn ecs(&self) -> Ecs<'_> {
        let action = self.action.as_deref();
        // (compared inline: `==` on strings calls `memcmp`, slow in WebAssembly)
        let is = |name: &str| action.is_some_and(|a| same(a.as_bytes(), name.as_bytes()));
        let (types, outcome): (&'static [&'static str], _) = if is("ALLOW") {
            (&["access", "allowed"], "success")
        } else if is("BLOCK") || is("CAPTCHA") || is("CHALLENGE") {
            (&["access", "denied"], "failure")
        } else if is("COUNT") {
            (&["access", "info"], "unknown")
        } else {
            (&["access"], "unknown")
        };
        let webacl = self.webacl_id.as_deref();
        let arn = webacl.and_then(arn_parts_cached);
        let decoded = [
            &self.action,
            &self.rule_id,
            &self.webacl_id,
            &self.client_ip,
            &self.country,
            &self.uri,
            &self.args,
            &self.method,
            &self.request_id,
            &self.user_agent,
        ]
        .iter()
        .any(|f| matches!(f, Some(Cow::Owned(_))));
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
            // every string is one of the log's, as written, or a constant
            verbatim: self.scanned && !decoded,
            ..Ecs::default()
        }
    }
}

/// The fields of each log of a record, as the fast path's single scan
/// finds them ([`Collector::visit`] is its visitor). A key written with
/// escapes is not recognised (its field is left out).
#[derive(Default)]
pub(crate) struct Collector<'a> {
    /// The first log (most records hold one: no allocation).
    first: Log<'a>,
    /// The logs after the first.
    more: Vec<Log<'a>>,
}

#[derive(Default)]
struct Log<'a> {
    fields: WafFields<'a>,
    /// The header object whose name is `User-Agent`.
    ua_object: Option<usize>,
    /// The last header value seen (as written), with its object (WAF
    /// writes `name` first, but JSON does not promise it); decoded only if
    /// its name is `User-Agent`.
    last_value: Option<(usize, &'a str)>,
}

impl<'a> Log<'a> {
    /// Find the `User-Agent` header in `httpRequest.headers` (`raw`, at
    /// `at` in the record), unless an earlier `headers` gave it.
    fn headers(&mut self, raw: &'a str, at: usize) {
        if self.fields.user_agent.is_some() {
            return;
        }
        // headers as WAF writes them: one pass
        if let Some(found) = name_value(raw, is_user_agent) {
            self.fields.user_agent = found.and_then(json_str);
            return;
        }
        array_object_members(raw, |object, key, value| {
            let object = at + object;
            let string = || json_str(value);
            match key {
                "name" if is_user_agent(value) => {
                    self.ua_object = Some(object);
                    if let Some((last, raw)) = self.last_value.take() {
                        self.fields.user_agent = (last == object).then(|| json_str(raw)).flatten();
                    }
                }
                "value" if self.ua_object == Some(object) => {
                    self.fields.user_agent = string();
                }
                "value" => self.last_value = Some((object, value)),
                _ => {}
            }
            self.fields.user_agent.is_none()
        });
    }
}

/// Whether a header name (a value as written) is `User-Agent`, in any
/// case, written without escapes.
fn is_user_agent(raw: &str) -> bool {
    raw.len() == 12
        && raw.starts_with('"')
        && raw.ends_with('"')
        && raw
            .get(1..11)
            .is_some_and(|n| n.eq_ignore_ascii_case("user-agent"))
}

impl<'a> Collector<'a> {
    /// Note a member the scan met.
    pub(crate) fn visit(&mut self, v: &Visit<'_, 'a>) {
        if v.escaped {
            return;
        }
        let log = match v.value.checked_sub(1) {
            None => &mut self.first,
            Some(i) => {
                if self.more.len() <= i {
                    self.more.resize_with(i + 1, Log::default);
                }
                let Some(log) = self.more.get_mut(i) else {
                    return;
                };
                log
            }
        };
        let f = &mut log.fields;
        let string = || v.plain.map(Cow::Borrowed).or_else(|| json_str(v.raw));
        // (index in VISIT, index in its names)
        match (v.at, v.named) {
            (0, Some(0)) => f.action = string(),
            (0, Some(1)) => f.rule_id = string(),
            (0, Some(2)) => f.webacl_id = string(),
            (1, Some(0)) => f.client_ip = string(),
            (1, Some(1)) => f.country = string(),
            (1, Some(2)) => f.uri = string(),
            (1, Some(3)) => f.args = string(),
            (1, Some(4)) => f.method = string(),
            (1, Some(5)) => f.request_id = string(),
            (1, Some(6)) => log.headers(v.raw, v.range.start),
            _ => {}
        }
    }

    /// The fields of log `i` of the record.
    pub(crate) fn fields(&mut self, i: usize) -> WafFields<'a> {
        let log = match i.checked_sub(1) {
            None => Some(&mut self.first),
            Some(i) => self.more.get_mut(i),
        };
        let mut fields = log
            .map(|log| std::mem::take(&mut log.fields))
            .unwrap_or_default();
        fields.scanned = true;
        fields
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

/// Where the parts of a `webaclId` ARN are in it.
struct ArnAt {
    service: Range<usize>,
    region: Option<Range<usize>>,
    account: Option<Range<usize>>,
    webacl_name: Option<Range<usize>>,
}

/// How many web ACLs' ARNs [`arn_parts_cached`] keeps parsed (a batch's
/// logs mostly name a few).
const ARNS_KEPT: usize = 8;

thread_local! {
    /// The last [`ARNS_KEPT`] distinct `webaclId`s met, the newest first
    /// (a hit does not move one: the oldest is dropped), and where their
    /// parts are.
    static ARNS: RefCell<Vec<(String, Option<ArnAt>)>> = const { RefCell::new(Vec::new()) };
}

/// [`arn_parts`], parsed once per web ACL for the last few named.
fn arn_parts_cached(arn: &str) -> Option<WebAclArn<'_>> {
    ARNS.with_borrow_mut(|kept| {
        let found = kept
            .iter()
            .position(|(known, _)| same(known.as_bytes(), arn.as_bytes()));
        let at = match found {
            Some(i) => &kept.get(i)?.1,
            None => {
                let base = arn.as_ptr() as usize;
                let range = |part: &str| {
                    let start = part.as_ptr() as usize - base;
                    start..start + part.len()
                };
                let at = arn_parts(arn).map(|a| ArnAt {
                    service: range(a.service),
                    region: a.region.map(range),
                    account: a.account.map(range),
                    webacl_name: a.webacl_name.map(range),
                });
                if kept.len() == ARNS_KEPT {
                    kept.pop();
                }
                kept.insert(0, (arn.to_string(), at));
                &kept.first()?.1
            }
        };
        let at = at.as_ref()?;
        let part = |r: &Range<usize>| arn.get(r.clone());
        Some(WebAclArn {
            service: part(&at.service)?,
            region: at.region.as_ref().and_then(part),
            account: at.account.as_ref().and_then(part),
            webacl_name: at.webacl_name.as_ref().and_then(part),
        })
    })
}

/// `arn:aws:wafv2:<region>:<account>:<regional|global>/webacl/<name>/<id>`;
/// a `global/` web ACL (CloudFront) has no region.
fn arn_parts(arn: &str) -> Option<WebAclArn<'_>> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, rest) = split_once(rest, b':')?;
    let (service, rest) = split_once(rest, b':')?;
    let (region, rest) = split_once(rest, b':')?;
    let (account, resource) = split_once(rest, b':')?;
    let (scope, webacl) = split_once(resource, b'/').unwrap_or((resource, ""));
    let webacl_name = webacl
        .strip_prefix("webacl/")
        .map(|rest| split_once(rest, b'/').map_or(rest, |(name, _)| name))
        .filter(|n| !n.is_empty());
    Some(WebAclArn {
        service,
        region: Some(region).filter(|r| !r.is_empty() && scope != "global"),
        account: Some(account).filter(|a| !a.is_empty()),
        webacl_name,
    })
}

/// `s` split at its first `sep` (an ASCII byte), without it: a plain
/// loop, cheaper than `str::split_once` on these short strings.
fn split_once(s: &str, sep: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == sep)?;
    // `sep` is ASCII: both sides are on char boundaries
    Some((s.get(..at)?, s.get(at + 1..)?))
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
        // the cached reading gives the same parts, whatever came before
        for arn in [
            "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/1",
            "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/1",
            "585e38b5-afce",
            "arn:aws:wafv2:us-east-1:123456789012:global/webacl/hello/59",
            "",
            "arn:aws:wafv2:us-east-1:123456789012:global/webacl/hello/59",
        ] {
            type Parts<'a> = Option<(&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>)>;
            fn key(a: Option<WebAclArn<'_>>) -> Parts<'_> {
                a.map(|a| (a.service, a.region, a.account, a.webacl_name))
            }
            assert_eq!(key(arn_parts_cached(arn)), key(arn_parts(arn)), "{arn}");
        }
        // more web ACLs than are kept, twice over: evicted ones parse again
        let many: Vec<String> = (0..2 * ARNS_KEPT + 3)
            .map(|i| format!("arn:aws:wafv2:eu-west-{i}:{i}:regional/webacl/acl{i}/{i}"))
            .collect();
        for arn in many.iter().chain(many.iter().rev()).chain(&many) {
            let a = arn_parts_cached(arn).unwrap();
            let b = arn_parts(arn).unwrap();
            assert_eq!(
                (a.service, a.region, a.account, a.webacl_name),
                (b.service, b.region, b.account, b.webacl_name),
                "{arn}"
            );
        }
    }
}

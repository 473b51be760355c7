//! The ECS fields of a WAF log ([`weir_plugin_sdk::ecs`]), read without
//! building the log: only the fields used are deserialized (borrowed where
//! they have no escapes), the rest is skipped.
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
//! A log whose fields used here have other types than WAF writes (an
//! object for `action`, …) gets no ECS fields; it never fails.

use std::borrow::Cow;

use serde::Deserialize;
use weir_plugin_sdk::Loose;
use weir_plugin_sdk::ecs::{Ecs, Endpoint, Roots, arn_region_account};

/// The fields of a WAF log that ECS fields come from.
#[derive(Deserialize)]
pub(crate) struct WafFields<'a> {
    #[serde(borrow)]
    action: Option<Loose<'a>>,
    #[serde(rename = "terminatingRuleId", borrow)]
    terminating_rule_id: Option<Loose<'a>>,
    #[serde(rename = "webaclId", borrow)]
    webacl_id: Option<Loose<'a>>,
    #[serde(rename = "httpRequest", borrow)]
    http_request: Option<HttpRequest<'a>>,
}

/// The `httpRequest` of a log without one.
static NO_REQUEST: HttpRequest<'static> = HttpRequest {
    client_ip: None,
    country: None,
    uri: None,
    args: None,
    http_method: None,
    request_id: None,
    headers: None,
};

#[derive(Deserialize)]
struct HttpRequest<'a> {
    #[serde(rename = "clientIp", borrow)]
    client_ip: Option<Loose<'a>>,
    #[serde(borrow)]
    country: Option<Loose<'a>>,
    #[serde(borrow)]
    uri: Option<Loose<'a>>,
    #[serde(borrow)]
    args: Option<Loose<'a>>,
    #[serde(rename = "httpMethod", borrow)]
    http_method: Option<Loose<'a>>,
    #[serde(rename = "requestId", borrow)]
    request_id: Option<Loose<'a>>,
    #[serde(borrow)]
    headers: Option<UserAgent<'a>>,
}

/// The value of the first `User-Agent` header of `httpRequest.headers`
/// (`[{"name": …, "value": …}, …]`).
struct UserAgent<'a>(Option<Cow<'a, str>>);

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    name: Option<Loose<'a>>,
    #[serde(borrow)]
    value: Option<Loose<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for UserAgent<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(HeadersVisitor(std::marker::PhantomData))
    }
}

struct HeadersVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for HeadersVisitor<'a> {
    type Value = UserAgent<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of headers")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(header) = seq.next_element::<Header<'a>>()? {
            if found.is_some() {
                continue;
            }
            let is_ua = header
                .name
                .as_ref()
                .and_then(Loose::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("user-agent"));
            if let (true, Some(Loose::Str(value))) = (is_ua, header.value) {
                found = Some(value);
            }
        }
        Ok(UserAgent(found))
    }
}

impl<'a> WafFields<'a> {
    /// Read the fields from a log's JSON text; `None` when they are not of
    /// the types WAF writes.
    pub(crate) fn from_text(text: &'a str) -> Option<WafFields<'a>> {
        serde_json::from_str(text).ok()
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
        fn s<'b>(v: &'b Option<Loose<'_>>) -> Option<&'b str> {
            v.as_ref().and_then(Loose::as_str)
        }
        let req = self.http_request.as_ref().unwrap_or(&NO_REQUEST);
        let action = s(&self.action);
        let (types, outcome): (&'static [&'static str], _) = match action {
            Some("ALLOW") => (&["access", "allowed"], "success"),
            Some("BLOCK" | "CAPTCHA" | "CHALLENGE") => (&["access", "denied"], "failure"),
            Some("COUNT") => (&["access", "info"], "unknown"),
            _ => (&["access"], "unknown"),
        };
        let webacl = s(&self.webacl_id);
        let arn = webacl.and_then(arn_parts);
        Ecs {
            kind: Some("event"),
            category: &["web"],
            types,
            action,
            outcome: Some(outcome),
            provider: Some(arn.map_or("waf", |a| a.service)),
            dataset: Some("aws.waf"),
            id: s(&req.request_id),
            account_id: arn.and_then(|a| a.account),
            region: arn.and_then(|a| a.region),
            source: Endpoint {
                address: s(&req.client_ip),
                port: None,
                country: s(&req.country).filter(|c| c.len() == 2),
            },
            protocol: Some("http"),
            http_method: s(&req.http_method),
            url_path: s(&req.uri),
            url_query: s(&req.args),
            user_agent: req.headers.as_ref().and_then(|h| h.0.as_deref()),
            rule_id: s(&self.terminating_rule_id),
            ruleset: arn.and_then(|a| a.webacl_name).or(webacl),
            ..Ecs::default()
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

//! The ECS fields of a query log ([`weir_plugin_sdk::ecs`]).
//!
//! | ECS | from |
//! |---|---|
//! | `event.kind`, `event.category`, `event.type` | `event`, `[network]`, `[protocol]` |
//! | `event.action` | `firewall_rule_action`, lowercased (`block`, `alert`, `allow`), when a DNS Firewall rule matched |
//! | `event.dataset` | `aws.route53_resolver_logs` |
//! | `cloud.account.id`, `cloud.region` | `account_id`, `region` |
//! | `source.address`/`ip`/`port` | `srcaddr`, `srcport` (GeoIP) |
//! | `network.transport`, `network.protocol` | `transport` lowercased, `dns` |
//! | `dns.question.name`, `dns.question.type` | `query_name` (as it came, with its final dot), `query_type` |
//! | `dns.response_code` | `rcode` |
//! | `related.ip` | `srcaddr`, and every `answers[].Rdata` that is an IP |
//!
//! A log whose fields used here have other types than Route 53 writes gets
//! no ECS fields; it never fails for them. A root the log has at its top
//! level is skipped.

use serde::Deserialize;
use serde::de::IgnoredAny;
use weir_plugin_sdk::Loose;
use weir_plugin_sdk::ecs::{Ecs, Endpoint, ROOTS, Roots};

/// The fields of a query log that are checked and that ECS fields come
/// from, and which ECS roots it already has: one parse gives all (the rest
/// of the log is skipped).
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(crate) struct Fields<'a> {
    pub(crate) query_timestamp: Option<Loose<'a>>,
    account_id: Option<Loose<'a>>,
    region: Option<Loose<'a>>,
    query_name: Option<Loose<'a>>,
    query_type: Option<Loose<'a>>,
    rcode: Option<Loose<'a>>,
    srcaddr: Option<Loose<'a>>,
    srcport: Option<Loose<'a>>,
    transport: Option<Loose<'a>>,
    firewall_rule_action: Option<Loose<'a>>,
    answers: Option<Vec<Answer<'a>>>,
    event: Option<IgnoredAny>,
    cloud: Option<IgnoredAny>,
    source: Option<IgnoredAny>,
    destination: Option<IgnoredAny>,
    network: Option<IgnoredAny>,
    user: Option<IgnoredAny>,
    user_agent: Option<IgnoredAny>,
    http: Option<IgnoredAny>,
    url: Option<IgnoredAny>,
    dns: Option<IgnoredAny>,
    rule: Option<IgnoredAny>,
    related: Option<IgnoredAny>,
}

impl Fields<'_> {
    /// The `query_name` and `query_type` the log must have.
    pub(crate) fn query(&self) -> (&Option<Loose<'_>>, &Option<Loose<'_>>) {
        (&self.query_name, &self.query_type)
    }

    /// The ECS roots the log already has at its top level.
    fn roots(&self) -> Roots {
        let present = [
            self.event.is_some(),
            self.cloud.is_some(),
            self.source.is_some(),
            self.destination.is_some(),
            self.network.is_some(),
            self.user.is_some(),
            self.user_agent.is_some(),
            self.http.is_some(),
            self.url.is_some(),
            self.dns.is_some(),
            self.rule.is_some(),
            self.related.is_some(),
        ];
        Roots::of_keys(
            ROOTS
                .iter()
                .zip(present)
                .filter_map(|(r, p)| p.then_some(*r)),
        )
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct Answer<'a> {
    #[serde(rename = "Rdata")]
    rdata: Option<Loose<'a>>,
}

fn s<'b>(v: &'b Option<Loose<'_>>) -> Option<&'b str> {
    v.as_ref().and_then(Loose::as_str)
}

/// Append the ECS fields of a query log (its [`Fields`]) to `body`.
pub(crate) fn append_to(f: &Fields<'_>, body: &mut String) {
    let port = match &f.srcport {
        Some(Loose::Str(p)) => p.parse::<u16>().ok(),
        Some(Loose::U64(p)) => u16::try_from(*p).ok(),
        _ => None,
    };
    let transport = s(&f.transport).map(str::to_ascii_lowercase);
    let action = s(&f.firewall_rule_action).map(str::to_ascii_lowercase);
    let answers = f.answers.as_deref().unwrap_or_default();
    Ecs {
        kind: Some("event"),
        category: &["network"],
        types: &["protocol"],
        action: action.as_deref(),
        dataset: Some("aws.route53_resolver_logs"),
        account_id: s(&f.account_id),
        region: s(&f.region),
        source: Endpoint {
            address: s(&f.srcaddr),
            port,
            country: None,
        },
        transport: transport.as_deref(),
        protocol: Some("dns"),
        dns_name: s(&f.query_name),
        dns_type: s(&f.query_type),
        dns_rcode: s(&f.rcode),
        related_ip: answers.iter().filter_map(|a| s(&a.rdata)).collect(),
        ..Ecs::default()
    }
    .append_to(body, f.roots());
}

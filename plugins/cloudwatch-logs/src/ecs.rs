//! The ECS fields of a CloudTrail event ([`weir_plugin_sdk::ecs`]), the
//! same whether it came in a CloudWatch Logs log event, a trail file or
//! alone. Other log events get none.
//!
//! | ECS | from |
//! |---|---|
//! | `event.kind` | `event` |
//! | `event.action`, `event.provider`, `event.id` | `eventName`, `eventSource`, `eventID` |
//! | `event.dataset` | `aws.cloudtrail` |
//! | `event.outcome` | `failure` when `errorCode` is set (or a console sign-in's `responseElements.ConsoleLogin` is `Failure`), else `success` |
//! | `event.category` | `[authentication]` for `signin.amazonaws.com`, `sts.amazonaws.com` and `AwsConsoleSignIn` events; `[iam]` for `iam.amazonaws.com`; `[configuration]` for a call of any other service whose name changes something (see `event.type`); else none |
//! | `event.type` | `[start]` for `ConsoleLogin`; by the verb `eventName` starts with: `[creation]` (`Create`, `Add`, `Attach`, `Run`, `Register`, `Import`, `Allocate`), `[deletion]` (`Delete`, `Remove`, `Detach`, `Terminate`, `Deregister`, `Release`, `Revoke`), `[change]` (`Update`, `Put`, `Set`, `Modify`, `Change`, `Enable`, `Disable`, `Tag`, `Untag`, `Start`, `Stop`, `Reboot`, `Reset`, `Associate`, `Disassociate`, `Authorize`, `Replace`), `[access]` (`Get`, `List`, `Describe`, `Lookup`, `Head`, `Search`, `Batch Get`); else `[info]` |
//! | `cloud.account.id` | `recipientAccountId`, else `userIdentity.accountId` |
//! | `cloud.region` | `awsRegion` |
//! | `source.address`, `source.ip` | `sourceIPAddress` (`ip` and GeoIP only when it is an IP; a service name such as `ec2.amazonaws.com` is only `address`) |
//! | `user.name` | `userIdentity.userName`, else `userIdentity.sessionContext.sessionIssuer.userName`, else the last part of `userIdentity.arn` (after its last `/`, or `:` for `…:root`) |
//! | `user_agent.original` | `userAgent` |
//! | `related.ip` | `source.ip` |
//!
//! An event whose fields used here have other types than CloudTrail writes
//! (or a duplicate key) gets no ECS fields; it never fails for them. A root
//! the event has at its top level is skipped.

use serde::Deserialize;
use serde::de::IgnoredAny;
use weir_plugin_sdk::Loose;
use weir_plugin_sdk::ecs::{Ecs, Endpoint, Roots};

/// The fields of a CloudTrail event that ECS fields come from, and the ECS
/// roots it has itself (their values skipped).
#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(crate) struct TrailFields<'a> {
    #[serde(rename = "eventID")]
    pub(crate) event_id: Option<Loose<'a>>,
    #[serde(rename = "eventName")]
    pub(crate) event_name: Option<Loose<'a>>,
    #[serde(rename = "eventSource")]
    pub(crate) event_source: Option<Loose<'a>>,
    #[serde(rename = "eventType")]
    pub(crate) event_type: Option<Loose<'a>>,
    #[serde(rename = "errorCode")]
    pub(crate) error_code: Option<Loose<'a>>,
    #[serde(rename = "responseElements")]
    pub(crate) response_elements: Option<ResponseElements<'a>>,
    #[serde(rename = "recipientAccountId")]
    pub(crate) recipient_account_id: Option<Loose<'a>>,
    #[serde(rename = "awsRegion")]
    pub(crate) aws_region: Option<Loose<'a>>,
    #[serde(rename = "sourceIPAddress")]
    pub(crate) source_ip_address: Option<Loose<'a>>,
    #[serde(rename = "userAgent")]
    pub(crate) user_agent: Option<Loose<'a>>,
    #[serde(rename = "userIdentity")]
    pub(crate) user_identity: Option<UserIdentity<'a>>,
    /// The event's own `@timestamp`, which a document's would duplicate.
    #[serde(rename = "@timestamp")]
    pub(crate) at_timestamp: Option<IgnoredAny>,
    pub(crate) event: Option<IgnoredAny>,
    pub(crate) cloud: Option<IgnoredAny>,
    pub(crate) source: Option<IgnoredAny>,
    pub(crate) destination: Option<IgnoredAny>,
    pub(crate) network: Option<IgnoredAny>,
    pub(crate) user: Option<IgnoredAny>,
    #[serde(rename = "user_agent")]
    pub(crate) user_agent_: Option<IgnoredAny>,
    pub(crate) http: Option<IgnoredAny>,
    pub(crate) url: Option<IgnoredAny>,
    pub(crate) dns: Option<IgnoredAny>,
    pub(crate) rule: Option<IgnoredAny>,
    pub(crate) related: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(crate) struct ResponseElements<'a> {
    #[serde(rename = "ConsoleLogin")]
    pub(crate) console_login: Option<Loose<'a>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(crate) struct UserIdentity<'a> {
    #[serde(rename = "userName")]
    pub(crate) user_name: Option<Loose<'a>>,
    pub(crate) arn: Option<Loose<'a>>,
    #[serde(rename = "accountId")]
    pub(crate) account_id: Option<Loose<'a>>,
    #[serde(rename = "sessionContext")]
    pub(crate) session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(crate) struct SessionContext<'a> {
    #[serde(rename = "sessionIssuer")]
    pub(crate) session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
pub(crate) struct SessionIssuer<'a> {
    #[serde(rename = "userName")]
    pub(crate) user_name: Option<Loose<'a>>,
}

fn s<'b>(v: &'b Option<Loose<'_>>) -> Option<&'b str> {
    v.as_ref().and_then(Loose::as_str).filter(|s| !s.is_empty())
}

impl<'a> TrailFields<'a> {
    /// Read the fields from an event's JSON text; `None` when they are not
    /// of the types CloudTrail writes (or a key is repeated).
    pub(crate) fn from_text(text: &'a str) -> Option<TrailFields<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The ECS roots the event has at its top level.
    fn roots(&self) -> Roots {
        let own = [
            ("event", self.event.is_some()),
            ("cloud", self.cloud.is_some()),
            ("source", self.source.is_some()),
            ("destination", self.destination.is_some()),
            ("network", self.network.is_some()),
            ("user", self.user.is_some()),
            ("user_agent", self.user_agent_.is_some()),
            ("http", self.http.is_some()),
            ("url", self.url.is_some()),
            ("dns", self.dns.is_some()),
            ("rule", self.rule.is_some()),
            ("related", self.related.is_some()),
        ];
        Roots::of_keys(own.iter().filter(|(_, has)| *has).map(|(k, _)| k))
    }

    /// Append the ECS fields to `body`.
    pub(crate) fn append_to(&self, body: &mut String) {
        self.ecs().append_to(body, self.roots());
    }

    /// The ECS members alone ([`Ecs::to_members`]).
    pub(crate) fn to_members(&self) -> String {
        self.ecs().to_members(self.roots())
    }

    fn ecs(&self) -> Ecs<'_> {
        let name = s(&self.event_name);
        let provider = s(&self.event_source);
        let identity = self.user_identity.as_ref();
        let console_failed = self
            .response_elements
            .as_ref()
            .and_then(|r| s(&r.console_login))
            == Some("Failure");
        let failed = s(&self.error_code).is_some() || console_failed;
        let types = event_type(name);
        Ecs {
            kind: Some("event"),
            category: category(provider, s(&self.event_type), types),
            types,
            action: name,
            outcome: Some(if failed { "failure" } else { "success" }),
            provider,
            dataset: Some("aws.cloudtrail"),
            id: s(&self.event_id),
            account_id: s(&self.recipient_account_id)
                .or_else(|| identity.and_then(|i| s(&i.account_id))),
            region: s(&self.aws_region),
            source: Endpoint {
                address: s(&self.source_ip_address),
                ..Endpoint::default()
            },
            user_name: identity.and_then(user_name),
            user_agent: s(&self.user_agent),
            ..Ecs::default()
        }
    }
}

/// `user.name` of a `userIdentity` (see the module docs).
fn user_name<'b>(identity: &'b UserIdentity<'_>) -> Option<&'b str> {
    s(&identity.user_name)
        .or_else(|| {
            let issuer = identity.session_context.as_ref()?.session_issuer.as_ref()?;
            s(&issuer.user_name)
        })
        .or_else(|| {
            let arn = s(&identity.arn)?;
            let resource = arn.rsplit(':').next()?;
            resource.rsplit('/').next().filter(|n| !n.is_empty())
        })
}

/// `event.type` from the verb an `eventName` starts with.
fn event_type(name: Option<&str>) -> &'static [&'static str] {
    const VERBS: [(&[&str], &[&str]); 4] = [
        (
            &[
                "Create", "Add", "Attach", "Run", "Register", "Import", "Allocate",
            ],
            &["creation"],
        ),
        (
            &[
                "Delete",
                "Remove",
                "Detach",
                "Terminate",
                "Deregister",
                "Release",
                "Revoke",
            ],
            &["deletion"],
        ),
        (
            &[
                "Update",
                "Put",
                "Set",
                "Modify",
                "Change",
                "Enable",
                "Disable",
                "Tag",
                "Untag",
                "Start",
                "Stop",
                "Reboot",
                "Reset",
                "Associate",
                "Disassociate",
                "Authorize",
                "Replace",
            ],
            &["change"],
        ),
        (
            &[
                "Get", "List", "Describe", "Lookup", "Head", "Search", "BatchGet",
            ],
            &["access"],
        ),
    ];
    let Some(name) = name else {
        return &["info"];
    };
    if name == "ConsoleLogin" {
        return &["start"];
    }
    for (verbs, types) in VERBS {
        // the verb, then a capital (`CreateUser`, not `Createx`) or the end
        let starts = |v: &&str| {
            name.strip_prefix(*v).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
            })
        };
        if verbs.iter().any(starts) {
            return types;
        }
    }
    &["info"]
}

/// `event.category` (see the module docs).
fn category(
    provider: Option<&str>,
    event_type: Option<&str>,
    types: &[&str],
) -> &'static [&'static str] {
    match provider {
        Some("signin.amazonaws.com" | "sts.amazonaws.com") => &["authentication"],
        _ if event_type == Some("AwsConsoleSignIn") => &["authentication"],
        Some("iam.amazonaws.com") => &["iam"],
        Some(_) if matches!(types, ["creation" | "deletion" | "change"]) => &["configuration"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests;

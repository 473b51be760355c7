//! AWS Signature Version 4 for Amazon OpenSearch Service (`es`) and
//! OpenSearch Serverless (`aoss`), with the AWS crates: credentials from the
//! standard chain (environment, profile, web identity, ECS, IMDS) via
//! `aws-config`, signing via `aws-sigv4`. Nothing is hand-rolled.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

pub use crate::config::SigV4Config;

/// A signer holding a (caching) credentials provider.
#[derive(Debug, Clone)]
pub struct Signer {
    config: SigV4Config,
    credentials: SharedCredentialsProvider,
}

impl Signer {
    /// Credentials from the standard AWS chain.
    pub async fn from_environment(config: SigV4Config) -> Result<Signer, String> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.region.clone()))
            .http_client(http)
            .load()
            .await;
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| "no AWS credentials provider could be configured".to_string())?;
        Ok(Signer {
            config,
            credentials,
        })
    }

    /// Fixed credentials (tests, or keys given explicitly).
    pub fn with_credentials(config: SigV4Config, credentials: Credentials) -> Signer {
        Signer {
            config,
            credentials: SharedCredentialsProvider::new(credentials),
        }
    }

    /// Sign `req` (whose body is `body`, as sent) now.
    pub async fn sign<B>(&self, req: &mut http::Request<B>, body: &[u8]) -> Result<(), String> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("AWS credentials: {e}"))?;
        sign_request(req, body, &creds, &self.config, SystemTime::now())
    }
}

/// Sign `req` at `time` (pure; the tests fix the clock). Adds `host` if
/// missing (it must be signed), then `authorization`, `x-amz-date`, and for
/// `aoss` `x-amz-content-sha256`, and `x-amz-security-token` for session credentials.
pub fn sign_request<B>(
    req: &mut http::Request<B>,
    body: &[u8],
    creds: &Credentials,
    config: &SigV4Config,
    time: SystemTime,
) -> Result<(), String> {
    if !req.headers().contains_key(http::header::HOST) {
        let authority = req
            .uri()
            .authority()
            .ok_or_else(|| "request URI has no host".to_string())?;
        let host = match (req.uri().scheme_str(), authority.port_u16()) {
            (Some("https"), Some(443)) | (Some("http"), Some(80)) => authority.host().to_string(),
            _ => authority.as_str().to_string(),
        };
        let value = http::HeaderValue::from_str(&host).map_err(|e| e.to_string())?;
        req.headers_mut().insert(http::header::HOST, value);
    }
    let mut settings = SigningSettings::default();
    if config.service == "aoss" {
        // Serverless requires the payload hash header.
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&config.region)
        .name(&config.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let mut headers = Vec::with_capacity(req.headers().len());
    for (k, v) in req.headers() {
        let v = v
            .to_str()
            .map_err(|_| format!("header {k} is not ASCII and cannot be signed"))?;
        headers.push((k.as_str(), v));
    }
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("SigV4: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("SigV4: {e}"))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).unwrap()
    }

    /// The worked example of AWS's Signature Version 4 documentation
    /// (IAM `ListUsers`, credentials `AKIDEXAMPLE`, 2015-08-30T12:36:00Z).
    #[test]
    fn matches_the_aws_documentation_example() {
        let mut req =
            http::Request::get("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(())
                .unwrap();
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let cfg = SigV4Config {
            region: "us-east-1".into(),
            service: "iam".into(),
        };
        sign_request(&mut req, b"", &creds, &cfg, at("2015-08-30T12:36:00Z")).unwrap();
        assert_eq!(req.headers()["x-amz-date"], "20150830T123600Z");
        assert_eq!(req.headers()["host"], "iam.amazonaws.com");
        assert_eq!(
            req.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn serverless_signs_the_payload_hash_and_session_token() {
        let mut req = http::Request::post("https://abc123.us-east-1.aoss.amazonaws.com/_bulk")
            .header("content-type", "application/x-ndjson")
            .body(())
            .unwrap();
        let creds = Credentials::new("AKID", "SECRET", Some("TOKEN".into()), None, "test");
        let cfg = SigV4Config {
            region: "us-east-1".into(),
            service: "aoss".into(),
        };
        sign_request(&mut req, b"{}\n", &creds, &cfg, at("2024-01-02T03:04:05Z")).unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.contains("/20240102/us-east-1/aoss/aws4_request"),
            "{auth}"
        );
        assert!(auth.contains("x-amz-content-sha256"), "{auth}");
        assert_eq!(req.headers()["x-amz-security-token"], "TOKEN");
        // sha256("{}\n")
        assert_eq!(
            req.headers()["x-amz-content-sha256"],
            "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"
        );
    }
}

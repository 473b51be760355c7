//! `weir dashboards install` against a stand-in for OpenSearch Dashboards.
//! No Dashboards server can run here, so this small server enforces what
//! the saved-objects import API requires (`POST
//! /api/saved_objects/_import`, `osd-xsrf`, a multipart part `file` named
//! `*.ndjson` holding saved objects, basic auth) plus what Weir promises
//! (`overwrite=true`), answers as Dashboards does, and keeps every request
//! for the tests to look at.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use weir::dashboards::install::{InstallError, Target, install};
use weir::dashboards::{RouteIndices, Space, ndjson, route_indices, spaces};
use weir_load::config_toml::{directory_sink, route, tenant};
use weir_tests::temp_dir;

const USER: &str = "admin";
const PASSWORD: &str = "s3cret-pw";

/// How the stand-in answers a request that follows the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 200, every object imported.
    Imported,
    /// 200, but the first object of the file refused (as Dashboards does
    /// for, say, a type it does not know).
    FirstRefused,
    /// 200 with an HTML page (a proxy's login page, say).
    Html,
    /// 503, as Dashboards answers while it starts.
    NotReady,
}

/// One request as received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: http::HeaderMap,
    body: Bytes,
}

struct Dashboards {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Dashboards {
    async fn start(answer: Answer) -> Dashboards {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let got = Received {
                                    method: parts.method.to_string(),
                                    path: parts.uri.path().to_string(),
                                    query: parts.uri.query().unwrap_or_default().to_string(),
                                    headers: parts.headers,
                                    body: body.collect().await.unwrap().to_bytes(),
                                };
                                log.lock().unwrap().push(got.clone());
                                let (status, text) = respond(&got, answer);
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from(text)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Dashboards { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn error(status: u16, message: &str) -> (u16, String) {
    let body =
        serde_json::json!({"statusCode": status, "error": "Bad Request", "message": message});
    (status, body.to_string())
}

/// Dashboards' rules, in the order it checks them.
fn respond(got: &Received, answer: Answer) -> (u16, String) {
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{USER}:{PASSWORD}")
        )
    );
    if got.headers.get("authorization").map(|v| v.as_bytes()) != Some(basic.as_bytes()) {
        return error(401, "Unauthorized");
    }
    if got.method != "POST" || got.path != "/api/saved_objects/_import" {
        return error(404, "Not Found");
    }
    if !got.headers.contains_key("osd-xsrf") {
        return error(400, "Request must contain a osd-xsrf header.");
    }
    if got.query != "overwrite=true" {
        return error(400, "weir must ask for overwrite=true");
    }
    let objects = match saved_objects_file(got) {
        Ok(objects) => objects,
        Err(message) => return error(400, &message),
    };
    match answer {
        Answer::Imported => (
            200,
            serde_json::json!({"success": true, "successCount": objects.len()}).to_string(),
        ),
        Answer::FirstRefused => {
            let first = &objects[0];
            let body = serde_json::json!({
                "success": false,
                "successCount": objects.len() - 1,
                "errors": [{
                    "id": first["id"], "type": first["type"],
                    "title": first["attributes"]["title"],
                    "error": {"type": "unknown", "message": "mapper_parsing_exception"},
                }],
            });
            (200, body.to_string())
        }
        Answer::Html => (200, "<html><body>Please log in</body></html>".into()),
        Answer::NotReady => (503, "OpenSearch Dashboards server is not ready yet".into()),
    }
}

/// The multipart part `file`: a `*.ndjson` file of saved objects, each
/// with `type`, `id` and `attributes` (an index pattern: a `title`).
fn saved_objects_file(got: &Received) -> Result<Vec<serde_json::Value>, String> {
    let ct = got
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .ok_or(format!("unsupported content type {ct:?}"))?;
    let body = std::str::from_utf8(&got.body).map_err(|e| e.to_string())?;
    let inner = body
        .strip_prefix(&format!("--{boundary}\r\n"))
        .and_then(|b| b.strip_suffix(&format!("\r\n--{boundary}--\r\n")))
        .ok_or("not one multipart part between the boundaries")?;
    let (head, content) = inner.split_once("\r\n\r\n").ok_or("part without headers")?;
    if !head.contains("Content-Disposition: form-data; name=\"file\"; filename=\"") {
        return Err(format!("no part `file`: {head}"));
    }
    if !head.contains(".ndjson\"") {
        return Err("Invalid file extension".into());
    }
    let mut objects = Vec::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
        let ok = v["type"].is_string()
            && v["id"].is_string()
            && v["attributes"].is_object()
            && (v["type"] != "index-pattern" || v["attributes"]["title"].is_string());
        if !ok {
            return Err(format!("not a saved object: {line}"));
        }
        objects.push(v);
    }
    if objects.is_empty() {
        return Err("no saved objects".into());
    }
    Ok(objects)
}

fn target(url: &str) -> Target {
    Target {
        url: url.to_string(),
        username: Some(USER.into()),
        password: Some(weir::config::Secret::new(PASSWORD.into())),
        sigv4_region: None,
        ca_file: None,
        timeout: std::time::Duration::from_secs(10),
    }
}

/// Two tenants' routes, the built-in plugins loaded for their date fields.
fn routes() -> Vec<RouteIndices> {
    let out = temp_dir("dashboards");
    let text = [
        "[server]\nlisten = \"127.0.0.1:0\"\nplain_http = true\n".to_string(),
        directory_sink("local", &out),
        tenant("demo", &["demo-key"]),
        tenant("other", &["other-key"]),
        route("/demo/waf", "demo", "builtin:waf", "waf", "local"),
        route(
            "/demo/cwl",
            "demo",
            "builtin:cloudwatch-logs",
            "cwl-%Y.%m.%d",
            "local",
        ),
        route("/other/waf", "other", "builtin:waf", "waf", "local"),
    ]
    .concat();
    let config = weir::config::Config::parse(&text).unwrap();
    route_indices(&config).unwrap()
}

/// The `file` part's content of a request.
fn file_of(got: &Received) -> String {
    let body = String::from_utf8(got.body.to_vec()).unwrap();
    let start = body.find("\r\n\r\n").unwrap() + 4;
    let end = body.rfind("\r\n--").unwrap();
    body[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_imports_the_saved_objects_file_as_dashboards_requires() {
    let server = Dashboards::start(Answer::Imported).await;
    let spaces: Vec<Space> = spaces(&routes(), None, false).unwrap();
    let done = install(&target(&server.url), &spaces).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].tenant, None);
    assert_eq!(done[0].success_count, 4, "3 routes + weir-all");

    let got = server.received();
    assert_eq!(got.len(), 1);
    let got = &got[0];
    assert_eq!(
        (got.method.as_str(), got.path.as_str(), got.query.as_str()),
        ("POST", "/api/saved_objects/_import", "overwrite=true")
    );
    assert_eq!(got.headers["osd-xsrf"], "true");
    assert!(!got.headers.contains_key("securitytenant"));
    let file = file_of(got);
    assert_eq!(file, ndjson(&spaces[0].objects));
    let lines: Vec<serde_json::Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap(),
                v["attributes"]["title"].as_str().unwrap(),
                v["attributes"]["timeFieldName"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("weir-demo-waf", "demo-waf", "@timestamp"),
            ("weir-demo-cwl", "demo-cwl-*", "@timestamp"),
            ("weir-other-waf", "other-waf", "@timestamp"),
            ("weir-all", "demo-waf,demo-cwl-*,other-waf", "@timestamp"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_space_imports_each_tenants_own_patterns_into_its_dashboards_tenant() {
    let server = Dashboards::start(Answer::Imported).await;
    let spaces = spaces(&routes(), None, true).unwrap();
    let done = install(&target(&server.url), &spaces).await.unwrap();
    let counts: Vec<(Option<&str>, u64)> = done
        .iter()
        .map(|d| (d.tenant.as_deref(), d.success_count))
        .collect();
    assert_eq!(counts, [(Some("demo"), 3), (Some("other"), 2)]);
    let got = server.received();
    assert_eq!(got.len(), 2);
    for (req, tenant) in got.iter().zip(["demo", "other"]) {
        assert_eq!(req.headers["securitytenant"], tenant);
        let file = file_of(req);
        for line in file.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let title = v["attributes"]["title"].as_str().unwrap();
            assert!(
                title
                    .split(',')
                    .all(|t| t.starts_with(&format!("{tenant}-"))),
                "{tenant} sees only its own indices: {line}"
            );
        }
        assert!(file.contains("\"id\":\"weir-all\""), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_with_per_object_errors_fails_the_install() {
    let server = Dashboards::start(Answer::FirstRefused).await;
    let spaces = spaces(&routes(), Some("demo"), false).unwrap();
    let e = install(&target(&server.url), &spaces).await.unwrap_err();
    assert!(matches!(e, InstallError::Refused { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "Dashboards refused 1 of 3 saved objects: \
         index-pattern weir-demo-waf: unknown (mapper_parsing_exception)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_and_no_answer_are_clear_errors() {
    let spaces = spaces(&routes(), Some("other"), false).unwrap();

    let html = Dashboards::start(Answer::Html).await;
    let e = install(&target(&html.url), &spaces).await.unwrap_err();
    assert!(matches!(e, InstallError::NotJson { .. }), "{e:?}");
    assert!(e.to_string().contains("<html><body>Please log in"), "{e}");

    let starting = Dashboards::start(Answer::NotReady).await;
    let e = install(&target(&starting.url), &spaces).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("answered 503 Service Unavailable to the import: OpenSearch Dashboards server is not ready yet"),
        "{e}"
    );

    let mut wrong = target(&html.url);
    wrong.password = Some(weir::config::Secret::new("wrong".into()));
    let e = install(&wrong, &spaces).await.unwrap_err();
    assert!(e.to_string().contains("answered 401 Unauthorized"), "{e}");

    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = install(&target(&url), &spaces).await.unwrap_err();
    assert!(matches!(e, InstallError::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("Dashboards at {url} unreachable")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_refuses_what_dashboards_refuses() {
    // Its rules are what the tests above rely on: a request without the
    // xsrf header, or with a file not named *.ndjson, is refused.
    let server = Dashboards::start(Answer::Imported).await;
    let spaces = spaces(&routes(), Some("other"), false).unwrap();
    let (boundary, body) = weir::dashboards::install::multipart(&ndjson(&spaces[0].objects));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let send = |xsrf: bool, body: Vec<u8>| {
        let mut req = http::Request::post(format!(
            "{}/api/saved_objects/_import?overwrite=true",
            server.url
        ))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{USER}:{PASSWORD}")
                )
            ),
        );
        if xsrf {
            req = req.header("osd-xsrf", "true");
        }
        client.request(req.body(Full::new(Bytes::from(body))).unwrap())
    };
    let without = send(false, body.clone()).await.unwrap();
    assert_eq!(without.status(), 400);
    let text = without.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&text).contains("Request must contain a osd-xsrf header."),
        "{text:?}"
    );
    let renamed = String::from_utf8(body.clone())
        .unwrap()
        .replace("weir.ndjson", "weir.json");
    let bad_name = send(true, renamed.into_bytes()).await.unwrap();
    assert_eq!(bad_name.status(), 400);
    let with = send(true, body).await.unwrap();
    assert_eq!(with.status(), 200);
}

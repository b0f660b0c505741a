//! A client that keeps writing through vcproxy while a test breaks things, and remembers every
//! write it was told had happened: the ground truth of "no acknowledged write is lost".
//!
//! It behaves like a careful client-go user: a transport error or a 5xx makes it reconnect and
//! retry the same write (after Retry-After, if given); a create retried after an unknown outcome
//! that answers 409 AlreadyExists counts as done, as does a patch re-sent with the same value.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::client::{full, tls, Body};

/// A namespaced CRD `<plural>.<group>` (kind `kind`, version v1) whose `spec` takes anything:
/// the tenant CRs the writer creates and patches.
pub fn free_form_crd(group: &str, plural: &str, kind: &str) -> String {
    let singular = kind.to_ascii_lowercase();
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {plural}.{group}}}\n\
         spec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: {plural}, singular: {singular}, kind: {kind}}}\n\
         \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n\
         \x20       type: object\n        properties:\n          spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    )
}

/// A tenant made on `fleet`'s replica 0 with namespace `work` and the free-form CRD
/// `<plural>.<group>`, ready for writers through the load balancer.
pub fn writing_tenant(fleet: &vcproxy_testenv::Fleet, tenant: &str, group: &str, plural: &str, kind: &str) -> Target {
    let r0 = fleet.replica(0);
    let kubeconfig = r0.create_tenant_kubeconfig(tenant).unwrap();
    crate::ok(r0.kubectl(&kubeconfig, &["create", "ns", "work"]), "create ns");
    crate::ok(
        crate::kubectl_with_stdin(&kubeconfig, &["apply", "-f", "-"], &free_form_crd(group, plural, kind)),
        "create CRD",
    );
    Target { url: fleet.url().into(), ca: fleet.ca_file(), tenant: tenant.into(), token: crate::token_of(&kubeconfig) }
}

/// Where and as whom to write.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub ca: PathBuf,
    pub tenant: String,
    pub token: String,
}

impl Target {
    fn base(&self) -> String {
        format!("{}/clusters/{}", self.url, self.tenant)
    }
}

/// What came back during a run, beyond the successes.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Acknowledged value of every object (collection path → name → `data`).
    pub acked: BTreeMap<String, BTreeMap<String, u64>>,
    pub writes_acked: usize,
    /// Error answers by status code; each was a `metav1.Status` (else it is in `bad_errors`).
    pub errors: BTreeMap<u16, usize>,
    /// Errors that were not a Status with the same code, 503s without Retry-After, answers
    /// that took longer than the request timeout.
    pub bad_errors: Vec<String>,
    pub transport_errors: usize,
    /// The longest any one request took.
    pub slowest: Duration,
}

/// One answer: status and body.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Bytes,
}

/// Longest a single request may take before the writer calls it a hang.
pub const HANG: Duration = Duration::from_secs(20);

pub struct Writer {
    target: Target,
    conn: Option<hyper::client::conn::http2::SendRequest<Body>>,
    pub outcome: Outcome,
}

impl Writer {
    pub fn new(target: Target) -> Writer {
        Writer { target, conn: None, outcome: Outcome::default() }
    }

    async fn send(&mut self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Option<Answer> {
        if self.conn.is_none() {
            let io =
                match tokio::time::timeout(Duration::from_secs(5), tls(&self.target.url, &self.target.ca, &[b"h2"]))
                    .await
                {
                    Ok(Ok(io)) => io,
                    _ => {
                        self.outcome.transport_errors += 1;
                        return None;
                    }
                };
            let (send, conn) = match hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(io),
            )
            .await
            {
                Ok(c) => c,
                Err(_) => {
                    self.outcome.transport_errors += 1;
                    return None;
                }
            };
            tokio::spawn(conn);
            self.conn = Some(send);
        }
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.target.base()))
            .version(http::Version::HTTP_2)
            .header("authorization", format!("Bearer {}", self.target.token))
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(full(body))
            .unwrap();
        let started = Instant::now();
        let sender = self.conn.as_mut().unwrap();
        let exchange = async {
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Answer { status, retry_after, body })
        };
        let result = tokio::time::timeout(HANG, exchange).await;
        self.outcome.slowest = self.outcome.slowest.max(started.elapsed());
        match result {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(_)) => {
                self.outcome.transport_errors += 1;
                self.conn = None;
                None
            }
            Err(_) => {
                self.outcome.bad_errors.push(format!("{path}: no answer within {HANG:?}"));
                self.conn = None;
                None
            }
        }
    }

    /// `GET path`: status, Retry-After and message (or body), None on a transport error.
    pub async fn get_answer(&mut self, path: &str) -> Option<(u16, Option<u64>, String)> {
        let a = self.send(Method::GET, path, "application/json", Vec::new()).await?;
        let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        let text = v["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&a.body).chars().take(200).collect());
        Some((a.status.as_u16(), a.retry_after, text))
    }

    pub async fn get_status(&mut self, path: &str) -> Option<u16> {
        Some(self.get_answer(path).await?.0)
    }

    /// Checks an error answer is a Status of its own code (a 503 with Retry-After).
    fn judge_error(&mut self, what: &str, a: &Answer) {
        *self.outcome.errors.entry(a.status.as_u16()).or_default() += 1;
        let status: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        if status["kind"] != "Status" || status["code"] != a.status.as_u16() {
            self.outcome.bad_errors.push(format!(
                "{what}: {} with a body that is not its Status: {:?}",
                a.status,
                String::from_utf8_lossy(&a.body)
            ));
        } else if a.status == StatusCode::SERVICE_UNAVAILABLE && a.retry_after.is_none() {
            self.outcome.bad_errors.push(format!("{what}: 503 without Retry-After"));
        }
    }

    /// Creates `name` in `collection` with `data: n`, retrying until acknowledged or `deadline`.
    /// True when acknowledged.
    pub async fn create(
        &mut self,
        collection: &str,
        kind: &str,
        api_version: &str,
        name: &str,
        deadline: Instant,
    ) -> bool {
        let body = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": {"n": 0}, "data": {"n": "0"}});
        let mut uncertain = false;
        while Instant::now() < deadline {
            let Some(a) =
                self.send(Method::POST, collection, "application/json", serde_json::to_vec(&body).unwrap()).await
            else {
                uncertain = true;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            if a.status == StatusCode::CREATED || (a.status == StatusCode::CONFLICT && uncertain) {
                self.ack(collection, name, 0);
                return true;
            }
            self.judge_error(&format!("create {collection}/{name}"), &a);
            if a.status.is_server_error() || a.status == StatusCode::TOO_MANY_REQUESTS {
                uncertain |= a.status.is_server_error();
                let wait = a.retry_after.unwrap_or(1).min(5);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            return false;
        }
        false
    }

    /// Sets `name`'s value to `n` (a merge patch; idempotent, so safe to re-send).
    pub async fn update(&mut self, collection: &str, name: &str, n: u64, deadline: Instant) -> bool {
        let body = json!({"spec": {"n": n}, "data": {"n": n.to_string()}});
        let path = format!("{collection}/{name}");
        while Instant::now() < deadline {
            let Some(a) = self
                .send(Method::PATCH, &path, "application/merge-patch+json", serde_json::to_vec(&body).unwrap())
                .await
            else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            if a.status == StatusCode::OK {
                self.ack(collection, name, n);
                return true;
            }
            self.judge_error(&format!("patch {path}"), &a);
            if a.status.is_server_error() || a.status == StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(Duration::from_secs(a.retry_after.unwrap_or(1).min(5))).await;
                continue;
            }
            return false;
        }
        false
    }

    fn ack(&mut self, collection: &str, name: &str, n: u64) {
        self.outcome.acked.entry(collection.to_string()).or_default().insert(name.to_string(), n);
        self.outcome.writes_acked += 1;
    }

    /// Writes until `until`: creates objects `<prefix>-<i>` in turn in each collection, and
    /// updates the one before each new one.
    pub async fn run(
        mut self,
        collections: Vec<(String, &'static str, &'static str)>,
        prefix: String,
        until: Instant,
    ) -> Outcome {
        let mut i = 0u64;
        while Instant::now() < until {
            for (collection, kind, api_version) in &collections {
                let name = format!("{prefix}-{i}");
                // A write still in doubt at `until` gets a little longer to settle.
                let deadline = until.max(Instant::now()) + Duration::from_secs(30);
                if self.create(collection, kind, api_version, &name, deadline).await {
                    self.update(collection, &name, i + 1, deadline).await;
                }
            }
            i += 1;
        }
        self.outcome
    }

    /// Reads back every acknowledged object (after the faults are over) and returns what is
    /// missing or older than acknowledged.
    pub async fn lost(&mut self, acked: &BTreeMap<String, BTreeMap<String, u64>>) -> Vec<String> {
        let mut lost = Vec::new();
        for (collection, objects) in acked {
            let mut answer = None;
            for _ in 0..20 {
                match self.send(Method::GET, collection, "application/json", Vec::new()).await {
                    Some(a) if a.status == StatusCode::OK => {
                        answer = Some(a);
                        break;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
            let Some(a) = answer else {
                lost.push(format!("{collection}: cannot be listed after the faults"));
                continue;
            };
            let list: Value = serde_json::from_slice(&a.body).unwrap();
            let seen: BTreeMap<String, u64> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    let n =
                        o["spec"]["n"].as_u64().or_else(|| o["data"]["n"].as_str()?.parse().ok()).unwrap_or(u64::MAX);
                    (o["metadata"]["name"].as_str().unwrap().to_string(), n)
                })
                .collect();
            for (name, n) in objects {
                match seen.get(name) {
                    None => lost.push(format!("{collection}/{name}: acknowledged, not there")),
                    Some(v) if v < n => lost.push(format!("{collection}/{name}: acknowledged {n}, found {v}")),
                    Some(_) => {}
                }
            }
        }
        lost
    }
}

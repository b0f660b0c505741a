//! The two targets a scenario runs against, on one control plane:
//!
//! - `vcproxy`: tenants made with `vcproxy tenant create`, a policy file written for the
//!   scenario (one level `bench` with `--seats` seats, the scenario's weights, rate caps out of
//!   the way so the scheduler is what is measured); requests go to `/clusters/<tenant>/...`.
//! - `apf-direct`: each tenant is a ServiceAccount (`apf-<tenant>/<tenant>`, `edit` in its own
//!   namespace) talking straight to kube-apiserver with its token; API Priority and Fairness has
//!   one PriorityLevelConfiguration per tenant (Limited, nominalConcurrencyShares = weight
//!   scaled to integers, limitResponse Queue) and one FlowSchema per tenant matching its user,
//!   applied with the real kubectl as the super admin.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use http::Method;
use serde_json::json;
use vcproxy_testenv::{ControlPlane, Fleet, FleetOptions, Front, Vcproxy, VcproxyOptions};

use super::h2::H2;
use super::scenario::{Scenario, TenantLoad};
use crate::client::{Auth, Client};
use crate::fixtures;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Vcproxy,
    ApfDirect,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Vcproxy => "vcproxy",
            TargetKind::ApfDirect => "apf-direct",
        }
    }
}

/// Where and as whom one simulated tenant sends its requests.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub ca_file: PathBuf,
    pub auth: Auth,
    /// Path prefix (`/clusters/<tenant>` on vcproxy, empty directly).
    pub prefix: String,
    /// The namespace its objects live in (as the tenant names it).
    pub namespace: String,
}

/// The scenario's vcproxy policy: one level with `seats`, weights from the scenario.
pub fn policy_toml(sc: &Scenario, seats: u32, queue_length: u32) -> String {
    let mut s = format!(
        "# Written by `bench run {}`: one priority level shared by every tenant, weights from the scenario.\n\
         # Rate caps are set high so that what is measured is the fair queue, not GCRA.\n\
         [defaults]\nlevel = \"bench\"\nweight = 1.0\nrequests_per_second = 100000\nburst = 100000\n\
         max_open_watches = 100\n\n\
         [levels.bench]\nseats = {seats}\nqueue_length = {queue_length}\nqueued_work = {}\n\n\
         [levels.exempt]\nexempt = true\n\n\
         [rate_limits]\nglobal_requests_per_second = 1000000\nglobal_burst = 1000000\n",
        sc.name,
        queue_length * 4
    );
    for t in &sc.tenants {
        s += &format!("\n[tenants.{}]\nweight = {}\n", t.name, t.weight);
    }
    s
}

pub use crate::measure::vcproxy_bin;

/// Seats in use at the bench level, summed over the replicas: the upstream concurrency.
pub fn bench_seats_in_use(pages: &[String]) -> f64 {
    let key = "vcproxy_flowcontrol_level_executing_seats{priority_level=\"bench\"} ";
    pages.iter().filter_map(|m| m.lines().find_map(|l| l.strip_prefix(key)?.trim().parse::<f64>().ok())).sum()
}

/// Starts vcproxy (`replicas` > 1: that many behind HAProxy, sharing the policy) with the
/// scenario's policy (written to `out/policy.toml`) and creates the tenants.
#[allow(clippy::too_many_arguments)]
pub fn start_vcproxy(
    bin: &Path,
    cp: &ControlPlane,
    sc: &Scenario,
    seats: u32,
    queue_length: u32,
    replicas: usize,
    out: &Path,
) -> anyhow::Result<(Front, Vec<Endpoint>)> {
    std::fs::create_dir_all(out)?;
    let policy = out.join("policy.toml");
    std::fs::write(&policy, policy_toml(sc, seats, queue_length))?;
    let check = std::process::Command::new(bin).args(["policy", "check"]).arg(&policy).output()?;
    ensure!(
        check.status.success(),
        "vcproxy policy check {} failed:\n{}{}",
        policy.display(),
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let policy_abs = policy.canonicalize()?;
    let extra_toml = format!("[policy]\nfile = \"{}\"\n", policy_abs.display());
    let front = if replicas <= 1 {
        let opts = VcproxyOptions { extra_toml, ..VcproxyOptions::default() };
        Front::One(Vcproxy::start_with(bin, cp, opts).context("starting vcproxy")?)
    } else {
        let opts = FleetOptions { replicas, fleet: "bench".into(), extra_toml, ..FleetOptions::default() };
        Front::Fleet(Fleet::start(bin, cp, opts).context("starting vcproxy replicas behind HAProxy")?)
    };
    let proxy = front.first();
    let mut eps = Vec::new();
    for t in &sc.tenants {
        let yaml = proxy.create_tenant(&t.name)?;
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml)?;
        let token = v["users"][0]["user"]["token"].as_str().context("tenant kubeconfig has no token")?.to_string();
        eps.push(Endpoint {
            base_url: front.url().to_string(),
            ca_file: proxy.ca_file(),
            auth: Auth::Bearer(token),
            prefix: format!("/clusters/{}", t.name),
            namespace: "load".into(),
        });
    }
    Ok((front, eps))
}

/// APF nominalConcurrencyShares per tenant: weights scaled so the smallest is `min_shares`.
pub fn apf_shares(sc: &Scenario, min_shares: u32) -> Vec<u32> {
    let wmin = sc.tenants.iter().map(|t| t.weight).fold(f64::INFINITY, f64::min).max(1e-9);
    sc.tenants.iter().map(|t| ((t.weight / wmin) * min_shares as f64).round().max(1.0) as u32).collect()
}

/// The APF objects and tenant namespaces/ServiceAccounts for the apf-direct target.
pub fn apf_manifest(sc: &Scenario, min_shares: u32, queue_length: u32) -> String {
    let mut y = String::new();
    for (t, shares) in sc.tenants.iter().zip(apf_shares(sc, min_shares)) {
        let n = &t.name;
        y += &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apf-{n}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {n}\n  namespace: apf-{n}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: bench-edit\n  namespace: apf-{n}\n\
             roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: edit\n\
             subjects:\n- kind: ServiceAccount\n  name: {n}\n  namespace: apf-{n}\n---\n\
             apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata:\n  name: bench-{n}\n\
             spec:\n  type: Limited\n  limited:\n    nominalConcurrencyShares: {shares}\n    lendablePercent: 0\n\
             \x20   limitResponse:\n      type: Queue\n      queuing:\n        queues: 1\n        handSize: 1\n        queueLengthLimit: {queue_length}\n---\n\
             apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata:\n  name: bench-{n}\n\
             spec:\n  priorityLevelConfiguration:\n    name: bench-{n}\n  matchingPrecedence: 500\n\
             \x20 distinguisherMethod:\n    type: ByUser\n  rules:\n  - subjects:\n    - kind: ServiceAccount\n\
             \x20     serviceAccount:\n        name: {n}\n        namespace: apf-{n}\n\
             \x20   resourceRules:\n    - verbs: [\"*\"]\n      apiGroups: [\"*\"]\n      resources: [\"*\"]\n      namespaces: [\"*\"]\n      clusterScope: true\n\
             \x20   nonResourceRules:\n    - verbs: [\"*\"]\n      nonResourceURLs: [\"*\"]\n---\n"
        );
    }
    y
}

/// Applies the APF manifest and returns one endpoint per tenant (ServiceAccount tokens).
pub fn setup_apf(
    cp: &ControlPlane,
    sc: &Scenario,
    min_shares: u32,
    queue_length: u32,
    out: &Path,
) -> anyhow::Result<Vec<Endpoint>> {
    std::fs::create_dir_all(out)?;
    let path = out.join("apf.yaml");
    std::fs::write(&path, apf_manifest(sc, min_shares, queue_length))?;
    let o = cp.admin_kubectl(&["apply", "-f", &path.display().to_string()]);
    ensure!(o.status.success(), "kubectl apply -f {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    let mut eps = Vec::new();
    for t in &sc.tenants {
        let ns = format!("apf-{}", t.name);
        let deadline = Instant::now() + Duration::from_secs(20);
        let token = loop {
            let o = cp.admin_kubectl(&["create", "token", &t.name, "-n", &ns, "--duration=2h"]);
            if o.status.success() {
                break String::from_utf8(o.stdout)?.trim().to_string();
            }
            if Instant::now() > deadline {
                bail!("kubectl create token {} -n {ns}: {}", t.name, String::from_utf8_lossy(&o.stderr));
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        eps.push(Endpoint {
            base_url: cp.apiserver_url().to_string(),
            ca_file: cp.ca_file().to_path_buf(),
            auth: Auth::Bearer(token),
            prefix: String::new(),
            namespace: ns,
        });
    }
    Ok(eps)
}

/// Creates the tenant's namespace (vcproxy only; apf-direct's come from the manifest) and its
/// ConfigMaps, as the tenant.
pub async fn populate(kind: TargetKind, ep: &Endpoint, load: &TenantLoad) -> anyhow::Result<()> {
    let c = H2::connect(&ep.base_url, &ep.ca_file, &ep.auth, None).await?;
    let json_ct = "application/json";
    if kind == TargetKind::Vcproxy {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ep.namespace}});
        let o = c
            .request(
                Method::POST,
                &format!("{}/api/v1/namespaces", ep.prefix),
                Some((Bytes::from(body.to_string()), json_ct)),
                None,
            )
            .await?;
        ensure!(
            o.status.as_u16() == 201 || o.status.as_u16() == 409,
            "creating namespace for {}: {}",
            ep.prefix,
            o.status
        );
    }
    let path = format!("{}/api/v1/namespaces/{}/configmaps", ep.prefix, ep.namespace);
    let mut set = tokio::task::JoinSet::new();
    let chunks: Vec<Vec<usize>> = (0..8).map(|k| (0..load.objects).filter(|i| i % 8 == k).collect()).collect();
    for chunk in chunks {
        let (c, path, bytes) = (c.clone(), path.clone(), load.object_bytes);
        set.spawn(async move {
            for i in chunk {
                let body = Bytes::from(fixtures::configmap(&format!("cm-{i:04}"), bytes, i as u64).to_string());
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut attempt = 0;
                loop {
                    let o = c.request(Method::POST, &path, Some((body.clone(), "application/json")), None).await?;
                    match o.status.as_u16() {
                        201 => break,
                        409 if attempt > 0 => break,
                        403 | 404 | 429 if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(200)).await
                        }
                        s => bail!("POST {path}: {s}"),
                    }
                    attempt += 1;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// APF's seat limits per bench priority level, from the apiserver's metrics (best effort).
pub async fn apf_seat_limits(cp: &ControlPlane) -> Vec<(String, f64)> {
    let admin =
        Auth::ClientCert { cert: cp.admin_client_cert().to_path_buf(), key: cp.admin_client_key().to_path_buf() };
    let Ok(c) = Client::connect(cp.apiserver_url(), cp.ca_file(), &admin).await else { return Vec::new() };
    let Ok(r) = c.get_body("/metrics").await else { return Vec::new() };
    let text = r.text();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("apiserver_flowcontrol_nominal_limit_seats{") {
            if let Some(i) = rest.find("priority_level=\"") {
                let name: String = rest[i + 16..].chars().take_while(|c| *c != '"').collect();
                if let Some(v) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
                    out.push((name, v));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

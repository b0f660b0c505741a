//! Fairness policies: the operator's TOML file → validated flow-control and
//! per-tenant limits, checked (`vcproxy policy check FILE`) and hot-reloaded.
//!
//! An invalid file never takes effect: the old policy stays in force, the
//! reason is logged with a line number, and `vcproxy_policy_valid` drops to 0.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::config::TenancyConfig;
use crate::flowcontrol::ratelimit::{RateLimitConfig, RateQuota};
use crate::flowcontrol::{FlowControlConfig, LevelConfig, RetryAfterConfig, TenantAssignment};

/// Limits that are not about queuing, per tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantLimits {
    pub max_namespaces: usize,
    pub pod_security: String,
    /// Concurrent watches a tenant may hold open.
    pub max_open_watches: usize,
    /// Concurrent exec/attach/port-forward/log-follow streams.
    pub max_streams: usize,
    /// Widest a LIST may count, in seats.
    pub list_width_cap: u32,
    /// Tenant CRDs, custom objects, and their bytes.
    pub max_crds: usize,
    pub max_objects: usize,
    pub max_object_bytes: u64,
    /// Kubernetes levers closed to tenants that this tenant may use (see `guardrails`).
    pub allow: Vec<crate::guardrails::Lever>,
}

/// A validated policy: flow control plus tenant limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub flow: FlowControlConfig,
    pub defaults: TenantLimits,
    pub tenants: HashMap<String, TenantLimits>,
}

impl Policy {
    pub fn limits(&self, tenant: &str) -> &TenantLimits {
        self.tenants.get(tenant).unwrap_or(&self.defaults)
    }

    /// The policy in force when no file is configured: the flow-control
    /// defaults and the config file's `[tenancy]` section.
    pub fn from_tenancy(t: &TenancyConfig) -> Policy {
        Policy { flow: FlowControlConfig::default(), defaults: base_limits(t), tenants: HashMap::new() }
    }
}

fn base_limits(t: &TenancyConfig) -> TenantLimits {
    TenantLimits {
        max_namespaces: t.max_namespaces,
        pod_security: t.pod_security_enforce.clone(),
        max_open_watches: 100,
        max_streams: 20,
        list_width_cap: 10,
        max_crds: 50,
        max_objects: 10_000,
        max_object_bytes: 256 << 20,
        allow: Vec::new(),
    }
}

// ---- the file format ------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    defaults: RawLimits,
    #[serde(default)]
    levels: BTreeMap<String, RawLevel>,
    #[serde(default)]
    rate_limits: RawRates,
    #[serde(default)]
    retry_after: RawRetryAfter,
    #[serde(default)]
    classes: BTreeMap<String, RawLimits>,
    #[serde(default)]
    tenants: BTreeMap<String, RawLimits>,
}

/// Settings a tenant, a class or the defaults may carry.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    class: Option<String>,
    level: Option<String>,
    weight: Option<f64>,
    requests_per_second: Option<f64>,
    burst: Option<u32>,
    max_namespaces: Option<usize>,
    pod_security: Option<String>,
    max_open_watches: Option<usize>,
    max_streams: Option<usize>,
    list_width_cap: Option<u32>,
    max_crds: Option<usize>,
    max_objects: Option<usize>,
    max_object_bytes: Option<u64>,
    allow: Option<Vec<String>>,
}

impl RawLimits {
    /// `self` with unset fields taken from `base`.
    fn over(&self, base: &RawLimits) -> RawLimits {
        RawLimits {
            class: self.class.clone().or(base.class.clone()),
            level: self.level.clone().or(base.level.clone()),
            weight: self.weight.or(base.weight),
            requests_per_second: self.requests_per_second.or(base.requests_per_second),
            burst: self.burst.or(base.burst),
            max_namespaces: self.max_namespaces.or(base.max_namespaces),
            pod_security: self.pod_security.clone().or(base.pod_security.clone()),
            max_open_watches: self.max_open_watches.or(base.max_open_watches),
            max_streams: self.max_streams.or(base.max_streams),
            list_width_cap: self.list_width_cap.or(base.list_width_cap),
            max_crds: self.max_crds.or(base.max_crds),
            max_objects: self.max_objects.or(base.max_objects),
            max_object_bytes: self.max_object_bytes.or(base.max_object_bytes),
            allow: self.allow.clone().or(base.allow.clone()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    #[serde(default)]
    exempt: bool,
    seats: Option<u32>,
    queue_length: Option<usize>,
    queued_work: Option<u64>,
    default_service_seconds: Option<f64>,
    max_idle_credit_seconds: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRates {
    global_requests_per_second: Option<f64>,
    global_burst: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetryAfter {
    base_seconds: Option<f64>,
    max_seconds: Option<f64>,
    half_life_seconds: Option<f64>,
}

/// A policy error, with the line it refers to when known.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// Parses and validates a policy file's text. `tenancy` supplies the
/// defaults the file does not set.
pub fn parse(text: &str, tenancy: &TenancyConfig) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_string(),
    })?;
    let err =
        |table: &str, key: Option<&str>, message: String| PolicyError { line: find_line(text, table, key), message };

    // Levels.
    let mut levels = BTreeMap::new();
    for (name, l) in &raw.levels {
        let base = LevelConfig::default();
        let secs = |v: Option<f64>, d: Duration, key: &str| -> Result<Duration, PolicyError> {
            match v {
                None => Ok(d),
                // try_: `Duration::from_secs_f64` panics on values too large for a Duration.
                Some(s) if s >= 0.0 => Duration::try_from_secs_f64(s).map_err(|_| {
                    err(&format!("levels.{name}"), Some(key), format!("{key} must be at most 10^19 seconds, got {s}"))
                }),
                Some(s) => Err(err(
                    &format!("levels.{name}"),
                    Some(key),
                    format!("{key} must be a non-negative number, got {s}"),
                )),
            }
        };
        let level = LevelConfig {
            exempt: l.exempt,
            seats: l.seats.unwrap_or(base.seats),
            queue_length_limit: l.queue_length.unwrap_or(base.queue_length_limit),
            queued_work_limit: l.queued_work.unwrap_or(base.queued_work_limit),
            default_service_time: secs(
                l.default_service_seconds,
                base.default_service_time,
                "default_service_seconds",
            )?,
            max_idle_credit: secs(l.max_idle_credit_seconds, base.max_idle_credit, "max_idle_credit_seconds")?,
        };
        level.validate().map_err(|m| err(&format!("levels.{name}"), None, format!("level {name:?}: {m}")))?;
        levels.insert(name.clone(), level);
    }
    if levels.is_empty() {
        levels = FlowControlConfig::default().levels;
    }
    levels.entry("exempt".into()).or_insert(LevelConfig { exempt: true, ..LevelConfig::default() });

    // Classes resolve over the defaults; tenants over their class.
    for (name, c) in &raw.classes {
        if c.class.is_some() {
            return Err(err(
                &format!("classes.{name}"),
                Some("class"),
                format!("class {name:?} may not name another class"),
            ));
        }
    }
    let resolve = |what: &str, r: &RawLimits| -> Result<RawLimits, PolicyError> {
        let with_class = match &r.class {
            Some(c) => match raw.classes.get(c) {
                Some(class) => r.over(class),
                None => return Err(err(what, Some("class"), format!("class {c:?} is not defined under [classes]"))),
            },
            None => r.clone(),
        };
        Ok(with_class.over(&raw.defaults))
    };
    let defaults = resolve("defaults", &raw.defaults)?;
    let default_level = defaults.level.clone().unwrap_or_else(|| {
        if levels.contains_key("default") {
            "default".into()
        } else {
            levels.keys().find(|k| !levels[*k].exempt).cloned().unwrap_or_default()
        }
    });
    let limits_of = |what: &str, r: &RawLimits| -> Result<TenantLimits, PolicyError> {
        let base = base_limits(tenancy);
        let ps = r.pod_security.clone().unwrap_or(base.pod_security.clone());
        if !["privileged", "baseline", "restricted"].contains(&ps.as_str()) {
            return Err(err(
                what,
                Some("pod_security"),
                format!("pod_security must be privileged, baseline or restricted, got {ps:?}"),
            ));
        }
        let mut allow = Vec::new();
        for name in r.allow.iter().flatten() {
            let lever = crate::guardrails::Lever::parse(name).ok_or_else(|| {
                let known: Vec<&str> = crate::guardrails::Lever::ALL.iter().map(|l| l.name()).collect();
                err(what, Some("allow"), format!("unknown lever {name:?} in allow; known: {}", known.join(", ")))
            })?;
            if !allow.contains(&lever) {
                allow.push(lever);
            }
        }
        Ok(TenantLimits {
            max_namespaces: r.max_namespaces.unwrap_or(base.max_namespaces),
            pod_security: ps,
            max_open_watches: r.max_open_watches.unwrap_or(base.max_open_watches),
            max_streams: r.max_streams.unwrap_or(base.max_streams),
            list_width_cap: r.list_width_cap.unwrap_or(base.list_width_cap).max(1),
            max_crds: r.max_crds.unwrap_or(base.max_crds),
            max_objects: r.max_objects.unwrap_or(base.max_objects),
            max_object_bytes: r.max_object_bytes.unwrap_or(base.max_object_bytes),
            allow,
        })
    };
    let quota = |what: &str, r: &RawLimits| -> Result<Option<RateQuota>, PolicyError> {
        match (r.requests_per_second, r.burst) {
            (None, _) => Ok(None),
            (Some(rps), burst) => {
                let q = RateQuota::new(rps, burst.unwrap_or_else(|| (rps * 2.0).ceil().max(1.0) as u32));
                q.validate().map_err(|m| err(what, Some("requests_per_second"), m))?;
                Ok(Some(q))
            }
        }
    };

    let mut flow_tenants = HashMap::new();
    let mut tenant_limits = HashMap::new();
    let mut overrides = HashMap::new();
    for (name, t) in &raw.tenants {
        let what = format!("tenants.{name}");
        let r = resolve(&what, t)?;
        if let Some(l) = &r.level {
            if !levels.contains_key(l) {
                return Err(err(&what, Some("level"), format!("priority level {l:?} is not defined under [levels]")));
            }
        }
        let weight = r.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            return Err(err(&what, Some("weight"), format!("weight must be a positive number, got {weight}")));
        }
        flow_tenants.insert(name.clone(), TenantAssignment { level: r.level.clone(), weight });
        tenant_limits.insert(name.clone(), limits_of(&what, &r)?);
        overrides.insert(name.clone(), quota(&what, &r)?);
    }
    let global = match raw.rate_limits.global_requests_per_second {
        None => None,
        Some(rps) => {
            let q = RateQuota::new(rps, raw.rate_limits.global_burst.unwrap_or_else(|| (rps * 2.0).ceil() as u32));
            q.validate().map_err(|m| err("rate_limits", Some("global_requests_per_second"), m))?;
            Some(q)
        }
    };
    // An unusable value (not positive, or too large for a Duration) keeps the default.
    let secs = |v: Option<f64>, d: Duration| {
        v.filter(|s| *s > 0.0).and_then(|s| Duration::try_from_secs_f64(s).ok()).unwrap_or(d)
    };
    let ra = RetryAfterConfig::default();
    let flow = FlowControlConfig {
        levels,
        default_level,
        tenants: flow_tenants,
        default_weight: defaults.weight.unwrap_or(1.0),
        rate_limits: RateLimitConfig { per_tenant: quota("defaults", &defaults)?, overrides, global },
        retry_after: RetryAfterConfig {
            base: secs(raw.retry_after.base_seconds, ra.base),
            max: secs(raw.retry_after.max_seconds, ra.max),
            half_life: secs(raw.retry_after.half_life_seconds, ra.half_life),
        },
    };
    flow.validate().map_err(|m| PolicyError { line: None, message: m })?;
    Ok(Policy { flow, defaults: limits_of("defaults", &defaults)?, tenants: tenant_limits })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `key` inside `[table]` (or of the table header).
fn find_line(text: &str, table: &str, key: Option<&str>) -> Option<usize> {
    let header = format!("[{table}]");
    let mut in_table = false;
    let mut header_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = t == header;
            if in_table {
                header_line = Some(i + 1);
            }
            continue;
        }
        if in_table {
            if let Some(k) = key {
                if t.split('=').next().map(str::trim) == Some(k) {
                    return Some(i + 1);
                }
            }
        }
    }
    header_line
}

// ---- the policy in force ----------------------------------------------------

/// The current policy, swapped atomically on reload.
pub struct PolicyHandle {
    current: RwLock<Arc<Policy>>,
    file: Option<PathBuf>,
    tenancy: TenancyConfig,
}

impl PolicyHandle {
    /// Loads `file` (if any). A file that is invalid at start-up is an error.
    pub fn load(file: Option<&Path>, tenancy: &TenancyConfig) -> anyhow::Result<Arc<PolicyHandle>> {
        let policy = match file {
            Some(f) => {
                let text =
                    std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("reading policy {}: {e}", f.display()))?;
                parse(&text, tenancy).map_err(|e| anyhow::anyhow!("policy {}: {e}", f.display()))?
            }
            None => Policy::from_tenancy(tenancy),
        };
        Ok(Arc::new(PolicyHandle {
            current: RwLock::new(Arc::new(policy)),
            file: file.map(Path::to_path_buf),
            tenancy: tenancy.clone(),
        }))
    }

    pub fn get(&self) -> Arc<Policy> {
        self.current.read().unwrap().clone()
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Re-reads the file; on success returns the new policy (already in force).
    pub fn reload(&self) -> Result<Arc<Policy>, PolicyError> {
        let Some(file) = &self.file else { return Ok(self.get()) };
        let text = std::fs::read_to_string(file)
            .map_err(|e| PolicyError { line: None, message: format!("reading {}: {e}", file.display()) })?;
        let policy = Arc::new(parse(&text, &self.tenancy)?);
        *self.current.write().unwrap() = policy.clone();
        Ok(policy)
    }

    /// The file's modification time (to notice edits).
    pub fn modified(&self) -> Option<SystemTime> {
        std::fs::metadata(self.file.as_ref()?).and_then(|m| m.modified()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[defaults]
level = "workload"
weight = 1
max_namespaces = 10

[levels.workload]
seats = 8
queue_length = 20

[classes.gold]
weight = 4
max_namespaces = 50

[tenants.acme]
class = "gold"

[tenants.globex]
weight = 2
requests_per_second = 5
"#;

    #[test]
    fn parses_classes_and_overrides() {
        let p = parse(EXAMPLE, &TenancyConfig::default()).unwrap();
        assert_eq!(p.flow.default_level, "workload");
        assert_eq!(p.flow.levels["workload"].seats, 8);
        assert!(p.flow.levels["exempt"].exempt);
        assert_eq!(p.flow.tenants["acme"].weight, 4.0);
        assert_eq!(p.flow.tenants["globex"].weight, 2.0);
        assert_eq!(p.limits("acme").max_namespaces, 50);
        assert_eq!(p.limits("globex").max_namespaces, 10);
        assert_eq!(p.limits("other").max_namespaces, 10);
        assert_eq!(p.flow.rate_limits.overrides["globex"].unwrap().per_second, 5.0);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = EXAMPLE.replace("class = \"gold\"", "class = \"platinum\"");
        let e = parse(&bad, &TenancyConfig::default()).unwrap_err();
        assert!(e.message.contains("platinum"), "{e}");
        assert_eq!(e.line, Some(bad.lines().position(|l| l.contains("platinum")).unwrap() + 1));

        let typo = EXAMPLE.replace("queue_length", "queue_lenght");
        let e = parse(&typo, &TenancyConfig::default()).unwrap_err();
        assert_eq!(e.line, Some(typo.lines().position(|l| l.contains("queue_lenght")).unwrap() + 1), "{e}");

        let zero = EXAMPLE.replace("weight = 2", "weight = 0");
        let e = parse(&zero, &TenancyConfig::default()).unwrap_err();
        assert!(e.to_string().contains("weight"), "{e}");

        let seats = EXAMPLE.replace("seats = 8", "seats = 0");
        assert!(parse(&seats, &TenancyConfig::default()).is_err());
    }

    #[test]
    fn allowances_are_levers_by_name_and_inherit_like_the_rest() {
        use crate::guardrails::Lever;
        let text = format!("{EXAMPLE}allow = [\"external-ips\"]\n\n[tenants.initech]\nclass = \"gold\"\n");
        let text = text.replace("[classes.gold]\n", "[classes.gold]\nallow = [\"node-name\", \"node-name\"]\n");
        let p = parse(&text, &TenancyConfig::default()).unwrap();
        assert_eq!(p.limits("globex").allow, vec![Lever::ExternalIps], "the tenant's own list");
        assert_eq!(p.limits("initech").allow, vec![Lever::NodeName], "from its class, once");
        assert!(p.limits("other").allow.is_empty(), "closed unless allowed");

        let typo = text.replace("\"external-ips\"", "\"externalIPs\"");
        let e = parse(&typo, &TenancyConfig::default()).unwrap_err();
        assert!(e.message.contains("externalIPs") && e.message.contains("external-ips"), "{e}");
    }

    #[test]
    fn the_shipped_policies_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                parse(&text, &TenancyConfig::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                checked += 1;
            }
        }
        assert!(checked >= 2, "expected policies/default.toml and examples");
    }
}

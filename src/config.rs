//! The configuration file (`vcproxy.toml`), read once and validated.
//!
//! Only [`Config::load`] builds a [`Config`], so every other module can trust
//! that addresses parse, files are named, and relative paths are already
//! resolved against the config file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the config file; generated certificates live in `dir/pki`.
    pub dir: PathBuf,
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub etcd: EtcdConfig,
    pub tenancy: TenancyConfig,
    /// The fairness policy file (`policies/*.toml`), hot-reloaded; None = defaults.
    pub policy_file: Option<PathBuf>,
    /// Connection, header, stream, body and duration limits of the tenant listener.
    pub limits: crate::limits::Limits,
    /// Which fleet of replicas this one shares the policy's seats and rate caps with.
    pub fleet: crate::fleet::FleetConfig,
}

/// What every tenant's virtual cluster looks like, until per-tenant policies
/// override it.
#[derive(Debug, Clone)]
pub struct TenancyConfig {
    /// Most namespaces a tenant may have.
    pub max_namespaces: usize,
    /// Pod Security Admission level enforced in tenant namespaces
    /// (`privileged`, `baseline` or `restricted`); tenants cannot change it.
    pub pod_security_enforce: String,
    /// Cluster-scoped resources tenants may read (never write), as
    /// `resource` (core) or `resource.group`.
    pub cluster_scoped_readonly: Vec<String>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        TenancyConfig {
            max_namespaces: 100,
            pod_security_enforce: "baseline".into(),
            cluster_scoped_readonly: [
                "nodes",
                "storageclasses.storage.k8s.io",
                "priorityclasses.scheduling.k8s.io",
                "ingressclasses.networking.k8s.io",
                "runtimeclasses.node.k8s.io",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The tenant listener (TLS, h2 and http/1.1).
    pub listen: SocketAddr,
    /// Plain-HTTP admin listener: `/metrics`. Keep it on loopback.
    pub admin_listen: SocketAddr,
    /// The base URL tenants reach, written into kubeconfigs.
    pub public_url: String,
    /// Serving certificate and key; when absent vcproxy generates a CA and a
    /// serving certificate into `dir/pki` on first start.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// CA bundle that verifies `cert_file`, embedded in kubeconfigs.
    pub ca_file: Option<PathBuf>,
    /// Extra DNS names / IPs for a generated serving certificate.
    pub extra_sans: Vec<String>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub url: http::Uri,
    pub ca_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    /// Long-running streams (watches) per upstream HTTP/2 connection before vcproxy opens
    /// another; at most the apiserver's `--http2-max-streams-per-connection`.
    pub max_streams_per_connection: usize,
}

#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    /// Key prefix of everything vcproxy stores, without a trailing slash.
    pub prefix: String,
}

/// kube-apiserver's HTTP/2 stream limit per connection unless `--http2-max-streams-per-connection`
/// says otherwise, less a margin for streams the client library opens itself.
pub const DEFAULT_STREAMS_PER_CONNECTION: usize = 90;

// The file's shape; converted into the validated types above.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    upstream: RawUpstream,
    etcd: RawEtcd,
    #[serde(default)]
    tenancy: Option<RawTenancy>,
    #[serde(default)]
    policy: Option<RawPolicyRef>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    fleet: Option<RawFleet>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    name: Option<String>,
    lease_seconds: Option<u64>,
}

impl RawFleet {
    fn validate(self) -> anyhow::Result<crate::fleet::FleetConfig> {
        let d = crate::fleet::FleetConfig::default();
        let name = self.name.unwrap_or(d.name);
        // The name is one etcd key segment.
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
            bail!("fleet.name {name:?} must be letters, digits, '-', '_' or '.'");
        }
        let lease = match self.lease_seconds {
            Some(s) if !(2..=60).contains(&s) => bail!("fleet.lease_seconds must be between 2 and 60, got {s}"),
            Some(s) => std::time::Duration::from_secs(s),
            None => d.lease,
        };
        Ok(crate::fleet::FleetConfig { name, lease })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_streams_per_connection: Option<u32>,
    max_pending_reset_streams: Option<usize>,
    tls_handshake_seconds: Option<u64>,
    header_read_seconds: Option<u64>,
    max_body_bytes: Option<usize>,
    max_request_seconds: Option<u64>,
}

impl RawLimits {
    fn validate(self) -> anyhow::Result<crate::limits::Limits> {
        let d = crate::limits::Limits::default();
        let positive = |name: &str, v: Option<u64>, default: u64| -> anyhow::Result<u64> {
            match v {
                Some(0) => bail!("limits.{name} must be at least 1"),
                Some(v) => Ok(v),
                None => Ok(default),
            }
        };
        let secs = |name: &str, v: Option<u64>, default: std::time::Duration| {
            positive(name, v, default.as_secs()).map(std::time::Duration::from_secs)
        };
        let limits = crate::limits::Limits {
            max_connections: positive("max_connections", self.max_connections.map(|v| v as u64), d.max_connections as u64)? as usize,
            max_connections_per_ip: positive("max_connections_per_ip", self.max_connections_per_ip.map(|v| v as u64), d.max_connections_per_ip as u64)? as usize,
            max_header_bytes: positive("max_header_bytes", self.max_header_bytes.map(|v| v as u64), d.max_header_bytes as u64)? as usize,
            max_headers: positive("max_headers", self.max_headers.map(|v| v as u64), d.max_headers as u64)? as usize,
            max_streams_per_connection: positive("max_streams_per_connection", self.max_streams_per_connection.map(u64::from), d.max_streams_per_connection.into())? as u32,
            max_pending_reset_streams: positive("max_pending_reset_streams", self.max_pending_reset_streams.map(|v| v as u64), d.max_pending_reset_streams as u64)? as usize,
            tls_handshake: secs("tls_handshake_seconds", self.tls_handshake_seconds, d.tls_handshake)?,
            header_read: secs("header_read_seconds", self.header_read_seconds, d.header_read)?,
            max_body_bytes: positive("max_body_bytes", self.max_body_bytes.map(|v| v as u64), d.max_body_bytes as u64)? as usize,
            max_request: secs("max_request_seconds", self.max_request_seconds, d.max_request)?,
        };
        // hyper needs room for one read buffer of at least 8 KiB.
        if limits.max_header_bytes < 8192 {
            bail!("limits.max_header_bytes must be at least 8192");
        }
        if limits.max_connections_per_ip > limits.max_connections {
            bail!("limits.max_connections_per_ip cannot be more than limits.max_connections");
        }
        Ok(limits)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyRef {
    file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenancy {
    max_namespaces: Option<usize>,
    pod_security_enforce: Option<String>,
    cluster_scoped_readonly: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    admin_listen: String,
    public_url: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    extra_sans: Vec<String>,
    drain_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    url: String,
    ca_file: PathBuf,
    client_cert_file: PathBuf,
    client_key_file: PathBuf,
    #[serde(default)]
    max_streams_per_connection: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEtcd {
    endpoints: Vec<String>,
    prefix: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        let dir = path
            .canonicalize()
            .with_context(|| format!("resolving {}", path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, dir).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str, dir: PathBuf) -> anyhow::Result<Config> {
        let raw: RawConfig = toml::from_str(text)?;
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };

        let listen: SocketAddr = raw.server.listen.parse().context("server.listen must be HOST:PORT")?;
        let admin_listen: SocketAddr =
            raw.server.admin_listen.parse().context("server.admin_listen must be HOST:PORT")?;
        let public_url =
            raw.server.public_url.unwrap_or_else(|| format!("https://{listen}")).trim_end_matches('/').to_string();
        if !public_url.starts_with("https://") {
            bail!("server.public_url must be an https:// URL, got {public_url:?}");
        }
        if raw.server.cert_file.is_some() != raw.server.key_file.is_some() {
            bail!("server.cert_file and server.key_file must be set together");
        }

        let url: http::Uri = raw.upstream.url.parse().context("upstream.url is not a URL")?;
        if url.scheme_str() != Some("https") || url.authority().is_none() {
            bail!("upstream.url must be https://HOST:PORT, got {}", raw.upstream.url);
        }
        if url.path() != "/" && !url.path().is_empty() {
            bail!("upstream.url must not have a path, got {}", raw.upstream.url);
        }

        if raw.etcd.endpoints.is_empty() {
            bail!("etcd.endpoints must name at least one endpoint");
        }
        let prefix = raw.etcd.prefix.unwrap_or_else(|| "/vcproxy".into());
        let prefix = prefix.trim_end_matches('/').to_string();
        if !prefix.starts_with('/') || prefix.len() < 2 {
            bail!("etcd.prefix must start with '/' and not be the root, got {prefix:?}");
        }

        let mut tenancy = TenancyConfig::default();
        if let Some(t) = raw.tenancy {
            tenancy.max_namespaces = t.max_namespaces.unwrap_or(tenancy.max_namespaces);
            tenancy.pod_security_enforce = t.pod_security_enforce.unwrap_or(tenancy.pod_security_enforce);
            tenancy.cluster_scoped_readonly = t.cluster_scoped_readonly.unwrap_or(tenancy.cluster_scoped_readonly);
        }
        if !["privileged", "baseline", "restricted"].contains(&tenancy.pod_security_enforce.as_str()) {
            bail!(
                "tenancy.pod_security_enforce must be privileged, baseline or restricted, got {:?}",
                tenancy.pod_security_enforce
            );
        }

        Ok(Config {
            limits: raw.limits.unwrap_or_default().validate()?,
            fleet: raw.fleet.unwrap_or_default().validate()?,
            tenancy,
            policy_file: raw.policy.map(|p| resolve(p.file)),
            server: ServerConfig {
                listen,
                admin_listen,
                public_url,
                cert_file: raw.server.cert_file.map(resolve),
                key_file: raw.server.key_file.map(resolve),
                ca_file: raw.server.ca_file.map(resolve),
                extra_sans: raw.server.extra_sans,
                drain_seconds: raw.server.drain_seconds.unwrap_or(30),
            },
            upstream: UpstreamConfig {
                url,
                ca_file: resolve(raw.upstream.ca_file),
                client_cert_file: resolve(raw.upstream.client_cert_file),
                client_key_file: resolve(raw.upstream.client_key_file),
                max_streams_per_connection: match raw.upstream.max_streams_per_connection {
                    Some(0) => bail!("upstream.max_streams_per_connection must be at least 1"),
                    Some(n) => n,
                    None => DEFAULT_STREAMS_PER_CONNECTION,
                },
            },
            etcd: EtcdConfig { endpoints: raw.etcd.endpoints, prefix },
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8443"
admin_listen = "127.0.0.1:9443"
[upstream]
url = "https://127.0.0.1:6443"
ca_file = "pki/ca.crt"
client_cert_file = "/abs/client.crt"
client_key_file = "client.key"
[etcd]
endpoints = ["http://127.0.0.1:2379"]
"#;

    #[test]
    fn resolves_relative_paths_and_defaults() {
        let c = Config::parse(GOOD, PathBuf::from("/etc/vcproxy")).unwrap();
        assert_eq!(c.upstream.ca_file, PathBuf::from("/etc/vcproxy/pki/ca.crt"));
        assert_eq!(c.upstream.client_cert_file, PathBuf::from("/abs/client.crt"));
        assert_eq!(c.server.public_url, "https://127.0.0.1:8443");
        assert_eq!(c.etcd.prefix, "/vcproxy");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let typo = GOOD.replace("admin_listen", "admin_lisen");
        assert!(Config::parse(&typo, PathBuf::from("/")).is_err());
        let http = GOOD.replace("https://127.0.0.1:6443", "http://127.0.0.1:6443");
        assert!(Config::parse(&http, PathBuf::from("/")).is_err());
        let root = GOOD.replace("[etcd]", "[etcd]\nprefix = \"/\"");
        assert!(Config::parse(&root, PathBuf::from("/")).is_err());
    }
}

//! TLS for both sides: the tenant listener's certificate and the upstream mTLS identity.
//!
//! rustls with the ring provider only. The listener offers ALPN `h2` and
//! `http/1.1`. Without a configured certificate, vcproxy generates a CA and a
//! serving certificate into `<config dir>/pki` on first start and reuses them
//! afterwards; the CA is what tenant kubeconfigs trust.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// Where the serving certificate, its key, and the CA to trust come from.
#[derive(Debug, Clone)]
pub struct ServingPki {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA PEM a tenant's kubeconfig embeds.
    pub ca_file: PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The serving PKI in force: configured files, or generated ones (created on first use).
pub fn ensure_serving_pki(config: &Config) -> anyhow::Result<ServingPki> {
    if let (Some(cert), Some(key)) = (&config.server.cert_file, &config.server.key_file) {
        return Ok(ServingPki {
            cert_file: cert.clone(),
            key_file: key.clone(),
            ca_file: config.server.ca_file.clone().unwrap_or_else(|| cert.clone()),
        });
    }
    let dir = config.dir.join("pki");
    let pki = ServingPki {
        cert_file: dir.join("serving.crt"),
        key_file: dir.join("serving.key"),
        ca_file: dir.join("ca.crt"),
    };
    if !pki.cert_file.exists() {
        generate_serving_pki(&dir, &sans(config))?;
    }
    Ok(pki)
}

fn sans(config: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(uri) = config.server.public_url.parse::<http::Uri>() {
        if let Some(host) = uri.host() {
            names.push(host.trim_matches(|c| c == '[' || c == ']').to_string());
        }
    }
    let ip = config.server.listen.ip();
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    names.extend(config.server.extra_sans.iter().cloned());
    names.sort();
    names.dedup();
    names
}

/// Generates a CA and a serving certificate into `dir`. Written into a temporary
/// directory and renamed into place, so two processes starting at once cannot
/// leave a CA that does not match the certificate.
fn generate_serving_pki(dir: &Path, sans: &[String]) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "vcproxy-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for name in sans {
        params.subject_alt_names.push(match name.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) => rcgen::SanType::DnsName(name.clone().try_into()?),
        });
    }
    params.distinguished_name.push(DnType::CommonName, "vcproxy");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    let parent = dir.parent().ok_or_else(|| anyhow!("pki dir has no parent"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempdir_in(parent)?;
    std::fs::write(tmp.join("ca.crt"), ca_cert.pem())?;
    write_private(&tmp.join("ca.key"), &ca_key.serialize_pem())?;
    std::fs::write(tmp.join("serving.crt"), cert.pem())?;
    write_private(&tmp.join("serving.key"), &key.serialize_pem())?;
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        // Someone else generated it first: theirs wins, ours goes.
        Err(_) if dir.join("serving.crt").exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("moving generated certificates to {}", dir.display())),
    }
}

fn tempdir_in(parent: &Path) -> anyhow::Result<PathBuf> {
    let tmp = parent.join(format!(".pki-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir(&tmp)?;
    Ok(tmp)
}

fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().create_new(true).write(true).mode(0o600).open(path)?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("parsing private key in {}", path.display()))?
        .ok_or_else(|| anyhow!("no private key in {}", path.display()))
}

/// The tenant listener's TLS config: ALPN h2 first, then http/1.1.
pub fn server_config(pki: &ServingPki) -> anyhow::Result<rustls::ServerConfig> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(load_certs(&pki.cert_file)?, load_key(&pki.key_file)?)
        .context("serving certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The upstream client's TLS config: trusts the apiserver's CA and presents the
/// proxy's own client certificate. ALPN is set by the connector.
pub fn upstream_client_config(config: &Config) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(&config.upstream.ca_file)? {
        roots.add(cert).context("adding upstream CA")?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            load_certs(&config.upstream.client_cert_file)?,
            load_key(&config.upstream.client_key_file)?,
        )
        .context("upstream client certificate and key do not match")?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pki_is_usable_and_reused() {
        let dir = std::env::temp_dir().join(format!("vcproxy-tls-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = r#"
[server]
listen = "127.0.0.1:8443"
admin_listen = "127.0.0.1:9443"
[upstream]
url = "https://127.0.0.1:6443"
ca_file = "x"
client_cert_file = "x"
client_key_file = "x"
[etcd]
endpoints = ["http://127.0.0.1:2379"]
"#;
        let config = Config::parse(text, dir.clone()).unwrap();
        let pki = ensure_serving_pki(&config).unwrap();
        let first = std::fs::read(&pki.ca_file).unwrap();
        server_config(&pki).unwrap();
        let again = ensure_serving_pki(&config).unwrap();
        assert_eq!(first, std::fs::read(&again.ca_file).unwrap(), "CA must be reused, not regenerated");
        let mode = std::fs::metadata(&pki.key_file).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o077, 0, "private key must not be readable by others");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

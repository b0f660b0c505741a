//! Run-time PKI for the control plane (rcgen, ring): a CA, the apiserver's
//! serving certificate, client certificates and the service-account key.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A PEM certificate and its PEM (PKCS#8) private key, plus where they were written.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Everything the control plane needs, written into one directory.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: CertFiles,
    pub apiserver: CertFiles,
    /// CN=admin, O=system:masters.
    pub admin: CertFiles,
    /// CN=vcproxy, O=system:masters: the proxy's upstream identity.
    pub vcproxy: CertFiles,
    /// ECDSA P-256 private key (PKCS#8 PEM) that signs service-account tokens.
    pub sa_key_file: PathBuf,
    /// Its public key (PKIX PEM) that verifies them.
    pub sa_pub_file: PathBuf,
}

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

fn write(path: &Path, data: &str, mode: u32) -> anyhow::Result<()> {
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn save(dir: &Path, name: &str, cert_pem: String, key: &KeyPair) -> anyhow::Result<CertFiles> {
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    let key_pem = key.serialize_pem();
    write(&cert_file, &cert_pem, 0o644)?;
    write(&key_file, &key_pem, 0o600)?;
    Ok(CertFiles { cert_pem, key_pem, cert_file, key_file })
}

fn leaf(
    dir: &Path,
    name: &str,
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    org: Option<&str>,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<CertFiles> {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name = dn(cn, org);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    save(dir, name, cert.pem(), &key)
}

impl Pki {
    /// Generates all keys and certificates into `dir`.
    pub fn generate(dir: &Path) -> anyhow::Result<Pki> {
        fs::create_dir_all(dir)?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = dn("vcproxy-testenv-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = save(dir, "ca", ca_cert.pem(), &ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let apiserver = leaf(
            dir,
            "apiserver",
            &issuer,
            "kube-apiserver",
            None,
            &[
                "127.0.0.1",
                "::1",
                "10.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let client = ExtendedKeyUsagePurpose::ClientAuth;
        let admin = leaf(dir, "admin", &issuer, "admin", Some("system:masters"), &[], client.clone())?;
        let vcproxy = leaf(dir, "vcproxy", &issuer, "vcproxy", Some("system:masters"), &[], client)?;

        let sa = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let sa_key_file = dir.join("sa.key");
        let sa_pub_file = dir.join("sa.pub");
        write(&sa_key_file, &sa.serialize_pem(), 0o600)?;
        write(&sa_pub_file, &sa.public_key_pem(), 0o644)?;

        Ok(Pki { ca, apiserver, admin, vcproxy, sa_key_file, sa_pub_file })
    }
}

/// A kubeconfig (YAML) with everything embedded, so it keeps working when moved.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: super
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: super-{user}
  context:
    cluster: super
    user: {user}
current-context: super-{user}
",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
    )
}

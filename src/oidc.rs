//! OIDC per tenant: ID tokens from the tenant's own issuer authenticate its users.
//!
//! Static tokens suit robots and the first admin; people are better served by the
//! identity provider their company already runs. A tenant may therefore be given one
//! OIDC issuer ([`OidcIssuer`], stored with the tenant in etcd and set with
//! `vcproxy tenant oidc`), with kube-apiserver's `--oidc-*` semantics. Its ID tokens
//! are verified here by the `jsonwebtoken` crate (RustCrypto backend: jsonwebtoken
//! has no ring backend since 10, and vcproxy only *verifies*, with public keys), and
//! their claims become the tenant's user and groups. The rest of the proxy never
//! sees the token, only the names.
//!
//! What a token must be, or it is refused — every refusal is the same `None`, which
//! `authn` turns into the same 401 as a wrong static token:
//! - a compact JWS signed with an asymmetric algorithm: RS256/384/512, PS256/384/512,
//!   ES256, ES384. Never `none`, never HS* (a JWKS `oct` key is ignored, so the
//!   classic "HMAC with the public key as secret" confusion has no key to use);
//! - signed by the JWKS key its `kid` names (or the only key, when it names none);
//!   a JWK's own `alg`, when given, is the only algorithm that key verifies;
//! - `iss` a string equal to `issuerUrl` exactly; `aud` (string or array) contains
//!   `clientId`; `exp` present and not past — no leeway, as kube-apiserver; `nbf`,
//!   if present, not more than [`NBF_LEEWAY_SECS`] ahead (go-oidc's clock skew);
//! - the username claim a string (`email` needs `email_verified` true when that claim
//!   is present, as kube-apiserver); the groups claim, if configured and present, a
//!   string or an array of strings.
//!
//! Names. kube-apiserver's prefix rule: without `usernamePrefix`, a username claim
//! other than `email` is prefixed with `<issuerUrl>#` (so `sub` values of two issuers
//! never meet); `-` means no prefix. Groups get `groupsPrefix` (default none). Static
//! users are DNS labels (`tenants::validate_user_name`), but an OIDC name such as
//! `https://idp.example#a1b2` or `jane@example.com` is not, so prefixed names follow a
//! separate rule, [`valid_name`]: 1 to [`MAX_NAME`] bytes of printable ASCII (they
//! travel in `Impersonate-User`/`-Group` headers as `vcproxy:<tenant>:<name>`), no
//! leading/trailing space, no `,` (header list separator), not starting with `:`,
//! and never `system:…` in any case — a `system:` user or group fails the whole
//! token, since those are the shared cluster's identities (and `subjects.rs` gives
//! `system:serviceaccount:…` a meaning inside the tenant). At most [`MAX_GROUPS`]
//! groups. With `usernamePrefix: "-"` an OIDC user can have the name of a static user
//! (`admin`) and is then the same user to RBAC; that is the operator's choice.
//!
//! Keys come from the JWKS given at configuration time (`jwks`, from a file), or are
//! fetched (`fetchJwks`): `<issuerUrl>/.well-known/openid-configuration` → its
//! `issuer` must equal `issuerUrl` → `jwks_uri` (https). The fetch runs in the
//! background, bounded (5 s connect, 10 s per request, 1 MiB per body), refreshed
//! hourly, retried with backoff on failure, and nudged (at most every 30 s) when a
//! token names an unknown `kid`, so key rotation is picked up without a restart.
//! Verification never waits for the network: until keys arrive tokens are refused.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `nbf` may be this far in the future (clock skew between issuer and proxy).
pub const NBF_LEEWAY_SECS: i64 = 60;
/// Longest user or group name, after its prefix.
pub const MAX_NAME: usize = 253;
/// Most groups one token may carry.
pub const MAX_GROUPS: usize = 256;
/// Longest token considered at all.
const MAX_TOKEN: usize = 16 * 1024;
/// Largest discovery document or JWKS fetched.
const MAX_FETCH_BODY: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const REFRESH_EVERY: Duration = Duration::from_secs(3600);
const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Algorithms a token may use: asymmetric only.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];
const RSA_ALGS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];

fn default_username_claim() -> String {
    "sub".into()
}

/// A tenant's OIDC issuer, as stored in its `TenantMeta` (kube-apiserver's `--oidc-*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OidcIssuer {
    /// `https://…`; the tokens' `iss` must equal it exactly.
    pub issuer_url: String,
    /// Must be in the tokens' `aud`.
    pub client_id: String,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// None: `<issuerUrl>#` unless the claim is `email`; `"-"`: no prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub groups_prefix: String,
    /// The issuer's JWKS, read from a file when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Fetch the JWKS through the issuer's discovery document instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fetch_jwks: bool,
    /// PEM CA bundle for fetching (read from a file when configured); default: the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

impl OidcIssuer {
    /// Checks what can be checked without the network; the CLI calls it before storing.
    pub fn validate(&self) -> anyhow::Result<()> {
        let uri: http::Uri =
            self.issuer_url.parse().map_err(|_| anyhow!("issuer URL {:?} is not a URL", self.issuer_url))?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            bail!("issuer URL {:?} must be https://HOST[/PATH]", self.issuer_url);
        }
        if self.issuer_url.contains(['?', '#']) {
            bail!("issuer URL {:?} must not have a query or fragment", self.issuer_url);
        }
        if self.client_id.is_empty() {
            bail!("client id must not be empty");
        }
        if self.username_claim.is_empty() || self.groups_claim.as_deref() == Some("") {
            bail!("claim names must not be empty");
        }
        if let Some(p) = self.username_prefix.as_deref().filter(|p| *p != "-") {
            check_prefix(p).context("username prefix")?;
        }
        check_prefix(&self.groups_prefix).context("groups prefix")?;
        match (&self.jwks, self.fetch_jwks) {
            (Some(jwks), false) => {
                let keys = KeySet::from_value(jwks)?;
                if keys.keys.is_empty() {
                    bail!("the JWKS has no usable signing key (RSA, EC P-256 or P-384)");
                }
            }
            (None, true) => {
                if let Some(pem) = &self.ca_pem {
                    root_store(Some(pem))?;
                }
            }
            _ => bail!("give exactly one of a JWKS or fetching it from the issuer"),
        }
        Ok(())
    }

    /// The prefix put before the username claim's value.
    fn effective_username_prefix(&self) -> String {
        match self.username_prefix.as_deref() {
            Some("-") => String::new(),
            Some(p) => p.to_string(),
            None if self.username_claim == "email" => String::new(),
            None => format!("{}#", self.issuer_url),
        }
    }
}

fn check_prefix(p: &str) -> anyhow::Result<()> {
    if p.len() > MAX_NAME || !p.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b',') {
        bail!("{p:?} must be printable ASCII without ',' and at most {MAX_NAME} characters");
    }
    if p.to_ascii_lowercase().starts_with("system:") || p.starts_with(':') || p.starts_with(' ') {
        bail!("{p:?} must not start with 'system:', ':' or a space");
    }
    Ok(())
}

/// The name rule for claim-derived users and groups (after prefixing); see the module doc.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b',')
        && !name.starts_with([' ', ':'])
        && !name.ends_with(' ')
        && !name.to_ascii_lowercase().starts_with("system:")
}

/// Whom a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    pub name: String,
    pub groups: Vec<String>,
}

struct Key {
    kid: Option<String>,
    key: DecodingKey,
    algs: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    fn from_value(v: &Value) -> anyhow::Result<KeySet> {
        let set: JwkSet = serde_json::from_value(v.clone()).context("not a JWKS ({\"keys\": [...]})")?;
        Ok(KeySet::from_set(&set))
    }

    /// The usable signing keys; anything else (encryption keys, `oct`, OKP, P-521,
    /// unknown types) is left out.
    fn from_set(set: &JwkSet) -> KeySet {
        let keys = set.keys.iter().filter_map(usable_key).collect();
        KeySet { keys }
    }

    fn select(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }
}

fn usable_key(jwk: &Jwk) -> Option<Key> {
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGS.to_vec(),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        _ => return None, // oct (HMAC), OKP, unknown: never
    };
    let algs = match jwk.common.key_algorithm {
        None => family,
        Some(ka) => {
            let alg = key_algorithm(ka)?;
            family.contains(&alg).then(|| vec![alg])?
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { kid: jwk.common.key_id.clone(), key, algs })
}

fn key_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        _ => return None,
    })
}

/// Verifies one tenant's ID tokens. Built by the registry when the tenant's issuer
/// changes; in fetch mode it owns a background task that ends when it is dropped.
pub struct OidcVerifier {
    config: OidcIssuer,
    username_prefix: String,
    keys: RwLock<Arc<KeySet>>,
    /// Fetch mode: wakes the refresher early (a token named an unknown `kid`).
    nudge: Option<tokio::sync::Notify>,
    /// Fetch mode: fetches are at least this far apart.
    min_refetch: Duration,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.keys.read().map(|k| k.keys.len()).unwrap_or(0);
        f.debug_struct("OidcVerifier").field("issuer", &self.config.issuer_url).field("keys", &keys).finish()
    }
}

impl OidcVerifier {
    /// A verifier for `config`. In fetch mode the keys are fetched in the background
    /// (on the current tokio runtime, if there is one).
    pub fn new(config: OidcIssuer) -> anyhow::Result<Arc<OidcVerifier>> {
        Self::build(config, MIN_REFETCH)
    }

    fn build(config: OidcIssuer, min_refetch: Duration) -> anyhow::Result<Arc<OidcVerifier>> {
        config.validate()?;
        let keys = match &config.jwks {
            Some(jwks) => KeySet::from_value(jwks)?,
            None => KeySet::default(),
        };
        let fetch = config.fetch_jwks;
        let verifier = Arc::new(OidcVerifier {
            username_prefix: config.effective_username_prefix(),
            config,
            keys: RwLock::new(Arc::new(keys)),
            nudge: fetch.then(tokio::sync::Notify::new),
            min_refetch,
        });
        if fetch {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(refresh_loop(Arc::downgrade(&verifier)));
                }
                Err(_) => tracing::warn!(issuer = %verifier.config.issuer_url, "no runtime: JWKS not fetched"),
            }
        }
        Ok(verifier)
    }

    pub fn config(&self) -> &OidcIssuer {
        &self.config
    }

    /// Whether `token` has the shape of a JWS (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.len() <= MAX_TOKEN && token.split('.').count() == 3
    }

    /// The user and groups a valid ID token names; None for anything else.
    pub fn verify(&self, token: &str) -> Option<OidcUser> {
        self.verify_at(token, unix_now())
    }

    fn verify_at(&self, token: &str, now: i64) -> Option<OidcUser> {
        if !Self::looks_like_jwt(token) {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if !ALLOWED.contains(&header.alg) {
            return None;
        }
        let keys = self.keys.read().ok()?.clone();
        let Some(key) = keys.select(header.kid.as_deref()) else {
            if let Some(n) = &self.nudge {
                n.notify_one(); // perhaps rotated: refetch (rate-limited by the loop)
            }
            return None;
        };
        if !key.algs.contains(&header.alg) {
            return None;
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = false; // checked below, with its own leeway
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&self.config.issuer_url]);
        validation.set_audience(&[&self.config.client_id]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &validation).ok()?;
        self.user_from_claims(&data.claims, now)
    }

    /// The claim checks jsonwebtoken leaves to us, then the names.
    fn user_from_claims(&self, claims: &serde_json::Map<String, Value>, now: i64) -> Option<OidcUser> {
        // `iss` must be one string (jsonwebtoken also accepts an array).
        if claims.get("iss")?.as_str()? != self.config.issuer_url {
            return None;
        }
        // `exp` was checked against the library's clock; check it against ours too.
        if claims.get("exp")?.as_f64()? < now as f64 {
            return None;
        }
        if let Some(nbf) = claims.get("nbf") {
            if nbf.as_f64()? > (now + NBF_LEEWAY_SECS) as f64 {
                return None;
            }
        }
        let claim = &self.config.username_claim;
        let value = claims.get(claim)?.as_str()?;
        if claim == "email" {
            if let Some(verified) = claims.get("email_verified") {
                if verified.as_bool() != Some(true) {
                    return None;
                }
            }
        }
        let name = format!("{}{value}", self.username_prefix);
        if !valid_name(&name) {
            return None;
        }
        let mut groups = Vec::new();
        if let Some(claim) = &self.config.groups_claim {
            let raw: Vec<&str> = match claims.get(claim) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(items)) => items.iter().map(Value::as_str).collect::<Option<_>>()?,
                Some(_) => return None,
            };
            if raw.len() > MAX_GROUPS {
                return None;
            }
            for g in raw {
                let g = format!("{}{g}", self.config.groups_prefix);
                if !valid_name(&g) {
                    return None;
                }
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
        Some(OidcUser { name, groups })
    }

    fn set_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap() = Arc::new(keys);
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Fetches the JWKS now, then hourly (sooner when nudged, never more often than
/// every `min_refetch`); backs off on failure. Ends when the verifier is dropped.
async fn refresh_loop(verifier: Weak<OidcVerifier>) {
    let mut backoff = Duration::from_secs(5);
    loop {
        let Some(v) = verifier.upgrade() else { return };
        let (config, min_refetch) = (v.config.clone(), v.min_refetch);
        drop(v);
        let started = Instant::now();
        let wait = match fetch_keys(&config).await {
            Ok(keys) => {
                let Some(v) = verifier.upgrade() else { return };
                tracing::info!(issuer = %config.issuer_url, keys = keys.keys.len(), "OIDC JWKS fetched");
                v.set_keys(keys);
                backoff = Duration::from_secs(5);
                REFRESH_EVERY
            }
            Err(e) => {
                tracing::warn!(issuer = %config.issuer_url, error = %format!("{e:#}"), "fetching the OIDC JWKS failed");
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(300));
                wait
            }
        };
        // Sleep until the next refresh or a nudge, but not less than MIN_REFETCH;
        // hold only a weak reference meanwhile, and check it every 30 s.
        let deadline = started + wait;
        loop {
            let Some(v) = verifier.upgrade() else { return };
            let notified = async {
                match &v.nudge {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            let nudged = tokio::select! {
                _ = notified => true,
                _ = tokio::time::sleep_until(deadline.into()) => false,
                _ = tokio::time::sleep(Duration::from_secs(30)) => false,
            };
            drop(v);
            if nudged || Instant::now() >= deadline {
                let earliest = started + min_refetch;
                if Instant::now() < earliest {
                    tokio::time::sleep_until(earliest.into()).await;
                }
                break;
            }
        }
    }
}

async fn fetch_keys(config: &OidcIssuer) -> anyhow::Result<KeySet> {
    let client = Fetcher::new(config.ca_pem.as_deref())?;
    let discovery_url = format!("{}/.well-known/openid-configuration", config.issuer_url.trim_end_matches('/'));
    let discovery = client.get_json(&discovery_url).await.context("discovery document")?;
    let issuer = discovery.get("issuer").and_then(Value::as_str);
    if issuer != Some(config.issuer_url.as_str()) {
        bail!("discovery document names issuer {issuer:?}, not {:?}", config.issuer_url);
    }
    let jwks_uri = discovery.get("jwks_uri").and_then(Value::as_str).context("discovery document has no jwks_uri")?;
    if !jwks_uri.starts_with("https://") {
        bail!("jwks_uri {jwks_uri:?} is not https");
    }
    let jwks = client.get_json(jwks_uri).await.context("JWKS")?;
    let keys = KeySet::from_value(&jwks)?;
    if keys.keys.is_empty() {
        bail!("the issuer's JWKS has no usable signing key");
    }
    Ok(keys)
}

fn root_store(ca_pem: Option<&str>) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = match ca_pem {
        Some(pem) => pem.as_bytes().to_vec(),
        None => {
            let candidates = [
                std::env::var("SSL_CERT_FILE").unwrap_or_default(),
                "/etc/ssl/certs/ca-certificates.crt".into(),
                "/etc/pki/tls/certs/ca-bundle.crt".into(),
                "/etc/ssl/cert.pem".into(),
            ];
            candidates
                .iter()
                .filter(|p| !p.is_empty())
                .find_map(|p| std::fs::read(p).ok())
                .context("no system CA bundle found (set SSL_CERT_FILE or configure a CA file)")?
        }
    };
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.context("reading CA certificates")?).context("adding a CA certificate")?;
    }
    if roots.is_empty() {
        bail!("no CA certificate in the CA bundle");
    }
    Ok(roots)
}

/// A small HTTPS GET client for discovery and JWKS (ring, TLS 1.2+).
struct Fetcher {
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Empty<bytes::Bytes>,
    >,
}

impl Fetcher {
    fn new(ca_pem: Option<&str>) -> anyhow::Result<Fetcher> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(root_store(ca_pem)?)
            .with_no_client_auth();
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .pool_max_idle_per_host(0)
            .build(https);
        Ok(Fetcher { client })
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        use http_body_util::BodyExt;
        let uri: http::Uri = url.parse().with_context(|| format!("{url:?} is not a URL"))?;
        let req = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(http_body_util::Empty::new())?;
        let body = tokio::time::timeout(FETCH_TIMEOUT, async {
            let resp = self.client.request(req).await.with_context(|| format!("GET {url}"))?;
            if !resp.status().is_success() {
                bail!("GET {url}: {}", resp.status());
            }
            let body = http_body_util::Limited::new(resp.into_body(), MAX_FETCH_BODY)
                .collect()
                .await
                .map_err(|e| anyhow!("GET {url}: {e}"))?;
            Ok(body.to_bytes())
        })
        .await
        .map_err(|_| anyhow!("GET {url}: timed out after {FETCH_TIMEOUT:?}"))??;
        serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.test";
    const CLIENT: &str = "vcproxy";

    fn b64(v: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    /// A fresh RSA-2048 key: (PKCS#1 DER private key, JWK of its public half).
    fn rsa_key(kid: &str) -> (EncodingKey, Value) {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let der = key.to_pkcs1_der().unwrap();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": b64(&key.n_bytes()),
            "e": b64(&key.e_bytes()),
        });
        (EncodingKey::from_rsa_der(der.as_bytes()), jwk)
    }

    /// A fresh P-256 key (generated by rcgen/ring): (PKCS#8 private key, JWK).
    fn ec_key(kid: &str) -> (EncodingKey, Value) {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = kp.public_key_raw(); // 0x04 || x || y
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&raw[1..33]), "y": b64(&raw[33..65])});
        (EncodingKey::from_ec_der(&kp.serialize_der()), jwk)
    }

    fn issuer(jwks: Value) -> OidcIssuer {
        OidcIssuer {
            issuer_url: ISSUER.into(),
            client_id: CLIENT.into(),
            username_claim: "sub".into(),
            username_prefix: None,
            groups_claim: Some("groups".into()),
            groups_prefix: "oidc:".into(),
            jwks: Some(jwks),
            fetch_jwks: false,
            ca_pem: None,
        }
    }

    fn now() -> i64 {
        unix_now()
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "jane", "email": "jane@example.com",
            "exp": now() + 300, "iat": now(), "groups": ["dev", "ops"],
        })
    }

    fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&h, claims, key).unwrap()
    }

    struct Keys {
        rsa: (EncodingKey, Value),
        ec: (EncodingKey, Value),
        verifier: Arc<OidcVerifier>,
    }

    fn keys() -> Keys {
        let rsa = rsa_key("r1");
        let ec = ec_key("e1");
        let verifier = OidcVerifier::new(issuer(json!({"keys": [rsa.1, ec.1]}))).unwrap();
        Keys { rsa, ec, verifier }
    }

    fn with(mut c: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        f(c.as_object_mut().unwrap());
        c
    }

    #[test]
    fn valid_tokens_name_the_user_and_groups() {
        let k = keys();
        let want = OidcUser { name: format!("{ISSUER}#jane"), groups: vec!["oidc:dev".into(), "oidc:ops".into()] };
        for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
            assert_eq!(k.verifier.verify(&sign(alg, Some("r1"), &k.rsa.0, &claims())), Some(want.clone()), "{alg:?}");
        }
        assert_eq!(k.verifier.verify(&sign(Algorithm::ES256, Some("e1"), &k.ec.0, &claims())), Some(want.clone()));
        // aud as an array containing the client id; groups as one string; nbf in the past.
        let c = with(claims(), |c| {
            c.insert("aud".into(), json!(["other", CLIENT]));
            c.insert("groups".into(), json!("dev"));
            c.insert("nbf".into(), json!(now() - 10));
        });
        let got = k.verifier.verify(&sign(Algorithm::RS256, Some("r1"), &k.rsa.0, &c)).unwrap();
        assert_eq!(got.groups, vec!["oidc:dev".to_string()]);
        // nbf slightly ahead (clock skew) is fine; no groups claim is no groups.
        let c = with(claims(), |c| {
            c.insert("nbf".into(), json!(now() + 30));
            c.remove("groups");
        });
        assert_eq!(
            k.verifier.verify(&sign(Algorithm::RS256, Some("r1"), &k.rsa.0, &c)).unwrap().groups,
            Vec::<String>::new()
        );
    }

    #[test]
    fn one_key_without_kid_and_username_prefix_rules() {
        let (key, jwk) = ec_key("only");
        let mut cfg = issuer(json!({"keys": [jwk]}));
        cfg.username_claim = "email".into();
        let v = OidcVerifier::new(cfg.clone()).unwrap();
        let t = sign(Algorithm::ES256, None, &key, &claims());
        assert_eq!(v.verify(&t).unwrap().name, "jane@example.com", "email: no default prefix");
        let unverified = with(claims(), |c| {
            c.insert("email_verified".into(), json!(false));
        });
        assert_eq!(v.verify(&sign(Algorithm::ES256, None, &key, &unverified)), None);
        cfg.username_prefix = Some("corp:".into());
        assert_eq!(OidcVerifier::new(cfg.clone()).unwrap().verify(&t).unwrap().name, "corp:jane@example.com");
        cfg.username_claim = "sub".into();
        cfg.username_prefix = Some("-".into());
        assert_eq!(OidcVerifier::new(cfg).unwrap().verify(&t).unwrap().name, "jane");
    }

    #[test]
    fn bad_tokens_are_all_refused() {
        let k = keys();
        let (rsa, ec) = (&k.rsa.0, &k.ec.0);
        let rs = |c: &Value| sign(Algorithm::RS256, Some("r1"), rsa, c);
        let mut bad: Vec<(&str, String)> = vec![
            (
                "expired",
                rs(&with(claims(), |c| {
                    c.insert("exp".into(), json!(now() - 1));
                })),
            ),
            (
                "no exp",
                rs(&with(claims(), |c| {
                    c.remove("exp");
                })),
            ),
            (
                "exp a string",
                rs(&with(claims(), |c| {
                    c.insert("exp".into(), json!("9999999999"));
                })),
            ),
            (
                "nbf ahead",
                rs(&with(claims(), |c| {
                    c.insert("nbf".into(), json!(now() + 600));
                })),
            ),
            (
                "wrong audience",
                rs(&with(claims(), |c| {
                    c.insert("aud".into(), json!("someone-else"));
                })),
            ),
            (
                "no audience",
                rs(&with(claims(), |c| {
                    c.remove("aud");
                })),
            ),
            (
                "wrong issuer",
                rs(&with(claims(), |c| {
                    c.insert("iss".into(), json!("https://evil.test"));
                })),
            ),
            (
                "issuer prefix",
                rs(&with(claims(), |c| {
                    c.insert("iss".into(), json!(format!("{ISSUER}/")));
                })),
            ),
            (
                "issuer array",
                rs(&with(claims(), |c| {
                    c.insert("iss".into(), json!([ISSUER]));
                })),
            ),
            (
                "no sub",
                rs(&with(claims(), |c| {
                    c.remove("sub");
                })),
            ),
            (
                "sub a number",
                rs(&with(claims(), |c| {
                    c.insert("sub".into(), json!(7));
                })),
            ),
            (
                "groups a number",
                rs(&with(claims(), |c| {
                    c.insert("groups".into(), json!(7));
                })),
            ),
            (
                "groups mixed",
                rs(&with(claims(), |c| {
                    c.insert("groups".into(), json!(["a", 1]));
                })),
            ),
            (
                "group with comma",
                rs(&with(claims(), |c| {
                    c.insert("groups".into(), json!(["a,b"]));
                })),
            ),
            ("unknown kid", sign(Algorithm::RS256, Some("r2"), rsa, &claims())),
            ("no kid, two keys", sign(Algorithm::RS256, None, rsa, &claims())),
            ("RSA key, EC kid", sign(Algorithm::RS256, Some("e1"), rsa, &claims())),
        ];
        // ES384 claimed for an ES256 signature on the P-256 key.
        let es = sign(Algorithm::ES256, Some("e1"), ec, &claims());
        let (_, rest) = es.split_once('.').unwrap();
        bad.push(("ES384 on a P-256 key", format!("{}.{rest}", b64(br#"{"alg":"ES384","kid":"e1"}"#))));
        // A key the JWKS does not hold, under a kid it does.
        let (other, _) = rsa_key("r1");
        bad.push(("wrong key", sign(Algorithm::RS256, Some("r1"), &other, &claims())));
        // alg none, hand-built.
        let none = |h: Value| format!("{}.{}.", b64(h.to_string().as_bytes()), b64(claims().to_string().as_bytes()));
        bad.push(("alg none", none(json!({"alg": "none"}))));
        bad.push(("alg none with kid", none(json!({"alg": "none", "kid": "r1"}))));
        bad.push(("alg None", none(json!({"alg": "None", "typ": "JWT"}))));
        // Key confusion: HS256 with the RSA public key (its modulus and its JWK text) as the secret.
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k.rsa.1["n"].as_str().unwrap()).unwrap();
        for secret in [n, k.rsa.1.to_string().into_bytes()] {
            let hs = EncodingKey::from_secret(&secret).unwrap();
            bad.push(("HS256 with the public key", sign(Algorithm::HS256, Some("r1"), &hs, &claims())));
            bad.push(("HS256 without kid", sign(Algorithm::HS256, None, &hs, &claims())));
        }
        // Tampered payload, malformed shapes.
        let good = rs(&claims());
        let parts: Vec<&str> = good.split('.').collect();
        let evil = b64(with(claims(), |c| {
            c.insert("sub".into(), json!("admin"));
        })
        .to_string()
        .as_bytes());
        bad.push(("tampered payload", format!("{}.{evil}.{}", parts[0], parts[2])));
        bad.push(("no signature", format!("{}.{}.", parts[0], parts[1])));
        bad.push(("two parts", format!("{}.{}", parts[0], parts[1])));
        bad.push(("four parts", format!("{good}.x")));
        bad.push(("garbage", "a.b.c".into()));
        bad.push(("empty", String::new()));
        bad.push(("not base64 header", format!("!!!.{}.{}", parts[1], parts[2])));
        bad.push(("huge", format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN), parts[2])));
        // system: identities (the rule applies to the final, prefixed name).
        let mut sys = issuer(json!({"keys": [k.rsa.1]}));
        sys.username_prefix = Some("-".into());
        sys.groups_prefix = String::new();
        let v_noprefix = OidcVerifier::new(sys).unwrap();
        for (what, c) in [
            (
                "system user",
                with(claims(), |c| {
                    c.insert("sub".into(), json!("system:admin"));
                }),
            ),
            (
                "System user",
                with(claims(), |c| {
                    c.insert("sub".into(), json!("SYSTEM:masters"));
                }),
            ),
            (
                "sa user",
                with(claims(), |c| {
                    c.insert("sub".into(), json!("system:serviceaccount:default:x"));
                }),
            ),
            (
                "system group",
                with(claims(), |c| {
                    c.insert("groups".into(), json!(["dev", "system:masters"]));
                }),
            ),
            (
                "non-ascii user",
                with(claims(), |c| {
                    c.insert("sub".into(), json!("jäne"));
                }),
            ),
            (
                "empty user",
                with(claims(), |c| {
                    c.insert("sub".into(), json!(""));
                }),
            ),
            (
                "colon user",
                with(claims(), |c| {
                    c.insert("sub".into(), json!(":x"));
                }),
            ),
            (
                "too many groups",
                with(claims(), |c| {
                    c.insert("groups".into(), json!(vec!["g"; MAX_GROUPS + 1]));
                }),
            ),
        ] {
            assert_eq!(v_noprefix.verify(&rs(&c)), None, "{what} accepted without prefix");
        }
        // Behind a prefix it is no longer a system: name.
        let prefixed = rs(&with(claims(), |c| {
            c.insert("groups".into(), json!(["system:masters"]));
        }));
        assert_eq!(k.verifier.verify(&prefixed).unwrap().groups, vec!["oidc:system:masters".to_string()]);
        for (what, t) in &bad {
            assert_eq!(k.verifier.verify(t), None, "{what} was accepted");
        }
        assert!(k.verifier.verify(&good).is_some(), "the control token must pass");
    }

    #[test]
    fn only_asymmetric_signing_keys_are_loaded() {
        let (_, rsa) = rsa_key("r1");
        let (_, ec) = ec_key("e1");
        let oct = json!({"kty": "oct", "kid": "h1", "k": b64(b"secret-secret-secret")});
        let enc = with(rsa.clone(), |j| {
            j.insert("use".into(), json!("enc"));
            j.insert("kid".into(), json!("r-enc"));
        });
        let pinned = with(rsa.clone(), |j| {
            j.insert("alg".into(), json!("PS256"));
            j.insert("kid".into(), json!("r-ps"));
        });
        let hs_alg = with(ec.clone(), |j| {
            j.insert("alg".into(), json!("HS256"));
            j.insert("kid".into(), json!("e-hs"));
        });
        let set = KeySet::from_value(&json!({"keys": [rsa, ec, oct, enc, pinned, hs_alg, {"kty": "weird"}]})).unwrap();
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r1", "e1", "r-ps"]);
        assert_eq!(set.select(Some("r-ps")).unwrap().algs, vec![Algorithm::PS256]);
        // A JWKS with only an HMAC key is refused at configuration time.
        assert!(issuer(json!({"keys": [{"kty": "oct", "k": b64(b"s")}]})).validate().is_err());
    }

    #[test]
    fn configuration_is_checked_and_old_shapes_parse() {
        let (_, jwk) = ec_key("e1");
        let ok = issuer(json!({"keys": [jwk]}));
        ok.validate().unwrap();
        for (what, f) in [
            (
                "http issuer",
                Box::new(|c: &mut OidcIssuer| c.issuer_url = "http://idp.test".into()) as Box<dyn Fn(&mut OidcIssuer)>,
            ),
            ("no client", Box::new(|c: &mut OidcIssuer| c.client_id.clear())),
            ("both key sources", Box::new(|c: &mut OidcIssuer| c.fetch_jwks = true)),
            ("no key source", Box::new(|c: &mut OidcIssuer| c.jwks = None)),
            ("system prefix", Box::new(|c: &mut OidcIssuer| c.groups_prefix = "system:".into())),
            ("comma prefix", Box::new(|c: &mut OidcIssuer| c.username_prefix = Some("a,".into()))),
        ] {
            let mut c = ok.clone();
            f(&mut c);
            assert!(c.validate().is_err(), "{what} accepted");
        }
        let minimal: OidcIssuer =
            serde_json::from_value(json!({"issuerUrl": ISSUER, "clientId": CLIENT, "fetchJwks": true})).unwrap();
        assert_eq!(minimal.username_claim, "sub");
        assert_eq!(minimal.effective_username_prefix(), format!("{ISSUER}#"));
        let round: OidcIssuer = serde_json::from_slice(&serde_json::to_vec(&ok).unwrap()).unwrap();
        assert_eq!(round, ok);
    }

    #[test]
    fn names() {
        for ok in ["jane", "https://idp#1234", "jane@example.com", "Jane Doe", "oidc:dev"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", " x", "x ", ":x", "system:x", "System:x", "a,b", "a\nb", "ü", &"x".repeat(254)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    /// A loopback HTTPS issuer (self-signed for 127.0.0.1) serving discovery and a
    /// JWKS the test can swap; returns its URL, CA PEM and the JWKS slot.
    async fn loopback_issuer(discovery_issuer: Option<&str>) -> (String, String, Arc<std::sync::Mutex<Value>>) {
        use hyper_util::rt::TokioIo;
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let ca_pem = cert.cert.pem();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let jwks = Arc::new(std::sync::Mutex::new(json!({"keys": []})));
        let discovery = json!({"issuer": discovery_issuer.unwrap_or(&url), "jwks_uri": format!("{url}/keys")});
        let slot = jwks.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, discovery, jwks) = (acceptor.clone(), discovery.clone(), slot.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let body = match req.uri().path() {
                            "/.well-known/openid-configuration" => discovery.to_string(),
                            "/keys" => jwks.lock().unwrap().to_string(),
                            _ => String::new(),
                        };
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from(body),
                            )))
                        }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        (url, ca_pem, jwks)
    }

    fn fetching(url: &str, ca_pem: &str) -> OidcIssuer {
        OidcIssuer {
            issuer_url: url.into(),
            jwks: None,
            fetch_jwks: true,
            ca_pem: Some(ca_pem.into()),
            ..issuer(json!({}))
        }
    }

    async fn eventually(v: &OidcVerifier, token: &str, within: Duration) -> Option<OidcUser> {
        let start = Instant::now();
        loop {
            if let Some(u) = v.verify(token) {
                return Some(u);
            }
            if start.elapsed() > within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn keys_are_fetched_through_discovery_and_refetched_for_a_new_kid() {
        let (url, ca_pem, jwks) = loopback_issuer(None).await;
        let (k1, j1) = ec_key("k1");
        let (k2, j2) = ec_key("k2");
        *jwks.lock().unwrap() = json!({"keys": [j1]});
        let v = OidcVerifier::build(fetching(&url, &ca_pem), Duration::from_millis(200)).unwrap();
        let c = with(claims(), |c| {
            c.insert("iss".into(), json!(url));
        });
        let t1 = sign(Algorithm::ES256, Some("k1"), &k1, &c);
        let user = eventually(&v, &t1, Duration::from_secs(10)).await.expect("keys fetched");
        assert_eq!(user.name, format!("{url}#jane"));
        // Rotation: a token with a new kid nudges a refetch.
        *jwks.lock().unwrap() = json!({"keys": [j2]});
        let t2 = sign(Algorithm::ES256, Some("k2"), &k2, &c);
        assert!(eventually(&v, &t2, Duration::from_secs(10)).await.is_some(), "new key not fetched");
        assert_eq!(v.verify(&t1), None, "the rotated-out key still verifies");
    }

    #[tokio::test]
    async fn a_discovery_document_for_another_issuer_yields_no_keys() {
        let (url, ca_pem, jwks) = loopback_issuer(Some("https://elsewhere.test")).await;
        let (k1, j1) = ec_key("k1");
        *jwks.lock().unwrap() = json!({"keys": [j1]});
        let v = OidcVerifier::build(fetching(&url, &ca_pem), Duration::from_millis(200)).unwrap();
        let c = with(claims(), |c| {
            c.insert("iss".into(), json!(url));
        });
        let t1 = sign(Algorithm::ES256, Some("k1"), &k1, &c);
        assert_eq!(eventually(&v, &t1, Duration::from_secs(1)).await, None);
        // And a wrong CA: the TLS handshake fails, no keys either.
        let other_ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap().cert.pem();
        let (url, right_ca, jwks) = loopback_issuer(None).await;
        let (k3, j3) = ec_key("k3");
        *jwks.lock().unwrap() = json!({"keys": [j3]});
        let c = with(claims(), |c| {
            c.insert("iss".into(), json!(url));
        });
        let t3 = sign(Algorithm::ES256, Some("k3"), &k3, &c);
        let v = OidcVerifier::build(fetching(&url, &other_ca), Duration::from_millis(200)).unwrap();
        assert_eq!(eventually(&v, &t3, Duration::from_secs(1)).await, None);
        // (The same issuer with its own CA works: the refusal was the CA's.)
        let v = OidcVerifier::build(fetching(&url, &right_ca), Duration::from_millis(200)).unwrap();
        assert!(eventually(&v, &t3, Duration::from_secs(10)).await.is_some());
    }
}

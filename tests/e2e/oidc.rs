//! OIDC per tenant: a tenant given an issuer (JWKS from a file) accepts ID tokens
//! signed with that issuer's key, through a kubeconfig token and an exec plugin;
//! every bad token gets the same 401 as a wrong static token.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::client::{body_bytes, connect, full};
use crate::{ok, proxy, tenant_on, token_of};

const ISSUER: &str = "https://idp.vcproxy.test/realms/acme";
const CLIENT: &str = "kubectl";

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A P-256 test key: the signing key and its JWK.
fn test_key(kid: &str) -> (EncodingKey, Value) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw();
    let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": b64(&raw[1..33]), "y": b64(&raw[33..65])});
    (EncodingKey::from_ec_der(&kp.serialize_der()), jwk)
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": CLIENT, "sub": sub, "iat": now(), "exp": now() + 600, "groups": ["dev"]})
}

fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

/// The admin kubeconfig with its user replaced by `user` (a kubeconfig `user:` map).
fn kubeconfig_with_user(admin: &Path, user: Value, name: &str) -> PathBuf {
    let mut v: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    v["users"][0]["user"] = serde_yaml::to_value(user).unwrap();
    let path = admin.with_file_name(format!("{name}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&v).unwrap()).unwrap();
    path
}

/// `kubectl auth whoami` as `kubeconfig`, polled until it succeeds (the registry
/// follows etcd within the watch latency); returns the username.
fn whoami_eventually(kubeconfig: &Path) -> String {
    let p = proxy();
    let start = Instant::now();
    loop {
        let out = p.kubectl(kubeconfig, &["auth", "whoami", "-o", "json"]);
        if out.status.success() {
            let w: Value = serde_json::from_slice(&out.stdout).unwrap();
            return w["status"]["userInfo"]["username"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "whoami still failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn status_and_body(tenant: &str, token: &str) -> (u16, Vec<u8>) {
    let p = proxy();
    let mut conn = connect(p.url(), &p.ca_file(), &[b"h2"]).await;
    let req = Request::get(format!("{}/clusters/{tenant}/version", p.url()))
        .header("authorization", format!("Bearer {token}"))
        .body(full(""))
        .unwrap();
    let (status, _, body) = body_bytes(conn.send(req).await).await;
    (status.as_u16(), body.to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_tokens_work_through_kubectl_and_bad_ones_get_the_same_401() {
    let p = proxy();
    let (tenant, admin_kc) = tenant_on(p, "oidc");
    let (key, jwk) = test_key("k1");
    let jwks = p.dir().join(format!("{tenant}-jwks.json"));
    std::fs::write(&jwks, json!({"keys": [jwk]}).to_string()).unwrap();
    let jwks_arg = jwks.display().to_string();
    ok(
        p.tenant(&[
            "oidc",
            &tenant,
            "--issuer-url",
            ISSUER,
            "--client-id",
            CLIENT,
            "--groups-claim",
            "groups",
            "--groups-prefix",
            "idp:",
            "--jwks-file",
            &jwks_arg,
        ]),
        "tenant oidc",
    );

    // A kubeconfig whose user is the ID token.
    let jwt = sign(&key, "k1", &claims("jane"));
    let kc = kubeconfig_with_user(&admin_kc, json!({"token": jwt}), &format!("{tenant}-jane"));
    // whoami speaks the tenant's names: the prefixed claim, not the super master's `vcproxy:<t>:…`.
    let want = format!("{ISSUER}#jane");
    assert_eq!(tokio::task::block_in_place(|| whoami_eventually(&kc)), want);
    // jane's claim groups are tenant groups: binding `idp:dev` gives her what it grants, nothing more.
    let out = tokio::task::block_in_place(|| p.kubectl(&kc, &["get", "configmaps", "-n", "default"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Forbidden"), "{}", String::from_utf8_lossy(&out.stderr));
    ok(
        tokio::task::block_in_place(|| {
            p.kubectl(
                &admin_kc,
                &["create", "rolebinding", "idp-dev", "--clusterrole=view", "--group=idp:dev", "-n", "default"],
            )
        }),
        "bind the OIDC group",
    );
    ok(tokio::task::block_in_place(|| p.kubectl(&kc, &["get", "configmaps", "-n", "default"])), "view via idp:dev");
    let out = tokio::task::block_in_place(|| p.kubectl(&kc, &["create", "configmap", "x", "-n", "default"]));
    assert!(!out.status.success(), "view does not create");

    // The same through an exec credential plugin.
    let script = p.dir().join(format!("{tenant}-credential.sh"));
    let cred = json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "status": {"token": sign(&key, "k1", &claims("exec-user"))}});
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{cred}\nEOF\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exec_kc = kubeconfig_with_user(
        &admin_kc,
        json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": script.display().to_string(),
            "interactiveMode": "Never"}}),
        &format!("{tenant}-exec"),
    );
    assert_eq!(tokio::task::block_in_place(|| whoami_eventually(&exec_kc)), format!("{ISSUER}#exec-user"));

    // Static tokens keep working.
    ok(tokio::task::block_in_place(|| p.kubectl(&admin_kc, &["version"])), "static token");

    // Every bad token: the same 401 as a wrong static token.
    let (other_key, _) = test_key("k1");
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = claims("jane");
        f(c.as_object_mut().unwrap());
        sign(&key, "k1", &c)
    };
    let payload = b64(claims("jane").to_string().as_bytes());
    let public_jwk = std::fs::read(&jwks).unwrap();
    let bad = [
        ("wrong static token", "vcp_wrong".to_string()),
        (
            "expired",
            with(&|c| {
                c.insert("exp".into(), json!(now() - 5));
            }),
        ),
        (
            "not yet valid",
            with(&|c| {
                c.insert("nbf".into(), json!(now() + 3600));
            }),
        ),
        (
            "wrong audience",
            with(&|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "wrong issuer",
            with(&|c| {
                c.insert("iss".into(), json!("https://evil.test"));
            }),
        ),
        (
            "sub not a string",
            with(&|c| {
                c.insert("sub".into(), json!(42));
            }),
        ),
        ("alg none", format!("{}.{payload}.", b64(br#"{"alg":"none"}"#))),
        ("HS256 with the JWKS as secret", {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(&h, &claims("jane"), &EncodingKey::from_secret(&public_jwk).unwrap()).unwrap()
        }),
        ("wrong key", sign(&other_key, "k1", &claims("jane"))),
        ("unknown kid", sign(&key, "k2", &claims("jane"))),
        ("malformed", "a.b.c".to_string()),
    ];
    let mut bodies = Vec::new();
    for (what, token) in &bad {
        let (status, body) = status_and_body(&tenant, token).await;
        assert_eq!(status, 401, "{what}: {}", String::from_utf8_lossy(&body));
        bodies.push(body);
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "401 bodies differ: {bodies:?}");
    let (status, _) = status_and_body(&tenant, &jwt).await;
    assert_eq!(status, 200, "the good token on the raw client");

    // kubectl with a bad token is refused as unauthorized.
    let expired = kubeconfig_with_user(&admin_kc, json!({"token": bad[1].1}), &format!("{tenant}-expired"));
    let out = tokio::task::block_in_place(|| p.kubectl(&expired, &["auth", "whoami"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unauthorized") || stderr.contains("must be logged in"), "{stderr}");

    // Another tenant does not trust this issuer.
    let (other_tenant, _) = tenant_on(p, "oidn");
    let (status, body) = status_and_body(&other_tenant, &jwt).await;
    assert_eq!((status, &body), (401, &bodies[0]));

    // Removing the issuer stops its tokens; the static token still works.
    ok(p.tenant(&["oidc", &tenant, "--remove"]), "tenant oidc --remove");
    let start = Instant::now();
    while status_and_body(&tenant, &jwt).await.0 != 401 {
        assert!(start.elapsed() < Duration::from_secs(10), "the removed issuer's token still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status_and_body(&tenant, &token_of(&admin_kc)).await.0, 200);
}

#[test]
fn invalid_oidc_configuration_is_refused() {
    let p = proxy();
    let (tenant, _) = tenant_on(p, "oidb");
    let dir = p.dir();
    let hmac_only = dir.join(format!("{tenant}-hmac.json"));
    std::fs::write(&hmac_only, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
    let hmac_arg = hmac_only.display().to_string();
    for (what, args) in [
        ("http issuer", vec!["--issuer-url", "http://idp.test", "--client-id", "c", "--fetch-jwks"]),
        ("HMAC-only JWKS", vec!["--issuer-url", ISSUER, "--client-id", "c", "--jwks-file", &hmac_arg]),
        ("no key source", vec!["--issuer-url", ISSUER, "--client-id", "c"]),
        (
            "both key sources",
            vec!["--issuer-url", ISSUER, "--client-id", "c", "--jwks-file", &hmac_arg, "--fetch-jwks"],
        ),
    ] {
        let mut full = vec!["oidc", tenant.as_str()];
        full.extend(args);
        let out = p.tenant(&full);
        assert!(!out.status.success(), "{what} accepted");
    }
    let out = p.tenant(&["oidc", "nosuchtenant", "--issuer-url", ISSUER, "--client-id", "c", "--fetch-jwks"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Kubeconfigs for tenant users: the proxy URL, its CA, and a bearer token.

use base64::Engine;
use serde_json::json;

/// A kubeconfig (YAML) for `user` of `tenant`, with the CA embedded so the file
/// works on its own.
pub fn render(public_url: &str, ca_pem: &[u8], tenant: &str, user: &str, token: &str) -> String {
    let cluster = format!("vcproxy-{tenant}");
    let user_entry = format!("{tenant}-{user}");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": {
                "server": format!("{public_url}/clusters/{tenant}"),
                "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca_pem),
            }
        }],
        "users": [{ "name": user_entry, "user": { "token": token } }],
        "contexts": [{
            "name": tenant,
            "context": { "cluster": cluster, "user": user_entry, "namespace": "default" }
        }],
        "current-context": tenant,
    });
    serde_yaml::to_string(&config).expect("a kubeconfig always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_tenant_path() {
        let y = render("https://127.0.0.1:8443", b"PEM", "acme", "admin", "vcp_x");
        let v: serde_yaml::Value = serde_yaml::from_str(&y).unwrap();
        assert_eq!(v["clusters"][0]["cluster"]["server"], "https://127.0.0.1:8443/clusters/acme");
        assert_eq!(v["users"][0]["user"]["token"], "vcp_x");
        assert_eq!(v["current-context"], "acme");
    }
}

//! Continue tokens a tenant can neither read nor forge.
//!
//! The super apiserver's continue token names the key its next page starts at. For a list
//! across namespaces, read as vcproxy, that is another tenant's object (`/acme--default/db`).
//! So every upstream token is sealed (ChaCha20-Poly1305) before the tenant sees it, bound to
//! the tenant and to the list it pages through (API group, resource, namespace); a token that
//! was not sealed for exactly that list is refused with 400. The key lives in etcd, so every
//! replica opens every other replica's tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use crate::error::ApiError;

/// First byte of a sealed token: the format, so the scheme can change later.
const FORMAT: u8 = 1;
/// The etcd key (under the configured prefix) holding the sealing key.
const KEY_PATH: &str = "/secrets/continue-token-key";

/// The list a token belongs to. Its bytes are the AEAD's associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope(Vec<u8>);

impl TokenScope {
    /// `namespace` is the super namespace of a list in one namespace, `""` across namespaces.
    pub fn new(tenant: &str, group: &str, resource: &str, namespace: &str) -> Self {
        // NUL cannot occur in any of the parts (they are DNS names or parsed path segments).
        TokenScope(format!("vcproxy-continue\0{tenant}\0{group}\0{resource}\0{namespace}").into_bytes())
    }
}

/// Seals and opens continue tokens.
pub struct ContinueTokens {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl ContinueTokens {
    pub fn new(key: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte key fits ChaCha20-Poly1305");
        ContinueTokens { key: LessSafeKey::new(key), rng: SystemRandom::new() }
    }

    /// The replicas' shared key from etcd, created by whichever replica starts first.
    pub async fn load_or_create(etcd: &mut etcd_client::Client, prefix: &str) -> anyhow::Result<Self> {
        use etcd_client::{Compare, CompareOp, Txn, TxnOp};
        let path = format!("{prefix}{KEY_PATH}");
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| anyhow::anyhow!("no randomness for the continue-token key"))?;
        // Put only if absent; either way read back what is there (another replica may have won).
        let txn = Txn::new()
            .when([Compare::create_revision(path.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(path.as_str(), fresh.to_vec(), None)]);
        etcd.txn(txn).await?;
        let got = etcd.get(path.as_str(), None).await?;
        let stored = got.kvs().first().map(|kv| kv.value().to_vec()).unwrap_or_default();
        let key: [u8; 32] = stored.try_into().map_err(|_| {
            anyhow::anyhow!("etcd key {path} does not hold a 32-byte continue-token key; delete it to make a new one")
        })?;
        Ok(Self::new(&key))
    }

    /// The token the tenant sees for the upstream `token` of the list `scope`.
    pub fn seal(&self, scope: &TokenScope, token: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("the system RNG works");
        let mut sealed = token.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&scope.0), &mut sealed)
            .expect("sealing a short token cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The upstream token inside `sealed`, if vcproxy sealed it for this tenant and list.
    pub fn open(&self, scope: &TokenScope, sealed: &str) -> Result<String, ApiError> {
        let invalid =
            || ApiError::bad_request("continue key is not valid for this list; start the list again without continue");
        let bytes = URL_SAFE_NO_PAD.decode(sealed.trim_end_matches('=')).map_err(|_| invalid())?;
        if bytes.len() < 1 + NONCE_LEN || bytes[0] != FORMAT {
            return Err(invalid());
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[1..1 + NONCE_LEN]).map_err(|_| invalid())?;
        let mut sealed = bytes[1 + NONCE_LEN..].to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(&scope.0), &mut sealed).map_err(|_| invalid())?;
        String::from_utf8(plain.to_vec()).map_err(|_| invalid())
    }

    /// Seals `metadata.continue` of a whole list or Status in place.
    pub fn seal_in_metadata(&self, doc: &mut Value, scope: &TokenScope) {
        if let Some(Value::String(token)) = doc.get_mut("metadata").and_then(|m| m.get_mut("continue")) {
            if !token.is_empty() {
                *token = self.seal(scope, token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> ContinueTokens {
        ContinueTokens::new(&[7u8; 32])
    }

    #[test]
    fn round_trip_within_its_scope_only() {
        let t = tokens();
        let upstream =
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDIsInN0YXJ0IjoiL2FjbWUtLWRlZmF1bHQva3ViZS1yb290LWNhLmNydFx1MDAwMCJ9";
        let scope = TokenScope::new("globex", "", "configmaps", "");
        let sealed = t.seal(&scope, upstream);
        assert_eq!(t.open(&scope, &sealed).unwrap(), upstream);
        assert_ne!(sealed, t.seal(&scope, upstream), "a fresh nonce every time");
        for other in [
            TokenScope::new("acme", "", "configmaps", ""),
            TokenScope::new("globex", "", "secrets", ""),
            TokenScope::new("globex", "apps", "configmaps", ""),
            TokenScope::new("globex", "", "configmaps", "globex--default"),
        ] {
            assert_eq!(t.open(&other, &sealed).unwrap_err().code, 400, "{other:?}");
        }
        assert!(ContinueTokens::new(&[8u8; 32]).open(&scope, &sealed).is_err(), "another key");
    }

    #[test]
    fn sealed_tokens_say_nothing() {
        let t = tokens();
        let scope = TokenScope::new("globex", "", "configmaps", "");
        let upstream = URL_SAFE_NO_PAD.encode(br#"{"rv":42,"start":"/acme--default/db\u0000"}"#);
        let sealed = t.seal(&scope, &upstream);
        let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("acme") && !text.contains("start") && !sealed.contains(&upstream[..16]));
    }

    #[test]
    fn forged_and_malformed_tokens_are_400() {
        let t = tokens();
        let scope = TokenScope::new("globex", "", "configmaps", "");
        let mut sealed = URL_SAFE_NO_PAD.decode(t.seal(&scope, "abc")).unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        let flipped = URL_SAFE_NO_PAD.encode(&sealed);
        let plain_upstream = URL_SAFE_NO_PAD.encode(br#"{"rv":1,"start":"/acme--default/"}"#);
        for bad in [flipped.as_str(), plain_upstream.as_str(), "", "%%%", "AQ", "....", &"A".repeat(10_000)] {
            assert_eq!(t.open(&scope, bad).unwrap_err().code, 400, "{bad:.40}");
        }
    }

    #[test]
    fn metadata_continue_is_sealed_in_place() {
        let t = tokens();
        let scope = TokenScope::new("globex", "", "configmaps", "");
        let mut doc = serde_json::json!({"kind": "Status", "code": 410, "metadata": {"continue": "upstream"}});
        t.seal_in_metadata(&mut doc, &scope);
        let sealed = doc["metadata"]["continue"].as_str().unwrap();
        assert_eq!(t.open(&scope, sealed).unwrap(), "upstream");
        let mut empty = serde_json::json!({"metadata": {"continue": ""}});
        t.seal_in_metadata(&mut empty, &scope);
        assert_eq!(empty["metadata"]["continue"], "");
    }

    #[test]
    fn streamed_lists_carry_sealed_tokens_and_no_counts() {
        use crate::rewrite::{Direction, FixedMapper, ListRewriter};
        let t = std::sync::Arc::new(tokens());
        let scope = TokenScope::new("globex", "", "configmaps", "");
        let (sealer, s2) = (t.clone(), scope.clone());
        let mut list =
            ListRewriter::new("", "configmaps", Direction::ToVirtual, FixedMapper::new("globex").with(["default"]))
                .seal_continue(Box::new(move |token| sealer.seal(&s2, token)));
        let body = br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"L2FjbWUtLWRlZmF1bHQvZGI","remainingItemCount":3},"items":[{"metadata":{"name":"db","namespace":"acme--default"}}]}"#;
        let mut out = Vec::new();
        list.push(body, &mut out).unwrap();
        list.finish(&mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 0, "acme's item is dropped");
        assert!(v["metadata"].get("remainingItemCount").is_none());
        let sealed = v["metadata"]["continue"].as_str().unwrap();
        assert_eq!(t.open(&scope, sealed).unwrap(), "L2FjbWUtLWRlZmF1bHQvZGI");
        assert!(!String::from_utf8_lossy(&out).contains("acme"));
    }
}

//! Bearer tokens: random, shown once, stored only as SHA-256 hashes.
//!
//! Tokens carry 256 bits of randomness, so an unsalted SHA-256 is enough to make
//! a leaked etcd useless for logging in, and lets authentication look a token up
//! by its hash.

use base64::Engine;
use sha2::{Digest, Sha256};

/// SHA-256 of a token, hex encoded (as stored in etcd).
pub type TokenHash = String;

/// A fresh token: `vcp_` + 43 base64url characters (32 random bytes).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("vcp_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(token: &str) -> TokenHash {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token("").len(), 64);
    }
}

//! Kubernetes name rules shared by the places vcproxy creates objects itself.

/// A lowercase RFC 1123 label: what namespace names must be.
pub use crate::rewrite::is_dns1123_label;

/// kube-apiserver's `generateName`: the prefix (cut so the result fits
/// `max_len`) plus five random characters from its alphabet.
pub fn generate_name(prefix: &str, max_len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect();
    let keep = prefix.len().min(max_len.saturating_sub(5));
    format!("{}{suffix}", &prefix[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_fit_and_differ() {
        let a = generate_name("web-", 63);
        assert!(a.starts_with("web-") && a.len() == 9);
        assert_ne!(a, generate_name("web-", 63));
        assert_eq!(generate_name(&"x".repeat(100), 63).len(), 63);
    }
}

//! The front door's resource limits (`[limits]` in `vcproxy.toml`): what one
//! client, or all of them, may hold of the proxy before a request is even
//! parsed, and how long a request may take.
//!
//! | limit | default | enforced by |
//! |---|---|---|
//! | `max_connections`, `max_connections_per_ip` | 10,000, 1,000 | [`Connections`]: a connection past either is closed before its TLS handshake |
//! | `max_header_bytes`, `max_headers` | 64 KiB, 100 | hyper: HTTP/1.1 `431`, HTTP/2 stream reset |
//! | `max_streams_per_connection`, `max_pending_reset_streams` | 250, 20 | hyper/h2: concurrent streams; a client resetting streams faster than they are served (CVE-2023-44487, "rapid reset") loses its connection |
//! | `tls_handshake_seconds`, `header_read_seconds` | 10, 10 | the accept loop and hyper: slowloris sockets are closed |
//! | `max_body_bytes` | 3 MiB | [`check_declared_body`] (a `413` before the body is read, costing no seat) and every body vcproxy reads |
//! | `max_request_seconds` | 60 | [`request_deadline`]: a non-long-running request ends with a `504` Status, sooner if it asks with `?timeout=`; a body still streaming at the deadline is cut (reset stream) |

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::error::ApiError;
use crate::request_info::RequestInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_streams_per_connection: u32,
    pub max_pending_reset_streams: usize,
    pub tls_handshake: Duration,
    pub header_read: Duration,
    pub max_body_bytes: usize,
    pub max_request: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_streams_per_connection: 250,
            max_pending_reset_streams: 20,
            tls_handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            max_body_bytes: crate::namespaces::MAX_BODY,
            max_request: Duration::from_secs(60),
        }
    }
}

/// Open tenant connections, in all and per client address.
pub struct Connections {
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
    max_total: usize,
    max_per_ip: usize,
}

/// One admitted connection; dropping it gives its place back.
pub struct Slot {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    pub fn new(limits: &Limits) -> Arc<Connections> {
        Arc::new(Connections {
            total: AtomicUsize::new(0),
            per_ip: DashMap::new(),
            max_total: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
        })
    }

    /// A place for a new connection from `ip`, or None when it would pass a limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let mut count = self.per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            drop(count);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        *count += 1;
        Some(Slot { connections: self.clone(), ip })
    }

    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let c = &self.connections;
        // Removed when it reaches zero, so a scan of many addresses leaves nothing behind.
        c.per_ip.remove_if_mut(&self.ip, |_, n| {
            *n -= 1;
            *n == 0
        });
        c.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A `Content-Length` past the limit is a 413 before the body is read.
pub fn check_declared_body(headers: &http::HeaderMap, max: usize) -> Result<(), ApiError> {
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => Err(ApiError::payload_too_large(format!(
            "the request body ({n} bytes) is larger than the {max}-byte limit"
        ))),
        _ => Ok(()),
    }
}

/// How long a request may take: None for watches and other long-running
/// requests; otherwise the limit, or the request's own `?timeout=` when shorter.
pub fn request_deadline(info: &RequestInfo, max: Duration) -> Result<Option<Duration>, ApiError> {
    if info.long_running {
        return Ok(None);
    }
    match info.query.get("timeout").filter(|t| !t.is_empty()) {
        None => Ok(Some(max)),
        Some(t) => {
            let asked = parse_go_duration(t).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid timeout specified in the request URL: {t:?} (use a duration such as 30s)"
                ))
            })?;
            Ok(Some(asked.min(max)))
        }
    }
}

/// The 504 for a request that passed its deadline: once it held its seats the wait was
/// the super apiserver's; before, it was the tenant's own queue.
pub fn deadline_passed(deadline: Duration, seated: bool) -> ApiError {
    let secs = deadline.as_secs_f64();
    if seated {
        ApiError::timeout(format!(
            "the super apiserver did not answer within the request's {secs}s deadline; retry, or ask for less (?limit=)"
        ))
    } else {
        ApiError::timeout(format!(
            "the request waited {secs}s in the tenant's queue for an upstream seat; retry later, or ask with a longer ?timeout="
        ))
    }
}

/// A Go `time.Duration` string (`1m30s`, `500ms`, `2h`), as kube-apiserver reads `?timeout=`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds;
        rest = &rest[unit..];
    }
    (total.is_finite() && total < 1e9).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_info::parse;

    #[test]
    fn connections_are_counted_per_address_and_given_back() {
        let limits = Limits { max_connections: 3, max_connections_per_ip: 2, ..Limits::default() };
        let c = Connections::new(&limits);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = c.admit(a).unwrap();
        let _a2 = c.admit(a).unwrap();
        assert!(c.admit(a).is_none(), "third from one address");
        let _b1 = c.admit(b).unwrap();
        assert!(c.admit(b).is_none(), "fourth in all");
        drop(a1);
        assert_eq!(c.open(), 2);
        assert!(c.admit(b).is_some(), "a place came back");
        drop(_a2);
        assert!(!c.per_ip.contains_key(&a), "an address with no connections is forgotten");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        for bad in ["", "10", "s", "1x", "-1s", "1e9h", "1..2s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deadlines_are_the_limit_or_sooner_and_never_for_watches() {
        let max = Duration::from_secs(60);
        let info = |q: &str| parse(&http::Method::GET, "/api/v1/namespaces/a/pods", Some(q)).unwrap();
        assert_eq!(request_deadline(&info(""), max).unwrap(), Some(max));
        assert_eq!(request_deadline(&info("timeout=5s"), max).unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(request_deadline(&info("timeout=10m"), max).unwrap(), Some(max), "capped");
        assert_eq!(request_deadline(&info("timeout=soon"), max).unwrap_err().code, 400);
        assert_eq!(request_deadline(&info("watch=true"), max).unwrap(), None);
    }

    #[test]
    fn declared_bodies_past_the_limit_are_413() {
        let mut h = http::HeaderMap::new();
        assert!(check_declared_body(&h, 10).is_ok());
        h.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("11"));
        assert_eq!(check_declared_body(&h, 10).unwrap_err().code, 413);
        assert!(check_declared_body(&h, 11).is_ok());
    }
}

//! What the benchmarks that compare vcproxy with the apiserver share: the two
//! targets, one measured case, and where the vcproxy binary is.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Serialize;

use crate::stats::Latency;

/// Which side a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The apiserver itself.
    Direct,
    /// The same request through vcproxy.
    Vcproxy,
}

/// One kind of request (`O`, the benchmark's own operation enum) against one target.
#[derive(Debug, Serialize)]
pub struct CaseResult<O> {
    pub op: O,
    pub target: Target,
    /// An example request path.
    pub path: String,
    pub requests: usize,
    pub errors: usize,
    pub elapsed_s: f64,
    pub req_per_s: f64,
    pub latency: Latency,
    pub mean_response_bytes: f64,
}

/// Where the vcproxy binary is: `--vcproxy`, `$VCPROXY_BIN`, or the workspace's release build.
pub fn vcproxy_bin(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match (arg, std::env::var_os("VCPROXY_BIN")) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/vcproxy"),
    };
    if !path.is_file() {
        bail!(
            "vcproxy binary {} not found: build it first (cargo build --release -p vcproxy) or pass --vcproxy",
            path.display()
        );
    }
    Ok(path.canonicalize()?)
}

/// The bearer token of the first user of a kubeconfig (as `vcproxy tenant create` prints it).
pub fn token_of(kubeconfig_yaml: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let v: serde_yaml::Value = serde_yaml::from_str(kubeconfig_yaml).context("tenant kubeconfig is not YAML")?;
    v["users"][0]["user"]["token"].as_str().map(str::to_string).context("tenant kubeconfig has no token")
}

/// CPU time (user + system) a process has used, in clock ticks, from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    use anyhow::Context;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok(f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

/// Clock ticks per second (`_SC_CLK_TCK`).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

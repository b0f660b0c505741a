//! End-to-end tests: the real `vcproxy` binary in front of a real etcd,
//! kube-apiserver and kube-controller-manager, driven by the real kubectl and by
//! raw HTTP clients. One control plane per test binary (shared); each test uses
//! its own tenant names, so tests run in parallel.

mod client;
mod cluster_rbac;
mod crds;
mod crd_store;
mod fairness;
mod faults;
mod fleet;
mod frontdoor;
mod guardrails;
mod hostile;
mod limits;
mod oidc;
mod paths;
mod rbac_subjects;
mod registry;
mod shutdown;
mod subresources;
mod tenant_users;
mod virtual_view;
mod watches;
mod writer;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use vcproxy_testenv::{shared, Vcproxy, VcproxyOptions};

/// The `vcproxy` binary cargo built for these tests.
pub fn vcproxy_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vcproxy"))
}

/// One vcproxy shared by the tests that do not need their own.
pub fn proxy() -> &'static Vcproxy {
    static PROXY: OnceLock<Vcproxy> = OnceLock::new();
    PROXY.get_or_init(|| Vcproxy::start(vcproxy_bin(), shared()).expect("starting vcproxy"))
}

/// A vcproxy with its own policy file (returned so tests can edit it).
pub fn proxy_with_policy(policy: &str) -> (Vcproxy, PathBuf) {
    let dir = std::env::temp_dir().join(format!("vcproxy-policy-{}-{}", std::process::id(), unique_tenant("p")));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("policy.toml");
    std::fs::write(&file, policy).unwrap();
    let opts = VcproxyOptions { extra_toml: format!("[policy]\nfile = {:?}\n", file.display().to_string()), ..Default::default() };
    (Vcproxy::start_with(vcproxy_bin(), shared(), opts).expect("starting vcproxy"), file)
}

/// Runs kubectl with `stdin` piped in (for `apply -f -`).
pub fn kubectl_with_stdin(kubeconfig: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(vcproxy_testenv::kubectl_path().unwrap());
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = vcproxy_testenv::process::spawn(cmd).unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A tenant name no other test uses: `<prefix><pid-ish><counter>`, short enough
/// to be valid.
pub fn unique_tenant(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 10_000)
}

/// A tenant on `proxy` and the path of its admin kubeconfig.
pub fn tenant_on(proxy: &Vcproxy, prefix: &str) -> (String, PathBuf) {
    let name = unique_tenant(prefix);
    let kubeconfig = proxy.create_tenant_kubeconfig(&name).expect("creating tenant");
    (name, kubeconfig)
}

/// The bearer token in a kubeconfig file.
pub fn token_of(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    v["users"][0]["user"]["token"].as_str().expect("token in kubeconfig").to_string()
}

/// Asserts a command succeeded, showing its output otherwise; returns stdout.
pub fn ok(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

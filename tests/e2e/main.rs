//! End-to-end tests: the real `vcproxy` binary in front of a real etcd,
//! kube-apiserver and kube-controller-manager, driven by the real kubectl and by
//! raw HTTP clients. One control plane per test binary (shared); each test uses
//! its own tenant names, so tests run in parallel.

mod client;
mod crds;
mod crd_store;
mod fairness;
mod frontdoor;
mod hostile;
mod registry;
mod shutdown;
mod subresources;
mod virtual_view;
mod watches;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use vcproxy_testenv::{shared, Vcproxy};

/// The `vcproxy` binary cargo built for these tests.
pub fn vcproxy_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vcproxy"))
}

/// One vcproxy shared by the tests that do not need their own.
pub fn proxy() -> &'static Vcproxy {
    static PROXY: OnceLock<Vcproxy> = OnceLock::new();
    PROXY.get_or_init(|| Vcproxy::start(vcproxy_bin(), shared()).expect("starting vcproxy"))
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

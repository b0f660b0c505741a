//! The real control plane, checked with the real kubectl.

use std::path::Path;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use vcproxy_testenv::{shared, Vcproxy, KUBERNETES_VERSION};

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn kubectl_version_and_namespaces() {
    let cp = shared();
    eprintln!("control plane started in {:?}", cp.startup_time());
    let version: serde_json::Value =
        serde_json::from_str(&ok("kubectl version", cp.admin_kubectl(&["version", "-o", "json"]))).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], KUBERNETES_VERSION);
    assert_eq!(version["clientVersion"]["gitVersion"], KUBERNETES_VERSION);

    let namespaces = ok("kubectl get ns", cp.admin_kubectl(&["get", "ns", "-o", "name"]));
    assert!(namespaces.lines().any(|l| l == "namespace/kube-system"), "{namespaces}");
    assert!(namespaces.lines().any(|l| l == "namespace/default"), "{namespaces}");

    let whoami = ok(
        "kubectl auth whoami",
        cp.admin_kubectl(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"]),
    );
    assert!(whoami.starts_with("admin ") && whoami.contains("system:masters"), "{whoami}");
}

/// Service-account tokens (apiserver signing key, KCM token controller),
/// namespace lifecycle (KCM namespace controller) and the root-CA publisher.
#[test]
fn service_accounts_and_controllers_work() {
    let cp = shared();
    let ns = "testenv-sa";
    ok("create ns", cp.admin_kubectl(&["create", "namespace", ns]));
    ok("create sa", cp.admin_kubectl(&["-n", ns, "create", "serviceaccount", "robot"]));

    // A bound token from the TokenRequest API authenticates as the SA.
    let token = ok("create token", cp.admin_kubectl(&["-n", ns, "create", "token", "robot"]));
    let server = format!("--server={}", cp.apiserver_url());
    let ca = format!("--certificate-authority={}", cp.ca_file().display());
    let token_flag = format!("--token={}", token.trim());
    let whoami = ok(
        "whoami with SA token",
        cp.kubectl(
            Path::new("/dev/null"),
            &[&server, &ca, &token_flag, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"],
        ),
    );
    assert_eq!(whoami, format!("system:serviceaccount:{ns}:robot"));

    // A legacy token Secret is filled by kube-controller-manager.
    let secret = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token",
            "metadata":{{"name":"robot-token","namespace":"{ns}",
            "annotations":{{"kubernetes.io/service-account.name":"robot"}}}}}}"#
    );
    let file = cp.dir().join("robot-token.json");
    std::fs::write(&file, secret).unwrap();
    ok("create secret", cp.admin_kubectl(&["create", "-f", file.to_str().unwrap()]));
    eventually("token controller to fill the secret", Duration::from_secs(30), || {
        let out = cp.admin_kubectl(&["-n", ns, "get", "secret", "robot-token", "-o", "jsonpath={.data.token}"]);
        out.status.success() && !out.stdout.is_empty()
    });
    eventually("kube-root-ca.crt in the namespace", Duration::from_secs(30), || {
        cp.admin_kubectl(&["-n", ns, "get", "configmap", "kube-root-ca.crt"]).status.success()
    });

    // The namespace controller finishes deletion.
    ok("delete ns", cp.admin_kubectl(&["delete", "namespace", ns, "--wait=false"]));
    eventually("namespace to be deleted", Duration::from_secs(60), || {
        let out = cp.admin_kubectl(&["get", "namespace", ns, "--ignore-not-found", "-o", "name"]);
        out.status.success() && out.stdout.is_empty()
    });
}

/// A vcproxy that dies at once is reported with its log, not as a hang.
#[test]
fn vcproxy_start_failure_is_reported() {
    let cp = shared();
    let script = cp.dir().join("fake-vcproxy.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"fake vcproxy: $*\" >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let err = Vcproxy::start(&script, cp).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("vcproxy exited"), "{msg}");
    assert!(msg.contains("fake vcproxy: serve --config"), "{msg}");
}



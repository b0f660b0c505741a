//! The tenant registry: the CLI writes etcd, a running proxy follows it live.

use std::time::{Duration, Instant};

use crate::{ok, proxy, token_of, unique_tenant};

/// Polls `kubectl version` until it succeeds (true) or fails (false) as wanted.
fn wait_for_kubectl(kubeconfig: &std::path::Path, want_ok: bool, within: Duration) -> Duration {
    let p = proxy();
    let start = Instant::now();
    loop {
        let out = p.kubectl(kubeconfig, &["version", "--request-timeout=2s"]);
        if out.status.success() == want_ok {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "kubectl version still {} after {within:?}: {}",
            if want_ok { "failing" } else { "working" },
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn created_and_deleted_tenants_are_seen_without_restart() {
    let p = proxy();
    let name = unique_tenant("live");
    let kc = p.create_tenant_kubeconfig(&name).unwrap();
    wait_for_kubectl(&kc, true, Duration::from_secs(5));

    let listed = ok(p.tenant(&["list"]), "tenant list");
    assert!(listed.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())), "{listed}");

    // A second token for another user works alongside the first.
    let alice = ok(p.tenant(&["kubeconfig", &name, "--user", "alice"]), "tenant kubeconfig");
    let alice_path = p.dir().join(format!("{name}-alice.kubeconfig"));
    std::fs::write(&alice_path, &alice).unwrap();
    assert_ne!(token_of(&alice_path), token_of(&kc));
    wait_for_kubectl(&alice_path, true, Duration::from_secs(5));
    let whoami =
        ok(p.kubectl(&alice_path, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]), "whoami");
    assert_eq!(whoami, "alice");

    ok(p.tenant(&["delete", &name]), "tenant delete");
    // Generous bound for a loaded CI machine; the figure is printed for the record.
    let took = wait_for_kubectl(&kc, false, Duration::from_secs(3));
    eprintln!("deleted tenant's token stopped working after {took:?}");
    wait_for_kubectl(&alice_path, false, Duration::from_secs(3));
    let listed = ok(p.tenant(&["list"]), "tenant list");
    assert!(!listed.contains(&name), "{listed}");
}

#[test]
fn invalid_tenant_names_are_refused_and_change_nothing() {
    let p = proxy();
    let before = ok(p.tenant(&["list"]), "tenant list");
    for bad in [
        "Upper",
        "a--b",
        "-lead",
        "trail-",
        "kube-system",
        "vcproxy",
        "has.dot",
        "a/b",
        "..",
        "waytoolongtenantname-123456",
    ] {
        let out = p.tenant(&["create", "--", bad]);
        assert!(!out.status.success(), "{bad:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid tenant name"), "{bad:?}: unclear error {stderr}");
        assert!(out.stdout.is_empty(), "{bad:?}: printed a kubeconfig");
    }
    assert_eq!(before, ok(p.tenant(&["list"]), "tenant list"));
}

#[test]
fn duplicate_tenant_and_unknown_tenant_kubeconfig_fail_clearly() {
    let p = proxy();
    let name = unique_tenant("dup");
    p.create_tenant(&name).unwrap();
    let out = p.tenant(&["create", &name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = p.tenant(&["kubeconfig", "nosuchtenant", "--user", "bob"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn deleting_a_tenant_deletes_its_namespaces_and_nothing_else() {
    let p = proxy();
    let (gone, kc) = crate::tenant_on(p, "del");
    let (kept, kc_kept) = crate::tenant_on(p, "kep");
    ok(p.kubectl(&kc, &["create", "ns", "shop"]), "create ns");
    ok(p.kubectl(&kc_kept, &["create", "ns", "shop"]), "create ns");
    ok(p.tenant(&["delete", &gone]), "tenant delete");
    let admin = vcproxy_testenv::shared();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = admin.admin_kubectl(&["get", "ns", "-l", &format!("vcproxy.io/tenant={gone}"), "-o", "jsonpath={.items[*].status.phase}"]);
        let phases = String::from_utf8_lossy(&out.stdout).to_string();
        // Gone, or on its way (the namespace controller finishes the job).
        if phases.split_whitespace().all(|p| p == "Terminating") {
            break;
        }
        assert!(Instant::now() < deadline, "namespaces of {gone} not deleted: {phases}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = admin.admin_kubectl(&["get", "ns", &format!("{kept}--shop"), "-o", "jsonpath={.status.phase}"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Active");
}

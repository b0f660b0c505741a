//! Impersonation headers and cluster-scoped writes are refused.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------ 9 + 10. impersonation, cluster scope

/// Forged impersonation headers on namespaced requests, and writes to
/// cluster-scoped resources: 403; reads of the read-only kinds work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_and_cluster_scoped_writes_are_refused() {
    let mut s = Scene::new("h9");
    let (a, v) = (s.a.clone(), s.v.clone());
    let vp = s.vns("prod");
    let probe = format!("probe-{a}");
    // A node and a storage class for the read-only kinds.
    admin_apply(&format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {probe}-node, labels: {{owner: test}}}}\n---\n\
         apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: {probe}-sc}}\nprovisioner: example.com/none\n"
    ));
    let node_before = admin_get("node", None, &format!("{probe}-node")).map(|n| n["metadata"]["labels"].clone());
    let sc_before =
        admin_get("storageclass", None, &format!("{probe}-sc")).map(|n| n["metadata"]["resourceVersion"].clone());

    // --- 9. impersonation
    let victim_user = format!("vcproxy:{v}:admin");
    let victim_group = format!("vcproxy:tenant:{v}");
    let forged: Vec<Vec<(&str, &str)>> = vec![
        vec![("impersonate-user", "system:admin"), ("impersonate-group", "system:masters")],
        vec![("impersonate-user", "system:serviceaccount:kube-system:namespace-controller")],
        vec![("impersonate-user", victim_user.as_str()), ("impersonate-group", victim_group.as_str())],
        vec![("x-remote-user", "system:admin"), ("x-remote-group", "system:masters")],
        vec![
            ("impersonate-user", "system:admin"),
            ("impersonate-group", "system:masters"),
            ("impersonate-uid", "0"),
            ("impersonate-extra-scopes", "all"),
        ],
    ];
    for headers in &forged {
        for alpn in [H2, H1] {
            let proto = if alpn == H2 { "h2" } else { "http/1.1" };
            for path in [
                "/api/v1/namespaces/kube-system/secrets".to_string(),
                format!("/api/v1/namespaces/kube-system/secrets/marker-{a}"),
                format!("/api/v1/namespaces/{vp}/configmaps/x"),
            ] {
                let r = s.call_with(alpn, Method::GET, &path, None, &headers, Bytes::new()).await;
                s.refused(&format!("{proto} GET {path} with {headers:?}"), &r, &[403, 404]);
            }
            // Impersonating outside the tenant is refused (403); headers vcproxy ignores
            // change nothing, so the list is the tenant's own.
            for path in ["/api/v1/secrets", "/api/v1/namespaces/prod/secrets"] {
                let r = s.call_with(alpn, Method::GET, path, None, &headers, Bytes::new()).await;
                if r.status == 403 {
                    s.refused(&format!("{proto} GET {path} with {headers:?}"), &r, &[403]);
                } else {
                    s.confined_list(&format!("{proto} GET {path} with {headers:?}"), &r, false);
                }
            }
            // Binding cluster-admin needs rights the tenant does not have; only a
            // forged identity could do it.
            let rb = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": format!("{probe}-escalate")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("vcproxy:tenant:{a}")}],
            });
            let r = s
                .call_with(
                    alpn,
                    Method::POST,
                    "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings",
                    Some(JSON),
                    &headers,
                    rb.to_string(),
                )
                .await;
            s.refused(&format!("{proto} bind cluster-admin in prod with {headers:?}"), &r, &[403]);
            let made = admin_get("rolebinding", Some(&format!("{a}--prod")), &format!("{probe}-escalate"));
            s.check(made.is_none(), || {
                format!("ESCAPE: forged headers {headers:?} let the tenant bind cluster-admin: {made:?}")
            });
            // Who does the apiserver think we are?
            let r = s
                .call_with(
                    alpn,
                    Method::POST,
                    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    Some(JSON),
                    &headers,
                    r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
                )
                .await;
            // Either the impersonation is refused, or the headers changed nothing: the
            // caller is still the tenant's admin, in the tenant's names — or, asking for a
            // service account, it is the tenant's own of that name (its `kube-system` is
            // its own namespace), which the tenant's admins may impersonate.
            let user = r.json().map(|v| v["status"]["userInfo"].clone()).unwrap_or_default();
            let refused = r.status == 403 || r.status == 400;
            let own_service_account = headers.iter().any(|(k, v)| *k == "impersonate-user" && v.starts_with("system:serviceaccount:"))
                && user["username"] == headers.iter().find(|(k, _)| *k == "impersonate-user").map(|(_, v)| *v).unwrap_or_default();
            s.check(
                refused
                    || ((user["username"] == "admin" || own_service_account)
                        && !user["groups"].to_string().contains("system:masters")
                        && !user.to_string().contains("vcproxy:")),
                || format!("{proto} whoami with {headers:?}: {} {user}", r.status),
            );
        }
    }
    for args in [
        vec!["--as=system:admin", "--as-group=system:masters", "get", "secrets", "-n", "kube-system"],
        vec!["--as=system:admin", "--as-group=system:masters", "get", "cm", "x", "-n", vp.as_str()],
        vec![
            "--as=system:admin",
            "--as-group=system:masters",
            "create",
            "clusterrolebinding",
            probe.as_str(),
            "--clusterrole=cluster-admin",
            &format!("--group=vcproxy:tenant:{a}"),
        ],
        vec!["--as=system:admin", "--as-group=system:masters", "delete", "ns", "kube-system", "--wait=false"],
    ] {
        s.kubectl_refused(&args);
    }

    // --- 10. cluster-scoped writes
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": probe}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("vcproxy:tenant:{a}")}]}).to_string();
    let cr = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": probe, "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}).to_string();
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": probe}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/"}, "claimRef": {"namespace": "prod", "name": "steal"}}}).to_string();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("{probe}-node2")}}).to_string();
    let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": format!("{probe}-sc2")}, "provisioner": "example.com/none"}).to_string();
    let pc = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": probe}, "value": 1000000000}).to_string();
    let webhook = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": {"name": probe}, "webhooks": []}).to_string();
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": probe}, "spec": {"request": "", "signerName": "kubernetes.io/kube-apiserver-client"}}).to_string();
    let node_name = format!("{probe}-node");
    let sc_name = format!("{probe}-sc");
    let writes: Vec<(Method, String, Option<&str>, String)> = vec![
        (Method::POST, "/api/v1/persistentvolumes".into(), Some(JSON), pv.clone()),
        (Method::DELETE, format!("/api/v1/persistentvolumes/{probe}"), None, String::new()),
        (Method::POST, "/api/v1/nodes".into(), Some(JSON), node.clone()),
        (Method::DELETE, format!("/api/v1/nodes/{node_name}"), None, String::new()),
        (Method::DELETE, "/api/v1/nodes".into(), None, String::new()),
        (Method::PATCH, format!("/api/v1/nodes/{node_name}"), Some(MERGE), r#"{"metadata":{"labels":{"owned":"yes"}},"spec":{"unschedulable":true}}"#.into()),
        (Method::PUT, format!("/api/v1/nodes/{node_name}"), Some(JSON), json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "labels": {"owned": "yes"}}}).to_string()),
        (Method::PATCH, format!("/api/v1/nodes/{node_name}/status"), Some(MERGE), r#"{"status":{"capacity":{"pods":"0"}}}"#.into()),
        (Method::GET, format!("/api/v1/nodes/{node_name}/proxy/configz"), None, String::new()),
        (Method::GET, format!("/api/v1/nodes/{node_name}:10250/proxy/pods"), None, String::new()),
        (Method::POST, "/apis/storage.k8s.io/v1/storageclasses".into(), Some(JSON), sc.clone()),
        (Method::DELETE, format!("/apis/storage.k8s.io/v1/storageclasses/{sc_name}"), None, String::new()),
        (Method::PATCH, format!("/apis/storage.k8s.io/v1/storageclasses/{sc_name}"), Some(MERGE), r#"{"metadata":{"labels":{"owned":"yes"}}}"#.into()),
        (Method::POST, "/apis/scheduling.k8s.io/v1/priorityclasses".into(), Some(JSON), pc.clone()),
        (Method::DELETE, "/apis/scheduling.k8s.io/v1/priorityclasses/system-cluster-critical".into(), None, String::new()),
        (Method::POST, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations".into(), Some(JSON), webhook.clone()),
        (Method::POST, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations".into(), Some(JSON), webhook.replace("Mutating", "Validating")),
        // CRDs are tenant-owned (served by vcproxy from the tenant's etcd prefix,
        // never reaching the super apiserver); see crds.rs.
        (Method::POST, "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(), Some(JSON), csr.clone()),
        (Method::POST, "/apis/authentication.k8s.io/v1/tokenreviews".into(), Some(JSON), r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"x"}}"#.into()),
        (Method::POST, "/api/v1/configmaps".into(), Some(JSON), cm_body(&probe, Some("kube-system"))),
        (Method::DELETE, "/api/v1/configmaps".into(), None, String::new()),
        (Method::DELETE, "/api/v1/secrets".into(), None, String::new()),
        (Method::DELETE, "/apis/apps/v1/deployments".into(), None, String::new()),
        (Method::PATCH, "/api/v1/configmaps".into(), Some(MERGE), "{}".into()),
        (Method::GET, "/api/v1/persistentvolumes".into(), None, String::new()),
        (Method::GET, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations".into(), None, String::new()),
        (Method::GET, "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(), None, String::new()),
    ];
    for (m, path, ct, body) in writes {
        let r = s.call(m.clone(), &path, ct, body).await;
        s.refused(&format!("{m} {path}"), &r, &[403]);
    }
    // Cluster RBAC is the tenant's own (issue 10): its ClusterRoles and bindings are
    // accepted in its names, and none of them names, changes or joins the super master's.
    for (m, path, ct, body) in [
        (Method::PUT, format!("{rbac}/clusterroles/admin"), Some(JSON), cr.replace(&probe, "admin")),
        (Method::PATCH, format!("{rbac}/clusterroles/view"), Some(MERGE), r#"{"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}"#.into()),
        (Method::DELETE, format!("{rbac}/clusterroles/view"), None, String::new()),
    ] {
        let r = s.call(m.clone(), &path, ct, body).await;
        s.refused(&format!("{m} {path} (a built-in role)"), &r, &[403]);
    }
    for (path, body) in [(format!("{rbac}/clusterroles"), cr.clone()), (format!("{rbac}/clusterrolebindings"), crb.clone())] {
        let r = s.call(Method::POST, &path, Some(JSON), body).await;
        s.check(r.status == 201, || format!("POST {path}: the tenant's own, expected 201, got {}: {}", r.status, r.excerpt()));
    }
    for (m, ct, body) in [
        (Method::DELETE, None, String::new()),
        (Method::PATCH, Some(MERGE), format!(r#"{{"subjects":[{{"kind":"Group","name":"vcproxy:tenant:{a}"}}]}}"#)),
    ] {
        let path = format!("{rbac}/clusterrolebindings/cluster-admin");
        let r = s.call(m.clone(), &path, ct, body).await;
        s.refused(&format!("{m} {path} (the super master's, not the tenant's)"), &r, &[404]);
    }
    for (kind, name) in [("clusterrole", probe.clone()), ("clusterrolebinding", probe.clone())] {
        s.check(admin_get(kind, None, &name).is_none(), || format!("the tenant's {kind} {name} is a {kind} of the super master"));
    }
    let super_admin = admin_get("clusterrole", None, "admin").map(|r| r.to_string()).unwrap_or_default();
    s.check(!super_admin.contains(&probe) && !super_admin.contains(&a), || format!("the super master's admin role took the tenant's rules: {super_admin}"));
    let cluster_part = admin_get("clusterrole", None, &format!("vcproxy-cluster:{a}:{probe}")).unwrap_or_default();
    s.check(!cluster_part["metadata"]["labels"].to_string().contains("aggregate-to"), || format!("aggregation labels upstream: {cluster_part}"));
    let rb = admin_get("rolebinding", Some(&format!("{a}--prod")), &format!("vcproxy-crb:{probe}")).unwrap_or_default();
    s.check(
        rb["roleRef"]["name"] == "admin" && rb["subjects"][0]["name"] == format!("vcproxy:group:{a}:vcproxy:tenant:{a}"),
        || format!("a cluster-admin binding is, in a namespace, the tenant's admin for the tenant's group of that name: {rb}"),
    );
    for path in [format!("{rbac}/clusterroles"), format!("{rbac}/clusterrolebindings")] {
        let r = s.call(Method::GET, &path, None, String::new()).await;
        let names: Vec<String> = r.json().and_then(|v| v["items"].as_array().map(|i| i.iter().map(|o| o["metadata"]["name"].to_string()).collect())).unwrap_or_default();
        s.check(r.status == 200 && names == [format!("{probe:?}")], || format!("GET {path}: only the tenant's own, got {} {names:?}", r.status));
    }
    // Access reviews about the shared cluster's or another tenant's identities: 422 (not
    // an identity of this virtual cluster), as in a RoleBinding; the super apiserver is never asked.
    for (user, groups) in [
        ("system:admin", "[]"),
        ("system:kube-controller-manager", "[]"),
        ("admin", r#"["system:masters"]"#),
        ("", r#"["system:serviceaccounts"]"#),
    ] {
        let sar = format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"{user}","groups":{groups},"resourceAttributes":{{"namespace":"kube-system","verb":"get","resource":"secrets"}}}}}}"#
        );
        let r = s.call(Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews", Some(JSON), sar).await;
        s.refused(&format!("SubjectAccessReview about {user:?} {groups}"), &r, &[403, 422]);
    }
    // A name that looks like another tenant's super identity, or a service account of the
    // super master's kube-system, is only ever this tenant's own identity of that name (its
    // `kube-system` is its own namespace), which holds no rights.
    for user in [victim_user.as_str(), "system:serviceaccount:kube-system:namespace-controller"] {
        let sar = format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"{user}","resourceAttributes":{{"namespace":"kube-system","verb":"get","resource":"secrets"}}}}}}"#
        );
        let r = s.call(Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews", Some(JSON), sar).await;
        let allowed = r.json().map(|v| v["status"]["allowed"].clone());
        s.check(r.status == 201 && allowed == Some(Value::Bool(false)), || {
            format!("SubjectAccessReview about {user}: {} {}", r.status, r.text())
        });
    }
    // deletecollection of namespaces: the namespaces handler answers 405 MethodNotAllowed, a refusal as good as 403.
    let r = s.call(Method::DELETE, "/api/v1/namespaces", None, Bytes::new()).await;
    s.refused("DELETE /api/v1/namespaces (deletecollection)", &r, &[403, 405]);

    // A tenant ClusterRoleBinding naming a super-master identity is invalid (422), as a RoleBinding's.
    for subject in ["--group=system:masters", "--user=system:admin", "--group=system:serviceaccounts"] {
        let name = format!("{probe}-{}", subject.len());
        let out = s.kubectl(&["create", "clusterrolebinding", &name, "--clusterrole=cluster-admin", subject]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        s.check(!out.status.success() && err.contains("Invalid"), || format!("clusterrolebinding to {subject}: {err}"));
    }
    for args in [
        vec!["delete", "clusterrole", "view"],
        vec!["label", "node", node_name.as_str(), "owned=yes"],
        vec!["cordon", node_name.as_str()],
        vec!["delete", "node", node_name.as_str()],
        vec!["delete", "storageclass", sc_name.as_str()],
        vec!["create", "priorityclass", probe.as_str(), "--value=1000"],
    ] {
        // -v=6 logs each response's status: the refusal must be a 403.
        let mut verbose = vec!["-v=6"];
        verbose.extend(args.iter().copied());
        let out = s.kubectl(&verbose);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // (Discovery and the GET before a patch may succeed; no write may.)
        let wrote = err.lines().any(|l| !l.contains("verb=\"GET\"") && l.contains("status=\"2"));
        let forbidden = err.contains("403 Forbidden") && !wrote;
        let relevant: Vec<&str> =
            err.lines().filter(|l| l.contains("Response") || l.contains("status=") || l.starts_with("error")).collect();
        // (`kubectl cordon` prints the 403 but exits 0, so the logged status decides.)
        s.check(forbidden, || {
            format!("kubectl {} must be answered 403 Forbidden:\n{}", args.join(" "), relevant.join("\n"))
        });
    }
    // Reads of the read-only kinds work.
    for path in [
        "/api/v1/nodes".to_string(),
        format!("/api/v1/nodes/{node_name}"),
        "/apis/storage.k8s.io/v1/storageclasses".to_string(),
        format!("/apis/storage.k8s.io/v1/storageclasses/{sc_name}"),
        "/apis/scheduling.k8s.io/v1/priorityclasses".to_string(),
    ] {
        let r = s.get(&path).await;
        s.check(r.status == 200, || format!("GET {path} (read-only kind) must work: {} {}", r.status, r.excerpt()));
    }
    for args in [vec!["get", "nodes"], vec!["get", "storageclasses"]] {
        let out = s.kubectl(&args);
        s.check(out.status.success(), || {
            format!("kubectl {} must work: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))
        });
    }
    // kubectl delete --all -A deletes the attacker's objects only.
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    let out = s.kubectl(&["delete", "cm", "--all", "-A", "--wait=false"]);
    s.no_leak("kubectl delete cm --all -A", &String::from_utf8_lossy(&out.stdout));

    // Nothing cluster-scoped was created or changed.
    for (kind, name) in [
        ("clusterrolebinding", probe.clone()),
        ("clusterrole", probe.clone()),
        ("persistentvolume", probe.clone()),
        ("node", format!("{probe}-node2")),
        ("storageclass", format!("{probe}-sc2")),
        ("priorityclass", probe.clone()),
        ("mutatingwebhookconfiguration", probe.clone()),
        ("validatingwebhookconfiguration", probe.clone()),
        ("certificatesigningrequest", probe.clone()),
    ] {
        let got = admin_get(kind, None, &name);
        s.check(got.is_none(), || format!("ESCAPE: the attacker created {kind} {name}: {got:?}"));
    }
    for (kind, name) in
        [("clusterrole", "view"), ("clusterrole", "admin"), ("priorityclass", "system-cluster-critical")]
    {
        let got = admin_get(kind, None, name);
        s.check(got.as_ref().is_some_and(|g| g["metadata"]["deletionTimestamp"].is_null()), || {
            format!("{kind} {name} was deleted")
        });
    }
    let view_rules = admin_get("clusterrole", None, "view").map(|r| r["rules"].to_string()).unwrap_or_default();
    s.check(!view_rules.contains(r#""resources":["*"]"#), || {
        format!("ESCAPE: clusterrole view was widened: {view_rules}")
    });
    let node_after = admin_get("node", None, &format!("{probe}-node"));
    s.check(
        node_after.as_ref().map(|n| n["metadata"]["labels"].clone()) == node_before
            && node_after.as_ref().is_some_and(|n| n["spec"]["unschedulable"].is_null()),
        || format!("the node was changed: {node_after:?}"),
    );
    let sc_after =
        admin_get("storageclass", None, &format!("{probe}-sc")).map(|n| n["metadata"]["resourceVersion"].clone());
    s.check(sc_after == sc_before, || format!("the storage class was changed: {sc_before:?} -> {sc_after:?}"));
    let _ = admin(&["delete", "node", &format!("{probe}-node"), "--ignore-not-found"]);
    let _ = admin(&["delete", "storageclass", &format!("{probe}-sc"), "--ignore-not-found"]);
    s.finish();
}

//! References to other namespaces inside bodies are confined.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------ 6 + 7. references to other namespaces

/// A super namespace is the attacker's.
fn is_attackers(own: &BTreeSet<String>, a: &str, ns: &str) -> bool {
    own.contains(ns) || ns.starts_with(&format!("{a}--")) || ns.starts_with(&format!("{a}-h-"))
}

/// RoleBinding subjects and pod (anti-)affinity naming other namespaces are
/// translated into the attacker's space (or refused); namespace selectors are
/// confined to the attacker, through create, update and every patch type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_to_other_namespaces_are_confined() {
    let mut s = Scene::new("h6");
    let (a, v) = (s.a.clone(), s.v.clone());
    let vp = s.vns("prod");
    let aprod = format!("{a}--prod");
    const RB: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings";

    // --- RoleBinding subjects
    let subject = |ns: &str| json!({"kind": "ServiceAccount", "name": "default", "namespace": ns});
    let foreign = [vp.clone(), "kube-system".to_string(), s.vns("default"), "default".to_string(), aprod.clone()];
    let rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb-subjects"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": foreign.iter().map(|n| subject(n)).chain([json!({"kind": "ServiceAccount", "name": "namespace-controller", "namespace": "kube-system"})]).collect::<Vec<_>>(),
    });
    let r = s.call(Method::POST, RB, Some(JSON), rb.to_string()).await;
    s.check(r.status == 201 || (400..500).contains(&r.status), || {
        format!("create rb-subjects: {} {}", r.status, r.excerpt())
    });
    let r = s
        .call(Method::PUT, &format!("{RB}/rb-subjects"), Some(JSON), {
            let mut rb = rb.clone();
            rb["subjects"] = json!([subject("kube-system"), subject(&vp)]);
            rb.to_string()
        })
        .await;
    s.check(r.status == 200 || (400..500).contains(&r.status), || {
        format!("update rb-subjects: {} {}", r.status, r.excerpt())
    });
    let clean_rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb-patched"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [subject("prod"), subject("default")],
    })
    .to_string();
    for (ct, body) in [
        (MERGE, json!({"subjects": [subject("kube-system"), subject(&vp)]}).to_string()),
        (STRATEGIC, json!({"subjects": [subject("kube-system")]}).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/subjects/-", "value": subject("kube-system")}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/subjects/0", "value": subject(&vp)}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects", "value": [subject("kube-system")]}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/0/namespace", "value": "kube-system"}]).to_string()),
        // Array indexes Go's strconv.Atoi accepts but a digits-only check does not.
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/+0/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/-0/namespace", "value": "kube-system"}]).to_string()),
        // json-patch (evanphx, v4) also takes negative indexes from the end.
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/-1/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/-2", "value": subject("kube-system")}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/subjects/00/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/subjects/+0", "value": subject("kube-system")}]).to_string()),
        (JSON_PATCH, json!([{"op": "copy", "from": "/metadata/name", "path": "/subjects/0/namespace"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/metadata/labels", "value": {"kube-system": "x"}}, {"op": "move", "from": "/metadata/labels", "path": "/subjects/0"}]).to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/subjects/0/name\u0073pace","value":"kube-system"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/subjects/0/namespace","path":"/subjects/0/name","value":"kube-system"}]"#.to_string()),
        (APPLY, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb-patched"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}, "subjects": [subject(&vp)]}).to_string()),
    ] {
        // Each attempt starts from a clean, confined RoleBinding.
        let _ = s.call(Method::DELETE, &format!("{RB}/rb-patched"), None, Bytes::new()).await;
        let r = s.call(Method::POST, RB, Some(JSON), clean_rb.clone()).await;
        assert_eq!(r.status, 201, "resetting rb-patched: {}", r.excerpt());
        let path = if ct == APPLY { format!("{RB}/rb-patched?fieldManager=hostile&force=true") } else { format!("{RB}/rb-patched") };
        let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
        s.no_leak(&format!("PATCH ({ct}) {body}"), &r.text());
        s.check(r.status == 200 || (400..500).contains(&r.status), || format!("PATCH ({ct}) {body}: {} {}", r.status, r.excerpt()));
        let up = admin_get("rolebinding", Some(&aprod), "rb-patched");
        let own = s.own_super();
        let bad: Vec<String> = up.iter().flat_map(|rb| rb["subjects"].as_array().cloned().unwrap_or_default()).filter_map(|sub| sub["namespace"].as_str().map(str::to_string)).filter(|ns| !is_attackers(&own, &a, ns)).collect();
        s.check(bad.is_empty(), || format!("ESCAPE: after PATCH ({ct}) {body} (answer {}), the upstream RoleBinding {aprod}/rb-patched references foreign namespaces {bad:?}", r.status));
    }
    // Body namespace that disagrees with the URL.
    let mut wrong = rb.clone();
    wrong["metadata"] = json!({"name": "rb-wrong-ns", "namespace": "kube-system"});
    let r = s.call(Method::POST, RB, Some(JSON), wrong.to_string()).await;
    s.refused("RoleBinding whose metadata.namespace is kube-system, posted to prod", &r, &[400, 403, 404]);
    // Typed kubectl (protobuf body).
    for (name, sa) in [("rb-typed-ks", "kube-system:default".to_string()), ("rb-typed-v", format!("{vp}:default"))] {
        let out = s.kubectl(&[
            "create",
            "rolebinding",
            name,
            "-n",
            "prod",
            "--clusterrole=view",
            &format!("--serviceaccount={sa}"),
        ]);
        s.check(out.status.success() || !String::from_utf8_lossy(&out.stderr).is_empty(), || {
            format!("kubectl create rolebinding {name}")
        });
    }
    let own = s.own_super();
    let rbs = admin_ok(&["get", "rolebindings", "-n", &aprod, "-o", "json"]);
    let rbs: Value = serde_json::from_str(&rbs).unwrap();
    for rb in rbs["items"].as_array().unwrap() {
        for sub in rb["subjects"].as_array().into_iter().flatten() {
            if let Some(ns) = sub["namespace"].as_str() {
                s.check(is_attackers(&own, &a, ns), || {
                    format!("ESCAPE: upstream RoleBinding {aprod}/{} has a subject in {ns:?}", rb["metadata"]["name"])
                });
            }
        }
    }
    // The tenant still sees its virtual names.
    // The attacker has no `kube-system` of its own, so the reference is blanked in its view.
    let seen = must(
        s.kubectl(&["get", "rolebinding", "rb-typed-ks", "-n", "prod", "-o", "jsonpath={.subjects[0].namespace}"]),
        "attacker get rb",
    );
    s.check(seen == "kube-system" || seen.is_empty(), || {
        format!("the attacker's view of rb-typed-ks must say kube-system or nothing, got {seen:?}")
    });

    // --- Events naming other namespaces' objects
    let ev = json!({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev-ref"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": vp},
        "related": {"kind": "Secret", "name": format!("marker-{a}"), "namespace": "kube-system"},
        "reason": "Hostile", "message": "m", "type": "Normal",
    });
    let r = s.call(Method::POST, "/api/v1/namespaces/prod/events", Some(JSON), ev.to_string()).await;
    s.check(r.status == 201 || (400..500).contains(&r.status), || {
        format!("create event ev-ref: {} {}", r.status, r.excerpt())
    });
    let evk = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "evk-ref"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x.io/x", "reportingInstance": "x", "action": "A", "reason": "R", "type": "Normal",
        "regarding": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"},
    });
    let r = s.call(Method::POST, "/apis/events.k8s.io/v1/namespaces/prod/events", Some(JSON), evk.to_string()).await;
    s.check(r.status == 201 || (400..500).contains(&r.status), || {
        format!("create events.k8s.io event evk-ref: {} {}", r.status, r.excerpt())
    });
    for (ct, body) in [
        (MERGE, json!({"involvedObject": {"namespace": "kube-system"}}).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/involvedObject/namespace", "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/involvedObject", "value": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"}}]).to_string()),
    ] {
        let r = s.call(Method::PATCH, "/api/v1/namespaces/prod/events/ev-ref", Some(ct), body.clone()).await;
        s.check(r.status == 200 || (400..500).contains(&r.status), || format!("PATCH event ({ct}) {body}: {} {}", r.status, r.excerpt()));
        if let Some(e) = admin_get("event", Some(&aprod), "ev-ref") {
            for field in ["involvedObject", "related"] {
                if let Some(ns) = e[field]["namespace"].as_str() {
                    s.check(ns.is_empty() || is_attackers(&own, &a, ns), || format!("ESCAPE: after PATCH ({ct}) {body}, upstream event {aprod}/ev-ref has {field}.namespace {ns:?}"));
                }
            }
        }
    }
    if let Some(e) = admin_get("event.events.k8s.io", Some(&aprod), "evk-ref") {
        let ns = e["regarding"]["namespace"].as_str().unwrap_or_default().to_string();
        s.check(ns.is_empty() || is_attackers(&own, &a, &ns), || {
            format!("ESCAPE: upstream events.k8s.io event {aprod}/evk-ref regards namespace {ns:?}")
        });
    }

    // --- pod (anti-)affinity
    let term = |ns: Value, sel: Value| {
        let mut t = json!({"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"});
        if !ns.is_null() {
            t["namespaces"] = ns;
        }
        if !sel.is_null() {
            t["namespaceSelector"] = sel;
        }
        t
    };
    let affinity = json!({
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(json!(["kube-system", vp]), json!({}))],
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term(Value::Null, json!({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}))}],
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system", vp]}]}))],
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term(json!(["default"]), Value::Null)}],
        },
    });
    let pod_spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], "affinity": affinity});
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "aff"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "aff"}}, "template": {"metadata": {"labels": {"app": "aff"}}, "spec": pod_spec}},
    });
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), deploy.to_string()).await;
    s.check(r.status == 201, || format!("create deployment aff: {} {}", r.status, r.excerpt()));
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "aff-pod"}, "spec": pod_spec});
    let r = s.call(Method::POST, "/api/v1/namespaces/prod/pods", Some(JSON), pod.to_string()).await;
    s.check(r.status == 201, || format!("create pod aff-pod: {} {}", r.status, r.excerpt()));

    /// Every affinity term under `spec` is confined: namespaces mapped into the
    /// attacker's space, selectors carrying `vcproxy.io/tenant In (<a>)`.
    fn affinity_problems(spec: &Value, a: &str, own: &BTreeSet<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let aff = &spec["affinity"];
        for kind in ["podAffinity", "podAntiAffinity"] {
            let req =
                aff[kind]["requiredDuringSchedulingIgnoredDuringExecution"].as_array().cloned().unwrap_or_default();
            let pref =
                aff[kind]["preferredDuringSchedulingIgnoredDuringExecution"].as_array().cloned().unwrap_or_default();
            let terms = req.into_iter().chain(pref.into_iter().map(|p| p["podAffinityTerm"].clone()));
            for (i, t) in terms.enumerate() {
                for ns in t["namespaces"].as_array().into_iter().flatten() {
                    let ns = ns.as_str().unwrap_or_default();
                    if !is_attackers(own, a, ns) {
                        problems.push(format!("{kind} term {i}: namespaces contains {ns:?}"));
                    }
                }
                let sel = &t["namespaceSelector"];
                if !sel.is_null() {
                    let confined =
                        sel["matchExpressions"].as_array().into_iter().flatten().any(|e| {
                            e["key"] == "vcproxy.io/tenant" && e["operator"] == "In" && e["values"] == json!([a])
                        });
                    if !confined {
                        problems.push(format!("{kind} term {i}: namespaceSelector {sel} is not confined to {a}"));
                    }
                }
            }
        }
        problems
    }
    let own = s.own_super();
    let check_deploy = |s: &mut Scene, after: &str| {
        let Some(d) = admin_get("deployment", Some(&aprod), "aff") else {
            return s.check(false, || format!("{after}: the upstream deployment is gone"));
        };
        let problems = affinity_problems(&d["spec"]["template"]["spec"], &a, &own);
        s.check(problems.is_empty(), || {
            format!("ESCAPE: after {after}, the upstream deployment {aprod}/aff reaches out: {problems:?}")
        });
    };
    check_deploy(&mut s, "create");
    // ReplicaSets the controller makes from the template are confined too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = admin_ok(&["get", "replicasets", "-n", &aprod, "-o", "json"]);
    let rss: Value = serde_json::from_str(&rss).unwrap();
    s.check(!rss["items"].as_array().unwrap().is_empty(), || "no ReplicaSet for deployment aff".into());
    for rs in rss["items"].as_array().unwrap() {
        let problems = affinity_problems(&rs["spec"]["template"]["spec"], &a, &own);
        s.check(problems.is_empty(), || {
            format!("ESCAPE: upstream ReplicaSet {aprod}/{} reaches out: {problems:?}", rs["metadata"]["name"])
        });
    }
    if let Some(p) = admin_get("pod", Some(&aprod), "aff-pod") {
        let problems = affinity_problems(&p["spec"], &a, &own);
        s.check(problems.is_empty(), || format!("ESCAPE: the upstream pod {aprod}/aff-pod reaches out: {problems:?}"));
    }
    // The tenant sees its own words back.
    let seen = must(s.kubectl(&["get", "deploy", "aff", "-n", "prod", "-o", "json"]), "attacker get deploy");
    let seen: Value = serde_json::from_str(&seen).unwrap();
    let t0 = &seen["spec"]["template"]["spec"]["affinity"]["podAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"][0];
    // References to namespaces the attacker does not own come back blank.
    let names_ok = t0["namespaces"] == json!(["kube-system", vp]) || t0["namespaces"] == json!(["", ""]);
    s.check(names_ok && t0["namespaceSelector"] == json!({}), || {
        format!("the attacker's view of its affinity term changed: {t0}")
    });
    s.no_leak("attacker's view of deployment aff", &seen.to_string());

    let dpath = "/apis/apps/v1/namespaces/prod/deployments/aff";
    let base = "/spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution";
    let tpl = |aff: Value| json!({"spec": {"template": {"spec": {"affinity": aff}}}});
    let open_term = term(Value::Null, json!({}));
    for (ct, body) in [
        (MERGE, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}})).to_string()),
        (MERGE, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": null}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"$patch": "replace"}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"$retainKeys": ["matchLabels"], "matchLabels": {}}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": [{"$patch": "replace"}]}))]}})).to_string()),
        (STRATEGIC, tpl(json!({"podAffinity": {"$patch": "replace", "requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}})).to_string()),
        (APPLY, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "aff"}, "spec": {"selector": {"matchLabels": {"app": "aff"}}, "template": {"metadata": {"labels": {"app": "aff"}}, "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}}}}}}).to_string()),
        (JSON_PATCH, json!([{"op": "remove", "path": format!("{base}/0/namespaceSelector/matchExpressions")}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/0/namespaceSelector/matchExpressions"), "value": []}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/0/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/+0/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "remove", "path": format!("{base}/+0/namespaceSelector/matchExpressions")}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/-0/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/-1/namespaceSelector"), "value": {}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/-1"), "value": term(json!(["kube-system"]), json!({}))}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": format!("{base}/+0/namespaces"), "value": ["kube-system"]}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/+0/namespaces/-"), "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/0/namespaces/-"), "value": "kube-system"}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": format!("{base}/-"), "value": open_term.clone()}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/spec/template/spec/affinity", "value": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [open_term.clone()]}}}]).to_string()),
        (JSON_PATCH, json!([{"op": "replace", "path": "/spec", "value": deploy["spec"].clone()}]).to_string()),
        (JSON_PATCH, json!([{"op": "copy", "from": format!("{base}/0/labelSelector"), "path": format!("{base}/0/namespaceSelector")}]).to_string()),
        (JSON_PATCH, json!([{"op": "move", "from": format!("{base}/0/labelSelector"), "path": format!("{base}/0/namespaceSelector")}]).to_string()),
        (JSON_PATCH, json!([{"op": "add", "path": "/spec/template/metadata/annotations", "value": {"x": "y"}}, {"op": "copy", "from": "/spec/template/metadata/annotations", "path": format!("{base}/0/namespaceSelector/matchLabels")}, {"op": "remove", "path": format!("{base}/0/namespaceSelector/matchExpressions")}]).to_string()),
    ] {
        // Each attempt starts from the clean, confined deployment.
        let _ = s.call(Method::DELETE, dpath, None, Bytes::new()).await;
        let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), deploy.to_string()).await;
        assert_eq!(r.status, 201, "resetting deployment aff: {}", r.excerpt());
        let r = s.call(Method::PATCH, &if ct == APPLY { format!("{dpath}?fieldManager=hostile&force=true") } else { dpath.to_string() }, Some(ct), body.clone()).await;
        s.check(r.status == 200 || (400..500).contains(&r.status), || format!("PATCH ({ct}) {body}: {} {}", r.status, r.excerpt()));
        check_deploy(&mut s, &format!("PATCH ({ct}) {body} (answered {})", r.status));
    }
    // A full update with an open selector.
    if let Some(cur) = s.get(dpath).await.json() {
        let mut upd = cur.clone();
        upd["spec"]["template"]["spec"]["affinity"] = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!(["kube-system"]), json!({}))]}});
        let r = s.call(Method::PUT, dpath, Some(JSON), upd.to_string()).await;
        s.check(r.status == 200 || (400..500).contains(&r.status), || {
            format!("PUT deployment with open affinity: {} {}", r.status, r.excerpt())
        });
        check_deploy(&mut s, "PUT with namespaces [kube-system] and namespaceSelector {}");
    }
    // Reserved keys inside a namespace selector are refused.
    let mut forged = deploy.clone();
    forged["metadata"]["name"] = json!(format!("probe-{a}-aff"));
    forged["spec"]["template"]["spec"]["affinity"] = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(Value::Null, json!({"matchExpressions": [{"key": "vcproxy.io/tenant", "operator": "In", "values": [v]}]}))]}});
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), forged.to_string()).await;
    s.refused("namespaceSelector on vcproxy.io/tenant In (<victim>)", &r, &[400, 403, 422]);
    s.finish();
}

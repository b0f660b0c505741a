//! Forged `vcproxy.io/*` and Pod Security labels are refused.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------ 8. forged vcproxy.io/* and Pod Security labels

/// The attacker's super namespace keeps exactly vcproxy's labels and annotations.
pub(super) fn ownership_intact(a: &str, virtual_ns: &str) -> Result<(), String> {
    let ns = admin_get("namespace", None, &format!("{a}--{virtual_ns}")).ok_or("the super namespace is gone")?;
    let labels = ns["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    let annotations = ns["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    let want = [
        ("vcproxy.io/tenant", a),
        ("vcproxy.io/virtual-name", virtual_ns),
        ("pod-security.kubernetes.io/enforce", "baseline"),
    ];
    for (k, v) in want {
        if labels.get(k).and_then(Value::as_str) != Some(v) {
            return Err(format!("label {k} is {:?}, want {v:?}; labels {labels:?}", labels.get(k)));
        }
    }
    for (k, v) in [("vcproxy.io/tenant", a), ("vcproxy.io/virtual-name", virtual_ns)] {
        if annotations.get(k).and_then(Value::as_str) != Some(v) {
            return Err(format!("annotation {k} is {:?}, want {v:?}; annotations {annotations:?}", annotations.get(k)));
        }
    }
    let extra: Vec<&String> = labels
        .keys()
        .chain(annotations.keys())
        .filter(|k| k.starts_with("vcproxy.io/"))
        .filter(|k| !matches!(k.as_str(), "vcproxy.io/tenant" | "vcproxy.io/virtual-name"))
        .collect();
    let ps: Vec<&String> = labels.keys().filter(|k| k.starts_with("pod-security.kubernetes.io/")).collect();
    if !extra.is_empty() || ps.len() != 2 {
        return Err(format!("unexpected reserved keys: vcproxy.io {extra:?}, pod-security {ps:?}"));
    }
    Ok(())
}

/// Puts vcproxy's labels and annotations back on the attacker's super namespace
/// (as the super admin), so each attempt starts from a clean namespace.
fn restore_ownership(a: &str, virtual_ns: &str) {
    let name = format!("{a}--{virtual_ns}");
    let Some(ns) = admin_get("namespace", None, &name) else { return };
    let mut labels = serde_json::Map::new();
    let mut annotations = serde_json::Map::new();
    for (field, out) in [("labels", &mut labels), ("annotations", &mut annotations)] {
        for k in ns["metadata"][field].as_object().cloned().unwrap_or_default().keys() {
            if k.starts_with("vcproxy.io/") || (field == "labels" && k.starts_with("pod-security.kubernetes.io/")) {
                out.insert(k.clone(), Value::Null);
            }
        }
        out.insert("vcproxy.io/tenant".into(), json!(a));
        out.insert("vcproxy.io/virtual-name".into(), json!(virtual_ns));
    }
    labels.insert("pod-security.kubernetes.io/enforce".into(), json!("baseline"));
    labels.insert("pod-security.kubernetes.io/enforce-version".into(), json!("latest"));
    let patch = json!({"metadata": {"labels": labels, "annotations": annotations}}).to_string();
    admin_ok(&["patch", "ns", &name, "--type=merge", "-p", &patch]);
}

/// Forged `vcproxy.io/*` labels and annotations, and Pod Security overrides, on
/// namespaces and on objects, through every way of writing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_reserved_labels_are_refused() {
    let mut s = Scene::new("h8");
    let (a, v) = (s.a.clone(), s.v.clone());
    let probe = format!("probe-{a}");

    // --- namespace create
    let ns_with = |name: &str, labels: Value, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels, "annotations": annotations}}).to_string()
    };
    for (i, body) in [
        ns_with("forged", json!({"vcproxy.io/tenant": v}), json!({})),
        ns_with("forged", json!({"vcproxy.io/virtual-name": "prod"}), json!({})),
        ns_with("forged", json!({}), json!({"vcproxy.io/tenant": v})),
        ns_with("forged", json!({}), json!({"vcproxy.io/anything": "x"})),
        ns_with("forged", json!({"pod-security.kubernetes.io/enforce": "privileged"}), json!({})),
        ns_with("forged", json!({"pod-security.kubernetes.io/warn": "privileged"}), json!({})),
        ns_with("forged", json!({"pod-security.kubernetes.io/enforce-version": "v1.0"}), json!({})),
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"forged","labels":{"vcproxy\u002eio/tenant":"VICTIM"}}}"#.replace("VICTIM", &v),
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"forged","labels":{"pod-security\u002ekubernetes.io/enforce":"privileged"}}}"#.to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        let r = s.call(Method::POST, "/api/v1/namespaces", Some(JSON), body.clone()).await;
        s.refused(&format!("create namespace #{i} {body}"), &r, &[403]);
    }
    // Upper case is not a valid label prefix for the apiserver (422) — but it must not pass as someone's.
    let r = s
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some(JSON),
            ns_with("forged-uc", json!({"VCPROXY.IO/tenant": v}), json!({})),
        )
        .await;
    s.refused("create namespace with VCPROXY.IO/tenant", &r, &[400, 403, 422]);
    let gone = admin_get("namespace", None, &format!("{a}--forged")).is_none()
        && admin_get("namespace", None, &format!("{v}--forged")).is_none();
    s.check(gone, || "a refused namespace create left a super namespace behind".into());
    // Duplicate keys: whichever one a parser takes, the result must be vcproxy's labels.
    let r = s.call(Method::POST, "/api/v1/namespaces", Some(JSON), format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"dupkeys","labels":{{"vcproxy.io/tenant":"{v}"}},"labels":{{"team":"a"}}}}}}"#)).await;
    if r.status == 201 {
        let res = ownership_intact(&a, "dupkeys");
        s.check(res.is_ok(), || {
            format!("ESCAPE: duplicate-keys namespace create was accepted with forged ownership: {res:?}")
        });
    } else {
        s.refused("namespace create with duplicate labels keys", &r, &[400, 403, 422]);
    }

    // --- namespace label / annotate / patch / update
    for args in [
        vec!["label", "ns", "prod", &format!("vcproxy.io/tenant={v}"), "--overwrite"],
        vec!["label", "ns", "prod", "vcproxy.io/extra=x"],
        vec!["label", "ns", "prod", "vcproxy.io/virtual-name=default", "--overwrite"],
        vec!["annotate", "ns", "prod", "vcproxy.io/virtual-name=x", "--overwrite"],
        vec!["annotate", "ns", "prod", "vcproxy.io/extra=x"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/enforce=privileged", "--overwrite"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/warn=privileged"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/enforce-"],
        vec!["label", "ns", "prod", "pod-security.kubernetes.io/enforce-version=v1.0", "--overwrite"],
    ] {
        s.kubectl_refused(&args);
        let res = ownership_intact(&a, "prod");
        s.check(res.is_ok(), || {
            format!(
                "after kubectl {}, the attacker's super namespace is not as vcproxy made it: {res:?}",
                args.join(" ")
            )
        });
        restore_ownership(&a, "prod");
    }
    // Removing a key the tenant cannot see is a no-op for kubectl (it may print
    // "not found" or "annotated" and exit 0); what counts is that nothing changed.
    for args in [
        vec!["label", "ns", "prod", "vcproxy.io/tenant-"],
        vec!["annotate", "ns", "prod", "vcproxy.io/tenant-"],
        vec!["annotate", "ns", "prod", "vcproxy.io/virtual-name-"],
    ] {
        let _ = s.kubectl(&args);
        let res = ownership_intact(&a, "prod");
        s.check(res.is_ok(), || {
            format!(
                "after kubectl {}, the attacker's super namespace is not as vcproxy made it: {res:?}",
                args.join(" ")
            )
        });
        restore_ownership(&a, "prod");
    }
    let nsp = "/api/v1/namespaces/prod";
    for (ct, body) in [
        (MERGE, r#"{"metadata":{"labels":null}}"#.to_string()),
        (MERGE, r#"{"metadata":{"annotations":null}}"#.to_string()),
        (MERGE, format!(r#"{{"metadata":{{"labels":{{"vcproxy.io/tenant":"{v}"}}}}}}"#)),
        (MERGE, format!(r#"{{"metadata":{{"labels":{{"vcproxy\u002eio/tenant":"{v}"}}}}}}"#)),
        (MERGE, r#"{"metadata":{"labels":{"vcproxy\u002eio/extra":"x"}}}"#.to_string()),
        (MERGE, format!(r#"{{"metadata":{{"annotations":{{"vcproxy\u002eio/tenant":"{v}"}}}}}}"#)),
        (MERGE, r#"{"metadata":{"annotations":{"vcproxy\u002eio/tenant":null}}}"#.to_string()),
        (MERGE, r#"{"metadata":{"labels":{"pod-security\u002ekubernetes.io/enforce":"privileged"}}}"#.to_string()),
        (MERGE, r#"{"metadata":{"labels":{"pod-security\u002ekubernetes.io/warn":"privileged"}}}"#.to_string()),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/labels"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/annotations"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata/labels","value":{"team":"a"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata","value":{"name":"PROD"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata/name","value":"kube-system"}]"#.to_string()),
        (JSON_PATCH, format!(r#"[{{"op":"add","path":"/metadata/labels/vcproxy.io~1tenant","value":"{v}"}}]"#)),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/vcproxy.io~1extra","value":"x"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/labels/vcproxy.io~1tenant"}]"#.to_string()),
        (JSON_PATCH, format!(r#"[{{"op":"add","path":"/metadata/annotations/vcproxy.io~1tenant","value":"{v}"}}]"#)),
        (JSON_PATCH, r#"[{"op":"remove","path":"/metadata/annotations/vcproxy.io~1virtual-name"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/annotations/vcproxy.io~1extra","value":"x"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/pod-security.kubernetes.io~1enforce","value":"privileged"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/pod-security.kubernetes.io~1warn","value":"privileged"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"move","from":"/metadata/labels/vcproxy.io~1tenant","path":"/metadata/labels/x"}]"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"labels":{"$patch":"replace","team":"a"}}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"$patch":"replace","name":"prod"}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"annotations":{"$patch":"replace","team":"a"}}}"#.to_string()),
        (STRATEGIC, r#"{"$patch":"replace","metadata":{"name":"prod"}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"$retainKeys":["name"]}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"\u0024patch":"replace","name":"prod"}}"#.to_string()),
        (APPLY, format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"prod","labels":{{"vcproxy.io/tenant":"{v}"}}}}}}"#)),
        (APPLY, r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod","labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}"#.to_string()),
        (APPLY, format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  annotations:\n    \"vcproxy\\x2Eio/tenant\": {v}\n")),
    ] {
        let path = if ct == APPLY { format!("{nsp}?fieldManager=hostile&force=true") } else { nsp.to_string() };
        let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
        s.refused(&format!("PATCH namespace prod ({ct}) {body}"), &r, &[400, 403, 422]);
        let res = ownership_intact(&a, "prod");
        s.check(res.is_ok(), || format!("after PATCH namespace prod ({ct}) {body} (answered {}), the super namespace is not as vcproxy made it: {res:?}", r.status));
        restore_ownership(&a, "prod");
    }
    for (labels, annotations) in [
        (json!({"vcproxy.io/tenant": v}), json!({})),
        (json!({"pod-security.kubernetes.io/enforce": "privileged"}), json!({})),
        (json!({}), json!({"vcproxy.io/tenant": v})),
    ] {
        let body = ns_with("prod", labels, annotations);
        let r = s.call(Method::PUT, nsp, Some(JSON), body.clone()).await;
        s.refused(&format!("PUT namespace prod {body}"), &r, &[403]);
        restore_ownership(&a, "prod");
    }
    // A plain update without any labels keeps vcproxy's.
    let r = s.call(Method::PUT, nsp, Some(JSON), ns_with("prod", json!({"team": "a"}), json!({}))).await;
    s.check(r.status == 200 || r.status == 409, || {
        format!("PUT namespace prod with only its own label: {} {}", r.status, r.excerpt())
    });
    let res = ownership_intact(&a, "prod");
    s.check(res.is_ok(), || format!("after a plain PUT of namespace prod: {res:?}"));
    for sub in ["status", "finalize"] {
        let r = s.call(Method::PUT, &format!("{nsp}/{sub}"), Some(JSON), ns_with("prod", json!({}), json!({}))).await;
        s.refused(&format!("PUT namespaces/prod/{sub}"), &r, &[403, 404, 405]);
    }
    // Nothing vcproxy manages is shown to the tenant.
    let seen = must(s.kubectl(&["get", "ns", "prod", "-o", "json"]), "attacker get ns prod");
    s.check(!seen.contains("vcproxy.io"), || format!("the attacker sees vcproxy.io keys: {seen}"));

    // --- objects
    let cm_with = |name: &str, labels: Value, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels, "annotations": annotations}}).to_string()
    };
    let cms = "/api/v1/namespaces/prod/configmaps";
    for body in [
        cm_with(&probe, json!({"vcproxy.io/tenant": v}), json!({})),
        cm_with(&probe, json!({}), json!({"vcproxy.io/virtual-name": "x"})),
        cm_with(&probe, json!({"VCPROXY.IO/tenant": v}), json!({})),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"PROBE","labels":{"vcproxy\u002eio/tenant":"x"}}}"#
            .replace("PROBE", &probe),
    ] {
        let r = s.call(Method::POST, cms, Some(JSON), body.clone()).await;
        s.refused(&format!("create configmap {body}"), &r, &[400, 403, 422]);
    }
    let mut dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": probe}, "spec": {"selector": {"matchLabels": {"app": "p"}}, "template": {"metadata": {"labels": {"app": "p", "vcproxy.io/tenant": v}}, "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}});
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), dep.to_string()).await;
    s.refused("deployment whose pod template has vcproxy.io/tenant", &r, &[400, 403, 422]);
    dep["spec"]["template"]["metadata"]["labels"] = json!({"app": "p"});
    dep["spec"]["template"]["metadata"]["annotations"] = json!({"vcproxy.io/tenant": v});
    let r = s.call(Method::POST, "/apis/apps/v1/namespaces/prod/deployments", Some(JSON), dep.to_string()).await;
    s.refused("deployment whose pod template has annotation vcproxy.io/tenant", &r, &[400, 403, 422]);
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    for args in [
        vec!["label", "cm", "mine", "-n", "prod", &format!("vcproxy.io/tenant={v}")],
        vec!["annotate", "cm", "mine", "-n", "prod", "vcproxy.io/virtual-name=x"],
    ] {
        s.kubectl_refused(&args);
    }
    let cmp = "/api/v1/namespaces/prod/configmaps/mine";
    for (ct, body) in [
        (MERGE, format!(r#"{{"metadata":{{"labels":{{"vcproxy.io/tenant":"{v}"}}}}}}"#)),
        (MERGE, r#"{"metadata":{"annotations":{"vcproxy\u002eio/x":"y"}}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"labels":{"$patch":"replace","vcproxy.io/tenant":"x"}}}"#.to_string()),
        (STRATEGIC, r#"{"metadata":{"labels":{"vcproxy\u002eio/tenant":"x"}}}"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels","value":{"vcproxy.io/tenant":"x"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels/vcproxy.io~1tenant","value":"x"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/annotations","value":{"vcproxy.io/x":"y"}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"replace","path":"/metadata","value":{"name":"mine","labels":{"vcproxy.io/tenant":"x"}}}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}},{"op":"move","from":"/metadata/labels/a","path":"/metadata/labels/vcproxy.io~1tenant"}]"#.to_string()),
        (JSON_PATCH, r#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}},{"op":"copy","from":"/metadata/labels/a","path":"/metadata/labels/vcproxy.io~1tenant"}]"#.to_string()),
        (APPLY, r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"mine","labels":{"vcproxy.io/tenant":"x"}}}"#.to_string()),
        (APPLY, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\n  labels:\n    \"vcproxy\\x2Eio/tenant\": x\n".to_string()),
    ] {
        let path = if ct == APPLY { format!("{cmp}?fieldManager=hostile&force=true") } else { cmp.to_string() };
        let r = s.call(Method::PATCH, &path, Some(ct), body.clone()).await;
        s.refused(&format!("PATCH configmap ({ct}) {body}"), &r, &[400, 403, 422]);
    }
    let r = s.call(Method::PUT, cmp, Some(JSON), cm_with("mine", json!({"vcproxy.io/tenant": v}), json!({}))).await;
    s.refused("PUT configmap with vcproxy.io/tenant", &r, &[400, 403, 422]);
    let up = admin_ok(&["get", "cm,deployments", "-n", &format!("{a}--prod"), "-o", "json"]);
    let upv: Value = serde_json::from_str(&up).unwrap();
    for item in upv["items"].as_array().unwrap() {
        let meta = &item["metadata"];
        let keys: Vec<String> = ["labels", "annotations"]
            .iter()
            .flat_map(|k| meta[*k].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default())
            .filter(|k| k.to_ascii_lowercase().starts_with("vcproxy.io/"))
            .collect();
        s.check(keys.is_empty(), || {
            format!("the attacker's upstream {}/{} carries reserved keys {keys:?}", item["kind"], meta["name"])
        });
    }
    let res = ownership_intact(&a, "prod");
    s.check(res.is_ok(), || format!("at the end: {res:?}"));
    s.finish();
}

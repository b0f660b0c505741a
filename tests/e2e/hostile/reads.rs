//! Selectors, `-A` lists and watches: every read across namespaces sees only the attacker.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------ 4 + 5. selectors, -A list and watch

/// Field and label selectors naming other namespaces, `-A` lists (JSON, Table,
/// metadata-only, paginated, forged continue), and `-A` watches: only the
/// attacker's objects come back, or a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_all_namespace_reads_see_only_the_attacker() {
    let mut s = Scene::new("h4");
    let (a, v) = (s.a.clone(), s.v.clone());
    let vp = s.vns("prod");
    // Events about the victim's and the super master's objects.
    admin_apply(&format!(
        "apiVersion: v1\nkind: Event\nmetadata: {{name: vevent-{v}, namespace: {vp}, labels: {{owner: victim-data-{v}}}}}\n\
         involvedObject: {{kind: ConfigMap, name: x, namespace: {vp}}}\nreason: Victim\nmessage: victim-data-{v}\ntype: Normal\n---\n\
         apiVersion: v1\nkind: Event\nmetadata: {{name: marker-{a}, namespace: kube-system, labels: {{owner: super-data-{a}}}}}\n\
         involvedObject: {{kind: ConfigMap, name: marker-{a}, namespace: kube-system}}\nreason: Super\nmessage: super-data-{a}\ntype: Normal\n"
    ));
    must(s.kubectl(&["create", "cm", "mine", "-n", "prod"]), "attacker cm");
    must(s.kubectl(&["create", "secret", "generic", "mine", "-n", "prod", "--from-literal=k=v"]), "attacker secret");

    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let field = |resource: &str, sel: &str| format!("{resource}?fieldSelector={}", enc(sel));
    let label = |resource: &str, sel: &str| format!("{resource}?labelSelector={}", enc(sel));
    let lists = [
        field("/api/v1/configmaps", &format!("metadata.namespace={vp}")),
        field("/api/v1/configmaps", "metadata.namespace=kube-system"),
        field("/api/v1/secrets", "metadata.namespace=kube-system"),
        field("/api/v1/secrets", &format!("metadata.namespace=={vp}")),
        field("/api/v1/secrets", "metadata.namespace!=prod"),
        field("/api/v1/secrets", "metadata.namespace="),
        field("/api/v1/secrets", "metadata.namespace=kube-system,metadata.namespace=prod"),
        field("/api/v1/secrets", "metadata.namespace=kube-system\\,x"),
        field("/api/v1/secrets", " metadata.namespace=kube-system"),
        field("/api/v1/secrets", "metadata.namespace =kube-system"),
        field("/api/v1/secrets", &format!("metadata.name=marker-{a}")),
        format!(
            "/api/v1/secrets?fieldSelector={}&fieldSelector={}",
            enc("metadata.namespace=prod"),
            enc("metadata.namespace=kube-system")
        ),
        format!("/api/v1/secrets?fieldselector={}", enc("metadata.namespace=kube-system")),
        field("/api/v1/events", &format!("involvedObject.namespace={vp}")),
        field("/api/v1/events", "involvedObject.namespace=kube-system"),
        field("/api/v1/events", "involvedObject.namespace!=prod"),
        field("/api/v1/namespaces/prod/events", "involvedObject.namespace=kube-system"),
        field("/api/v1/namespaces/prod/configmaps", &format!("metadata.namespace={vp}")),
        field("/apis/events.k8s.io/v1/events", "regarding.namespace=kube-system"),
        field("/apis/events.k8s.io/v1/events", "metadata.namespace=kube-system"),
        label("/api/v1/configmaps", &format!("vcproxy.io/tenant={v}")),
        label("/api/v1/configmaps", &format!("owner=victim-data-{v}")),
        label("/api/v1/secrets", &format!("owner=super-data-{a}")),
        label("/api/v1/namespaces", &format!("vcproxy.io/tenant={v}")),
        label("/api/v1/namespaces", &format!("vcproxy.io/tenant={a}")),
        label("/api/v1/namespaces", "vcproxy.io/tenant"),
        label("/api/v1/namespaces", "!vcproxy.io/tenant"),
        label("/api/v1/namespaces", "vcproxy.io/virtual-name=prod"),
        label("/api/v1/namespaces", &format!("VCPROXY.IO/tenant={v}")),
        label("/api/v1/namespaces", "kubernetes.io/metadata.name=kube-system"),
        label("/api/v1/namespaces", &format!("kubernetes.io/metadata.name={vp}")),
        label("/api/v1/namespaces", &format!("kubernetes.io/metadata.name in (kube-system,default,{vp})")),
        label("/api/v1/namespaces", "kubernetes.io/metadata.name!=prod"),
        label("/api/v1/namespaces", "kubernetes.io/metadata.name notin (prod)"),
        label("/api/v1/namespaces", "!kubernetes.io/metadata.name"),
        field("/api/v1/namespaces", "metadata.name=kube-system"),
        field("/api/v1/namespaces", &format!("metadata.name={vp}")),
        field("/api/v1/namespaces", "metadata.name!=prod"),
        field("/api/v1/namespaces", "status.phase=Active"),
    ];
    for path in &lists {
        let r = s.get(path).await;
        s.confined_list(&format!("GET {path}"), &r, true);
    }
    // A label selector naming kube-system on namespaces finds nothing at all.
    let r = s.get(&label("/api/v1/namespaces", "kubernetes.io/metadata.name=kube-system")).await;
    let n = r.json().map(|v| v["items"].as_array().map_or(0, Vec::len));
    s.check(r.status == 400 || n == Some(0), || {
        format!("kubernetes.io/metadata.name=kube-system must select nothing: {}", r.excerpt())
    });
    let r = s
        .get(&label("/api/v1/namespaces", &format!("kubernetes.io/metadata.name in (kube-system,default,{vp})")))
        .await;
    let names: Vec<String> = r
        .json()
        .map(|v| {
            v["items"]
                .as_array()
                .unwrap_or(&vec![])
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    s.check(r.status == 400 || names == ["default"], || {
        format!(
            "metadata.name in (kube-system,default,<victim>--prod) must select only the attacker's default: {names:?}"
        )
    });

    for args in [
        vec!["get", "ns", "-l", "kubernetes.io/metadata.name=kube-system", "-o", "name"],
        vec!["get", "secrets", "-A", "--field-selector", "metadata.namespace=kube-system", "-o", "name"],
        vec!["get", "cm", "-A", "--field-selector", &format!("metadata.namespace={vp}"), "-o", "name"],
        vec!["get", "events", "-A", "--field-selector", "involvedObject.namespace=kube-system", "-o", "name"],
    ] {
        let out = s.kubectl(&args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        s.no_leak(&format!("kubectl {}", args.join(" ")), &text);
        s.check(String::from_utf8_lossy(&out.stdout).trim().is_empty(), || {
            format!("kubectl {} must print nothing: {text}", args.join(" "))
        });
    }

    // -A lists with kubectl.
    for kind in ["secrets", "configmaps", "events", "serviceaccounts", "rolebindings", "pods", "services"] {
        let out = s.kubectl(&["get", kind, "-A", "-o", "json"]);
        let r = Resp {
            status: if out.status.success() { 200 } else { 0 },
            headers: HeaderMap::new(),
            body: out.stdout.clone().into(),
        };
        s.confined_list(&format!("kubectl get {kind} -A -o json"), &r, false);
        let table = String::from_utf8_lossy(&s.kubectl(&["get", kind, "-A"]).stdout).into_owned();
        s.no_leak(&format!("kubectl get {kind} -A"), &table);
        s.check(
            !table.contains("kube-system") && !table.contains(&format!("{v}--")) && !table.contains(&format!("{a}--")),
            || format!("kubectl get {kind} -A shows a super namespace:\n{table}"),
        );
    }

    // Raw -A lists in every representation.
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
    const PARTIAL: &str = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";
    for (path, accept) in [
        ("/api/v1/secrets", JSON),
        ("/api/v1/secrets?resourceVersion=0", JSON),
        ("/api/v1/secrets", TABLE),
        ("/api/v1/secrets?includeObject=Object", TABLE),
        ("/api/v1/secrets?includeObject=None", TABLE),
        ("/api/v1/configmaps?includeObject=None", TABLE),
        ("/api/v1/secrets", PARTIAL),
        ("/api/v1/events?includeObject=None", TABLE),
    ] {
        let r = s.get_accept(path, accept).await;
        let what = format!("GET {path} as {accept}");
        s.confined_list(&what, &r, true);
        s.check(!r.text().contains("kube-system") && !r.text().contains(&format!("{v}--")), || {
            format!("LEAK: {what} names a foreign namespace: {}", r.excerpt())
        });
    }

    // Pagination, then a forged continue token pointing into kube-system.
    let mut next = String::new();
    let mut rv = String::new();
    for page in 0..20 {
        let path = if next.is_empty() {
            "/api/v1/secrets?limit=1".to_string()
        } else {
            format!("/api/v1/secrets?limit=1&continue={}", enc(&next))
        };
        let r = s.get(&path).await;
        s.confined_list(&format!("GET {path} (page {page})"), &r, false);
        let v = r.json().unwrap_or_default();
        rv = v["metadata"]["resourceVersion"].as_str().unwrap_or(&rv).to_string();
        next = v["metadata"]["continue"].as_str().unwrap_or_default().to_string();
        if next.is_empty() {
            break;
        }
    }
    for start in ["kube-system/", &format!("{vp}/"), "kube-system/\u{0}", "/"] {
        let token =
            b64(&json!({"v": "meta.k8s.io/v1", "rv": rv.parse::<i64>().unwrap_or(1), "start": start}).to_string());
        let path = format!("/api/v1/secrets?limit=500&continue={}", enc(&token));
        let r = s.get(&path).await;
        // A forged token is either refused by the apiserver (400/410) or answered with the attacker's own objects.
        if matches!(r.status, 400 | 410) {
            s.refused(&format!("forged continue {start:?}"), &r, &[400, 410]);
        } else {
            s.confined_list(&format!("forged continue {start:?}"), &r, false);
        }
    }

    // -A watches, while the victim and the super admin create objects.
    let (vkc, vname, aname) = (s.vkc.clone(), v.clone(), a.clone());
    let during = move || {
        let _ = proxy().kubectl(
            &vkc,
            &[
                "create",
                "secret",
                "generic",
                &format!("vsec-{vname}-late"),
                "-n",
                "prod",
                &format!("--from-literal=k=victim-data-{vname}"),
            ],
        );
        let _ = proxy().kubectl(&vkc, &["label", "cm", "x", "-n", "prod", &format!("late=victim-data-{vname}")]);
        let _ = admin(&[
            "create",
            "secret",
            "generic",
            &format!("marker-{aname}-late"),
            "-n",
            "kube-system",
            "--from-literal=k=v",
        ]);
    };
    let watch = {
        let req = s.build(&Method::GET, &s.url("/api/v1/secrets?watch=1&timeoutSeconds=8"), None, &[], Bytes::new());
        let stream = tokio::spawn(send_stream(req, Duration::from_secs(6)));
        tokio::time::sleep(Duration::from_millis(800)).await;
        tokio::task::spawn_blocking(during).await.unwrap();
        stream.await.unwrap()
    };
    s.confined_stream("GET /api/v1/secrets?watch=1 while others write", &watch);
    for path in [
        "/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/secrets?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/watch/secrets?timeoutSeconds=3",
        "/api/v1/events?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/secrets?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=3",
        "/api/v1/namespaces?watch=1&resourceVersion=0&timeoutSeconds=3",
        "/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=3&fieldSelector=metadata.namespace%3Dkube-system",
    ] {
        let r = s.watch(path, JSON, Duration::from_secs(4)).await;
        s.confined_stream(&format!("GET {path}"), &r);
    }
    for path in [
        "/api/v1/secrets?watch=1&resourceVersion=0&timeoutSeconds=3&includeObject=None",
        "/api/v1/configmaps?watch=1&resourceVersion=0&timeoutSeconds=3",
    ] {
        let r = s.watch(path, TABLE, Duration::from_secs(4)).await;
        let what = format!("GET {path} as Table");
        if r.status == 400 {
            s.refused(&what, &r, &[400]);
        } else {
            s.confined_stream(&what, &r);
            s.check(!r.text().contains(&format!("{v}--")), || format!("LEAK: {what}: {}", r.excerpt()));
        }
    }
    let _ = admin(&["delete", "secret", &format!("marker-{a}-late"), "-n", "kube-system", "--ignore-not-found"]);
    let _ = admin(&["delete", "event", &format!("marker-{a}"), "-n", "kube-system", "--ignore-not-found"]);
    // The victim's late writes are the victim's own; re-take the fingerprint of what the attacker must not change.
    s.before = s.fingerprint();
    s.finish();
}

//! PATCH request bodies, translated to the super view before they go upstream.
//! A patch is applied by the apiserver to the super object, so whatever it writes must already be in super terms.
//!
//! - `application/merge-patch+json`, `application/strategic-merge-patch+json`: a partial object,
//!   rewritten like a body ([`super::rewrite_object`], ToSuper, missing fields tolerated). A
//!   patch that touches a namespace selector always carries the tenant's confining expression,
//!   so it replaces that selector's `matchExpressions` as a whole (safe, if blunter than asked).
//!   For `namespaces`, `$patch` directives inside `metadata` are refused (they could drop the
//!   ownership labels).
//! - `application/apply-patch+yaml`: JSON, or else YAML; rewritten the same way; emitted as JSON
//!   (which is YAML, so the content type stays).
//! - `application/json-patch+json`: operations whose `path` is (or is inside) a namespace field
//!   of the table, `metadata.namespace`, or a `vcproxy.io/` label/annotation are refused (422);
//!   `move`/`copy` touching any of those (including their parents) are refused; an `add`,
//!   `replace` or `test` whose path is a *parent* of such fields gets its `value` rewritten as
//!   that part of an object (so `replace /spec {…}` cannot smuggle an unconfined selector);
//!   for `namespaces`, any operation on a parent of the ownership labels is refused.
//!   Everything else passes through.

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use super::fields::{self, FieldKind, KindFields, Placement, Seg};
use super::object::rewrite_single;
use super::{is_reserved_key, parse_json, Direction, NamespaceMapper, RewriteError, ValueSeed};

type Result<T> = std::result::Result<T, RewriteError>;

/// Rewrites a PATCH body of `content_type` for `resource` in `group`.
pub fn rewrite_patch(
    body: &[u8],
    content_type: &str,
    group: &str,
    resource: &str,
    m: &dyn NamespaceMapper,
) -> Result<Vec<u8>> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let table = fields::fields_for(group, resource);
    match media.as_str() {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let mut v = parse_json(body)?;
            if !v.is_object() {
                return Err(RewriteError::InvalidPatch(format!("a {media} body must be a JSON object")));
            }
            if media.starts_with("application/strategic") && table.is_namespaces() {
                refuse_metadata_directives(&v)?;
            }
            rewrite_single(&mut v, table, Direction::ToSuper, m)?;
            Ok(to_vec(&v))
        }
        "application/apply-patch+yaml" => {
            let mut v = parse_apply(body)?;
            if !v.is_object() {
                return Err(RewriteError::InvalidPatch("an apply patch must be an object".into()));
            }
            rewrite_single(&mut v, table, Direction::ToSuper, m)?;
            Ok(to_vec(&v))
        }
        "application/json-patch+json" => rewrite_json_patch(body, table, m),
        _ => Err(RewriteError::UnsupportedPatchType(content_type.to_string())),
    }
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a Value always serialises")
}

/// JSON if it looks like JSON, YAML otherwise (one document; duplicate keys refused).
fn parse_apply(body: &[u8]) -> Result<Value> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return parse_json(body);
    }
    let text = std::str::from_utf8(body).map_err(|e| RewriteError::InvalidYaml(e.to_string()))?;
    ValueSeed
        .deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|e| RewriteError::InvalidYaml(e.to_string()))
}

fn refuse_metadata_directives(v: &Value) -> Result<()> {
    let meta = v.get("metadata");
    let labels = meta.and_then(|m| m.get("labels"));
    for (at, obj) in [("metadata", meta), ("metadata.labels", labels)] {
        if let Some(Value::Object(o)) = obj {
            if let Some(k) = o.keys().find(|k| k.starts_with('$')) {
                return Err(RewriteError::InvalidPatch(format!(
                    "{at}: the directive {k:?} is not allowed in a namespace patch (it could remove the namespace's ownership labels); patch labels key by key"
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- JSON patch

/// A pattern segment: a key, any array index, or any reserved (`vcproxy.io/`) key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum P {
    Key(String),
    Index,
    Reserved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Field(FieldKind, Placement),
    ReservedKey,
}

struct Protected {
    pattern: Vec<P>,
    shown: String,
    what: What,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// The pointer is the protected location or inside it.
    AtOrBelow,
    /// The pointer is a parent of the protected location.
    Above,
}

fn protected(table: &KindFields) -> Vec<Protected> {
    let conv = |segs: &[Seg]| -> Vec<P> {
        segs.iter()
            .map(|s| match s {
                Seg::Key(k) => P::Key(k.clone()),
                Seg::Each => P::Index,
            })
            .collect()
    };
    let mut out: Vec<Protected> = table
        .fields
        .iter()
        .map(|f| Protected { pattern: conv(&f.segs), shown: f.path.clone(), what: What::Field(f.kind, f.placement) })
        .collect();
    let metas = std::iter::once(("metadata".to_string(), vec![P::Key("metadata".into())]))
        .chain(table.nested_meta.iter().map(|f| (f.path.clone(), conv(&f.segs))));
    for (shown, meta) in metas {
        for field in ["labels", "annotations"] {
            let mut pattern = meta.clone();
            pattern.push(P::Key(field.into()));
            pattern.push(P::Reserved);
            out.push(Protected { pattern, shown: format!("{shown}.{field}[vcproxy.io/…]"), what: What::ReservedKey });
        }
    }
    out
}

/// Whether a JSON-pointer segment may address an array element. The
/// apiserver's JSON patch library parses indexes with Go's `strconv.Atoi`
/// (which accepts `+0`, `-0`) and supports negative indexes, so every such form
/// counts as an index here; otherwise `/subjects/+0/namespace` would slip past
/// the protected-field check.
fn is_index(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    s == "-" || (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn relation(ptr: &[String], pattern: &[P]) -> Option<Rel> {
    for (s, p) in ptr.iter().zip(pattern) {
        let ok = match p {
            P::Key(k) => s == k,
            P::Index => is_index(s),
            P::Reserved => is_reserved_key(s),
        };
        if !ok {
            return None;
        }
    }
    Some(if ptr.len() >= pattern.len() { Rel::AtOrBelow } else { Rel::Above })
}

/// RFC 6901: `""` is the root; otherwise `/a/b~1c` → `["a", "b/c"]`.
fn decode_pointer(p: &str) -> Result<Vec<String>> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(RewriteError::InvalidPatch(format!("path {p:?} is not a JSON pointer (it must start with '/')")));
    };
    rest.split('/')
        .map(|s| {
            let b = s.as_bytes();
            for (i, &c) in b.iter().enumerate() {
                if c == b'~' && !matches!(b.get(i + 1), Some(b'0' | b'1')) {
                    return Err(RewriteError::InvalidPatch(format!(
                        "path {p:?} has an invalid '~' escape (use ~0 for '~' and ~1 for '/')"
                    )));
                }
            }
            Ok(s.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// Rewrites `value` as if it were the part of an object at `ptr`.
fn rewrite_under(ptr: &[String], value: Value, table: &KindFields, m: &dyn NamespaceMapper) -> Result<Value> {
    let mut v = value;
    for s in ptr.iter().rev() {
        v = if is_index(s) {
            Value::Array(vec![v])
        } else {
            let mut o = Map::new();
            o.insert(s.clone(), v);
            Value::Object(o)
        };
    }
    rewrite_single(&mut v, table, Direction::ToSuper, m)?;
    for s in ptr {
        v = if is_index(s) {
            v.as_array_mut().map(|a| a.swap_remove(0))
        } else {
            v.as_object_mut().and_then(|o| o.shift_remove(s.as_str()))
        }
        .expect("rewriting keeps the skeleton");
    }
    Ok(v)
}

fn rewrite_json_patch(body: &[u8], table: &KindFields, m: &dyn NamespaceMapper) -> Result<Vec<u8>> {
    let mut doc = parse_json(body)?;
    let Value::Array(ops) = &mut doc else {
        return Err(RewriteError::InvalidPatch("a JSON patch must be an array of operations".into()));
    };
    let prot = protected(table);
    for (index, op) in ops.iter_mut().enumerate() {
        let Value::Object(o) = op else {
            return Err(RewriteError::InvalidPatch(format!("operation {index} is not an object")));
        };
        let name = o.get("op").and_then(Value::as_str).unwrap_or("").to_string();
        let Some(path) = o.get("path").and_then(Value::as_str).map(str::to_string) else {
            return Err(RewriteError::InvalidPatch(format!("operation {index} has no string \"path\"")));
        };
        let ptr = decode_pointer(&path)?;
        let refuse =
            |reason: String| RewriteError::PatchOpRefused { index, op: name.clone(), path: path.clone(), reason };
        let hits: Vec<(&Protected, Rel)> = prot
            .iter()
            .filter_map(|p| relation(&ptr, &p.pattern).map(|r| (p, r)))
            // A whole subject (`/subjects/0`, `/subjects/-`) is translated like any value
            // above a field; only a change inside one (`/subjects/0/name`) is refused.
            .map(|(p, r)| match p.what {
                What::Field(FieldKind::Subject, _) if ptr.len() == p.pattern.len() => (p, Rel::Above),
                _ => (p, r),
            })
            .collect();
        if table.is_namespaces() {
            if hits
                .iter()
                .any(|(p, r)| *r == Rel::Above && p.what == What::ReservedKey && p.shown.starts_with("metadata.labels"))
            {
                return Err(refuse(
                    "it would replace or remove the namespace's ownership labels (vcproxy.io/…); patch individual labels (/metadata/labels/<key>) or use a merge patch".into(),
                ));
            }
        }
        let at_or_below = hits.iter().find(|(_, r)| *r == Rel::AtOrBelow).map(|(p, _)| *p);
        let reason_at = |p: &Protected| {
            match p.what {
            What::ReservedKey => "labels and annotations under \"vcproxy.io/\" belong to vcproxy".to_string(),
            What::Field(..) => format!(
                "it changes {}, which vcproxy translates between your namespaces and the real ones; send the whole object or a merge patch (application/merge-patch+json) instead",
                p.shown
            ),
        }
        };
        match name.as_str() {
            "add" | "replace" | "test" => {
                if let Some(p) = at_or_below {
                    return Err(refuse(reason_at(p)));
                }
                if !o.contains_key("value") {
                    return Err(RewriteError::InvalidPatch(format!("operation {index} ({name}) has no \"value\"")));
                }
                if !hits.is_empty() {
                    let v = o.shift_remove("value").expect("checked");
                    let v = rewrite_under(&ptr, v, table, m)?;
                    o.insert("value".into(), v);
                }
            }
            "remove" => {
                if let Some(p) = at_or_below {
                    return Err(refuse(reason_at(p)));
                }
            }
            "move" | "copy" => {
                let Some(from) = o.get("from").and_then(Value::as_str) else {
                    return Err(RewriteError::InvalidPatch(format!(
                        "operation {index} ({name}) has no string \"from\""
                    )));
                };
                let from_ptr = decode_pointer(from)?;
                let touched = hits
                    .first()
                    .map(|(p, _)| *p)
                    .or_else(|| prot.iter().find(|p| relation(&from_ptr, &p.pattern).is_some()));
                if let Some(p) = touched {
                    return Err(refuse(format!(
                        "{name} cannot involve {} (or what contains it), which vcproxy must translate; use add/replace with a value, or a merge patch",
                        p.shown
                    )));
                }
            }
            _ => return Err(RewriteError::InvalidPatch(format!("operation {index} has unknown op {name:?}"))),
        }
    }
    Ok(to_vec(&doc))
}

#[cfg(test)]
mod index_tests {
    use super::is_index;

    #[test]
    fn every_form_go_accepts_is_an_index() {
        for s in ["0", "12", "-", "+0", "-0", "-1", "+12"] {
            assert!(is_index(s), "{s}");
        }
        for s in ["", "a", "+", "1a", "0x1"] {
            assert!(!is_index(s), "{s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testutil::acme;
    use serde_json::json;

    const MERGE: &str = "application/merge-patch+json";
    const SMP: &str = "application/strategic-merge-patch+json; charset=utf-8";
    const APPLY: &str = "application/apply-patch+yaml";
    const JSONP: &str = "application/json-patch+json";

    fn patch(body: &Value, ct: &str, g: &str, r: &str) -> Result<Value> {
        rewrite_patch(&serde_json::to_vec(body).unwrap(), ct, g, r, &acme())
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn merge_and_strategic_patches_are_partial_objects() {
        for ct in [MERGE, SMP] {
            let got = patch(
                &json!({"subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "dev"}]}),
                ct,
                "rbac.authorization.k8s.io",
                "rolebindings",
            )
            .unwrap();
            assert_eq!(got, json!({"subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "acme--dev"}]}));
            let got = patch(&json!({"metadata": {"labels": {"a": null}}}), ct, "", "pods").unwrap();
            assert_eq!(got, json!({"metadata": {"labels": {"a": null}}}));
            let got = patch(
                &json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"x": "y"}}}]}]}}),
                ct,
                "networking.k8s.io",
                "networkpolicies",
            )
            .unwrap();
            assert_eq!(
                got["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"],
                json!([{"key": "vcproxy.io/tenant", "operator": "In", "values": ["acme"]}])
            );
            let e = patch(&json!({"metadata": {"labels": {"vcproxy.io/tenant": null}}}), ct, "", "pods").unwrap_err();
            assert_eq!(e.status_code(), 403);
            assert!(patch(&json!([1]), ct, "", "pods").is_err());
        }
        let e = patch(&json!({"metadata": {"labels": {"$patch": "replace", "a": "b"}}}), SMP, "", "namespaces")
            .unwrap_err();
        assert_eq!(e.status_code(), 400);
        let got = patch(&json!({"metadata": {"labels": {"a": "b"}}}), MERGE, "", "namespaces").unwrap();
        assert_eq!(got, json!({"metadata": {"labels": {"a": "b", "vcproxy.io/tenant": "acme"}}}));
    }

    #[test]
    fn apply_patches_json_or_yaml() {
        let yaml = b"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\n  namespace: prod\nsubjects:\n- kind: ServiceAccount\n  name: sa\n  namespace: dev\n";
        let out = rewrite_patch(yaml, APPLY, "rbac.authorization.k8s.io", "rolebindings", &acme()).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["metadata"]["namespace"], "acme--prod");
        assert_eq!(v["subjects"][0]["namespace"], "acme--dev");
        assert_eq!(v["kind"], "RoleBinding");
        let json_body = br#"{"metadata":{"name":"x","namespace":"dev"}}"#;
        let out = rewrite_patch(json_body, APPLY, "", "configmaps", &acme()).unwrap();
        assert_eq!(out, br#"{"metadata":{"name":"x","namespace":"acme--dev"}}"#);
        for bad in [
            &b"a: 1\na: 2\n"[..],
            b"- 1\n",
            b"a: [\n",
            b"a: 1\n---\nb: 2\n",
            b"metadata:\n  labels:\n    vcproxy.io/x: y\n",
        ] {
            assert!(rewrite_patch(bad, APPLY, "", "configmaps", &acme()).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // Alias bombs are refused by serde_yaml's own limits, without hanging.
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 0..9 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
        }
        assert!(rewrite_patch(bomb.as_bytes(), APPLY, "", "configmaps", &acme()).is_err());
        assert_eq!(rewrite_patch(b"{}", "text/plain", "", "pods", &acme()).unwrap_err().status_code(), 415);
    }

    #[test]
    fn json_patch_rules() {
        let rb = ("rbac.authorization.k8s.io", "rolebindings");
        let pods = ("", "pods");
        let np = ("networking.k8s.io", "networkpolicies");
        let ns = ("", "namespaces");
        // Refused: targets or insides of translated fields, reserved keys, move/copy around them.
        let refused = [
            (pods, json!({"op": "replace", "path": "/metadata/namespace", "value": "kube-system"})),
            (pods, json!({"op": "remove", "path": "/metadata/namespace"})),
            (pods, json!({"op": "test", "path": "/metadata/namespace", "value": "prod"})),
            (rb, json!({"op": "replace", "path": "/subjects/0/namespace", "value": "kube-system"})),
            (rb, json!({"op": "add", "path": "/subjects/-/namespace", "value": "x"})),
            (rb, json!({"op": "replace", "path": "/subjects/0/name", "value": "system:authenticated"})),
            (rb, json!({"op": "replace", "path": "/subjects/+0/kind", "value": "Group"})),
            (rb, json!({"op": "copy", "from": "/metadata/name", "path": "/subjects/0/name"})),
            (
                pods,
                json!({"op": "add", "path": "/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/0/namespaces/-", "value": "x"}),
            ),
            (np, json!({"op": "remove", "path": "/spec/ingress/0/from/0/namespaceSelector/matchExpressions/0"})),
            (np, json!({"op": "replace", "path": "/spec/ingress/0/from/0/namespaceSelector", "value": {}})),
            (pods, json!({"op": "add", "path": "/metadata/labels/vcproxy.io~1tenant", "value": "globex"})),
            (pods, json!({"op": "remove", "path": "/metadata/annotations/vcproxy.io~1x"})),
            (
                ("apps", "deployments"),
                json!({"op": "add", "path": "/spec/template/metadata/labels/vcproxy.io~1x", "value": "1"}),
            ),
            (pods, json!({"op": "copy", "from": "/metadata/labels/x", "path": "/metadata/namespace"})),
            (pods, json!({"op": "copy", "from": "/metadata/namespace", "path": "/metadata/labels/x"})),
            (pods, json!({"op": "copy", "from": "/metadata/annotations", "path": "/metadata/labels"})),
            (rb, json!({"op": "move", "from": "/metadata/labels", "path": "/subjects"})),
            (ns, json!({"op": "replace", "path": "/metadata/labels", "value": {"a": "b"}})),
            (ns, json!({"op": "remove", "path": "/metadata/labels"})),
            (ns, json!({"op": "remove", "path": "/metadata"})),
        ];
        for ((g, r), op) in refused {
            let e = patch(&json!([op]), JSONP, g, r).unwrap_err();
            assert!(matches!(e, RewriteError::PatchOpRefused { index: 0, .. }), "{op}: {e}");
            assert_eq!(e.status_code(), 422);
        }
        // Parents of translated fields: the value is rewritten like that part of an object.
        let got = patch(
            &json!([{"op": "replace", "path": "/subjects", "value": [{"kind": "ServiceAccount", "name": "a", "namespace": "dev"}]},
                    {"op": "add", "path": "/subjects/1", "value": {"kind": "ServiceAccount", "name": "b", "namespace": "prod"}}]),
            JSONP, rb.0, rb.1).unwrap();
        assert_eq!(got[0]["value"][0]["namespace"], "acme--dev");
        assert_eq!(got[1]["value"]["namespace"], "acme--prod");
        // Whole subjects are translated into the tenant's identity space, or refused.
        let got = patch(
            &json!([{"op": "add", "path": "/subjects/-", "value": {"kind": "User", "name": "alice"}},
                    {"op": "replace", "path": "/subjects", "value": [{"kind": "Group", "name": "system:authenticated"}]}]),
            JSONP, rb.0, rb.1).unwrap();
        assert_eq!(got[0]["value"]["name"], "vcproxy:acme:alice");
        assert_eq!(got[1]["value"][0]["name"], "vcproxy:tenant:acme");
        for subject in [json!({"kind": "Group", "name": "system:masters"}), json!({"kind": "User", "name": "system:admin"})] {
            let e = patch(&json!([{"op": "add", "path": "/subjects/0", "value": subject}]), JSONP, rb.0, rb.1).unwrap_err();
            assert_eq!(e.status_code(), 422, "{e}");
            for ct in [MERGE, SMP] {
                let e = patch(&json!({"subjects": [subject]}), ct, rb.0, rb.1).unwrap_err();
                assert!(matches!(e, RewriteError::InvalidSubject { .. }), "{ct}: {e}");
            }
        }
        let got = patch(
            &json!([{"op": "replace", "path": "/spec/ingress/0", "value": {"from": [{"namespaceSelector": {}}]}}]),
            JSONP,
            np.0,
            np.1,
        )
        .unwrap();
        assert_eq!(got[0]["value"]["from"][0]["namespaceSelector"]["matchExpressions"][0]["key"], "vcproxy.io/tenant");
        let got = patch(
            &json!([{"op": "add", "path": "/metadata", "value": {"namespace": "dev", "labels": {"a": "b"}}}]),
            JSONP,
            pods.0,
            pods.1,
        )
        .unwrap();
        assert_eq!(got[0]["value"]["namespace"], "acme--dev");
        let e = patch(
            &json!([{"op": "add", "path": "/metadata/labels", "value": {"vcproxy.io/tenant": "globex"}}]),
            JSONP,
            pods.0,
            pods.1,
        )
        .unwrap_err();
        assert_eq!(e.status_code(), 403);
        let got = patch(
            &json!([{"op": "replace", "path": "", "value": {"metadata": {"namespace": "dev"}}}]),
            JSONP,
            pods.0,
            pods.1,
        )
        .unwrap();
        assert_eq!(got[0]["value"]["metadata"]["namespace"], "acme--dev");
        // Everything else passes through untouched.
        let fine = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/app", "value": "web"},
            {"op": "remove", "path": "/metadata/annotations/note"},
            {"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/app2"},
            {"op": "move", "from": "/spec/a", "path": "/spec/b"},
            {"op": "remove", "path": "/spec/affinity"},
            {"op": "add", "path": "/metadata/labels/x~0y", "value": "1"},
        ]);
        assert_eq!(patch(&fine, JSONP, "apps", "deployments").unwrap(), fine);
        assert_eq!(
            patch(&json!([{"op": "add", "path": "/metadata/labels/team", "value": "a"}]), JSONP, ns.0, ns.1).unwrap()
                [0]["value"],
            "a"
        );
        // Malformed.
        for bad in [
            json!({}),
            json!([1]),
            json!([{"op": "add", "value": 1}]),
            json!([{"op": "add", "path": "x", "value": 1}]),
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
            json!([{"op": "frob", "path": "/a"}]),
            json!([{"op": "add", "path": "/a"}]),
            json!([{"op": "copy", "path": "/a"}]),
        ] {
            assert_eq!(patch(&bad, JSONP, pods.0, pods.1).unwrap_err().status_code(), 400, "{bad}");
        }
    }
}

//! What of a tenant ClusterRole applies inside the tenant's namespaces: no more
//! than its admins hold there. Their ceiling is the super master's `admin` role
//! (what `cluster-admins` are bound to in every tenant namespace); rules about
//! groups the super apiserver does not serve (the tenant's CRDs) are vcproxy's
//! to decide and pass whole.
//!
//! A rule grants the product of its lists (groups × resources × verbs, and
//! names when it has some), so the part of a rule under another is the rule of
//! their element-wise intersections, with `*` meaning "any". The namespace part
//! of a role is the union of its rules' parts under each ceiling rule. A
//! ClusterRole with `*` on `*` therefore means, in a namespace, exactly `admin`,
//! and can never let anyone write the ResourceQuotas vcproxy sets there.

use serde_json::{json, Value};

fn list(rule: &Value, field: &str) -> Vec<String> {
    rule[field].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// One value under another (`*` is any; `*/scale` is that subresource of any resource).
fn meet(a: &str, b: &str) -> Option<String> {
    if a == b || b == "*" {
        return Some(a.to_string());
    }
    if a == "*" {
        return Some(b.to_string());
    }
    for (wild, exact) in [(a, b), (b, a)] {
        if let Some(sub) = wild.strip_prefix("*/") {
            if exact.split_once('/').is_some_and(|(_, s)| s == sub) {
                return Some(exact.to_string());
            }
        }
    }
    None
}

/// Intersection of two value lists; None when nothing is in both.
fn meet_lists(a: &[String], b: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for x in a {
        for y in b {
            if let Some(m) = meet(x, y) {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The part of `rule` that `ceiling` also grants, if any.
pub fn intersect(rule: &Value, ceiling: &Value) -> Option<Value> {
    let mut out = json!({
        "apiGroups": meet_lists(&list(rule, "apiGroups"), &list(ceiling, "apiGroups"))?,
        "resources": meet_lists(&list(rule, "resources"), &list(ceiling, "resources"))?,
        "verbs": meet_lists(&list(rule, "verbs"), &list(ceiling, "verbs"))?,
    });
    // No names means every name.
    let (a, b) = (list(rule, "resourceNames"), list(ceiling, "resourceNames"));
    let names = match (a.is_empty(), b.is_empty()) {
        (true, _) => b,
        (_, true) => a,
        _ => {
            let both: Vec<String> = a.into_iter().filter(|n| b.contains(n)).collect();
            if both.is_empty() {
                return None;
            }
            both
        }
    };
    if !names.is_empty() {
        out["resourceNames"] = json!(names);
    }
    Some(out)
}

/// The rules of `rules` (resource rules) that apply in a tenant namespace, under `ceiling`.
/// `served_upstream` says whether the super apiserver serves an API group.
pub fn namespace_part(rules: &[Value], ceiling: &[Value], served_upstream: impl Fn(&str) -> bool) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut add = |r: Value| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for rule in rules {
        let groups = list(rule, "apiGroups");
        if !groups.is_empty() && groups.iter().all(|g| g != "*" && !served_upstream(g)) {
            add(rule.clone());
            continue;
        }
        for c in ceiling {
            if let Some(part) = intersect(rule, c) {
                add(part);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
        json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
    }

    fn admin() -> Vec<Value> {
        vec![
            rule(
                &[""],
                &["pods", "pods/log", "secrets", "services"],
                &["get", "list", "watch", "create", "update", "delete"],
            ),
            rule(&[""], &["resourcequotas"], &["get", "list", "watch"]),
            rule(&["apps"], &["deployments", "deployments/scale"], &["*"]),
        ]
    }

    #[test]
    fn everything_means_admin_inside_a_namespace() {
        let part = namespace_part(&[rule(&["*"], &["*"], &["*"])], &admin(), |_| true);
        assert_eq!(part, admin());
        assert!(!part.iter().any(
            |r| r["resources"].to_string().contains("resourcequotas") && r["verbs"].to_string().contains("update")
        ));
    }

    #[test]
    fn a_rule_within_the_ceiling_is_kept_and_the_rest_trimmed() {
        let reader = rule(&[""], &["pods"], &["get", "list"]);
        assert_eq!(namespace_part(&[reader.clone()], &admin(), |_| true), vec![reader]);
        let quota = rule(&[""], &["resourcequotas"], &["get", "update"]);
        assert_eq!(namespace_part(&[quota], &admin(), |_| true), vec![rule(&[""], &["resourcequotas"], &["get"])]);
        let scale = rule(&["apps"], &["*/scale"], &["update"]);
        assert_eq!(
            namespace_part(&[scale], &admin(), |_| true),
            vec![rule(&["apps"], &["deployments/scale"], &["update"])]
        );
        assert!(namespace_part(&[rule(&["batch"], &["jobs"], &["get"])], &admin(), |_| true).is_empty());
    }

    #[test]
    fn tenant_crd_groups_pass_and_names_narrow() {
        let widgets = rule(&["widgets.acme.example.com"], &["*"], &["*"]);
        let served = |g: &str| g.is_empty() || g == "apps";
        assert_eq!(namespace_part(&[widgets.clone()], &admin(), served), vec![widgets]);
        let mut named = rule(&[""], &["secrets"], &["get"]);
        named["resourceNames"] = json!(["db"]);
        assert_eq!(namespace_part(&[named.clone()], &admin(), served), vec![named.clone()]);
        let mut other = admin()[0].clone();
        other["resourceNames"] = json!(["cache"]);
        assert!(intersect(&named, &other).is_none(), "disjoint names grant nothing");
    }
}

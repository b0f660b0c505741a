//! `apiextensions.k8s.io/v1` CustomResourceDefinitions as kube-apiserver
//! (pinned v1.37.2) validates, defaults and reports them — pure functions on
//! `serde_json::Value`.
//!
//! - [`defaults`] — the v1 defaulting done on decode (`singular`, `listKind`,
//!   `conversion`).
//! - [`validate`] / [`validate_update`] — `ValidateCustomResourceDefinition[Update]`:
//!   field errors with kube's paths and messages. Like kube's v1 → internal
//!   conversion, a per-version schema, subresources or printer columns that are
//!   identical in every version are reported under `spec.validation`,
//!   `spec.subresources`, `spec.additionalPrinterColumns`.
//! - [`accepted_status`] — the status the naming and establishing controllers
//!   converge to (`NamesAccepted`, `Established`, `acceptedNames`, `storedVersions`).
//! - [`names_conflict`] — two CRDs of one group claiming the same plural, singular,
//!   short name, kind or list kind.
//!
//! vcproxy differences, on purpose: conversion `Webhook` is refused (vcproxy does
//! not call conversion webhooks); `x-kubernetes-validations` (CEL) rules get
//! kube's static checks but are not compiled.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::schema::{
    self, child, dns1035_label_errors, dns1123_subdomain_errors, go_internal_schema, go_json, index, invalid_rendered,
    key, valid_field_path, FieldError,
};

/// `details.group` / `details.kind` of a CRD's 422 Status (see [`schema::to_status`]).
pub const GROUP: &str = "apiextensions.k8s.io";
pub const KIND: &str = "CustomResourceDefinition";

const PRINTER_COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
const PRINTER_COLUMN_FORMATS: &[&str] = &["byte", "date", "date-time", "double", "float", "int32", "int64", "password"];
const APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn get_str<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

fn get_bool(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or(false)
}

fn get_arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn strings(v: &[Value]) -> Vec<&str> {
    v.iter().filter_map(Value::as_str).collect()
}

/// The versions of a CRD (`spec.versions`).
pub fn versions(crd: &Value) -> &[Value] {
    get_arr(crd, &["spec", "versions"])
}

/// The one version marked `storage: true`, if exactly that is the case (else the first).
pub fn storage_version(crd: &Value) -> Option<&str> {
    versions(crd).iter().find(|v| get_bool(v, &["storage"])).and_then(|v| v.get("name")?.as_str())
}

/// `spec.versions[name=version]`.
pub fn version<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    versions(crd).iter().find(|v| get_str(v, &["name"]) == version)
}

/// The `openAPIV3Schema` of a version.
pub fn schema_for_version<'a>(crd: &'a Value, v: &str) -> Option<&'a Value> {
    get(version(crd, v)?, &["schema", "openAPIV3Schema"])
}

/// The `additionalPrinterColumns` of a version (empty: the printer adds `Age`).
pub fn printer_columns<'a>(crd: &'a Value, v: &str) -> &'a [Value] {
    version(crd, v).map(|v| get_arr(v, &["additionalPrinterColumns"])).unwrap_or(&[])
}

// ---------------------------------------------------------------------------
// defaults
// ---------------------------------------------------------------------------

/// v1 defaulting (`SetDefaults_CustomResourceDefinitionSpec`): `names.singular` is
/// the lowercased kind, `names.listKind` is `<kind>List`, `conversion` is
/// `{strategy: None}`.
pub fn defaults(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else { return };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        if names.get("singular").and_then(Value::as_str).is_none_or(str::is_empty) {
            names.insert("singular".into(), Value::from(kind.to_lowercase()));
        }
        if names.get("listKind").and_then(Value::as_str).is_none_or(str::is_empty) && !kind.is_empty() {
            names.insert("listKind".into(), Value::from(format!("{kind}List")));
        }
    }
    if spec.get("conversion").is_none_or(Value::is_null) {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
}

// ---------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------

/// Validate a CRD being created (call [`defaults`] first, as the apiserver's
/// decoder does). Errors in kube's order, paths and wording.
pub fn validate(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = get_str(crd, &["metadata", "name"]);
    let generate_name = get_str(crd, &["metadata", "generateName"]);
    let required_name = format!("{}.{}", get_str(crd, &["spec", "names", "plural"]), get_str(crd, &["spec", "group"]));
    let name_fn = |n: &str, prefix: bool| -> Vec<String> {
        let masked =
            if prefix && n.len() > 1 && n.ends_with('-') { format!("{}a", &n[..n.len() - 2]) } else { n.to_string() };
        let mut e = dns1123_subdomain_errors(&masked);
        if n != required_name {
            e.push(r#"must be spec.names.plural+"."+spec.group"#.to_string());
        }
        e
    };
    if !generate_name.is_empty() {
        for msg in name_fn(generate_name, true) {
            errs.push(FieldError::invalid_str("metadata.generateName", generate_name, &msg));
        }
    }
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        for msg in name_fn(name, false) {
            errs.push(FieldError::invalid_str("metadata.name", name, &msg));
        }
    }
    if !get_str(crd, &["metadata", "namespace"]).is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    errs.extend(spec_errors(crd));
    // PrepareForCreate records the storage version as the only stored version.
    let stored: Vec<String> = storage_version(crd).map(|s| vec![s.to_string()]).unwrap_or_default();
    errs.extend(stored_versions_errors(&stored, crd));
    errs.extend(api_approval_errors(crd, None));
    errs.extend(preserve_unknown_fields_errors(crd, None));
    errs
}

/// Validate an update of `old` to `new`: everything [`validate`] checks, plus
/// kube's update rules: `new` must carry `metadata.resourceVersion` (CRDs allow no
/// unconditional update), `metadata.name`, `spec.group` and `spec.names.plural`
/// are immutable (`spec.scope`/`spec.names.kind` too once established), and every
/// version in `old.status.storedVersions` stays in `spec.versions`.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    // CRDs do not allow unconditional updates.
    if get_str(new, &["metadata", "resourceVersion"]).is_empty() {
        errs.push(FieldError::invalid_str("metadata.resourceVersion", "", "must be specified for an update"));
    }
    let immutable = |errs: &mut Vec<FieldError>, path: &str, keys: &[&str]| {
        let (n, o) = (get(new, keys), get(old, keys));
        if n != o {
            errs.push(FieldError::invalid(path, n.unwrap_or(&Value::from("")), "field is immutable"));
        }
    };
    immutable(&mut errs, "metadata.name", &["metadata", "name"]);
    errs.extend(spec_errors(new));
    if is_established(old) {
        immutable(&mut errs, "spec.scope", &["spec", "scope"]);
        immutable(&mut errs, "spec.names.kind", &["spec", "names", "kind"]);
    }
    immutable(&mut errs, "spec.group", &["spec", "group"]);
    immutable(&mut errs, "spec.names.plural", &["spec", "names", "plural"]);
    // PrepareForUpdate keeps the old status and adds the new storage version.
    let mut stored: Vec<String> =
        strings(get_arr(old, &["status", "storedVersions"])).into_iter().map(str::to_string).collect();
    if let Some(s) = storage_version(new) {
        if !stored.iter().any(|v| v == s) {
            stored.push(s.to_string());
        }
    }
    errs.extend(stored_versions_errors(&stored, new));
    errs.extend(api_approval_errors(new, Some(old)));
    errs.extend(preserve_unknown_fields_errors(new, Some(old)));
    errs
}

fn is_established(crd: &Value) -> bool {
    get_arr(crd, &["status", "conditions"])
        .iter()
        .any(|c| get_str(c, &["type"]) == "Established" && get_str(c, &["status"]) == "True")
}

/// Per-version fields that are identical in every version are hoisted to the
/// top level by kube's v1 → internal conversion, which changes error paths.
fn hoisted(vers: &[Value], field: &str, empty_array_is_nil: bool) -> bool {
    let norm = |v: &Value| -> Option<Value> {
        match v.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) if empty_array_is_nil && a.is_empty() => None,
            Some(x) => Some(x.clone()),
        }
    };
    let Some(first) = vers.first() else { return false };
    let f = norm(first);
    vers.iter().all(|v| norm(v) == f)
}

fn spec_errors(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = get(crd, &["spec"]).cloned().unwrap_or(Value::Null);

    let group = get_str(&spec, &["group"]);
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else {
        let e = dns1123_subdomain_errors(group);
        if !e.is_empty() {
            errs.push(FieldError::invalid_str("spec.group", group, &e.join(",")));
        } else if group.split('.').count() < 2 {
            errs.push(FieldError::invalid_str("spec.group", group, "should be a domain with at least one dot"));
        }
    }

    let scope = get_str(&spec, &["scope"]);
    if scope.is_empty() {
        errs.push(FieldError::required("spec.scope", ""));
    } else if scope != "Cluster" && scope != "Namespaced" {
        errs.push(FieldError::not_supported("spec.scope", &Value::from(scope), &["Cluster", "Namespaced"]));
    }

    let vers = get_arr(&spec, &["versions"]);
    let schema_hoisted = hoisted(vers, "schema", false);
    let subresources_hoisted = hoisted(vers, "subresources", false);
    let columns_hoisted = hoisted(vers, "additionalPrinterColumns", true);
    let selectable_hoisted = hoisted(vers, "selectableFields", true);
    let top_schema =
        if schema_hoisted { vers.first().and_then(|v| get(v, &["schema", "openAPIV3Schema"])) } else { None };

    if top_schema.is_none() {
        for (i, v) in vers.iter().enumerate() {
            if get(v, &["schema", "openAPIV3Schema"]).is_none() {
                errs.push(FieldError::required(format!("spec.versions[{i}].schema.openAPIV3Schema"), ""));
            }
        }
    }
    let preserve_unknown = get_bool(&spec, &["preserveUnknownFields"]);
    if preserve_unknown && vers.iter().any(|v| get(v, &["schema", "openAPIV3Schema"]).is_some_and(has_default)) {
        errs.push(FieldError::invalid(
            "spec.preserveUnknownFields",
            &Value::Bool(true),
            "must be false in order to use defaults in the schema",
        ));
    }

    let any_status = vers.iter().any(|v| get(v, &["subresources", "status"]).is_some());
    let mut storage_count = 0;
    let mut seen = HashSet::new();
    let mut unique = true;
    for (i, v) in vers.iter().enumerate() {
        let vpath = format!("spec.versions[{i}]");
        let name = get_str(v, &["name"]);
        if get_bool(v, &["storage"]) {
            storage_count += 1;
        }
        if !seen.insert(name.to_string()) {
            unique = false;
        }
        let e = dns1035_label_errors(name);
        if !e.is_empty() {
            errs.push(FieldError::invalid_str(child(&vpath, "name"), name, &e.join(",")));
        }
        for msg in deprecation_warning_errors(v) {
            let dw = get_str(v, &["deprecationWarning"]);
            errs.push(FieldError::invalid_str(child(&vpath, "deprecationWarning"), dw, &msg));
        }
        if !schema_hoisted {
            if let Some(validation) = get(v, &["schema"]) {
                let status =
                    if subresources_hoisted { any_status } else { get(v, &["subresources", "status"]).is_some() };
                errs.extend(validation_errors(validation, status, &child(&vpath, "schema")));
            }
        }
        if !subresources_hoisted {
            if let Some(sub) = get(v, &["subresources"]) {
                errs.extend(subresources_errors(sub, &child(&vpath, "subresources")));
            }
        }
        if !columns_hoisted {
            for (j, c) in get_arr(v, &["additionalPrinterColumns"]).iter().enumerate() {
                errs.extend(column_errors(c, &index(&child(&vpath, "additionalPrinterColumns"), j)));
            }
        }
        if !selectable_hoisted && !get_arr(v, &["selectableFields"]).is_empty() {
            let fields = get_arr(v, &["selectableFields"]);
            let spath = child(&vpath, "selectableFields");
            match get(v, &["schema", "openAPIV3Schema"]) {
                None => errs.push(FieldError::invalid_str(
                    spath,
                    "",
                    "may only be set when `version.schema.openAPIV3Schema` is not included",
                )),
                Some(schema) => errs.extend(selectable_fields_errors(fields, schema, &spath)),
            }
        }
    }
    let hoist = Hoisted {
        schema: schema_hoisted,
        subresources: subresources_hoisted,
        columns: columns_hoisted,
        selectable: selectable_hoisted,
    };
    if !unique {
        errs.push(invalid_rendered(
            "spec.versions",
            go_internal_versions(vers, &hoist),
            "must contain unique version names",
        ));
    }
    if storage_count != 1 {
        errs.push(invalid_rendered(
            "spec.versions",
            go_internal_versions(vers, &hoist),
            "must have exactly one version marked as storage version",
        ));
    }
    // The internal spec.version is versions[0].name and is checked again.
    if let Some(first) = vers.first().map(|v| get_str(v, &["name"])).filter(|n| !n.is_empty()) {
        let e = dns1035_label_errors(first);
        if !e.is_empty() {
            errs.push(FieldError::invalid_str("spec.version", first, &e.join(",")));
        }
    }

    for (field, path) in [
        ("plural", "spec.names.plural"),
        ("singular", "spec.names.singular"),
        ("kind", "spec.names.kind"),
        ("listKind", "spec.names.listKind"),
    ] {
        if get_str(&spec, &["names", field]).is_empty() {
            errs.push(FieldError::required(path, ""));
        }
    }
    errs.extend(names_errors(get(&spec, &["names"]).unwrap_or(&Value::Null), "spec.names"));

    if schema_hoisted {
        if let Some(validation) = vers.first().and_then(|v| get(v, &["schema"])) {
            errs.extend(validation_errors(validation, any_status, "spec.validation"));
        }
    }
    if subresources_hoisted {
        if let Some(sub) = vers.first().and_then(|v| get(v, &["subresources"])) {
            errs.extend(subresources_errors(sub, "spec.subresources"));
        }
    }
    if columns_hoisted {
        if let Some(first) = vers.first() {
            for (j, c) in get_arr(first, &["additionalPrinterColumns"]).iter().enumerate() {
                errs.extend(column_errors(c, &index("spec.additionalPrinterColumns", j)));
            }
        }
    }
    if selectable_hoisted {
        if let Some(first) = vers.first().filter(|f| !get_arr(f, &["selectableFields"]).is_empty()) {
            let fields = get_arr(first, &["selectableFields"]);
            match top_schema {
                None => errs.push(FieldError::invalid_str(
                    "spec.selectableFields",
                    "",
                    "may only be set when validations.schema is included",
                )),
                Some(schema) => errs.extend(selectable_fields_errors(fields, schema, "spec.selectableFields")),
            }
        }
    }

    if let Some(conversion) = get(&spec, &["conversion"]) {
        let strategy = get_str(conversion, &["strategy"]);
        if strategy != "None" && preserve_unknown {
            errs.push(FieldError::invalid_str(
                "spec.conversion.strategy",
                strategy,
                "must be None if spec.preserveUnknownFields is true",
            ));
        }
        match strategy {
            "" => errs.push(FieldError::required("spec.conversion.strategy", "")),
            "None" => {
                if get(conversion, &["webhook", "clientConfig"]).is_some() {
                    errs.push(FieldError::forbidden(
                        "spec.conversion.webhookClientConfig",
                        "should not be set when strategy is not set to Webhook",
                    ));
                }
                if !get_arr(conversion, &["webhook", "conversionReviewVersions"]).is_empty() {
                    errs.push(FieldError::forbidden(
                        "spec.conversion.conversionReviewVersions",
                        "should not be set when strategy is not set to Webhook",
                    ));
                }
            }
            "Webhook" => errs.push(FieldError::invalid_str(
                "spec.conversion.strategy",
                strategy,
                "vcproxy does not support conversion webhooks; use strategy None",
            )),
            other => errs.push(FieldError::not_supported(
                "spec.conversion.strategy",
                &Value::from(other),
                &["None", "Webhook"],
            )),
        }
    }
    errs
}

fn has_default(s: &Value) -> bool {
    fn walk(s: &Value, depth: usize) -> bool {
        if depth > schema::MAX_DEPTH {
            return false;
        }
        let Some(m) = s.as_object() else { return false };
        if m.get("default").is_some_and(|d| !d.is_null()) {
            return true;
        }
        m.iter().any(|(k, v)| match k.as_str() {
            "items" | "not" | "additionalProperties" | "additionalItems" => match v {
                Value::Array(a) => a.iter().any(|x| walk(x, depth + 1)),
                x => walk(x, depth + 1),
            },
            "allOf" | "anyOf" | "oneOf" => v.as_array().is_some_and(|a| a.iter().any(|x| walk(x, depth + 1))),
            "properties" | "patternProperties" | "definitions" | "dependencies" => {
                v.as_object().is_some_and(|o| o.values().any(|x| walk(x, depth + 1)))
            }
            _ => false,
        })
    }
    walk(s, 0)
}

fn deprecation_warning_errors(v: &Value) -> Vec<String> {
    let Some(dw) = v.get("deprecationWarning").filter(|d| !d.is_null()) else { return Vec::new() };
    if !get_bool(v, &["deprecated"]) {
        return vec!["can only be set for deprecated versions".into()];
    }
    let dw = dw.as_str().unwrap_or("");
    let mut errs = Vec::new();
    if dw.len() > 256 {
        errs.push("must be <= 256 characters long".into());
    }
    if dw.is_empty() {
        errs.push("must not be an empty string".into());
    }
    for (i, c) in dw.char_indices() {
        if c.is_control() {
            errs.push(format!(
                "must only contain printable UTF-8 characters; non-printable character found at index {i}"
            ));
            break;
        }
    }
    errs
}

/// `validateCustomResourceDefinitionValidation` for one `{openAPIV3Schema: …}`.
fn validation_errors(validation: &Value, status_enabled: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(schema) = get(validation, &["openAPIV3Schema"]) else { return errs };
    let spath = child(path, "openAPIV3Schema");
    if status_enabled {
        if let Some(m) = schema.as_object() {
            errs.extend(status_root_errors(schema, m, &spath));
        }
    }
    if get_bool(schema, &["nullable"]) {
        errs.push(FieldError::forbidden(child(&spath, "nullable"), "nullable cannot be true at the root"));
    }
    errs.extend(schema::check_structural_at(schema, &spath));
    errs
}

/// With the status subresource, only these root schema fields are allowed (kube
/// walks JSONSchemaProps in struct field order; the JSON names are listed here).
fn status_root_errors(schema: &Value, m: &Map<String, Value>, spath: &str) -> Option<FieldError> {
    const FIELDS: &[(&str, bool)] = &[
        ("id", false),
        ("$schema", false),
        ("$ref", false),
        ("description", true),
        ("type", true),
        ("nullable", false),
        ("format", true),
        ("title", true),
        ("default", false),
        ("maximum", true),
        ("exclusiveMaximum", true),
        ("minimum", true),
        ("exclusiveMinimum", true),
        ("maxLength", true),
        ("minLength", true),
        ("pattern", true),
        ("maxItems", true),
        ("minItems", true),
        ("uniqueItems", true),
        ("multipleOf", true),
        ("enum", false),
        ("maxProperties", false),
        ("minProperties", false),
        ("required", true),
        ("items", true),
        ("allOf", false),
        ("oneOf", false),
        ("anyOf", false),
        ("not", false),
        ("properties", true),
        ("additionalProperties", false),
        ("patternProperties", false),
        ("dependencies", false),
        ("additionalItems", false),
        ("definitions", false),
        ("externalDocs", true),
        ("example", true),
        ("x-kubernetes-preserve-unknown-fields", true),
        ("x-kubernetes-embedded-resource", false),
        ("x-kubernetes-int-or-string", false),
        ("x-kubernetes-list-map-keys", false),
        ("x-kubernetes-list-type", false),
        ("x-kubernetes-map-type", false),
        ("x-kubernetes-validations", true),
    ];
    const ALLOWED: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";
    for (f, allowed) in FIELDS {
        let Some(v) = m.get(*f) else { continue };
        let zero = match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if zero {
            continue;
        }
        if *f == "type" {
            let ty = v.as_str().unwrap_or("");
            if ty != "object" {
                return Some(FieldError::invalid_str(
                    child(spath, "type"),
                    ty,
                    r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
                ));
            }
            continue;
        }
        if !allowed {
            return Some(invalid_rendered(
                spath,
                go_internal_schema(Some(schema)),
                &format!(
                    "only {ALLOWED} fields are allowed at the root of the schema if the status subresource is enabled"
                ),
            ));
        }
    }
    None
}

fn simple_json_path(s: &str, path: &str) -> Option<FieldError> {
    if s.is_empty() {
        Some(FieldError::invalid_str(path, s, "must not be empty"))
    } else if !s.starts_with('.') {
        Some(FieldError::invalid_str(path, s, "must be a simple json path starting with ."))
    } else {
        None
    }
}

/// `ValidateCustomResourceDefinitionSubresources`.
fn subresources_errors(sub: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(scale) = get(sub, &["scale"]) else { return errs };
    for (field, prefix, what) in
        [("specReplicasPath", ".spec.", ".spec"), ("statusReplicasPath", ".status.", ".status")]
    {
        let p = child(path, &format!("scale.{field}"));
        let v = get_str(scale, &[field]);
        if v.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if let Some(e) = simple_json_path(v, &p) {
            errs.push(e);
        } else if !v.starts_with(prefix) {
            errs.push(FieldError::invalid_str(p, v, &format!("should be a json path under {what}")));
        }
    }
    let selector = get_str(scale, &["labelSelectorPath"]);
    if !selector.is_empty() {
        let p = child(path, "scale.labelSelectorPath");
        if let Some(e) = simple_json_path(selector, &p) {
            errs.push(e);
        } else if !selector.starts_with(".spec.") && !selector.starts_with(".status.") {
            errs.push(FieldError::invalid_str(p, selector, "should be a json path under either .spec or .status"));
        }
    }
    errs
}

/// `ValidateCustomResourceColumnDefinition` (kube names the path `JSONPath`).
fn column_errors(c: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if get_str(c, &["name"]).is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    }
    let types = format!("must be one of {}", PRINTER_COLUMN_TYPES.join(","));
    match get_str(c, &["type"]) {
        "" => errs.push(FieldError::required(child(path, "type"), &types)),
        t if !PRINTER_COLUMN_TYPES.contains(&t) => errs.push(FieldError::invalid_str(child(path, "type"), t, &types)),
        _ => {}
    }
    let format = get_str(c, &["format"]);
    if !format.is_empty() && !PRINTER_COLUMN_FORMATS.contains(&format) {
        errs.push(FieldError::invalid_str(
            child(path, "format"),
            format,
            &format!("must be one of {}", PRINTER_COLUMN_FORMATS.join(",")),
        ));
    }
    let jp = get_str(c, &["jsonPath"]);
    if jp.is_empty() {
        errs.push(FieldError::required(child(path, "JSONPath"), ""));
    } else if let Some(e) = simple_json_path(jp, &child(path, "JSONPath")) {
        errs.push(e);
    }
    errs
}

/// `ValidateCustomResourceDefinitionNames`.
fn names_errors(names: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["plural", "singular"] {
        let v = get_str(names, &[field]);
        let e = dns1035_label_errors(v);
        if !v.is_empty() && !e.is_empty() {
            errs.push(FieldError::invalid_str(child(path, field), v, &e.join(",")));
        }
    }
    for field in ["kind", "listKind"] {
        let v = get_str(names, &[field]);
        let e = dns1035_label_errors(&v.to_lowercase());
        if !v.is_empty() && !e.is_empty() {
            errs.push(FieldError::invalid_str(
                child(path, field),
                v,
                &format!("may have mixed case, but should otherwise match: {}", e.join(",")),
            ));
        }
    }
    for (i, sn) in get_arr(names, &["shortNames"]).iter().enumerate() {
        let sn = sn.as_str().unwrap_or("");
        let e = dns1035_label_errors(sn);
        if !e.is_empty() {
            errs.push(FieldError::invalid_str(index(&child(path, "shortNames"), i), sn, &e.join(",")));
        }
    }
    let (kind, list_kind) = (get_str(names, &["kind"]), get_str(names, &["listKind"]));
    if !kind.is_empty() && kind == list_kind {
        errs.push(FieldError::invalid_str(child(path, "listKind"), list_kind, "kind and listKind may not be the same"));
    }
    for (i, c) in get_arr(names, &["categories"]).iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        let e = dns1035_label_errors(c);
        if !e.is_empty() {
            errs.push(FieldError::invalid_str(index(&child(path, "categories"), i), c, &e.join(",")));
        }
    }
    errs
}

fn stored_versions_errors(stored: &[String], crd: &Value) -> Vec<FieldError> {
    let path = "status.storedVersions";
    let stored_value = if stored.is_empty() {
        Value::Null
    } else {
        Value::Array(stored.iter().map(|s| Value::from(s.as_str())).collect())
    };
    if stored.is_empty() {
        return vec![FieldError::invalid(path, &stored_value, "must have at least one stored version")];
    }
    let mut errs = Vec::new();
    let mut remaining: Vec<(usize, &str)> = stored.iter().enumerate().map(|(i, s)| (i, s.as_str())).collect();
    for v in versions(crd) {
        let name = get_str(v, &["name"]);
        let found = remaining.iter().any(|(_, s)| *s == name);
        if get_bool(v, &["storage"]) && !found {
            errs.push(FieldError::invalid(path, &stored_value, &format!("must have the storage version {name}")));
        }
        remaining.retain(|(_, s)| *s != name);
    }
    for (i, v) in remaining {
        errs.push(FieldError::invalid_str(
            index(path, i),
            v,
            &format!(
                "missing from spec.versions; {v} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {v} and removes {v} from status.storedVersions"
            ),
        ));
    }
    errs
}

fn approval_state(crd: &Value) -> (u8, String) {
    let a = get_str(crd, &["metadata", "annotations", APPROVAL_ANNOTATION]);
    let is_url = a.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.split(['/', '?', '#']).next().unwrap_or("").is_empty()
            && !a.contains(char::is_whitespace)
    });
    if a.is_empty() {
        (3, format!("protected groups must have approval annotation {}, see https://github.com/kubernetes/enhancements/pull/1111", schema::go_quote(APPROVAL_ANNOTATION)))
    } else if a.starts_with("unapproved") {
        (2, format!("not approved: {}", schema::go_quote(a)))
    } else if is_url {
        (1, format!("approved in {a}"))
    } else {
        (0, format!("protected groups must have approval annotation {} with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111", schema::go_quote(APPROVAL_ANNOTATION)))
    }
}

/// Groups under `k8s.io` / `kubernetes.io` need the API approval annotation.
fn api_approval_errors(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let group = get_str(crd, &["spec", "group"]);
    let protected = group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io");
    if !protected {
        return Vec::new();
    }
    let (state, reason) = approval_state(crd);
    if old.is_some_and(|o| approval_state(o).0 == state) {
        return Vec::new();
    }
    let path = key("metadata.annotations", APPROVAL_ANNOTATION);
    let value = get_str(crd, &["metadata", "annotations", APPROVAL_ANNOTATION]);
    match state {
        1 | 2 => Vec::new(),
        3 => vec![FieldError::required(path, &reason)],
        _ => vec![FieldError::invalid_str(path, value, &reason)],
    }
}

fn preserve_unknown_fields_errors(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    if old.is_some_and(|o| get_bool(o, &["spec", "preserveUnknownFields"])) {
        return Vec::new();
    }
    if get_bool(crd, &["spec", "preserveUnknownFields"]) {
        return vec![FieldError::invalid(
            "spec.preserveUnknownFields",
            &Value::Bool(true),
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        )];
    }
    Vec::new()
}

/// Which per-version fields kube's conversion hoisted to the top level.
struct Hoisted {
    schema: bool,
    subresources: bool,
    columns: bool,
    selectable: bool,
}

/// `json.Marshal` of the internal `[]CustomResourceDefinitionVersion` (as kube
/// prints `spec.versions` in some errors), after the hoisting of identical fields.
fn go_internal_versions(vers: &[Value], h: &Hoisted) -> String {
    let s = |v: &Value, k: &str| go_json(&Value::from(get_str(v, &[k])));
    let items: Vec<String> = vers
        .iter()
        .map(|v| {
            let schema = match get(v, &["schema"]) {
                Some(sc) if !h.schema => format!("{{\"OpenAPIV3Schema\":{}}}", go_internal_schema(get(sc, &["openAPIV3Schema"]))),
                _ => "null".into(),
            };
            let subresources = match get(v, &["subresources"]) {
                Some(sub) if !h.subresources => {
                    let status = if get(sub, &["status"]).is_some() { "{}" } else { "null" };
                    let scale = match get(sub, &["scale"]) {
                        Some(sc) => format!(
                            "{{\"SpecReplicasPath\":{},\"StatusReplicasPath\":{},\"LabelSelectorPath\":{}}}",
                            s(sc, "specReplicasPath"),
                            s(sc, "statusReplicasPath"),
                            get(sc, &["labelSelectorPath"]).map(go_json).unwrap_or_else(|| "null".into())
                        ),
                        None => "null".into(),
                    };
                    format!("{{\"Status\":{status},\"Scale\":{scale}}}")
                }
                _ => "null".into(),
            };
            let columns = match get(v, &["additionalPrinterColumns"]).and_then(Value::as_array) {
                Some(cols) if !h.columns => {
                    let c: Vec<String> = cols
                        .iter()
                        .map(|c| {
                            format!(
                                "{{\"Name\":{},\"Type\":{},\"Format\":{},\"Description\":{},\"Priority\":{},\"JSONPath\":{}}}",
                                s(c, "name"),
                                s(c, "type"),
                                s(c, "format"),
                                s(c, "description"),
                                get(c, &["priority"]).and_then(Value::as_i64).unwrap_or(0),
                                s(c, "jsonPath")
                            )
                        })
                        .collect();
                    format!("[{}]", c.join(","))
                }
                _ => "null".into(),
            };
            let selectable = match get(v, &["selectableFields"]).and_then(Value::as_array) {
                Some(f) if !h.selectable => {
                    let c: Vec<String> = f.iter().map(|x| format!("{{\"JSONPath\":{}}}", s(x, "jsonPath"))).collect();
                    format!("[{}]", c.join(","))
                }
                _ => "null".into(),
            };
            format!(
                "{{\"Name\":{},\"Served\":{},\"Storage\":{},\"Deprecated\":{},\"DeprecationWarning\":{},\"Schema\":{schema},\"Subresources\":{subresources},\"AdditionalPrinterColumns\":{columns},\"SelectableFields\":{selectable}}}",
                s(v, "name"),
                get_bool(v, &["served"]),
                get_bool(v, &["storage"]),
                get_bool(v, &["deprecated"]),
                get(v, &["deprecationWarning"]).map(go_json).unwrap_or_else(|| "null".into()),
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// `ValidateCustomResourceSelectableFields`.
fn selectable_fields_errors(fields: &[Value], schema: &Value, path: &str) -> Vec<FieldError> {
    const MAX_SELECTABLE_FIELDS: i64 = 8;
    let mut errs = Vec::new();
    let mut unique: HashSet<String> = HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let jp_path = child(&index(path, i), "jsonPath");
        let jp = get_str(f, &["jsonPath"]);
        if jp.is_empty() {
            errs.push(FieldError::required(jp_path, ""));
            continue;
        }
        let (field_path, found) = match valid_field_path(jp, schema, false) {
            Ok(x) => x,
            Err(e) => {
                errs.push(FieldError::invalid_str(jp_path, jp, &format!("is an invalid path: {e}")));
                continue;
            }
        };
        if field_path.split(['.', '[']).next() == Some("metadata") {
            errs.push(FieldError::invalid_str(&jp_path, jp, "must not point to fields in metadata"));
        }
        if !matches!(get_str(found, &["type"]), "string" | "boolean" | "integer") {
            errs.push(FieldError::invalid_str(
                &jp_path,
                jp,
                "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            ));
        }
        if !unique.insert(field_path) {
            errs.push(FieldError::duplicate(&jp_path, &Value::from(jp)));
        }
    }
    if unique.len() as i64 > MAX_SELECTABLE_FIELDS {
        errs.push(FieldError::too_many(path, Some(unique.len() as i64), MAX_SELECTABLE_FIELDS));
    }
    errs
}

// ---------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------

/// The status kube's controllers converge to once names are accepted: conditions
/// `NamesAccepted=True` (`NoConflicts`, "no conflicts found") and `Established=True`
/// (`InitialNamesAccepted`, "the initial names have been accepted"),
/// `acceptedNames` = `spec.names`, and `storedVersions` = the old stored versions
/// plus the storage version. A condition whose status does not change keeps its
/// `lastTransitionTime`; other conditions are kept.
pub fn accepted_status(crd: &Value, now_rfc3339: &str) -> Value {
    let names = get(crd, &["spec", "names"]).cloned().unwrap_or_else(|| json!({}));
    let mut stored: Vec<Value> = get_arr(crd, &["status", "storedVersions"]).to_vec();
    if let Some(s) = storage_version(crd) {
        if !stored.iter().any(|v| v.as_str() == Some(s)) {
            stored.push(Value::from(s));
        }
    }
    let mut conditions: Vec<Value> = get_arr(crd, &["status", "conditions"]).to_vec();
    for (ty, reason, message) in [
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ] {
        let existing = conditions.iter_mut().find(|c| get_str(c, &["type"]) == ty);
        match existing {
            Some(c) => {
                let keep_time = get_str(c, &["status"]) == "True" && !get_str(c, &["lastTransitionTime"]).is_empty();
                let time =
                    if keep_time { get_str(c, &["lastTransitionTime"]).to_string() } else { now_rfc3339.to_string() };
                *c = condition(ty, &time, reason, message);
            }
            None => conditions.push(condition(ty, now_rfc3339, reason, message)),
        }
    }
    json!({
        "conditions": conditions,
        "acceptedNames": names,
        "storedVersions": stored,
    })
}

fn condition(ty: &str, time: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "status": "True", "lastTransitionTime": time, "reason": reason, "message": message})
}

// ---------------------------------------------------------------------------
// name conflicts
// ---------------------------------------------------------------------------

/// A conflict between a CRD's requested names and another CRD of its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameConflict {
    /// `PluralConflict`, `SingularConflict`, `ShortNamesConflict`, `KindConflict`
    /// or `ListKindConflict` (kube's `NamesAccepted=False` reasons).
    pub reason: &'static str,
    /// e.g. `"widgets" is already in use`.
    pub message: String,
}

/// Does `candidate` claim a plural, singular, short name, kind or list kind that
/// `existing` (same group, another CRD) has already been accepted for? Returns
/// kube's condition message, e.g. `"widgets" is already in use`.
pub fn names_conflict(existing: &Value, candidate: &Value) -> Option<String> {
    name_conflict(existing, candidate).map(|c| c.message)
}

/// [`names_conflict`] with kube's condition reason. Like the naming controller,
/// the last conflicting name wins; names the candidate already holds
/// (`status.acceptedNames`) never conflict.
pub fn name_conflict(existing: &Value, candidate: &Value) -> Option<NameConflict> {
    if get_str(existing, &["metadata", "name"]) == get_str(candidate, &["metadata", "name"])
        || get_str(existing, &["spec", "group"]) != get_str(candidate, &["spec", "group"])
    {
        return None;
    }
    let held = match get(existing, &["status", "acceptedNames"]) {
        Some(n) if !get_str(n, &["plural"]).is_empty() => n,
        _ => get(existing, &["spec", "names"]).unwrap_or(&Value::Null),
    };
    let mut resources: HashSet<&str> = HashSet::new();
    resources.insert(get_str(held, &["plural"]));
    resources.insert(get_str(held, &["singular"]));
    resources.extend(strings(get_arr(held, &["shortNames"])));
    resources.remove("");
    let mut kinds: HashSet<&str> = HashSet::new();
    kinds.insert(get_str(held, &["kind"]));
    kinds.insert(get_str(held, &["listKind"]));
    kinds.remove("");

    let requested = get(candidate, &["spec", "names"]).unwrap_or(&Value::Null);
    let accepted = get(candidate, &["status", "acceptedNames"]).unwrap_or(&Value::Null);
    let check = |field: &str, used: &HashSet<&str>| -> Option<String> {
        let r = get_str(requested, &[field]);
        (r != get_str(accepted, &[field]) && used.contains(r))
            .then(|| format!("{} is already in use", schema::go_quote(r)))
    };
    let mut conflict = None;
    if let Some(m) = check("plural", &resources) {
        conflict = Some(NameConflict { reason: "PluralConflict", message: m });
    }
    if let Some(m) = check("singular", &resources) {
        conflict = Some(NameConflict { reason: "SingularConflict", message: m });
    }
    let req_short = strings(get_arr(requested, &["shortNames"]));
    let acc_short = strings(get_arr(accepted, &["shortNames"]));
    if req_short != acc_short {
        let msgs: Vec<String> = req_short
            .iter()
            .filter(|s| !acc_short.contains(s) && resources.contains(*s))
            .map(|s| format!("{} is already in use", schema::go_quote(s)))
            .collect();
        if !msgs.is_empty() {
            let message = if msgs.len() == 1 { msgs[0].clone() } else { format!("[{}]", msgs.join(", ")) };
            conflict = Some(NameConflict { reason: "ShortNamesConflict", message });
        }
    }
    if let Some(m) = check("kind", &kinds) {
        conflict = Some(NameConflict { reason: "KindConflict", message: m });
    }
    if let Some(m) = check("listKind", &kinds) {
        conflict = Some(NameConflict { reason: "ListKindConflict", message: m });
    }
    conflict
}

#[cfg(test)]
mod tests {
    //! Expected errors and messages were produced by kube-apiserver v1.37.2's own
    //! validation code (apiextensions-apiserver) on the same CRDs.

    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("test JSON parses")
    }

    fn texts(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn crontab() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                     "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]},
                ]},
        })
    }

    /// `(name, CRD, errors)`: what kube-apiserver v1.37.2 reports for the CRD on create
    /// (after v1 defaulting), in vcproxy's order. vcproxy differs on purpose for
    /// conversion webhooks.
    const CREATE_CASES: &[(&str, &str, &[&str])] = &[
        (
            "valid",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[],
        ),
        (
            "name_must_be_plural_dot_group",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "wrong.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"metadata.name: Invalid value: "wrong.stable.example.com": must be spec.names.plural+"."+spec.group"##,
            ],
        ),
        (
            "generate_name_refused",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"generateName": "crontabs-"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"metadata.generateName: Invalid value: "crontabs-": must be spec.names.plural+"."+spec.group"##,
                r##"metadata.name: Required value: name or generateName is required"##,
            ],
        ),
        (
            "name_required",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[r##"metadata.name: Required value: name or generateName is required"##],
        ),
        (
            "group_needs_a_dot",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.example"}, "spec": {"group": "example", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[r##"spec.group: Invalid value: "example": should be a domain with at least one dot"##],
        ),
        (
            "group_must_be_dns_subdomain",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.Stable.Example.com"}, "spec": {"group": "Stable.Example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"metadata.name: Invalid value: "crontabs.Stable.Example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"##,
                r##"spec.group: Invalid value: "Stable.Example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"##,
            ],
        ),
        (
            "scope_required",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[r##"spec.scope: Required value"##],
        ),
        (
            "scope_not_supported",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Global", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[r##"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""##],
        ),
        (
            "names_must_be_dns_labels",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "CronTabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "CronTabs", "kind": "cronTab", "singular": "Crontab", "shortNames": ["c t", "1ct"], "categories": ["all", "Bad"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"metadata.name: Invalid value: "CronTabs.stable.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"##,
                r##"spec.names.plural: Invalid value: "CronTabs": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.names.singular: Invalid value: "Crontab": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.names.shortNames[0]: Invalid value: "c t": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.names.shortNames[1]: Invalid value: "1ct": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.names.categories[1]: Invalid value: "Bad": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
            ],
        ),
        (
            "kind_and_list_kind_differ",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "CronTab", "listKind": "CronTab"}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[r##"spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same"##],
        ),
        (
            "kind_may_not_have_underscores",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "Cron_Tab"}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"spec.names.singular: Invalid value: "cron_tab": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.names.kind: Invalid value: "Cron_Tab": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.names.listKind: Invalid value: "Cron_TabList": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
            ],
        ),
        (
            "names_required",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": ""}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"spec.names.singular: Required value"##,
                r##"spec.names.kind: Required value"##,
                r##"spec.names.listKind: Required value"##,
            ],
        ),
        (
            "versions_empty",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": []}}"##,
            &[
                r##"spec.versions: Invalid value: []: must have exactly one version marked as storage version"##,
                r##"status.storedVersions: Invalid value: null: must have at least one stored version"##,
            ],
        ),
        (
            "version_names_unique_and_one_storage",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}, {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]: must contain unique version names"##,
                r##"spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]: must have exactly one version marked as storage version"##,
                r##"status.storedVersions: Invalid value: ["v1"]: must have the storage version v1"##,
            ],
        ),
        (
            "no_storage_version",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}, {"name": "v2", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}]}}"##,
            &[
                r##"spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":false,"Deprecated":false,"DeprecationWarning":null,"Schema":{"OpenAPIV3Schema":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":{"spec":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":{"cronSpec":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"string","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null},"replicas":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"integer","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v2","Served":true,"Storage":false,"Deprecated":false,"DeprecationWarning":null,"Schema":{"OpenAPIV3Schema":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]: must have exactly one version marked as storage version"##,
                r##"status.storedVersions: Invalid value: null: must have at least one stored version"##,
            ],
        ),
        (
            "invalid_version_name",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "V1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"spec.versions[0].name: Invalid value: "V1": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
                r##"spec.version: Invalid value: "V1": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"##,
            ],
        ),
        (
            "schema_required_per_version",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true}]}}"##,
            &[r##"spec.versions[0].schema.openAPIV3Schema: Required value"##],
        ),
        (
            "per_version_schema_paths",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}, {"name": "v2", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {}}}}}]}}"##,
            &[
                r##"spec.versions[1].schema.openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields"##,
            ],
        ),
        (
            "conversion_webhook_refused",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}], "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"url": "https://x"}, "conversionReviewVersions": ["v1"]}}}}"##,
            &[
                r##"spec.conversion.strategy: Invalid value: "Webhook": vcproxy does not support conversion webhooks; use strategy None"##,
            ],
        ),
        (
            "conversion_strategy_not_supported",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}], "conversion": {"strategy": "Magic"}}}"##,
            &[r##"spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook""##],
        ),
        (
            "conversion_none_without_webhook",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}], "conversion": {"strategy": "None", "webhook": {"clientConfig": {"url": "https://x"}, "conversionReviewVersions": ["v1"]}}}}"##,
            &[
                r##"spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook"##,
                r##"spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook"##,
            ],
        ),
        (
            "preserve_unknown_fields_refused",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}], "preserveUnknownFields": true}}"##,
            &[
                r##"spec.preserveUnknownFields: Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"##,
            ],
        ),
        (
            "protected_group_needs_approval",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.foo.k8s.io"}, "spec": {"group": "foo.k8s.io", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[
                r##"metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"##,
            ],
        ),
        (
            "protected_group_approved",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.foo.k8s.io", "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/1111"}}, "spec": {"group": "foo.k8s.io", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}}"##,
            &[],
        ),
        (
            "schema_type_required",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"##,
            ],
        ),
        (
            "schema_root_must_be_object",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "array", "items": {"type": "string"}}}}]}}"##,
            &[r##"spec.validation.openAPIV3Schema.type: Invalid value: "array": must be object at the root"##],
        ),
        (
            "array_needs_items",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "array"}}}}}]}}"##,
            &[r##"spec.validation.openAPIV3Schema.properties[a].items: Required value: must be specified"##],
        ),
        (
            "additional_properties_at_root",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}}}]}}"##,
            &[r##"spec.validation.openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root"##],
        ),
        (
            "additional_properties_with_properties",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": {"type": "string"}}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"##,
            ],
        ),
        (
            "metadata_only_name_and_generate_name",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"##,
            ],
        ),
        (
            "metadata_name_restrictions_allowed",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}}}}]}}"##,
            &[],
        ),
        (
            "forbidden_keywords",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}, "b": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}, "c": {"type": "object", "patternProperties": {"^x": {"type": "string"}}}, "d": {"type": "null"}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported"##,
                r##"spec.validation.openAPIV3Schema.properties[b].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"##,
                r##"spec.validation.openAPIV3Schema.properties[c].patternProperties: Forbidden: patternProperties is not supported"##,
                r##"spec.validation.openAPIV3Schema.properties[d].type: Unsupported value: "null": supported values: "array", "boolean", "integer", "number", "object", "string""##,
                r##"spec.validation.openAPIV3Schema.properties[d].type: Forbidden: type cannot be set to null, use nullable as an alternative"##,
            ],
        ),
        (
            "items_must_be_a_schema",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].items: Forbidden: items must be a schema object and not an array"##,
            ],
        ),
        (
            "invalid_pattern",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}, "b": {"type": "string", "pattern": "a{1001}"}, "c": {"type": "string", "pattern": "(?=x)"}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].pattern: Invalid value: "([": must be a valid regular expression, but isn't: error parsing regexp: missing closing ]: `[`"##,
                r##"spec.validation.openAPIV3Schema.properties[b].pattern: Invalid value: "a{1001}": must be a valid regular expression, but isn't: error parsing regexp: invalid repeat count: `{1001}`"##,
                r##"spec.validation.openAPIV3Schema.properties[c].pattern: Invalid value: "(?=x)": must be a valid regular expression, but isn't: error parsing regexp: invalid or unsupported Perl syntax: `(?=`"##,
            ],
        ),
        (
            "preserve_unknown_fields_false",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"##,
            ],
        ),
        (
            "int_or_string_patterns",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}, "b": {"x-kubernetes-int-or-string": true, "x-kubernetes-preserve-unknown-fields": true}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[b].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true"##,
            ],
        ),
        (
            "value_validations_must_be_structural",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "string", "allOf": [{"type": "string", "description": "d", "default": "x"}]}, "b": {"type": "object"}}, "anyOf": [{"properties": {"c": {"type": "string"}}}]}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.anyOf[0].properties[c].type: Forbidden: must be empty to be structural"##,
                r##"spec.validation.openAPIV3Schema.properties[a].allOf[0].default: Forbidden: must be undefined to be structural"##,
                r##"spec.validation.openAPIV3Schema.properties[a].allOf[0].description: Forbidden: must be empty to be structural"##,
                r##"spec.validation.openAPIV3Schema.properties[a].allOf[0].type: Forbidden: must be empty to be structural"##,
                r##"spec.validation.openAPIV3Schema.properties[c]: Required value: because it is defined in spec.validation.openAPIV3Schema.anyOf[0].properties[c]"##,
            ],
        ),
        (
            "embedded_resource_rules",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-embedded-resource": true}, "b": {"type": "object", "x-kubernetes-embedded-resource": true}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"##,
                r##"spec.validation.openAPIV3Schema.properties[a].type: Invalid value: "string": must be object if x-kubernetes-embedded-resource is true"##,
                r##"spec.validation.openAPIV3Schema.properties[b].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"##,
            ],
        ),
        (
            "defaults_must_validate_and_be_pruned",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}, "b": {"type": "object", "default": {"c": 1, "d": 2}, "properties": {"c": {"type": "integer"}}}, "e": {"type": "string", "maxLength": 2, "default": "long"}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].default: Invalid value: "string":  in body must be of type integer: "string""##,
                r##"spec.validation.openAPIV3Schema.properties[b].default: Invalid value: {"c":1,"d":2}: must not have unknown fields"##,
                r##"spec.validation.openAPIV3Schema.properties[e].default: Too long: may not be more than 2 bytes"##,
            ],
        ),
        (
            "defaults_forbidden_in_metadata",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata"##,
            ],
        ),
        (
            "list_type_map_rules",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}, "o": {"type": "object"}}}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "o", "z"]}, "b": {"type": "string", "x-kubernetes-list-type": "set"}, "c": {"type": "object", "x-kubernetes-map-type": "weird"}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].items.properties[o].type: Invalid value: "object": must be a scalar type if parent array's x-kubernetes-list-type is map"##,
                r##"spec.validation.openAPIV3Schema.properties[a].x-kubernetes-list-map-keys: Invalid value: ["k","o","z"]: entries must all be names of item properties"##,
                r##"spec.validation.openAPIV3Schema.properties[a].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"##,
                r##"spec.validation.openAPIV3Schema.properties[a].items.properties[o].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"##,
                r##"spec.validation.openAPIV3Schema.properties[b].type: Invalid value: "string": must be array if x-kubernetes-list-type is specified"##,
                r##"spec.validation.openAPIV3Schema.properties[c].x-kubernetes-map-type: Unsupported value: "weird": supported values: "atomic", "granular""##,
            ],
        ),
        (
            "validation_rules_static_checks",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "object", "properties": {"x": {"type": "string"}}, "x-kubernetes-validations": [{"rule": " "}, {"rule": "self.x != ''", "fieldPath": ".y"}, {"rule": "a\nb"}, {"rule": "true", "reason": "Nope"}]}}}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[0].rule: Required value: rule is not specified"##,
                r##"spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[1].fieldPath: Invalid value: ".y": must be a valid path"##,
                r##"spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[2].message: Required value: message must be specified if rule contains line breaks"##,
                r##"spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[3].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired""##,
            ],
        ),
        (
            "status_subresource_restricts_root",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "anyOf": [{"required": ["spec"]}], "properties": {"spec": {"type": "object"}}}}, "subresources": {"status": {}}}]}}"##,
            &[
                r##"spec.validation.openAPIV3Schema: Invalid value: {"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":[{"ID":"","Schema":"","Ref":null,"Description":"","Type":"","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":["spec"],"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}],"Not":null,"Properties":{"spec":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}: only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled"##,
            ],
        ),
        (
            "scale_paths",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}, "subresources": {"scale": {"specReplicasPath": "spec.replicas", "statusReplicasPath": ".spec.replicas", "labelSelectorPath": ".metadata.labels"}}}]}}"##,
            &[
                r##"spec.subresources.scale.specReplicasPath: Invalid value: "spec.replicas": must be a simple json path starting with ."##,
                r##"spec.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under .status"##,
                r##"spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status"##,
            ],
        ),
        (
            "printer_columns",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}, "additionalPrinterColumns": [{"name": "", "type": "float", "format": "weird", "jsonPath": "spec.x"}, {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}}"##,
            &[
                r##"spec.additionalPrinterColumns[0].name: Required value"##,
                r##"spec.additionalPrinterColumns[0].type: Invalid value: "float": must be one of boolean,date,integer,number,string"##,
                r##"spec.additionalPrinterColumns[0].format: Invalid value: "weird": must be one of byte,date,date-time,double,float,int32,int64,password"##,
                r##"spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.x": must be a simple json path starting with ."##,
            ],
        ),
        (
            "selectable_fields",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}, "selectableFields": [{"jsonPath": ".spec.cronSpec"}, {"jsonPath": ".spec.nope"}, {"jsonPath": ".spec.cronSpec"}, {"jsonPath": ".metadata.name"}, {"jsonPath": "spec"}]}]}}"##,
            &[
                r##"spec.selectableFields[1].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field"##,
                r##"spec.selectableFields[2].jsonPath: Duplicate value: ".spec.cronSpec""##,
                r##"spec.selectableFields[3].jsonPath: Invalid value: ".metadata.name": is an invalid path: does not refer to a valid field"##,
                r##"spec.selectableFields[4].jsonPath: Invalid value: "spec": is an invalid path: expected [ or . but got: spec"##,
            ],
        ),
        (
            "deprecation_warning",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}, "deprecationWarning": "gone soon"}]}}"##,
            &[
                r##"spec.versions[0].deprecationWarning: Invalid value: "gone soon": can only be set for deprecated versions"##,
            ],
        ),
    ];

    /// The 422 messages kube-apiserver v1.37.2 returns, where its error order is fixed.
    const STATUS_MESSAGES: &[(&str, &str)] = &[
        (
            "name_must_be_plural_dot_group",
            r##"CustomResourceDefinition.apiextensions.k8s.io "wrong.stable.example.com" is invalid: metadata.name: Invalid value: "wrong.stable.example.com": must be spec.names.plural+"."+spec.group"##,
        ),
        (
            "generate_name_refused",
            r##"CustomResourceDefinition.apiextensions.k8s.io "" is invalid: [metadata.generateName: Invalid value: "crontabs-": must be spec.names.plural+"."+spec.group, metadata.name: Required value: name or generateName is required]"##,
        ),
        (
            "name_required",
            r##"CustomResourceDefinition.apiextensions.k8s.io "" is invalid: metadata.name: Required value: name or generateName is required"##,
        ),
        (
            "group_needs_a_dot",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.example" is invalid: spec.group: Invalid value: "example": should be a domain with at least one dot"##,
        ),
        (
            "group_must_be_dns_subdomain",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.Stable.Example.com" is invalid: [metadata.name: Invalid value: "crontabs.Stable.Example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.group: Invalid value: "Stable.Example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')]"##,
        ),
        (
            "scope_required",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.scope: Required value"##,
        ),
        (
            "scope_not_supported",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""##,
        ),
        (
            "names_must_be_dns_labels",
            r##"CustomResourceDefinition.apiextensions.k8s.io "CronTabs.stable.example.com" is invalid: [metadata.name: Invalid value: "CronTabs.stable.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.names.plural: Invalid value: "CronTabs": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.names.singular: Invalid value: "Crontab": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.names.shortNames[0]: Invalid value: "c t": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.names.shortNames[1]: Invalid value: "1ct": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.names.categories[1]: Invalid value: "Bad": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]"##,
        ),
        (
            "kind_and_list_kind_differ",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same"##,
        ),
        (
            "kind_may_not_have_underscores",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.names.singular: Invalid value: "cron_tab": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.names.kind: Invalid value: "Cron_Tab": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.names.listKind: Invalid value: "Cron_TabList": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]"##,
        ),
        (
            "names_required",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.names.singular: Required value, spec.names.kind: Required value, spec.names.listKind: Required value]"##,
        ),
        (
            "versions_empty",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.versions: Invalid value: []: must have exactly one version marked as storage version, status.storedVersions: Invalid value: null: must have at least one stored version]"##,
        ),
        (
            "version_names_unique_and_one_storage",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]: must contain unique version names, spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v1","Served":true,"Storage":true,"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]: must have exactly one version marked as storage version, status.storedVersions: Invalid value: ["v1"]: must have the storage version v1]"##,
        ),
        (
            "no_storage_version",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":false,"Deprecated":false,"DeprecationWarning":null,"Schema":{"OpenAPIV3Schema":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":{"spec":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":{"cronSpec":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"string","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null},"replicas":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"integer","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v2","Served":true,"Storage":false,"Deprecated":false,"DeprecationWarning":null,"Schema":{"OpenAPIV3Schema":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]: must have exactly one version marked as storage version, status.storedVersions: Invalid value: null: must have at least one stored version]"##,
        ),
        (
            "invalid_version_name",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.versions[0].name: Invalid value: "V1": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.version: Invalid value: "V1": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]"##,
        ),
        (
            "schema_required_per_version",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.versions[0].schema.openAPIV3Schema: Required value"##,
        ),
        (
            "per_version_schema_paths",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.versions[1].schema.openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields"##,
        ),
        (
            "conversion_strategy_not_supported",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook""##,
        ),
        (
            "conversion_none_without_webhook",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook, spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook]"##,
        ),
        (
            "preserve_unknown_fields_refused",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.preserveUnknownFields: Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"##,
        ),
        (
            "protected_group_needs_approval",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.foo.k8s.io" is invalid: metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"##,
        ),
        (
            "schema_type_required",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"##,
        ),
        (
            "schema_root_must_be_object",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.type: Invalid value: "array": must be object at the root"##,
        ),
        (
            "array_needs_items",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[a].items: Required value: must be specified"##,
        ),
        (
            "additional_properties_at_root",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root"##,
        ),
        (
            "additional_properties_with_properties",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"##,
        ),
        (
            "metadata_only_name_and_generate_name",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"##,
        ),
        (
            "forbidden_keywords",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.validation.openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported, spec.validation.openAPIV3Schema.properties[b].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic, spec.validation.openAPIV3Schema.properties[c].patternProperties: Forbidden: patternProperties is not supported, spec.validation.openAPIV3Schema.properties[d].type: Unsupported value: "null": supported values: "array", "boolean", "integer", "number", "object", "string", spec.validation.openAPIV3Schema.properties[d].type: Forbidden: type cannot be set to null, use nullable as an alternative]"##,
        ),
        (
            "items_must_be_a_schema",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[a].items: Forbidden: items must be a schema object and not an array"##,
        ),
        (
            "invalid_pattern",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.validation.openAPIV3Schema.properties[a].pattern: Invalid value: "([": must be a valid regular expression, but isn't: error parsing regexp: missing closing ]: `[`, spec.validation.openAPIV3Schema.properties[b].pattern: Invalid value: "a{1001}": must be a valid regular expression, but isn't: error parsing regexp: invalid repeat count: `{1001}`, spec.validation.openAPIV3Schema.properties[c].pattern: Invalid value: "(?=x)": must be a valid regular expression, but isn't: error parsing regexp: invalid or unsupported Perl syntax: `(?=`]"##,
        ),
        (
            "preserve_unknown_fields_false",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"##,
        ),
        (
            "int_or_string_patterns",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[b].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true"##,
        ),
        (
            "value_validations_must_be_structural",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.validation.openAPIV3Schema.anyOf[0].properties[c].type: Forbidden: must be empty to be structural, spec.validation.openAPIV3Schema.properties[a].allOf[0].default: Forbidden: must be undefined to be structural, spec.validation.openAPIV3Schema.properties[a].allOf[0].description: Forbidden: must be empty to be structural, spec.validation.openAPIV3Schema.properties[a].allOf[0].type: Forbidden: must be empty to be structural, spec.validation.openAPIV3Schema.properties[c]: Required value: because it is defined in spec.validation.openAPIV3Schema.anyOf[0].properties[c]]"##,
        ),
        (
            "embedded_resource_rules",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.validation.openAPIV3Schema.properties[a].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields, spec.validation.openAPIV3Schema.properties[a].type: Invalid value: "string": must be object if x-kubernetes-embedded-resource is true, spec.validation.openAPIV3Schema.properties[b].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields]"##,
        ),
        (
            "defaults_must_validate_and_be_pruned",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.validation.openAPIV3Schema.properties[a].default: Invalid value: "string":  in body must be of type integer: "string", spec.validation.openAPIV3Schema.properties[b].default: Invalid value: {"c":1,"d":2}: must not have unknown fields, spec.validation.openAPIV3Schema.properties[e].default: Too long: may not be more than 2 bytes]"##,
        ),
        (
            "defaults_forbidden_in_metadata",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata"##,
        ),
        (
            "validation_rules_static_checks",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[0].rule: Required value: rule is not specified, spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[1].fieldPath: Invalid value: ".y": must be a valid path, spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[2].message: Required value: message must be specified if rule contains line breaks, spec.validation.openAPIV3Schema.properties[a].x-kubernetes-validations[3].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]"##,
        ),
        (
            "status_subresource_restricts_root",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.validation.openAPIV3Schema: Invalid value: {"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":[{"ID":"","Schema":"","Ref":null,"Description":"","Type":"","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":["spec"],"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}],"Not":null,"Properties":{"spec":{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object","Nullable":false,"Format":"","Title":"","Default":null,"Maximum":null,"ExclusiveMaximum":false,"Minimum":null,"ExclusiveMinimum":false,"MaxLength":null,"MinLength":null,"Pattern":"","MaxItems":null,"MinItems":null,"UniqueItems":false,"MultipleOf":null,"Enum":null,"MaxProperties":null,"MinProperties":null,"Required":null,"Items":null,"AllOf":null,"OneOf":null,"AnyOf":null,"Not":null,"Properties":null,"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}},"AdditionalProperties":null,"PatternProperties":null,"Dependencies":null,"AdditionalItems":null,"Definitions":null,"ExternalDocs":null,"Example":null,"XPreserveUnknownFields":null,"XEmbeddedResource":false,"XIntOrString":false,"XListMapKeys":null,"XListType":null,"XMapType":null,"XValidations":null}: only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled"##,
        ),
        (
            "scale_paths",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.subresources.scale.specReplicasPath: Invalid value: "spec.replicas": must be a simple json path starting with ., spec.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under .status, spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status]"##,
        ),
        (
            "printer_columns",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.additionalPrinterColumns[0].name: Required value, spec.additionalPrinterColumns[0].type: Invalid value: "float": must be one of boolean,date,integer,number,string, spec.additionalPrinterColumns[0].format: Invalid value: "weird": must be one of byte,date,date-time,double,float,int32,int64,password, spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.x": must be a simple json path starting with .]"##,
        ),
        (
            "selectable_fields",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: [spec.selectableFields[1].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field, spec.selectableFields[2].jsonPath: Duplicate value: ".spec.cronSpec", spec.selectableFields[3].jsonPath: Invalid value: ".metadata.name": is an invalid path: does not refer to a valid field, spec.selectableFields[4].jsonPath: Invalid value: "spec": is an invalid path: expected [ or . but got: spec]"##,
        ),
        (
            "deprecation_warning",
            r##"CustomResourceDefinition.apiextensions.k8s.io "crontabs.stable.example.com" is invalid: spec.versions[0].deprecationWarning: Invalid value: "gone soon": can only be set for deprecated versions"##,
        ),
    ];

    /// `(name, new, old, errors)` for updates, as kube-apiserver v1.37.2 validates them.
    const UPDATE_CASES: &[(&str, &str, &str, &[&str])] = &[
        (
            "unchanged",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            &[],
        ),
        (
            "resource_version_required",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            &[r##"metadata.resourceVersion: Invalid value: "": must be specified for an update"##],
        ),
        (
            "immutable_once_established",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Cluster", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronJob", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            &[
                r##"spec.scope: Invalid value: "Cluster": field is immutable"##,
                r##"spec.names.kind: Invalid value: "CronJob": field is immutable"##,
            ],
        ),
        (
            "scope_mutable_before_established",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Cluster", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": []}}"##,
            &[],
        ),
        (
            "group_and_plural_immutable",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "other.example.com", "scope": "Namespaced", "names": {"plural": "crontabz", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            &[
                r##"spec.group: Invalid value: "other.example.com": field is immutable"##,
                r##"spec.names.plural: Invalid value: "crontabz": field is immutable"##,
            ],
        ),
        (
            "stored_version_must_stay",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            &[
                r##"status.storedVersions[0]: Invalid value: "v1": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions"##,
            ],
        ),
        (
            "new_storage_version_is_fine",
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}, {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            r##"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "crontabs.stable.example.com", "resourceVersion": "5"}, "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}, "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "crontabs", "kind": "CronTab"}, "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}"##,
            &[],
        ),
    ];

    #[test]
    fn create_matches_kube_apiserver() {
        for (name, crd, want) in CREATE_CASES {
            let mut crd = parse(crd);
            defaults(&mut crd);
            assert_eq!(texts(&validate(&crd)), *want, "case {name}");
        }
    }

    #[test]
    fn status_messages_match_kube_apiserver() {
        for (name, want) in STATUS_MESSAGES {
            let (_, crd, _) = CREATE_CASES.iter().find(|c| c.0 == *name).expect("case exists");
            let mut crd = parse(crd);
            defaults(&mut crd);
            let errs = validate(&crd);
            let crd_name = crd["metadata"]["name"].as_str().unwrap_or("");
            let status = schema::to_status(GROUP, KIND, crd_name, &errs);
            assert_eq!(status["message"], *want, "case {name}");
            assert_eq!(status["code"], 422);
            assert_eq!(status["details"]["causes"].as_array().map(Vec::len), Some(errs.len()));
        }
    }

    #[test]
    fn updates_match_kube_apiserver() {
        for (name, new, old, want) in UPDATE_CASES {
            let (mut new, mut old) = (parse(new), parse(old));
            defaults(&mut new);
            defaults(&mut old);
            assert_eq!(texts(&validate_update(&new, &old)), *want, "case {name}");
        }
    }

    #[test]
    fn conversion_webhooks_are_refused_with_a_clear_message() {
        let mut crd = crontab();
        crd["spec"]["conversion"] = json!({"strategy": "Webhook",
            "webhook": {"clientConfig": {"url": "https://convert.example.com"}, "conversionReviewVersions": ["v1"]}});
        defaults(&mut crd);
        assert_eq!(
            texts(&validate(&crd)),
            [
                r#"spec.conversion.strategy: Invalid value: "Webhook": vcproxy does not support conversion webhooks; use strategy None"#
            ]
        );
    }

    #[test]
    fn defaults_fill_singular_list_kind_and_conversion() {
        let mut crd = crontab();
        defaults(&mut crd);
        assert_eq!(
            crd["spec"]["names"],
            json!({"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "singular": "crontab", "listKind": "CronTabList"})
        );
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
        let mut explicit = crontab();
        explicit["spec"]["names"]["singular"] = json!("tab");
        explicit["spec"]["names"]["listKind"] = json!("Tabs");
        explicit["spec"]["conversion"] = json!({"strategy": "Webhook"});
        defaults(&mut explicit);
        assert_eq!(explicit["spec"]["names"]["singular"], "tab");
        assert_eq!(explicit["spec"]["names"]["listKind"], "Tabs");
        assert_eq!(explicit["spec"]["conversion"], json!({"strategy": "Webhook"}));
        let mut junk = json!({"spec": "nope"});
        defaults(&mut junk);
        assert_eq!(junk, json!({"spec": "nope"}));
    }

    #[test]
    fn version_helpers() {
        let crd = crontab();
        assert_eq!(storage_version(&crd), Some("v2"));
        assert_eq!(schema_for_version(&crd, "v1"), Some(&json!({"type": "object"})));
        assert_eq!(schema_for_version(&crd, "v3"), None);
        assert_eq!(printer_columns(&crd, "v2").len(), 1);
        assert!(printer_columns(&crd, "v1").is_empty());
        assert_eq!(versions(&json!({})).len(), 0);
    }

    #[test]
    fn accepted_status_names_and_establishes() {
        let mut crd = crontab();
        defaults(&mut crd);
        let status = accepted_status(&crd, "2024-05-01T10:00:00Z");
        assert_eq!(
            status,
            json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z",
                     "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z",
                     "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
                "acceptedNames": crd["spec"]["names"],
                "storedVersions": ["v2"],
            })
        );
        // An update keeps transition times of unchanged conditions and old stored versions.
        crd["status"] = json!({
            "conditions": [
                {"type": "Established", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                {"type": "NamesAccepted", "status": "False", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "PluralConflict", "message": "\"crontabs\" is already in use"},
                {"type": "Terminating", "status": "False", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "x", "message": "y"},
            ],
            "storedVersions": ["v1"],
        });
        let status = accepted_status(&crd, "2024-05-01T10:00:00Z");
        assert_eq!(status["storedVersions"], json!(["v1", "v2"]));
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "2024-01-01T00:00:00Z");
        assert_eq!(status["conditions"][1]["lastTransitionTime"], "2024-05-01T10:00:00Z");
        assert_eq!(status["conditions"][1]["reason"], "NoConflicts");
        assert_eq!(status["conditions"][2]["type"], "Terminating");
    }

    #[test]
    fn name_conflicts_within_a_group() {
        let existing = crontab();
        let other = |names: Value| {
            let mut c = crontab();
            c["metadata"]["name"] = json!("others.stable.example.com");
            c["spec"]["names"] = names;
            c
        };
        let conflict = |c: &Value| name_conflict(&existing, c).map(|c| (c.reason, c.message));
        assert_eq!(
            conflict(&other(
                json!({"plural": "others", "singular": "other", "kind": "Other", "listKind": "OtherList"})
            )),
            None
        );
        assert_eq!(
            conflict(&other(
                json!({"plural": "crontabs", "singular": "other", "kind": "Other", "listKind": "OtherList"})
            )),
            Some(("PluralConflict", r#""crontabs" is already in use"#.to_string()))
        );
        assert_eq!(
            conflict(&other(json!({"plural": "others", "singular": "ct", "kind": "Other", "listKind": "OtherList"}))),
            Some(("SingularConflict", r#""ct" is already in use"#.to_string()))
        );
        assert_eq!(
            conflict(&other(
                json!({"plural": "others", "singular": "other", "shortNames": ["ct", "crontabs", "o"], "kind": "Other", "listKind": "OtherList"})
            )),
            Some(("ShortNamesConflict", r#"["ct" is already in use, "crontabs" is already in use]"#.to_string()))
        );
        // The last conflicting name wins, as in kube's naming controller.
        assert_eq!(
            conflict(&other(
                json!({"plural": "crontabs", "singular": "other", "kind": "CronTab", "listKind": "OtherList"})
            )),
            Some(("KindConflict", r#""CronTab" is already in use"#.to_string()))
        );
        assert_eq!(
            names_conflict(
                &existing,
                &other(json!({"plural": "others", "singular": "other", "kind": "Other", "listKind": "CronTab"}))
            ),
            Some(r#""CronTab" is already in use"#.to_string())
        );
        // Another group, the same CRD, or names the candidate already holds never conflict.
        let mut elsewhere = other(json!({"plural": "crontabs", "kind": "CronTab"}));
        elsewhere["spec"]["group"] = json!("other.example.com");
        assert_eq!(names_conflict(&existing, &elsewhere), None);
        assert_eq!(names_conflict(&existing, &crontab()), None);
        let mut holder =
            other(json!({"plural": "crontabs", "singular": "other", "kind": "Other", "listKind": "OtherList"}));
        holder["status"]["acceptedNames"] = holder["spec"]["names"].clone();
        assert_eq!(names_conflict(&existing, &holder), None);
        // The existing CRD's accepted names count, not what it asks for next.
        let mut renamed = crontab();
        renamed["spec"]["names"]["plural"] = json!("tabs");
        renamed["status"] = json!({"acceptedNames": {"plural": "crontabs", "kind": "CronTab"}});
        let candidate = other(json!({"plural": "tabs", "singular": "x", "kind": "X", "listKind": "XList"}));
        assert_eq!(names_conflict(&renamed, &candidate), None);
    }
}

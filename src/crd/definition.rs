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

//! Discovery and OpenAPI for tenant CRDs, merged with the super apiserver's.
//!
//! kubectl finds resources through aggregated discovery (`/apis` with
//! `Accept: …;as=APIGroupDiscoveryList`) or legacy discovery (`/apis`,
//! `/apis/<g>`, `/apis/<g>/<v>`), and schemas through OpenAPI v3. A tenant's
//! groups are added to (or served instead of) the super apiserver's answers,
//! built from the CRD index, so a new or deleted CRD shows at once.

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::index::{Crd, TenantCrds};
use crate::authn::Identity;
use crate::body::{self, ProxyBody};
use crate::error::ApiError;
use crate::request_info::RequestInfo;
use crate::stack::Proxy;

/// Answers discovery/OpenAPI requests that involve the tenant's CRDs; None to
/// let the request through unchanged.
pub async fn serve(
    p: &Proxy,
    req: &Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Option<Response<ProxyBody>>, ApiError> {
    // Discovery documents describe APIs, not objects.
    let resp = merged_discovery(p, req, info, id).await?;
    Ok(resp.map(|r| crate::media::vetted(r, crate::media::Vetted::Opaque)))
}

async fn merged_discovery(
    p: &Proxy,
    req: &Request<Incoming>,
    info: &RequestInfo,
    id: &Identity,
) -> Result<Option<Response<ProxyBody>>, ApiError> {
    let crds = p.crds.tenant(id.tenant_name());
    if crds.by_name.is_empty() {
        return Ok(None);
    }
    let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["apis"] => {
            let accept = req.headers().get(header::ACCEPT).cloned();
            let (content_type, mut doc) = fetch(p, id, "/apis", accept).await?;
            match doc["kind"].as_str() {
                Some("APIGroupDiscoveryList") => {
                    let items =
                        doc["items"].as_array_mut().ok_or_else(|| ApiError::bad_gateway("discovery without items"))?;
                    for group in crds.groups() {
                        items.push(aggregated_group(&group, &crds));
                    }
                }
                Some("APIGroupList") => {
                    let groups = doc["groups"]
                        .as_array_mut()
                        .ok_or_else(|| ApiError::bad_gateway("discovery without groups"))?;
                    for group in crds.groups() {
                        groups.push(api_group(&group, &crds));
                    }
                }
                _ => {}
            }
            Ok(Some(respond(&content_type, &doc)?))
        }
        ["apis", g] if crds.groups().contains(*g) => Ok(Some(respond("application/json", &api_group(g, &crds))?)),
        ["apis", g, v] if crds.groups().contains(*g) => {
            let list = resource_list(g, v, &crds)
                .ok_or_else(|| ApiError::not_found("the server could not find the requested resource"))?;
            Ok(Some(respond("application/json", &list)?))
        }
        ["openapi", "v3"] => {
            let (content_type, mut doc) = fetch(p, id, "/openapi/v3", None).await?;
            for crd in crds.by_name.values() {
                for v in crd.versions.iter().filter(|v| v.served) {
                    let gv = format!("apis/{}/{}", crd.group, v.name);
                    doc["paths"][&gv] = json!({ "serverRelativeURL": format!("/openapi/v3/{gv}") });
                }
            }
            Ok(Some(respond(&content_type, &doc)?))
        }
        ["openapi", "v3", "apis", g, v] if crds.groups().contains(*g) => {
            let doc = openapi_v3(g, v, &crds)
                .ok_or_else(|| ApiError::not_found("the server could not find the requested resource"))?;
            Ok(Some(respond("application/json", &doc)?))
        }
        _ => Ok(None),
    }
}

/// GETs a discovery document from upstream as the tenant.
async fn fetch(p: &Proxy, id: &Identity, path: &str, accept: Option<HeaderValue>) -> Result<(String, Value), ApiError> {
    use http_body_util::BodyExt;
    let mut req = Request::get(p.upstream.uri(path)?)
        .header(header::ACCEPT, accept.unwrap_or(HeaderValue::from_static("application/json")))
        .body(body::empty())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    crate::upstream::stamp_identity(req.headers_mut(), id)?;
    let resp = p.upstream.send(req, &p.metrics).await?;
    if !resp.status().is_success() {
        return Err(ApiError::bad_gateway(format!("discovery {path}: {}", resp.status())));
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let bytes = resp.into_body().collect().await.map_err(|e| ApiError::bad_gateway(e.to_string()))?.to_bytes();
    let doc = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_gateway(format!("discovery {path}: {e}")))?;
    Ok((content_type, doc))
}

fn respond(content_type: &str, doc: &Value) -> Result<Response<ProxyBody>, ApiError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| ApiError::internal(e.to_string()))?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(body::full(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))
}

const VERBS: &[&str] = &["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"];

fn served_versions(group: &str, crds: &TenantCrds) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for crd in crds.in_group(group) {
        for v in crd.versions.iter().filter(|v| v.served) {
            if !versions.contains(&v.name) {
                versions.push(v.name.clone());
            }
        }
    }
    versions
}

fn preferred(group: &str, crds: &TenantCrds) -> Option<String> {
    crds.in_group(group).iter().find_map(|c| c.preferred_version().map(|v| v.name.clone()))
}

fn api_group(group: &str, crds: &TenantCrds) -> Value {
    let versions: Vec<Value> = served_versions(group, crds)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let pref = preferred(group, crds).unwrap_or_default();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": {"groupVersion": format!("{group}/{pref}"), "version": pref},
    })
}

fn resource_list(group: &str, version: &str, crds: &TenantCrds) -> Option<Value> {
    let mut resources = Vec::new();
    for crd in crds.in_group(group) {
        let Some(v) = crd.served_version(version) else { continue };
        resources.push(json!({
            "name": crd.plural, "singularName": crd.singular, "namespaced": crd.namespaced, "kind": crd.kind,
            "verbs": VERBS, "shortNames": crd.short_names, "categories": crd.categories,
        }));
        if v.status_subresource {
            resources.push(json!({"name": format!("{}/status", crd.plural), "singularName": "", "namespaced": crd.namespaced, "kind": crd.kind, "verbs": ["get", "patch", "update"]}));
        }
        if v.scale.is_some() {
            resources.push(json!({"name": format!("{}/scale", crd.plural), "singularName": "", "namespaced": crd.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"), "resources": resources}),
    )
}

/// One group in `apidiscovery.k8s.io/v2` form.
fn aggregated_group(group: &str, crds: &TenantCrds) -> Value {
    let mut versions = Vec::new();
    let mut names = served_versions(group, crds);
    // The preferred version comes first, as kube-apiserver orders them.
    if let Some(pref) = preferred(group, crds) {
        names.sort_by_key(|v| *v != pref);
    }
    for version in names {
        let mut resources = Vec::new();
        for crd in crds.in_group(group) {
            let Some(v) = crd.served_version(&version) else { continue };
            let mut subresources = Vec::new();
            if v.status_subresource {
                subresources.push(json!({"subresource": "status", "responseKind": {"group": group, "version": version, "kind": crd.kind}, "verbs": ["get", "patch", "update"]}));
            }
            if v.scale.is_some() {
                subresources.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
            }
            resources.push(json!({
                "resource": crd.plural,
                "responseKind": {"group": group, "version": version, "kind": crd.kind},
                "scope": if crd.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": crd.singular,
                "verbs": VERBS,
                "shortNames": crd.short_names,
                "categories": crd.categories,
                "subresources": subresources,
            }));
        }
        versions.push(json!({"version": version, "resources": resources, "freshness": "Current"}));
    }
    json!({"metadata": {"name": group}, "versions": versions})
}

/// `stable.example.com` → `com.example.stable` (OpenAPI definition names).
fn reversed(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

fn openapi_v3(group: &str, version: &str, crds: &TenantCrds) -> Option<Value> {
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    let object_meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
    for crd in crds.in_group(group) {
        let Some(v) = crd.served_version(version) else { continue };
        let name = format!("{}.{version}.{}", reversed(group), crd.kind);
        schemas.insert(name.clone(), schema_for(&crd, version, &v.schema, object_meta));
        let base = if crd.namespaced {
            format!("/apis/{group}/{version}/namespaces/{{namespace}}/{}", crd.plural)
        } else {
            format!("/apis/{group}/{version}/{}", crd.plural)
        };
        // kubectl explain finds a resource's kind through the `get` operation's
        // x-kubernetes-group-version-kind on its path.
        let gvk = json!({"group": group, "version": version, "kind": crd.kind});
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let get = json!({"get": {
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk,
            "responses": {"200": {"content": {"application/json": {"schema": reference}}}},
        }});
        // kubectl decides between server-side field validation and listing CRDs
        // itself (which a user without CRD rights may not) by the `patch`
        // operation's `fieldValidation` parameter, as kube-apiserver publishes it.
        let mut item = get.clone();
        item["patch"] = json!({
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {"200": {"content": {"application/json": {"schema": reference}}}},
        });
        paths.insert(base.clone(), get);
        paths.insert(format!("{base}/{{name}}"), item);
    }
    if schemas.is_empty() {
        return None;
    }
    schemas.insert(
        object_meta.into(),
        json!({
            "description": "ObjectMeta is metadata that all persisted resources must have.",
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Name must be unique within a namespace."},
                "generateName": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {"type": "array", "items": {"type": "string"}},
                "uid": {"type": "string"},
                "resourceVersion": {"type": "string"},
                "generation": {"type": "integer", "format": "int64"},
                "creationTimestamp": {"type": "string", "format": "date-time"},
                "deletionTimestamp": {"type": "string", "format": "date-time"},
            }
        }),
    );
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn schema_for(crd: &Crd, version: &str, schema: &Value, object_meta: &str) -> Value {
    let mut s = if schema.is_object() {
        schema.clone()
    } else {
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    };
    s["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
    s["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
    s["properties"]["metadata"] = json!({"allOf": [{"$ref": format!("#/components/schemas/{object_meta}")}], "description": "Standard object's metadata."});
    s["x-kubernetes-group-version-kind"] = json!([{"group": crd.group, "kind": crd.kind, "version": version}]);
    s
}

//! Tenant CustomResourceDefinitions: validated like kube-apiserver's, stored in
//! the tenant's etcd prefix, never sent to the super apiserver.
//!
//! CRDs are served by the same object machinery as custom resources (they are
//! stored as `apiextensions.k8s.io/customresourcedefinitions` objects); this
//! module adds what is special about them: validation, names that must not
//! clash, a group the super apiserver does not serve, `NamesAccepted` and
//! `Established` conditions, and deleting a CRD's objects with it.

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};

use super::index::Crd;
use super::{definition, schema};
use crate::error::ApiError;
use crate::stack::Proxy;

pub const GROUP: &str = "apiextensions.k8s.io";
pub const RESOURCE: &str = "customresourcedefinitions";

/// The CRD resource itself, described as a CRD so the object handler can serve it.
pub fn crd_of_crds() -> Arc<Crd> {
    static CRD: OnceLock<Arc<Crd>> = OnceLock::new();
    CRD.get_or_init(|| {
        let columns = vec![json!({"name": "Created At", "type": "date", "jsonPath": ".metadata.creationTimestamp"})];
        let mut crd = Crd::built_in(GROUP, "customresourcedefinition", "CustomResourceDefinition", true, columns);
        crd.short_names = vec!["crd".into(), "crds".into()];
        crd.categories = vec!["api-extensions".into()];
        Arc::new(crd)
    })
    .clone()
}

pub fn is_definitions(crd: &Crd) -> bool {
    crd.group == GROUP && crd.plural == RESOURCE
}

fn invalid(name: &str, errors: &[schema::FieldError]) -> ApiError {
    ApiError::from_status(schema::to_status(GROUP, "CustomResourceDefinition", name, errors))
}

/// Checks a CRD a tenant wants to create or update, and fills in defaults and
/// its status. `existing` is the stored version for updates.
pub fn admit(p: &Proxy, tenant: &str, obj: &mut Value, existing: Option<&Value>) -> Result<(), ApiError> {
    definition::defaults(obj);
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    // Checked first: the clearest answer for a group that is not the tenant's.
    if let Some(group) = obj["spec"]["group"].as_str() {
        if p.scopes.serves_group(group) {
            return Err(ApiError::forbidden(format!(
                "group {group:?} is served by the shared cluster; a tenant CRD must use a group of its own (for example {group}.{tenant}.example.com)"
            )));
        }
    }
    let errors = match existing {
        // Updates are checked as kube-apiserver checks them (which needs the
        // resourceVersion the write is based on).
        Some(old) => {
            let mut probe = obj.clone();
            probe["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            definition::validate_update(&probe, old)
        }
        None => definition::validate(obj),
    };
    if !errors.is_empty() {
        return Err(invalid(&name, &errors));
    }
    let group = obj["spec"]["group"].as_str().unwrap_or_default().to_string();
    if let Some(old) = existing {
        if old["spec"]["group"] != obj["spec"]["group"]
            || old["spec"]["names"]["plural"] != obj["spec"]["names"]["plural"]
        {
            return Err(ApiError::invalid(format!(
                "CustomResourceDefinition.{GROUP} {name:?} is invalid: spec.group and spec.names.plural are immutable"
            )));
        }
    }
    for other in p.crds.tenant(tenant).in_group(&group) {
        if other.name == name {
            continue;
        }
        if let Some(conflict) = definition::names_conflict(&other.object, obj) {
            return Err(ApiError::conflict(format!(
                "CustomResourceDefinition {name:?} conflicts with {:?}: {conflict}",
                other.name
            )));
        }
    }
    if obj["spec"]["conversion"]["strategy"].as_str().is_some_and(|s| s != "None") {
        return Err(ApiError::invalid(format!(
            "CustomResourceDefinition.{GROUP} {name:?} is invalid: spec.conversion.strategy: Unsupported value: vcproxy serves tenant CRDs with conversion strategy None only; conversion webhooks are not supported"
        )));
    }
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    obj["status"] = definition::accepted_status(obj, &now);
    Ok(())
}

/// The tenant may create one more CRD.
pub async fn check_quota(p: &Proxy, tenant: &str) -> Result<(), ApiError> {
    let max = p.policy.get().limits(tenant).max_crds;
    if p.crds.tenant(tenant).by_name.len() >= max {
        return Err(ApiError::forbidden(format!("CRD quota exceeded: tenant {tenant} may have at most {max} CRDs")));
    }
    Ok(())
}

/// Deletes every object of a CRD (when the CRD goes).
pub async fn delete_objects(p: &Proxy, tenant: &str, crd: &Value) -> Result<(), ApiError> {
    let store = p.crd_store(tenant)?;
    let (Some(group), Some(plural)) = (crd["spec"]["group"].as_str(), crd["spec"]["names"]["plural"].as_str()) else {
        return Ok(());
    };
    let prefix = store.collection_prefix(group, plural, None).map_err(|e| ApiError::internal(format!("{e:?}")))?;
    store.delete_prefix(&prefix).await.map_err(|e| ApiError::service_unavailable(format!("etcd: {e:?}")))?;
    Ok(())
}

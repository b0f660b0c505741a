//! The tenant registry: tenants and their users, stored in etcd.
//!
//! etcd is the only source of truth, so any number of vcproxy replicas serve the
//! same tenants. Each replica keeps an in-memory [`Registry`] that a watch keeps
//! current; authentication reads only that view and never blocks on etcd.
//!
//! Key layout (under `etcd.prefix`, default `/vcproxy`):
//! - `tenants/<tenant>/meta`         — [`TenantMeta`] JSON
//! - `tenants/<tenant>/users/<user>` — [`UserRecord`] JSON (token hashes only)

mod name;
mod registry;
mod store;
mod token;

pub use name::{validate_group_name, validate_tenant_name, validate_user_name, NameError, MAX_TENANT_NAME};
pub use registry::{Registry, Tenant, User};
pub use store::{Store, TenantMeta, UserRecord, ADMINS_GROUP};
pub use token::{hash_token, new_token, TokenHash};

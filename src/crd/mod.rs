//! Tenant CustomResourceDefinitions and their custom resources, stored in etcd
//! under the tenant's prefix and served by vcproxy.

pub mod definition;
pub mod definitions;
pub mod discovery;
pub mod index;
pub mod objects;
pub mod printer;
pub mod schema;
pub mod store;

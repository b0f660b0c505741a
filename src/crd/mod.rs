//! Tenant CustomResourceDefinitions and their custom resources, stored in etcd
//! under the tenant's prefix and served by vcproxy.

pub mod store;

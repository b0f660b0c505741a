//! vcproxy: a tenant-aware HTTP/2 reverse proxy that gives every tenant its own
//! virtual Kubernetes cluster on one shared kube-apiserver (the super master).
//!
//! Layout, in request order (see `docs/ARCHITECTURE.md` for the flow):
//! - [`config`]       — `vcproxy.toml` → validated [`config::Config`]
//! - [`server`]       — listeners, accept loop, graceful drain
//! - [`tls`]          — serving certificate (generated if absent), upstream mTLS identity
//! - [`stack`]        — the one place the pipeline is assembled, outermost first
//! - [`authn`]        — `/clusters/<tenant>` + bearer token → [`authn::Identity`]
//! - [`impersonation`] — `kubectl --as` inside the tenant, checked against the tenant's RBAC
//! - [`request_info`] — the Kubernetes path parsed once into a typed value
//! - [`media`]        — `Accept` negotiated once (JSON only upstream); the egress check: deny unless rewritten
//! - [`continue_token`] — list continue tokens sealed for the tenant and list they belong to
//! - [`admission`]    — a request's seats (or watch/stream slot), held until its response body ends
//! - [`flowcontrol`]  — weighted fair queuing per tenant in front of the upstream seats
//! - [`refusals`]     — 429s counted per tenant and logged as a summary, never one line each
//! - [`policy`]       — fairness policies (`policies/*.toml`), validated and hot-reloaded
//! - [`route`]        — what the proxy does with a request (deny by default)
//! - [`reviews`]      — whoami and access reviews answered in the tenant's identity space
//! - [`authz`]        — the tenant's RBAC asked (access reviews) for what vcproxy serves itself
//! - [`discovery`]    — which resources are namespaced (from aggregated discovery)
//! - [`namespaces`]   — the tenant's virtual namespaces and the ownership cache
//! - [`forward`]      — namespaced requests: translate, send as the tenant, translate back
//! - [`mapping`]      — the one (tenant, namespace) ↔ super namespace mapping
//! - [`rewrite`]      — JSON bodies, lists, tables, watch streams, selectors, patches
//! - [`protobuf`], [`proto_rewrite`] — the few protobuf fields kubectl's typed commands need translated
//! - [`upgrade`]      — exec/attach/portforward/proxy: HTTP/1.1 Upgrade spliced to the apiserver
//! - [`upstream`]     — pooled HTTP/2 client; header stripping and impersonation
//! - [`stream_pool`]  — upstream connections for watches, added before a stream would queue
//! - [`guardrails`]   — admission policies upstream closing nodeName, critical priorities, externalIPs to tenants
//! - [`tenant_rbac`]  — each tenant's admins binding and cluster-scope namespace upstream
//! - [`filtered_reader`] — the read-only identity of vcproxy's filtered cross-namespace reads
//! - [`tenants`]      — tenants and users in etcd, and the watched in-memory registry
//! - [`oidc`]         — per-tenant OIDC issuers: ID tokens verified into users and groups
//! - [`kubeconfig`]   — kubeconfigs handed to tenant users
//! - [`metrics`]      — Prometheus metrics for the admin listener
//! - [`error`], [`body`], [`names`] — `metav1.Status` errors; the streamed body type; name rules

pub mod admission;
pub mod authn;
pub mod authz;
pub mod body;
pub mod cluster_rbac;
pub mod config;
pub mod continue_token;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod filtered_reader;
pub mod guardrails;
pub mod impersonation;
pub mod fleet;
pub mod flowcontrol;
pub mod forward;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod kubeconfig;
pub mod limits;
pub mod mapping;
pub mod media;
pub mod metrics;
pub mod names;
pub mod namespaces;
pub mod oidc;
pub mod policy;
pub mod proto_rewrite;
pub mod protobuf;
pub mod refusals;
pub mod request_info;
pub mod reviews;
pub mod rewrite;
pub mod route;
pub mod server;
pub mod stack;
pub mod stream_pool;
pub mod subjects;
pub mod tenant_rbac;
pub mod tenant_sweep;
pub mod tenants;
pub mod tls;
pub mod upgrade;
pub mod upstream;

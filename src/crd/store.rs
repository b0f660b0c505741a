//! Kubernetes storage semantics on etcd for the objects vcproxy serves itself:
//! a tenant's CustomResourceDefinitions and its custom resources.
//!
//! This is the cacher-less `etcd3` store of kube-apiserver, reduced to what
//! vcproxy needs and written against `etcd-client`. Everything a handler needs to
//! answer with Kubernetes semantics is decided here, in one place:
//!
//! # Key layout
//!
//! Under a *base prefix* (one per tenant, always ending in `/`):
//!
//! ```text
//! <base>crds/<crd name>
//! <base>objects/<group>/<resource>/<namespace>/<name>     namespaced objects
//! <base>objects/<group>/<resource>/_/<name>               cluster-scoped objects
//! ```
//!
//! `_` can never be a namespace name (namespaces are DNS labels), so the two
//! scopes cannot collide. Key segments are validated when a [`Key`] or [`Prefix`]
//! is built: never empty, never `.`/`..`, never containing `/` or NUL, so one
//! object's key can never fall inside another collection's prefix.
//!
//! Every prefix ([`Prefix`]) ends in `/` and every range over it uses the *exact*
//! range end ([`prefix_range_end`]: the prefix with its last byte incremented,
//! i.e. `.../a/` → `.../a0`), so an operation on tenant `a` (or resource
//! `widgets`) never touches tenant `a2`/`a-b` (or resource `widgetsx`).
//!
//! # Values
//!
//! A value is the object's JSON *without* `metadata.resourceVersion`: writes strip
//! it, reads inject it. Keys of every JSON object are stored sorted (as
//! kube-apiserver serializes custom resources), so objects come back with sorted
//! keys and equal objects have equal bytes. Objects must be JSON objects. A value larger than
//! [`MAX_OBJECT_BYTES`] (etcd's default request limit, as kube-apiserver has it)
//! is refused with [`StoreError::TooLarge`] before it reaches etcd.
//!
//! # resourceVersion
//!
//! * An object's `metadata.resourceVersion` is the decimal etcd `mod_revision` of
//!   its key: the revision of the last write to it. Every successful write
//!   returns the object with its new resourceVersion.
//! * A list's resourceVersion is the etcd revision the whole list was read at.
//! * etcd revisions are global (shared with everything else in that etcd) and
//!   strictly increasing, so resourceVersions of one store are totally ordered
//!   and comparable, but not dense: callers must treat them as opaque.
//! * Writes that would not change the stored bytes ([`ObjectStore::update`],
//!   [`ObjectStore::guaranteed_update`]) are not written: the resourceVersion
//!   stays and no watch event is sent, as kube-apiserver does for no-op updates.
//!
//! # Consistency
//!
//! * Every read is linearizable (a quorum read): it sees every write that
//!   completed before it started.
//! * Single-object writes are compare-and-swap transactions: `create` only if the
//!   key does not exist, `update`/`delete` with an expected resourceVersion only
//!   if the key's `mod_revision` still equals it (else [`StoreError::Conflict`]).
//! * A paginated list is one consistent snapshot: the first page is read at the
//!   then-current revision and the continue token pins every later page to that
//!   same revision, so objects created, changed or deleted between pages do not
//!   show up (changed) in later pages and every page reports the same
//!   resourceVersion. If that revision is compacted before the next page is read,
//!   the next page fails with [`StoreError::Gone`].
//! * A watch delivers every change of the watched prefix after its start revision
//!   exactly once, in revision order (events of one revision in key order), with
//!   no gaps; `Bookmark(rv)` promises that every event up to `rv` has already been
//!   delivered. A list at revision R followed by a watch from R therefore observes
//!   every state exactly once.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, KeyValue, KvClient, Txn, TxnOp, TxnOpResponse,
    TxnResponse, WatchClient, WatchOptions, WatchStream,
};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest value stored: etcd's default `--max-request-bytes` (1.5 MiB), which
/// is also what kube-apiserver can store. Larger objects are [`StoreError::TooLarge`].
pub const MAX_OBJECT_BYTES: usize = 1_572_864;

/// Upper bound on the etcd page size while a filtered list looks for enough
/// matches (the page doubles from the requested limit up to this).
const MAX_PAGE: i64 = 10_000;

/// Page size [`ObjectStore::count`] scans with.
const COUNT_PAGE: i64 = 500;

/// How often [`ObjectStore::guaranteed_update`] re-reads and retries on conflict.
const MAX_UPDATE_ATTEMPTS: usize = 64;

/// Largest gRPC message accepted from etcd: a list page holds up to `limit`
/// objects of up to 1.5 MiB each (kube-apiserver's client allows `MaxInt32` too).
const MAX_DECODING_MESSAGE: usize = i32::MAX as usize;

/// Why a storage operation failed. [`StoreError::http_status`] and
/// [`StoreError::reason`] give the `metav1.Status` kube-apiserver answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist (404).
    #[error("not found")]
    NotFound,
    /// `create` of a key that exists (409 `AlreadyExists`).
    #[error("already exists")]
    AlreadyExists,
    /// The expected resourceVersion is not the object's current one (409 `Conflict`).
    #[error("the object has been modified; please apply your changes to the latest version and try again")]
    Conflict,
    /// The requested revision is older than etcd's compaction point (410 `Expired`).
    /// `compacted` is the oldest revision still available (0 if it could not be
    /// learned).
    #[error("too old resource version (compacted up to {compacted})")]
    Gone { compacted: i64 },
    /// The object is larger than [`MAX_OBJECT_BYTES`] (413).
    #[error("request is too large (the limit is {MAX_OBJECT_BYTES} bytes)")]
    TooLarge,
    /// The continue token is malformed or does not belong to this list (400).
    #[error("continue key is not valid")]
    InvalidContinue,
    /// A list asked for a revision etcd has not reached yet (504 `Timeout`, "Too
    /// large resource version", as kube-apiserver answers).
    #[error("too large resource version: {requested}")]
    FutureRevision { requested: i64 },
    /// A key segment or value the store cannot hold (400): an empty or `/`-bearing
    /// name, a value that is not a JSON object. Handlers validate before storing,
    /// so this is a second line of defence.
    #[error("invalid: {0}")]
    Invalid(String),
    /// etcd failed, or a stored value is unreadable (500).
    #[error("storage error: {0}")]
    Etcd(String),
}

impl StoreError {
    /// The HTTP status kube-apiserver answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            StoreError::NotFound => 404,
            StoreError::AlreadyExists | StoreError::Conflict => 409,
            StoreError::Gone { .. } => 410,
            StoreError::TooLarge => 413,
            StoreError::InvalidContinue | StoreError::Invalid(_) => 400,
            StoreError::FutureRevision { .. } => 504,
            StoreError::Etcd(_) => 500,
        }
    }

    /// The `metav1.StatusReason` kube-apiserver uses for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::NotFound => "NotFound",
            StoreError::AlreadyExists => "AlreadyExists",
            StoreError::Conflict => "Conflict",
            StoreError::Gone { .. } => "Expired",
            StoreError::TooLarge => "RequestEntityTooLarge",
            StoreError::InvalidContinue | StoreError::Invalid(_) => "BadRequest",
            StoreError::FutureRevision { .. } => "Timeout",
            StoreError::Etcd(_) => "InternalError",
        }
    }
}

/// Maps an etcd error to a [`StoreError`]; `rev` is the revision a read asked for.
/// `Gone` comes back with `compacted: 0`; [`ObjectStore::gone`] fills it in.
fn etcd_error(e: etcd_client::Error, rev: i64) -> StoreError {
    if let etcd_client::Error::GRpcStatus(status) = &e {
        let msg = status.message();
        if msg.contains("required revision has been compacted") {
            return StoreError::Gone { compacted: 0 };
        }
        if msg.contains("required revision is a future revision") {
            return StoreError::FutureRevision { requested: rev };
        }
        if msg.contains("request is too large") {
            return StoreError::TooLarge;
        }
    }
    StoreError::Etcd(e.to_string())
}

/// The full etcd key of one object or CRD. Built only by [`ObjectStore`]'s
/// helpers, so it is always under the store's base and well formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key prefix ending in `/`: a collection, a resource across namespaces, all
/// CRDs, or a whole tenant. Ranges over it use the exact range end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(String);

impl Prefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exclusive end of this prefix's key range.
    pub fn range_end(&self) -> Vec<u8> {
        prefix_range_end(self.0.as_bytes())
    }

    /// True if `key` is inside this prefix.
    pub fn contains(&self, key: &Key) -> bool {
        key.0.starts_with(&self.0)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The smallest key greater than every key starting with `prefix`: the prefix
/// with its last byte below `0xff` incremented and the rest dropped (etcd's own
/// rule). `"/t/a/"` → `"/t/a0"`, so `"/t/a2/…"` and `"/t/a-b/…"` are outside.
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): to the end of the keyspace.
    vec![0]
}

fn check_segment(what: &str, s: &str) -> Result<(), StoreError> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(StoreError::Invalid(format!("{what} {s:?} cannot be stored")));
    }
    Ok(())
}

fn check_namespace(ns: &str) -> Result<(), StoreError> {
    check_segment("namespace", ns)?;
    if ns == CLUSTER_SCOPE {
        return Err(StoreError::Invalid(format!("namespace {ns:?} cannot be stored")));
    }
    Ok(())
}

/// The namespace segment of cluster-scoped objects.
const CLUSTER_SCOPE: &str = "_";

/// Options of [`ObjectStore::list`]. `Default` is "everything, now".
#[derive(Clone, Default)]
pub struct ListOptions<'a> {
    /// At most this many items per page; `None` or `<= 0` is no limit.
    pub limit: Option<i64>,
    /// A token from a previous page of the same list (same prefix); the page is
    /// read at the revision the first page was read at. Cannot be combined with
    /// `resource_version`.
    pub continue_token: Option<String>,
    /// Read at exactly this revision (`None` or `<= 0`: the current revision).
    /// A compacted revision is [`StoreError::Gone`], a future one
    /// [`StoreError::FutureRevision`]. kube-apiserver's `resourceVersion=0` ("any")
    /// and unset both map to `None`.
    pub resource_version: Option<i64>,
    /// Only items for which this returns true are returned; it sees each object
    /// with its resourceVersion. Items it rejects do not count toward `limit`.
    pub filter: Option<&'a (dyn Fn(&Value) -> bool + Send + Sync)>,
}

impl fmt::Debug for ListOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListOptions")
            .field("limit", &self.limit)
            .field("continue_token", &self.continue_token)
            .field("resource_version", &self.resource_version)
            .field("filter", &self.filter.map(|_| "<fn>"))
            .finish()
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResult {
    /// In key order (namespace, then name), each with its resourceVersion.
    pub items: Vec<Value>,
    /// The revision the list was read at; the same on every page of one list.
    pub resource_version: i64,
    /// Present when more keys may follow; pass it back for the next page.
    pub continue_token: Option<String>,
    /// How many more keys follow this page (`remainingItemCount`); only when the
    /// list is unfiltered and has a continue token, as kube-apiserver does.
    pub remaining: Option<i64>,
}

/// One change seen by [`ObjectStore::watch`].
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// The key was created (its create revision is this event's revision).
    Added(Value),
    /// The key existed and was written.
    Modified(Value),
    /// The key was deleted; the object is its last state with the deletion
    /// revision as resourceVersion (as kube-apiserver sends it).
    Deleted(Value),
    /// Every event up to and including this revision has been delivered; a watch
    /// resumed from it misses nothing.
    Bookmark(i64),
}

impl WatchEvent {
    /// The Kubernetes watch event type: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`.
    pub fn type_name(&self) -> &'static str {
        match self {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
        }
    }

    /// The revision of the event (the object's resourceVersion, or the bookmark's).
    pub fn revision(&self) -> i64 {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                resource_version_of(o).unwrap_or(0)
            }
            WatchEvent::Bookmark(rv) => *rv,
        }
    }
}

/// Options of [`ObjectStore::watch_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchOpts {
    /// `None`/`Some(0)`: from the revision current when the watch is established
    /// (on first poll). `Some(rv)`: every event after `rv`.
    pub from_rv: Option<i64>,
    /// Ask etcd for a progress notification this often, so an idle watch still
    /// receives `Bookmark`s (etcd's own idle notifications come every 10 minutes
    /// by default). `None`: only etcd's own.
    pub progress_interval: Option<Duration>,
}

/// `metadata.resourceVersion` of an object, parsed.
pub fn resource_version_of(obj: &Value) -> Option<i64> {
    obj.get("metadata")?.get("resourceVersion")?.as_str()?.parse().ok()
}

/// Sets `metadata.resourceVersion` (creating `metadata` if needed).
fn set_resource_version(obj: &mut Value, rv: i64) {
    if let Value::Object(map) = obj {
        let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        if let Value::Object(meta) = meta {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
            meta.sort_keys();
        }
    }
}

/// Sorts the keys of every JSON object inside `v`, recursively.
fn canonicalize(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(canonicalize);
        }
        Value::Array(items) => items.iter_mut().for_each(canonicalize),
        _ => {}
    }
}

/// The stored form: the object without `metadata.resourceVersion`, with the keys
/// of every JSON object sorted (as kube-apiserver serializes unstructured
/// objects), as compact JSON. The same object therefore always has the same
/// bytes, which is what no-op detection compares. Works on `obj` itself (the
/// caller re-adds the new resourceVersion).
fn encode(obj: &mut Value) -> Result<Vec<u8>, StoreError> {
    let Value::Object(map) = obj else {
        return Err(StoreError::Invalid("only JSON objects can be stored".into()));
    };
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.shift_remove("resourceVersion");
    }
    canonicalize(obj);
    let bytes = serde_json::to_vec(obj).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if bytes.len() > MAX_OBJECT_BYTES {
        return Err(StoreError::TooLarge);
    }
    Ok(bytes)
}

/// A stored value with `rv` as its resourceVersion.
fn decode(kv: &KeyValue, rv: i64) -> Result<Value, StoreError> {
    let mut obj: Value = serde_json::from_slice(kv.value())
        .map_err(|e| StoreError::Etcd(format!("undecodable object at {}: {e}", String::from_utf8_lossy(kv.key()))))?;
    set_resource_version(&mut obj, rv);
    Ok(obj)
}

/// Contents of a continue token: base64url (no padding) of this JSON, like
/// kube-apiserver's. `start` is relative to the list's prefix, so a token can
/// never make a list read outside its prefix.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

const CONTINUE_VERSION: &str = "meta.k8s.io/v1";

fn encode_continue(rv: i64, start: &str) -> String {
    let token = ContinueToken { v: CONTINUE_VERSION.into(), rv, start: start.into() };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("serializing a continue token"))
}

fn decode_continue(token: &str) -> Result<(i64, String), StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| StoreError::InvalidContinue)?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidContinue)?;
    if t.v != CONTINUE_VERSION || t.rv <= 0 || t.start.is_empty() {
        return Err(StoreError::InvalidContinue);
    }
    Ok((t.rv, t.start))
}

/// Where things live under one base prefix; builds every [`Key`] and [`Prefix`]
/// of an [`ObjectStore`] (which delegates to it), and is usable without an etcd
/// client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    base: String,
}

impl Layout {
    /// The layout under `base` (e.g. `/vcproxy/tenants/acme/`); a missing
    /// trailing `/` is added, so the base is always an exact prefix. `base` must
    /// start with `/` and not be `/` itself.
    pub fn new(base: impl Into<String>) -> Result<Layout, StoreError> {
        let mut base = base.into();
        if !base.starts_with('/') || base.trim_matches('/').is_empty() || base.contains('\0') {
            return Err(StoreError::Invalid(format!("base prefix {base:?} must start with '/' and not be the root")));
        }
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Layout { base })
    }

    /// The base prefix (ends with `/`): every key of the store is under it.
    pub fn base_prefix(&self) -> Prefix {
        Prefix(self.base.clone())
    }

    /// `<base>crds/<name>`.
    pub fn crd_key(&self, name: &str) -> Result<Key, StoreError> {
        check_segment("name", name)?;
        Ok(Key(format!("{}crds/{name}", self.base)))
    }

    /// `<base>crds/`: every CRD of the tenant.
    pub fn crds_prefix(&self) -> Prefix {
        Prefix(format!("{}crds/", self.base))
    }

    /// `<base>objects/`: every custom resource of the tenant.
    pub fn objects_prefix(&self) -> Prefix {
        Prefix(format!("{}objects/", self.base))
    }

    /// `<base>objects/<group>/<resource>/<namespace or _>/<name>`; `ns` None is a
    /// cluster-scoped object.
    pub fn object_key(&self, group: &str, resource: &str, ns: Option<&str>, name: &str) -> Result<Key, StoreError> {
        check_segment("group", group)?;
        check_segment("resource", resource)?;
        let ns = match ns {
            Some(ns) => {
                check_namespace(ns)?;
                ns
            }
            None => CLUSTER_SCOPE,
        };
        check_segment("name", name)?;
        Ok(Key(format!("{}objects/{group}/{resource}/{ns}/{name}", self.base)))
    }

    /// The collection of one resource: `Some(ns)` → `<base>objects/<g>/<r>/<ns>/`
    /// (one namespace); `None` → `<base>objects/<g>/<r>/` (all namespaces — and,
    /// for a cluster-scoped resource, all of its objects). Deleting a CRD deletes
    /// `collection_prefix(group, plural, None)`.
    pub fn collection_prefix(&self, group: &str, resource: &str, ns: Option<&str>) -> Result<Prefix, StoreError> {
        check_segment("group", group)?;
        check_segment("resource", resource)?;
        match ns {
            Some(ns) => {
                check_namespace(ns)?;
                Ok(Prefix(format!("{}objects/{group}/{resource}/{ns}/", self.base)))
            }
            None => Ok(Prefix(format!("{}objects/{group}/{resource}/", self.base))),
        }
    }
}

/// Kubernetes object storage on etcd under one base prefix (one tenant). Cheap to
/// clone; clones share the etcd connection.
#[derive(Clone)]
pub struct ObjectStore {
    client: Client,
    kv: KvClient,
    watch: WatchClient,
    layout: Layout,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore").field("base", &self.layout.base).finish()
    }
}

/// What a compare-and-swap found.
enum Cas {
    /// Written at this revision.
    Written(i64),
    /// The compare failed; the key's current state (None: absent).
    Lost(Option<KeyValue>),
}

fn header_revision(resp: &TxnResponse) -> Result<i64, StoreError> {
    resp.header().map(|h| h.revision()).ok_or_else(|| StoreError::Etcd("etcd response without a header".into()))
}

/// The first key-value of the first `Get` in a failed transaction's else branch.
fn else_get(resp: &TxnResponse) -> Option<KeyValue> {
    resp.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => g.kvs().first().cloned(),
        _ => None,
    })
}

impl ObjectStore {
    /// A store for the keys under `base`; see [`Layout::new`].
    pub fn new(client: Client, base: impl Into<String>) -> Result<ObjectStore, StoreError> {
        let layout = Layout::new(base)?;
        let kv = client.kv_client().max_decoding_message_size(MAX_DECODING_MESSAGE);
        let watch = client.watch_client().max_decoding_message_size(MAX_DECODING_MESSAGE);
        Ok(ObjectStore { client, kv, watch, layout })
    }

    /// The etcd client this store uses.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The key layout of this store.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// See [`Layout::base_prefix`].
    pub fn base_prefix(&self) -> Prefix {
        self.layout.base_prefix()
    }

    /// See [`Layout::crd_key`].
    pub fn crd_key(&self, name: &str) -> Result<Key, StoreError> {
        self.layout.crd_key(name)
    }

    /// See [`Layout::crds_prefix`].
    pub fn crds_prefix(&self) -> Prefix {
        self.layout.crds_prefix()
    }

    /// See [`Layout::objects_prefix`].
    pub fn objects_prefix(&self) -> Prefix {
        self.layout.objects_prefix()
    }

    /// See [`Layout::object_key`].
    pub fn object_key(&self, group: &str, resource: &str, ns: Option<&str>, name: &str) -> Result<Key, StoreError> {
        self.layout.object_key(group, resource, ns, name)
    }

    /// See [`Layout::collection_prefix`].
    pub fn collection_prefix(&self, group: &str, resource: &str, ns: Option<&str>) -> Result<Prefix, StoreError> {
        self.layout.collection_prefix(group, resource, ns)
    }

    /// The current etcd revision (a linearizable read).
    pub async fn current_revision(&self) -> Result<i64, StoreError> {
        let resp = self
            .kv
            .clone()
            .get(self.layout.base.as_bytes(), Some(GetOptions::new().with_count_only()))
            .await
            .map_err(|e| etcd_error(e, 0))?;
        resp.header().map(|h| h.revision()).ok_or_else(|| StoreError::Etcd("etcd response without a header".into()))
    }

    /// The object at `key`, with `metadata.resourceVersion` = the key's mod revision.
    pub async fn get(&self, key: &Key) -> Result<Value, StoreError> {
        let kv = self.get_kv(key).await?.ok_or(StoreError::NotFound)?;
        decode(&kv, kv.mod_revision())
    }

    async fn get_kv(&self, key: &Key) -> Result<Option<KeyValue>, StoreError> {
        let mut resp = self.kv.clone().get(key.0.as_bytes(), None).await.map_err(|e| etcd_error(e, 0))?;
        Ok(resp.take_kvs().into_iter().next())
    }

    /// Stores `obj` at `key` if the key does not exist (else
    /// [`StoreError::AlreadyExists`]); returns it with its new resourceVersion.
    /// Any `metadata.resourceVersion` in `obj` is ignored.
    pub async fn create(&self, key: &Key, mut obj: Value) -> Result<Value, StoreError> {
        let bytes = encode(&mut obj)?;
        let txn = Txn::new()
            .when([Compare::create_revision(key.0.as_bytes(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.0.as_bytes(), bytes, None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(|e| etcd_error(e, 0))?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists);
        }
        set_resource_version(&mut obj, header_revision(&resp)?);
        Ok(obj)
    }

    /// Writes `obj` at `key` if its mod revision is still `mod_rev`.
    async fn cas(&self, key: &Key, bytes: Vec<u8>, mod_rev: i64) -> Result<Cas, StoreError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key.0.as_bytes(), CompareOp::Equal, mod_rev)])
            .and_then([TxnOp::put(key.0.as_bytes(), bytes, None)])
            .or_else([TxnOp::get(key.0.as_bytes(), None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(|e| etcd_error(e, 0))?;
        if resp.succeeded() {
            Ok(Cas::Written(header_revision(&resp)?))
        } else {
            Ok(Cas::Lost(else_get(&resp)))
        }
    }

    /// Replaces the object at `key` with `obj`; returns it with its new
    /// resourceVersion.
    ///
    /// * The key must exist ([`StoreError::NotFound`]); update never creates.
    /// * `expected_rv` `Some(rv)` with `rv > 0`: compare-and-swap — written only if
    ///   the object's resourceVersion is still `rv`, else [`StoreError::Conflict`].
    ///   `None` or `Some(0)` (kube-apiserver's "unconditional"): last writer wins.
    /// * If the stored bytes would not change, nothing is written and the current
    ///   object (with its unchanged resourceVersion) is returned.
    pub async fn update(&self, key: &Key, mut obj: Value, expected_rv: Option<i64>) -> Result<Value, StoreError> {
        let expected = expected_rv.filter(|rv| *rv > 0);
        let bytes = encode(&mut obj)?;
        let mut current = self.get_kv(key).await?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let kv = current.ok_or(StoreError::NotFound)?;
            if expected.is_some_and(|rv| rv != kv.mod_revision()) {
                return Err(StoreError::Conflict);
            }
            if kv.value() == bytes.as_slice() {
                return decode(&kv, kv.mod_revision());
            }
            match self.cas(key, bytes.clone(), kv.mod_revision()).await? {
                Cas::Written(rev) => {
                    set_resource_version(&mut obj, rev);
                    return Ok(obj);
                }
                Cas::Lost(now) => current = now,
            }
        }
        Err(StoreError::Conflict)
    }

    /// Read-modify-write, retried on conflict: `f` gets the current object (with
    /// its resourceVersion) and returns the new one, `None` for "no change", or an
    /// error that aborts the update. The write is a compare-and-swap on the
    /// revision `f` saw; if another writer got in between, the object is re-read
    /// and `f` runs again (so `f` must be a pure function of its input). The
    /// resourceVersion `f` returns is ignored. Returns the stored object: the new
    /// one, or the current one when `f` made no change or the bytes are
    /// identical. Absent key: [`StoreError::NotFound`]. Use it for status,
    /// finalizer and metadata updates that must not lose concurrent writes.
    pub async fn guaranteed_update<E, F>(&self, key: &Key, mut f: F) -> Result<Value, E>
    where
        F: FnMut(Value) -> Result<Option<Value>, E> + Send,
        E: From<StoreError>,
    {
        let mut current = self.get_kv(key).await?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let kv = current.ok_or(StoreError::NotFound)?;
            let obj = decode(&kv, kv.mod_revision())?;
            let Some(mut new) = f(obj.clone())? else { return Ok(obj) };
            let bytes = encode(&mut new)?;
            if kv.value() == bytes.as_slice() {
                return Ok(obj);
            }
            match self.cas(key, bytes, kv.mod_revision()).await? {
                Cas::Written(rev) => {
                    set_resource_version(&mut new, rev);
                    return Ok(new);
                }
                Cas::Lost(now) => current = now,
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Deletes the object at `key` and returns its last state, with the deletion
    /// revision as resourceVersion (what kube-apiserver returns and what watchers
    /// see in `DELETED`). `expected_rv` `Some(rv)` with `rv > 0`: only if the
    /// object's resourceVersion is still `rv` ([`StoreError::Conflict`]).
    /// Absent key: [`StoreError::NotFound`].
    pub async fn delete(&self, key: &Key, expected_rv: Option<i64>) -> Result<Value, StoreError> {
        let mut compares = vec![Compare::create_revision(key.0.as_bytes(), CompareOp::Greater, 0)];
        if let Some(rv) = expected_rv.filter(|rv| *rv > 0) {
            compares.push(Compare::mod_revision(key.0.as_bytes(), CompareOp::Equal, rv));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(key.0.as_bytes(), Some(DeleteOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key.0.as_bytes(), None)]);
        let resp = self.kv.clone().txn(txn).await.map_err(|e| etcd_error(e, 0))?;
        if !resp.succeeded() {
            return Err(if else_get(&resp).is_some() { StoreError::Conflict } else { StoreError::NotFound });
        }
        let rev = header_revision(&resp)?;
        let prev = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().cloned(),
            _ => None,
        });
        let prev = prev.ok_or_else(|| StoreError::Etcd("etcd returned no previous value for a delete".into()))?;
        decode(&prev, rev)
    }

    /// Deletes every key under `prefix` (exact range: `[prefix, prefix_range_end)`)
    /// in one etcd operation (one revision); returns how many were deleted.
    /// Watchers see one `DELETED` per key.
    pub async fn delete_prefix(&self, prefix: &Prefix) -> Result<i64, StoreError> {
        let opts = DeleteOptions::new().with_range(prefix.range_end());
        let resp = self.kv.clone().delete(prefix.0.as_bytes(), Some(opts)).await.map_err(|e| etcd_error(e, 0))?;
        Ok(resp.deleted())
    }

    /// Number of keys under `prefix` — one cheap count-only read.
    pub async fn count_keys(&self, prefix: &Prefix) -> Result<i64, StoreError> {
        let opts = GetOptions::new().with_range(prefix.range_end()).with_count_only();
        let resp = self.kv.clone().get(prefix.0.as_bytes(), Some(opts)).await.map_err(|e| etcd_error(e, 0))?;
        Ok(resp.count())
    }

    /// `(keys, bytes)` under `prefix`, for quotas: the number of keys and the
    /// total size of their stored values (object JSON without resourceVersion),
    /// read as one snapshot. Reads every value (in pages), so it costs about as
    /// much as listing the prefix; use [`ObjectStore::count_keys`] when only the
    /// number is needed.
    pub async fn count(&self, prefix: &Prefix) -> Result<(i64, i64), StoreError> {
        let end = prefix.range_end();
        let mut start = prefix.0.as_bytes().to_vec();
        let mut rev = 0;
        let (mut keys, mut bytes) = (0i64, 0i64);
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(COUNT_PAGE);
            if rev > 0 {
                opts = opts.with_revision(rev);
            }
            let resp = match self.kv.clone().get(start.clone(), Some(opts)).await {
                Ok(r) => r,
                Err(e) => return Err(self.gone(etcd_error(e, rev), rev).await),
            };
            if rev == 0 {
                rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            for kv in resp.kvs() {
                keys += 1;
                bytes += kv.value().len() as i64;
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => return Ok((keys, bytes)),
            }
        }
    }

    /// Fills in the compaction point of a `Gone` (other errors pass through).
    async fn gone(&self, err: StoreError, rev: i64) -> StoreError {
        match err {
            StoreError::Gone { .. } => StoreError::Gone { compacted: self.compacted_revision(rev).await.unwrap_or(0) },
            other => other,
        }
    }

    /// etcd's compaction point, learned by watching from `rev` (which is known to
    /// be compacted): etcd cancels such a watch at once, naming it.
    async fn compacted_revision(&self, rev: i64) -> Option<i64> {
        let opts = WatchOptions::new().with_start_revision(rev.max(1));
        let probe = async {
            let mut stream = self.watch.clone().watch(self.layout.base.as_bytes(), Some(opts)).await.ok()?;
            for _ in 0..4 {
                let resp = stream.message().await.ok()??;
                if resp.compact_revision() > 0 {
                    return Some(resp.compact_revision());
                }
                if resp.canceled() || !resp.events().is_empty() {
                    return None;
                }
            }
            None
        };
        tokio::time::timeout(Duration::from_secs(2), probe).await.ok().flatten()
    }

    /// One page of the objects under `prefix`, in key order, as one consistent
    /// snapshot (see the module docs):
    ///
    /// * the first page is read at the current revision (or exactly at
    ///   `resource_version`); its continue token pins every later page to that
    ///   same revision, so `resource_version` is equal on all pages and changes
    ///   made between pages are invisible;
    /// * with a `filter`, rejected items do not count toward `limit`: etcd is
    ///   read page after page (doubling the page size up to 10 000 keys) until
    ///   `limit` items matched or the range ends, as kube-apiserver's etcd3 store
    ///   does; a continue token may then still lead to an empty last page;
    /// * a compacted revision (also one pinned by a continue token) is
    ///   [`StoreError::Gone`]; a malformed token [`StoreError::InvalidContinue`].
    pub async fn list(&self, prefix: &Prefix, opts: ListOptions<'_>) -> Result<ListResult, StoreError> {
        let end = prefix.range_end();
        let pinned = opts.resource_version.filter(|rv| *rv > 0);
        let (mut start, mut rev) = match &opts.continue_token {
            Some(token) => {
                if pinned.is_some() {
                    return Err(StoreError::InvalidContinue);
                }
                let (rv, start) = decode_continue(token)?;
                (format!("{}{start}", prefix.0).into_bytes(), rv)
            }
            None => (prefix.0.as_bytes().to_vec(), pinned.unwrap_or(0)),
        };
        let limit = opts.limit.filter(|l| *l > 0);
        let mut page = limit.unwrap_or(0);
        let mut items = Vec::new();
        loop {
            let mut get = GetOptions::new().with_range(end.clone()).with_limit(page);
            if rev > 0 {
                get = get.with_revision(rev);
            }
            let mut resp = match self.kv.clone().get(start.clone(), Some(get)).await {
                Ok(r) => r,
                Err(e) => return Err(self.gone(etcd_error(e, rev), rev).await),
            };
            if rev == 0 {
                rev = resp.header().map(|h| h.revision()).ok_or_else(|| StoreError::Etcd("no header".into()))?;
            }
            let kvs = resp.take_kvs();
            let total = kvs.len();
            for (i, kv) in kvs.iter().enumerate() {
                let obj = decode(kv, kv.mod_revision())?;
                if opts.filter.is_none_or(|f| f(&obj)) {
                    items.push(obj);
                }
                if limit.is_some_and(|l| items.len() as i64 >= l) {
                    let consumed = i + 1;
                    let more = consumed < total || resp.more();
                    let (continue_token, remaining) = if more {
                        let rel = &kv.key()[prefix.0.len()..];
                        let rel = std::str::from_utf8(rel)
                            .map_err(|_| StoreError::Etcd("non-UTF-8 key in the store".into()))?;
                        let token = encode_continue(rev, &format!("{rel}\0"));
                        let remaining = opts.filter.is_none().then(|| resp.count() - consumed as i64);
                        (Some(token), remaining)
                    } else {
                        (None, None)
                    };
                    return Ok(ListResult { items, resource_version: rev, continue_token, remaining });
                }
            }
            match kvs.last() {
                Some(last) if resp.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                    if opts.filter.is_some() {
                        page = (page * 2).min(MAX_PAGE);
                    }
                }
                _ => return Ok(ListResult { items, resource_version: rev, continue_token: None, remaining: None }),
            }
        }
    }

    /// [`ObjectStore::watch_with`] without extra progress requests.
    pub fn watch(
        &self,
        prefix: &Prefix,
        from_rv: Option<i64>,
    ) -> impl Stream<Item = Result<WatchEvent, StoreError>> + Send + 'static {
        self.watch_with(prefix, WatchOpts { from_rv, progress_interval: None })
    }

    /// Every change under `prefix` after `opts.from_rv`, as a stream.
    ///
    /// * `from_rv` `Some(rv)` (`rv > 0`): exactly the events with revision > `rv`,
    ///   replayed from etcd's history and then live. `None`/`Some(0)`: from the
    ///   revision current when the stream is first polled (the etcd watch is
    ///   established then) — to see every state, list and watch from the list's
    ///   resourceVersion, which is how kube-apiserver's "get state and start at
    ///   most recent" is built.
    /// * Order: revision order, each event once, no gaps; `Added` when the event
    ///   created the key, `Modified` for later writes, `Deleted` with the last
    ///   state and the deletion revision as resourceVersion.
    /// * `Bookmark(rv)`: from etcd's progress notifications (the watch asks for
    ///   them) and, with `progress_interval`, from progress requests; all events
    ///   up to `rv` have been delivered, so resuming from `rv` loses nothing.
    ///   Bookmarks never go backwards.
    /// * A compacted `from_rv` yields `Err(Gone { compacted })` as the first item.
    ///   Any error ends the stream after it is yielded; etcd closing the watch ends
    ///   it without an error (resume from the last revision seen).
    /// * Dropping the stream cancels the etcd watch; no task is left behind.
    pub fn watch_with(
        &self,
        prefix: &Prefix,
        opts: WatchOpts,
    ) -> impl Stream<Item = Result<WatchEvent, StoreError>> + Send + 'static {
        let init = WatchState::Init(Box::new(Init {
            client: self.watch.clone(),
            prefix: prefix.0.clone(),
            start: opts.from_rv.filter(|rv| *rv > 0).map(|rv| rv + 1),
            interval: opts.progress_interval,
        }));
        futures_util::stream::unfold(init, |state| async move { state.next().await })
    }
}

/// The state of one watch stream (driven by `stream::unfold`).
enum WatchState {
    Init(Box<Init>),
    Running(Box<Running>),
    Done,
}

struct Init {
    client: WatchClient,
    prefix: String,
    start: Option<i64>,
    interval: Option<Duration>,
}

struct Running {
    stream: WatchStream,
    pending: VecDeque<Result<WatchEvent, StoreError>>,
    ticker: Option<tokio::time::Interval>,
    /// The highest revision delivered (events or bookmarks).
    last_rev: i64,
}

type WatchItem = Result<WatchEvent, StoreError>;

impl WatchState {
    async fn next(self) -> Option<(WatchItem, WatchState)> {
        let mut running = match self {
            WatchState::Done => return None,
            WatchState::Running(r) => r,
            WatchState::Init(init) => {
                let Init { mut client, prefix, start, interval } = *init;
                let mut opts = WatchOptions::new()
                    .with_range(prefix_range_end(prefix.as_bytes()))
                    .with_prev_key()
                    .with_progress_notify()
                    .with_fragment();
                if let Some(start) = start {
                    opts = opts.with_start_revision(start);
                }
                let stream = match client.watch(prefix.into_bytes(), Some(opts)).await {
                    Ok(s) => s,
                    Err(e) => return Some((Err(etcd_error(e, 0)), WatchState::Done)),
                };
                let ticker = interval.filter(|d| !d.is_zero()).map(|d| {
                    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    t
                });
                Box::new(Running {
                    stream,
                    pending: VecDeque::new(),
                    ticker,
                    last_rev: start.map(|s| s - 1).unwrap_or(0),
                })
            }
        };
        loop {
            if let Some(item) = running.pending.pop_front() {
                let state = if item.is_err() { WatchState::Done } else { WatchState::Running(running) };
                return Some((item, state));
            }
            let msg = match running.ticker.as_mut() {
                Some(ticker) => {
                    tokio::select! {
                        msg = running.stream.message() => msg,
                        _ = ticker.tick() => {
                            if let Err(e) = running.stream.request_progress().await {
                                return Some((Err(etcd_error(e, 0)), WatchState::Done));
                            }
                            continue;
                        }
                    }
                }
                None => running.stream.message().await,
            };
            let resp = match msg {
                Ok(Some(resp)) => resp,
                Ok(None) => return None,
                Err(e) => return Some((Err(etcd_error(e, 0)), WatchState::Done)),
            };
            if resp.compact_revision() > 0 {
                return Some((Err(StoreError::Gone { compacted: resp.compact_revision() }), WatchState::Done));
            }
            if resp.canceled() {
                let reason = format!("etcd canceled the watch: {}", resp.cancel_reason());
                return Some((Err(StoreError::Etcd(reason)), WatchState::Done));
            }
            if resp.events().is_empty() {
                if resp.created() {
                    continue;
                }
                // A progress notification: everything up to this revision was sent.
                let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
                if rev > running.last_rev {
                    running.last_rev = rev;
                    running.pending.push_back(Ok(WatchEvent::Bookmark(rev)));
                }
                continue;
            }
            for event in resp.events() {
                let item = convert_event(event);
                if let Ok(ev) = &item {
                    running.last_rev = running.last_rev.max(ev.revision());
                }
                let stop = item.is_err();
                running.pending.push_back(item);
                if stop {
                    break;
                }
            }
        }
    }
}

fn convert_event(event: &etcd_client::Event) -> WatchItem {
    let kv = event.kv().ok_or_else(|| StoreError::Etcd("watch event without a key".into()))?;
    match event.event_type() {
        EventType::Put => {
            let obj = decode(kv, kv.mod_revision())?;
            if kv.create_revision() == kv.mod_revision() {
                Ok(WatchEvent::Added(obj))
            } else {
                Ok(WatchEvent::Modified(obj))
            }
        }
        EventType::Delete => {
            let prev = event.prev_kv().ok_or_else(|| {
                StoreError::Etcd(format!(
                    "the state before deleting {} is no longer available (compacted)",
                    String::from_utf8_lossy(kv.key())
                ))
            })?;
            Ok(WatchEvent::Deleted(decode(prev, kv.mod_revision())?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn range_end_is_exact() {
        assert_eq!(prefix_range_end(b"/t/a/"), b"/t/a0".to_vec());
        assert_eq!(prefix_range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_range_end(b"\xff\xff"), vec![0]);
        let end = prefix_range_end(b"/t/a/");
        for neighbour in ["/t/a2/x", "/t/a-b/x", "/t/a0", "/t/b/"] {
            let inside = neighbour.as_bytes() >= b"/t/a/".as_slice() && neighbour.as_bytes() < end.as_slice();
            assert!(!inside, "{neighbour} must be outside");
        }
        assert!(b"/t/a/\xff\xff".as_slice() < end.as_slice());
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "ns1/obj-3\0");
        assert!(!t.contains('=') && !t.contains('+') && !t.contains('/'));
        assert_eq!(decode_continue(&t).unwrap(), (42, "ns1/obj-3\0".to_string()));
        for bad in ["", "!!!", "e30", &URL_SAFE_NO_PAD.encode(br#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#)] {
            assert_eq!(decode_continue(bad), Err(StoreError::InvalidContinue), "{bad}");
        }
    }

    #[test]
    fn encode_strips_and_decode_injects_the_resource_version() {
        let mut obj = json!({"kind": "W", "metadata": {"name": "a", "resourceVersion": "7"}, "spec": {"x": 1}});
        let bytes = encode(&mut obj).unwrap();
        let stored: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(stored["metadata"].get("resourceVersion"), None);
        set_resource_version(&mut obj, 99);
        assert_eq!(resource_version_of(&obj), Some(99));
        let mut bare = json!({"kind": "W"});
        set_resource_version(&mut bare, 5);
        assert_eq!(bare["metadata"]["resourceVersion"], "5");
        assert!(matches!(encode(&mut json!([1])), Err(StoreError::Invalid(_))));
        let mut a =
            json!({"spec": {"b": 1, "a": [{"y": 1, "x": 2}]}, "metadata": {"resourceVersion": "3", "name": "n"}});
        let mut b = json!({"metadata": {"name": "n"}, "spec": {"a": [{"x": 2, "y": 1}], "b": 1}});
        assert_eq!(encode(&mut a).unwrap(), encode(&mut b).unwrap());
        assert_eq!(
            String::from_utf8(encode(&mut a).unwrap()).unwrap(),
            r#"{"metadata":{"name":"n"},"spec":{"a":[{"x":2,"y":1}],"b":1}}"#
        );
        set_resource_version(&mut a, 4);
        let keys: Vec<_> = a["metadata"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["name", "resourceVersion"]);
        let mut big = json!({"data": "x".repeat(MAX_OBJECT_BYTES)});
        assert_eq!(encode(&mut big), Err(StoreError::TooLarge));
    }

    #[test]
    fn keys_follow_the_layout_and_refuse_bad_segments() {
        let s = Layout::new("/vcproxy/tenants/acme").unwrap();
        assert_eq!(s.base_prefix().as_str(), "/vcproxy/tenants/acme/");
        assert_eq!(
            s.crd_key("widgets.example.com").unwrap().as_str(),
            "/vcproxy/tenants/acme/crds/widgets.example.com"
        );
        assert_eq!(
            s.object_key("example.com", "widgets", Some("ns1"), "w1").unwrap().as_str(),
            "/vcproxy/tenants/acme/objects/example.com/widgets/ns1/w1"
        );
        assert_eq!(
            s.object_key("example.com", "clusterwidgets", None, "w1").unwrap().as_str(),
            "/vcproxy/tenants/acme/objects/example.com/clusterwidgets/_/w1"
        );
        let all = s.collection_prefix("example.com", "widgets", None).unwrap();
        assert_eq!(all.as_str(), "/vcproxy/tenants/acme/objects/example.com/widgets/");
        let ns1 = s.collection_prefix("example.com", "widgets", Some("ns1")).unwrap();
        assert!(ns1.contains(&s.object_key("example.com", "widgets", Some("ns1"), "w").unwrap()));
        assert!(!ns1.contains(&s.object_key("example.com", "widgets", Some("ns10"), "w").unwrap()));
        assert!(all.contains(&s.object_key("example.com", "widgets", Some("ns10"), "w").unwrap()));
        for (g, r, ns, n) in [
            ("", "widgets", Some("ns"), "a"),
            ("example.com", "wid/gets", Some("ns"), "a"),
            ("example.com", "widgets", Some("_"), "a"),
            ("example.com", "widgets", Some(""), "a"),
            ("example.com", "widgets", Some("ns"), ""),
            ("example.com", "widgets", Some("ns"), "a/b"),
            ("example.com", "widgets", Some("ns"), ".."),
            ("example.com", "widgets", None, "a\0"),
        ] {
            assert!(matches!(s.object_key(g, r, ns, n), Err(StoreError::Invalid(_))), "{g} {r} {ns:?} {n}");
        }
        assert!(s.crd_key("a/b").is_err());
        assert!(Layout::new("/").is_err());
        assert!(Layout::new("//").is_err());
        assert!(Layout::new("relative").is_err());
        assert_eq!(Layout::new("/x/").unwrap().base_prefix().as_str(), "/x/");
    }

    /// Handlers run on hyper's multi-threaded executor: every future and stream
    /// of the store must be `Send`.
    #[allow(dead_code, unused_must_use)]
    fn futures_and_streams_are_send(s: ObjectStore, k: Key, p: Prefix) {
        fn send<T: Send>(_: T) {}
        let filter = |_: &Value| true;
        send(s.get(&k));
        send(s.create(&k, json!({})));
        send(s.update(&k, json!({}), Some(1)));
        send(s.guaranteed_update::<StoreError, _>(&k, |o| Ok(Some(o))));
        send(s.delete(&k, None));
        send(s.delete_prefix(&p));
        send(s.list(&p, ListOptions { filter: Some(&filter), ..Default::default() }));
        send(s.count(&p));
        send(s.current_revision());
        send(s.watch(&p, None));
        send(s.watch_with(&p, WatchOpts::default()));
    }

    #[test]
    fn errors_map_to_kubernetes_statuses() {
        assert_eq!(StoreError::Conflict.http_status(), 409);
        assert_eq!(StoreError::Gone { compacted: 3 }.http_status(), 410);
        assert_eq!(StoreError::Gone { compacted: 3 }.reason(), "Expired");
        assert_eq!(StoreError::TooLarge.http_status(), 413);
        assert_eq!(StoreError::InvalidContinue.http_status(), 400);
        assert_eq!(StoreError::FutureRevision { requested: 9 }.http_status(), 504);
        let other = etcd_client::Error::InvalidArgs("boom".into());
        assert!(matches!(etcd_error(other, 5), StoreError::Etcd(_)));
    }
}

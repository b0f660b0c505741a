//! `vcproxy::crd::store` against the real etcd: Kubernetes storage semantics
//! (resourceVersion, compare-and-swap, consistent pagination, watch replay, 410
//! after compaction, exact prefix ranges). Each test has its own key prefix.
//!
//! Tests that read old revisions (pinned lists, watch replay) and the one that
//! compacts etcd hold [`history_lock`], so a compaction never lands in the middle
//! of another test of this module.

use std::future::Future;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use vcproxy::crd::store::{
    resource_version_of, ListOptions, ListResult, ObjectStore, Prefix, StoreError, WatchEvent, WatchOpts,
    MAX_OBJECT_BYTES,
};
use vcproxy_testenv::shared;

use crate::unique_tenant;

const G: &str = "example.com";
const R: &str = "widgets";

async fn history_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static HISTORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HISTORY.lock().await
}

/// Runs a test body on its own runtime, with the etcd URL resolved first (the
/// shared control plane starts on first use, outside the runtime).
fn run<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let url = shared().etcd_url().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(120), body(url)).await }).expect("test timed out");
}

/// Like [`run`], on an etcd of its own: compaction would otherwise break other
/// tests' watches that hold older resourceVersions on the shared one.
fn run_on_private_etcd<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let cp = vcproxy_testenv::ControlPlane::start().expect("starting a private control plane");
    let url = cp.etcd_url().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(120), body(url)).await }).expect("test timed out");
}

async fn client(url: &str) -> etcd_client::Client {
    etcd_client::Client::connect([url], None).await.expect("connecting to etcd")
}

/// A root no other test uses: `/vcproxy-test/crdstore/<unique>/tenants/`.
fn root(test: &str) -> String {
    format!("/vcproxy-test/crdstore/{}/tenants/", unique_tenant(test))
}

async fn store(url: &str, base: &str) -> ObjectStore {
    ObjectStore::new(client(url).await, base).unwrap()
}

fn widget(ns: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    })
}

fn rv(obj: &Value) -> i64 {
    resource_version_of(obj).unwrap_or_else(|| panic!("no resourceVersion in {obj}"))
}

fn names(list: &ListResult) -> Vec<String> {
    list.items.iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

/// The next non-bookmark watch event, within 10 s.
async fn next_event<S>(w: &mut S) -> WatchEvent
where
    S: Stream<Item = Result<WatchEvent, StoreError>> + Unpin,
{
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("no watch event within 10s")
            .expect("watch ended");
        match item.expect("watch error") {
            WatchEvent::Bookmark(_) => continue,
            ev => return ev,
        }
    }
}

/// Asserts no non-bookmark event arrives within `d`.
async fn assert_quiet<S>(w: &mut S, d: Duration)
where
    S: Stream<Item = Result<WatchEvent, StoreError>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, w.next()).await {
            Err(_) => return,
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => continue,
            Ok(other) => panic!("unexpected watch item: {other:?}"),
        }
    }
}

fn event_summary(ev: &WatchEvent) -> (&'static str, String, i64) {
    let name = match ev {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
            o["metadata"]["name"].as_str().unwrap_or("").to_string()
        }
        WatchEvent::Bookmark(_) => String::new(),
    };
    (ev.type_name(), name, ev.revision())
}

#[test]
fn create_get_update_delete_with_resource_versions() {
    run(|url| async move {
        let s = store(&url, &format!("{}t1", root("crud"))).await;
        let key = s.object_key(G, R, Some("ns1"), "w1").unwrap();

        assert_eq!(s.get(&key).await, Err(StoreError::NotFound));
        let mut input = widget("ns1", "w1", json!({"size": 1}));
        input["metadata"]["resourceVersion"] = json!("12345");
        let created = s.create(&key, input).await.unwrap();
        let rv1 = rv(&created);
        assert_ne!(rv1, 12345);
        assert_eq!(s.get(&key).await.unwrap(), created);
        // The stored value carries no resourceVersion.
        let raw = client(&url).await.get(key.as_str(), None).await.unwrap();
        let stored: Value = serde_json::from_slice(raw.kvs()[0].value()).unwrap();
        assert_eq!(stored["metadata"].get("resourceVersion"), None, "{stored}");
        assert_eq!(raw.kvs()[0].mod_revision(), rv1);

        assert_eq!(s.create(&key, widget("ns1", "w1", json!({}))).await, Err(StoreError::AlreadyExists));

        // Compare-and-swap update.
        let updated = s.update(&key, widget("ns1", "w1", json!({"size": 2})), Some(rv1)).await.unwrap();
        let rv2 = rv(&updated);
        assert!(rv2 > rv1);
        assert_eq!(s.update(&key, widget("ns1", "w1", json!({"size": 3})), Some(rv1)).await, Err(StoreError::Conflict));
        assert_eq!(s.get(&key).await.unwrap()["spec"]["size"], 2);

        // An update that changes nothing is not written.
        let same = s.update(&key, widget("ns1", "w1", json!({"size": 2})), Some(rv2)).await.unwrap();
        assert_eq!(rv(&same), rv2);
        assert_eq!(rv(&s.get(&key).await.unwrap()), rv2);

        // Unconditional update (None, and "0" as kube-apiserver parses it).
        let rv3 = rv(&s.update(&key, widget("ns1", "w1", json!({"size": 4})), None).await.unwrap());
        assert!(rv3 > rv2);
        let rv4 = rv(&s.update(&key, widget("ns1", "w1", json!({"size": 5})), Some(0)).await.unwrap());
        assert!(rv4 > rv3);

        // Update never creates.
        let missing = s.object_key(G, R, Some("ns1"), "missing").unwrap();
        assert_eq!(s.update(&missing, widget("ns1", "missing", json!({})), None).await, Err(StoreError::NotFound));
        assert_eq!(s.update(&missing, widget("ns1", "missing", json!({})), Some(rv1)).await, Err(StoreError::NotFound));
        assert_eq!(s.get(&missing).await, Err(StoreError::NotFound));

        // Delete with a stale resourceVersion, then the right one.
        assert_eq!(s.delete(&key, Some(rv3)).await, Err(StoreError::Conflict));
        assert_eq!(s.get(&key).await.unwrap()["spec"]["size"], 5);
        let last = s.delete(&key, Some(rv4)).await.unwrap();
        assert_eq!(last["spec"]["size"], 5);
        assert!(rv(&last) > rv4, "the deleted object carries the deletion revision");
        assert_eq!(s.get(&key).await, Err(StoreError::NotFound));
        assert_eq!(s.delete(&key, None).await, Err(StoreError::NotFound));
        assert_eq!(s.delete(&key, Some(rv4)).await, Err(StoreError::NotFound));

        // Unconditional delete.
        s.create(&key, widget("ns1", "w1", json!({}))).await.unwrap();
        s.delete(&key, None).await.unwrap();

        // Limits and shapes.
        let big = widget("ns1", "big", json!({"data": "x".repeat(MAX_OBJECT_BYTES)}));
        let big_key = s.object_key(G, R, Some("ns1"), "big").unwrap();
        assert_eq!(s.create(&big_key, big).await, Err(StoreError::TooLarge));
        assert!(matches!(s.create(&big_key, json!(["not", "an", "object"])).await, Err(StoreError::Invalid(_))));
        assert_eq!(s.get(&big_key).await, Err(StoreError::NotFound));

        // CRDs and cluster-scoped objects use the same operations.
        let crd = s.crd_key("widgets.example.com").unwrap();
        let c =
            s.create(&crd, json!({"kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"}}));
        assert!(rv(&c.await.unwrap()) > 0);
        let cluster = s.object_key(G, "clusterwidgets", None, "cw").unwrap();
        s.create(&cluster, json!({"kind": "ClusterWidget", "metadata": {"name": "cw"}})).await.unwrap();
        assert_eq!(s.get(&cluster).await.unwrap()["metadata"]["name"], "cw");

        s.delete_prefix(&s.base_prefix()).await.unwrap();
    });
}

#[derive(Debug, PartialEq)]
enum MyError {
    Store(StoreError),
    Refused,
}

impl From<StoreError> for MyError {
    fn from(e: StoreError) -> Self {
        MyError::Store(e)
    }
}

#[test]
fn guaranteed_update_retries_conflicts_and_loses_no_write() {
    run(|url| async move {
        let s = store(&url, &format!("{}t1", root("gupd"))).await;
        let key = s.object_key(G, R, Some("ns1"), "counter").unwrap();
        s.create(&key, widget("ns1", "counter", json!({"n": 0}))).await.unwrap();

        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (s, key) = (s.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    let out: Result<Value, StoreError> = s
                        .guaranteed_update(&key, |mut obj| {
                            let n = obj["spec"]["n"].as_i64().unwrap();
                            obj["spec"]["n"] = json!(n + 1);
                            Ok(Some(obj))
                        })
                        .await;
                    out.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let now = s.get(&key).await.unwrap();
        assert_eq!(now["spec"]["n"], 40, "every concurrent increment survived");

        // No change: None, or identical bytes — the resourceVersion stays.
        let same: Value = s.guaranteed_update::<StoreError, _>(&key, |_| Ok(None)).await.unwrap();
        assert_eq!(rv(&same), rv(&now));
        let same: Value = s.guaranteed_update::<StoreError, _>(&key, |o| Ok(Some(o))).await.unwrap();
        assert_eq!(rv(&same), rv(&now));

        // The callback's error aborts; a missing key is NotFound.
        assert_eq!(s.guaranteed_update(&key, |_| Err(MyError::Refused)).await, Err(MyError::Refused));
        let missing = s.object_key(G, R, Some("ns1"), "missing").unwrap();
        assert_eq!(
            s.guaranteed_update(&missing, |o| Ok::<_, MyError>(Some(o))).await,
            Err(MyError::Store(StoreError::NotFound))
        );

        s.delete_prefix(&s.base_prefix()).await.unwrap();
    });
}

#[test]
fn list_pages_are_one_snapshot_at_a_pinned_revision() {
    run(|url| async move {
        let _history = history_lock().await;
        let s = store(&url, &format!("{}t1", root("page"))).await;
        for i in 0..7 {
            let name = format!("obj-{i}");
            s.create(&s.object_key(G, R, Some("ns1"), &name).unwrap(), widget("ns1", &name, json!({"i": i})))
                .await
                .unwrap();
        }
        // Another namespace and a neighbouring namespace name stay out of ns1's list.
        s.create(&s.object_key(G, R, Some("ns2"), "other").unwrap(), widget("ns2", "other", json!({}))).await.unwrap();
        s.create(&s.object_key(G, R, Some("ns10"), "x").unwrap(), widget("ns10", "x", json!({}))).await.unwrap();
        let ns1 = s.collection_prefix(G, R, Some("ns1")).unwrap();
        let opts = |token: Option<String>| ListOptions { limit: Some(3), continue_token: token, ..Default::default() };

        let p1 = s.list(&ns1, opts(None)).await.unwrap();
        assert_eq!(names(&p1), ["obj-0", "obj-1", "obj-2"]);
        assert_eq!(p1.remaining, Some(4));
        let pinned = p1.resource_version;
        assert!(p1.items.iter().all(|o| rv(o) <= pinned));

        // Changes between pages: a new object, a changed one, a deleted one.
        let k4 = s.object_key(G, R, Some("ns1"), "obj-4").unwrap();
        s.update(&k4, widget("ns1", "obj-4", json!({"i": 400})), None).await.unwrap();
        s.delete(&s.object_key(G, R, Some("ns1"), "obj-5").unwrap(), None).await.unwrap();
        s.create(&s.object_key(G, R, Some("ns1"), "obj-7").unwrap(), widget("ns1", "obj-7", json!({}))).await.unwrap();
        s.create(&s.object_key(G, R, Some("ns1"), "obj-35").unwrap(), widget("ns1", "obj-35", json!({})))
            .await
            .unwrap();

        let p2 = s.list(&ns1, opts(p1.continue_token.clone())).await.unwrap();
        assert_eq!(names(&p2), ["obj-3", "obj-4", "obj-5"]);
        assert_eq!(p2.resource_version, pinned);
        assert_eq!(p2.items[1]["spec"]["i"], 4, "later pages show the state at the pinned revision");
        assert_eq!(p2.remaining, Some(1));
        let p3 = s.list(&ns1, opts(p2.continue_token.clone())).await.unwrap();
        assert_eq!(names(&p3), ["obj-6"]);
        assert_eq!(p3.resource_version, pinned);
        assert_eq!(p3.continue_token, None);
        assert_eq!(p3.remaining, None);
        for item in p1.items.iter().chain(&p2.items).chain(&p3.items) {
            assert!(rv(item) <= pinned);
        }

        // A fresh list sees the changes; an exact-revision list the old state.
        let now = s.list(&ns1, ListOptions::default()).await.unwrap();
        assert_eq!(names(&now), ["obj-0", "obj-1", "obj-2", "obj-3", "obj-35", "obj-4", "obj-6", "obj-7"]);
        assert!(now.resource_version > pinned);
        assert_eq!(now.continue_token, None);
        let then = s.list(&ns1, ListOptions { resource_version: Some(pinned), ..Default::default() }).await.unwrap();
        assert_eq!(names(&then), ["obj-0", "obj-1", "obj-2", "obj-3", "obj-4", "obj-5", "obj-6"]);
        assert_eq!(then.resource_version, pinned);

        // Exact page boundary: limit = number of items left, no token.
        let exact = s.list(&ns1, ListOptions { limit: Some(8), ..Default::default() }).await.unwrap();
        assert_eq!(exact.items.len(), 8);
        assert_eq!(exact.continue_token, None);

        // All namespaces.
        let all = s.list(&s.collection_prefix(G, R, None).unwrap(), ListOptions::default()).await.unwrap();
        assert_eq!(all.items.len(), 10);

        // Bad tokens and combinations.
        let bad = ListOptions { continue_token: Some("garbage".into()), ..Default::default() };
        assert_eq!(s.list(&ns1, bad).await, Err(StoreError::InvalidContinue));
        let both = ListOptions {
            continue_token: p1.continue_token.clone(),
            resource_version: Some(pinned),
            ..Default::default()
        };
        assert_eq!(s.list(&ns1, both).await, Err(StoreError::InvalidContinue));
        let future = ListOptions { resource_version: Some(now.resource_version + 1_000_000), ..Default::default() };
        assert!(matches!(s.list(&ns1, future).await, Err(StoreError::FutureRevision { .. })));

        s.delete_prefix(&s.base_prefix()).await.unwrap();
    });
}

#[test]
fn filtered_items_do_not_count_toward_the_limit() {
    run(|url| async move {
        let _history = history_lock().await;
        let s = store(&url, &format!("{}t1", root("filt"))).await;
        for i in 0..10 {
            let name = format!("obj-{i:02}");
            let mut w = widget("ns1", &name, json!({}));
            w["metadata"]["labels"] = json!({"parity": if i % 2 == 0 { "even" } else { "odd" }});
            s.create(&s.object_key(G, R, Some("ns1"), &name).unwrap(), w).await.unwrap();
        }
        let ns1 = s.collection_prefix(G, R, Some("ns1")).unwrap();
        let even = |o: &Value| o["metadata"]["labels"]["parity"] == "even";

        let mut pages = Vec::new();
        let mut token = None;
        loop {
            let page = s
                .list(
                    &ns1,
                    ListOptions {
                        limit: Some(2),
                        continue_token: token.take(),
                        filter: Some(&even),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.remaining, None, "no remainingItemCount on filtered lists");
            token = page.continue_token.clone();
            pages.push(page);
            if token.is_none() {
                break;
            }
            assert!(pages.len() < 10, "pagination does not end");
        }
        let got: Vec<Vec<String>> = pages.iter().map(names).collect();
        assert_eq!(got, [vec!["obj-00", "obj-02"], vec!["obj-04", "obj-06"], vec!["obj-08"]]);
        assert!(pages.iter().all(|p| p.resource_version == pages[0].resource_version));

        let none = |_: &Value| false;
        let empty =
            s.list(&ns1, ListOptions { limit: Some(3), filter: Some(&none), ..Default::default() }).await.unwrap();
        assert!(empty.items.is_empty());
        assert_eq!(empty.continue_token, None);

        let unlimited = s.list(&ns1, ListOptions { filter: Some(&even), ..Default::default() }).await.unwrap();
        assert_eq!(unlimited.items.len(), 5);

        s.delete_prefix(&s.base_prefix()).await.unwrap();
    });
}

#[test]
fn watch_from_a_resource_version_replays_exactly_the_later_events() {
    run(|url| async move {
        let _history = history_lock().await;
        let base = root("watch");
        let s = store(&url, &format!("{base}a")).await;
        let neighbour = store(&url, &format!("{base}a2")).await;
        let key = |n: &str| s.object_key(G, R, Some("ns1"), n).unwrap();

        let a = s.create(&key("a"), widget("ns1", "a", json!({"v": 1}))).await.unwrap();
        let start = rv(&a);
        let rv_mod_a = rv(&s.update(&key("a"), widget("ns1", "a", json!({"v": 2})), None).await.unwrap());
        neighbour
            .create(&neighbour.object_key(G, R, Some("ns1"), "n").unwrap(), widget("ns1", "n", json!({})))
            .await
            .unwrap();
        let rv_add_b = rv(&s.create(&key("b"), widget("ns1", "b", json!({"v": 1}))).await.unwrap());
        let rv_del_a = rv(&s.delete(&key("a"), None).await.unwrap());
        let rv_mod_b = rv(&s.update(&key("b"), widget("ns1", "b", json!({"v": 2})), None).await.unwrap());
        // A different resource under the same tenant is not in the collection.
        s.create(&s.object_key(G, "gadgets", Some("ns1"), "g").unwrap(), widget("ns1", "g", json!({}))).await.unwrap();

        let prefix = s.collection_prefix(G, R, None).unwrap();
        let mut w = Box::pin(s.watch(&prefix, Some(start)));
        let mut got = Vec::new();
        let mut last_deleted = None;
        for _ in 0..4 {
            let ev = next_event(&mut w).await;
            if let WatchEvent::Deleted(o) = &ev {
                last_deleted = Some(o.clone());
            }
            got.push(event_summary(&ev));
        }
        assert_eq!(
            got,
            [
                ("MODIFIED", "a".to_string(), rv_mod_a),
                ("ADDED", "b".to_string(), rv_add_b),
                ("DELETED", "a".to_string(), rv_del_a),
                ("MODIFIED", "b".to_string(), rv_mod_b),
            ]
        );
        let deleted = last_deleted.unwrap();
        assert_eq!(deleted["spec"]["v"], 2, "DELETED carries the last state");
        assert_eq!(deleted["metadata"]["name"], "a");
        assert_quiet(&mut w, Duration::from_millis(300)).await;

        // Then live events on the same stream.
        let rv_c = rv(&s.create(&key("c"), widget("ns1", "c", json!({}))).await.unwrap());
        assert_eq!(event_summary(&next_event(&mut w).await), ("ADDED", "c".to_string(), rv_c));
        drop(w);

        // From a later revision: only what follows it.
        let mut w = Box::pin(s.watch(&prefix, Some(rv_del_a)));
        assert_eq!(event_summary(&next_event(&mut w).await), ("MODIFIED", "b".to_string(), rv_mod_b));
        assert_eq!(event_summary(&next_event(&mut w).await), ("ADDED", "c".to_string(), rv_c));
        drop(w);

        // From now (None): nothing old; established on first poll.
        let mut w = Box::pin(s.watch(&prefix, None));
        assert_quiet(&mut w, Duration::from_millis(500)).await;
        let rv_d = rv(&s.create(&key("d"), widget("ns1", "d", json!({}))).await.unwrap());
        assert_eq!(event_summary(&next_event(&mut w).await), ("ADDED", "d".to_string(), rv_d));

        // Recreated key: ADDED again. delete_prefix: one DELETED per key.
        s.delete(&key("d"), None).await.unwrap();
        let rv_d2 = rv(&s.create(&key("d"), widget("ns1", "d", json!({"again": true}))).await.unwrap());
        assert_eq!(event_summary(&next_event(&mut w).await).0, "DELETED");
        assert_eq!(event_summary(&next_event(&mut w).await), ("ADDED", "d".to_string(), rv_d2));
        let n = s.delete_prefix(&prefix).await.unwrap();
        assert_eq!(n, 3, "b, c, d");
        let mut deleted: Vec<_> = Vec::new();
        for _ in 0..3 {
            let (t, name, rev) = event_summary(&next_event(&mut w).await);
            assert_eq!(t, "DELETED");
            deleted.push((name, rev));
        }
        assert_eq!(deleted.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(), ["b", "c", "d"]);
        assert!(deleted.iter().all(|d| d.1 == deleted[0].1), "one revision for the whole range");
        drop(w);

        // Bookmarks from progress requests, never going backwards.
        let from = s.current_revision().await.unwrap();
        let mut w = Box::pin(s.watch_with(
            &prefix,
            WatchOpts { from_rv: Some(from), progress_interval: Some(Duration::from_millis(200)) },
        ));
        let mut marks = Vec::new();
        while marks.len() < 2 {
            let item = tokio::time::timeout(Duration::from_secs(10), w.next()).await.expect("no bookmark").unwrap();
            match item.unwrap() {
                WatchEvent::Bookmark(rev) => marks.push(rev),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(marks[0] >= from && marks[1] >= marks[0], "{marks:?} from {from}");

        s.delete_prefix(&s.base_prefix()).await.unwrap();
        neighbour.delete_prefix(&neighbour.base_prefix()).await.unwrap();
    });
}

#[test]
fn compacted_revisions_are_gone() {
    run_on_private_etcd(|url| async move {
        let _history = history_lock().await;
        let s = store(&url, &format!("{}t1", root("gone"))).await;
        let mut raw = client(&url).await;
        let key = s.object_key(G, R, Some("ns1"), "x").unwrap();
        let rv1 = rv(&s.create(&key, widget("ns1", "x", json!({"v": 1}))).await.unwrap());
        s.update(&key, widget("ns1", "x", json!({"v": 2})), None).await.unwrap();
        let rv3 = rv(&s.update(&key, widget("ns1", "x", json!({"v": 3})), None).await.unwrap());
        s.create(&s.object_key(G, R, Some("ns1"), "y").unwrap(), widget("ns1", "y", json!({}))).await.unwrap();

        // A pinned list page, then compaction right after its revision.
        let prefix = s.collection_prefix(G, R, None).unwrap();
        let p1 = s.list(&prefix, ListOptions { limit: Some(1), ..Default::default() }).await.unwrap();
        assert!(p1.continue_token.is_some());
        s.update(&key, widget("ns1", "x", json!({"v": 4})), None).await.unwrap();
        let compact_to = p1.resource_version + 1;
        match raw.compact(compact_to, None).await {
            Ok(_) => {}
            // Someone compacted further already: fine, ours is compacted too.
            Err(e) if e.to_string().contains("compacted") => {}
            Err(e) => panic!("compacting: {e}"),
        }

        let mut w = Box::pin(s.watch(&prefix, Some(rv1)));
        let first = tokio::time::timeout(Duration::from_secs(10), w.next()).await.unwrap().expect("an item");
        match first {
            Err(StoreError::Gone { compacted }) => assert!(compacted >= compact_to, "{compacted} < {compact_to}"),
            other => panic!("expected Gone, got {other:?}"),
        }
        assert!(w.next().await.is_none(), "the stream ends after Gone");

        match s.list(&prefix, ListOptions { resource_version: Some(rv3), ..Default::default() }).await {
            Err(StoreError::Gone { compacted }) => assert!(compacted >= compact_to),
            other => panic!("expected Gone, got {other:?}"),
        }
        let next = ListOptions { limit: Some(1), continue_token: p1.continue_token.clone(), ..Default::default() };
        let err = s.list(&prefix, next).await.unwrap_err();
        assert!(matches!(err, StoreError::Gone { .. }), "{err:?}");
        assert_eq!(err.http_status(), 410);

        // The current state is still there, and a watch from it works.
        let now = s.list(&prefix, ListOptions::default()).await.unwrap();
        assert_eq!(names(&now), ["x", "y"]);
        let mut w = Box::pin(s.watch(&prefix, Some(now.resource_version)));
        let rv_z =
            rv(&s.create(&s.object_key(G, R, Some("ns1"), "z").unwrap(), widget("ns1", "z", json!({}))).await.unwrap());
        assert_eq!(event_summary(&next_event(&mut w).await), ("ADDED", "z".to_string(), rv_z));

        s.delete_prefix(&s.base_prefix()).await.unwrap();
    });
}

async fn fill(s: &ObjectStore, n: usize) {
    s.create(&s.crd_key("widgets.example.com").unwrap(), json!({"metadata": {"name": "widgets.example.com"}}))
        .await
        .unwrap();
    for i in 0..n {
        let name = format!("w{i}");
        s.create(&s.object_key(G, R, Some("ns1"), &name).unwrap(), widget("ns1", &name, json!({}))).await.unwrap();
    }
}

#[test]
fn delete_prefix_uses_the_exact_range_end() {
    run(|url| async move {
        let root = root("dpfx");
        let a = store(&url, &format!("{root}a")).await;
        let a2 = store(&url, &format!("{root}a2/")).await;
        let ab = store(&url, &format!("{root}a-b")).await;
        let a0 = store(&url, &format!("{root}a0")).await;
        for s in [&a, &a2, &ab, &a0] {
            fill(s, 3).await;
        }
        // A key that is exactly the tenant name without the slash.
        let mut raw = client(&url).await;
        raw.put(format!("{root}a"), "bare", None).await.unwrap();

        assert_eq!(a.count_keys(&a.base_prefix()).await.unwrap(), 4);
        assert_eq!(a.delete_prefix(&a.base_prefix()).await.unwrap(), 4);
        assert_eq!(a.count_keys(&a.base_prefix()).await.unwrap(), 0);
        for s in [&a2, &ab, &a0] {
            assert_eq!(s.count_keys(&s.base_prefix()).await.unwrap(), 4, "{:?} lost keys", s.base_prefix());
            assert_eq!(s.list(&s.objects_prefix(), ListOptions::default()).await.unwrap().items.len(), 3);
            assert!(s.get(&s.crd_key("widgets.example.com").unwrap()).await.is_ok());
        }
        assert_eq!(raw.get(format!("{root}a"), None).await.unwrap().kvs().len(), 1);

        // Within a tenant: one resource, one namespace.
        let s = &a2;
        s.create(&s.object_key(G, "widgetsx", Some("ns1"), "x").unwrap(), widget("ns1", "x", json!({}))).await.unwrap();
        s.create(&s.object_key(G, R, Some("ns10"), "x").unwrap(), widget("ns10", "x", json!({}))).await.unwrap();
        assert_eq!(s.delete_prefix(&s.collection_prefix(G, R, Some("ns1")).unwrap()).await.unwrap(), 3);
        assert!(s.get(&s.object_key(G, R, Some("ns10"), "x").unwrap()).await.is_ok());
        assert_eq!(s.delete_prefix(&s.collection_prefix(G, R, None).unwrap()).await.unwrap(), 1);
        assert!(s.get(&s.object_key(G, "widgetsx", Some("ns1"), "x").unwrap()).await.is_ok());
        assert_eq!(s.delete_prefix(&s.collection_prefix(G, R, None).unwrap()).await.unwrap(), 0);

        for s in [&a2, &ab, &a0] {
            s.delete_prefix(&s.base_prefix()).await.unwrap();
        }
        raw.delete(format!("{root}a"), None).await.unwrap();
    });
}

#[test]
fn count_reports_keys_and_bytes() {
    run(|url| async move {
        let s = store(&url, &format!("{}t1", root("count"))).await;
        assert_eq!(s.count(&s.base_prefix()).await.unwrap(), (0, 0));
        // More than one count page (500 keys).
        fill(&s, 520).await;
        let (keys, bytes) = s.count(&s.base_prefix()).await.unwrap();
        assert_eq!(keys, 521);
        let raw = client(&url)
            .await
            .get(s.base_prefix().as_str(), Some(etcd_client::GetOptions::new().with_prefix()))
            .await
            .unwrap();
        let expected: usize = raw.kvs().iter().map(|kv| kv.value().len()).sum();
        assert_eq!(bytes, expected as i64);
        assert_eq!(s.count_keys(&s.base_prefix()).await.unwrap(), 521);
        let crds: Prefix = s.crds_prefix();
        let (crd_keys, crd_bytes) = s.count(&crds).await.unwrap();
        assert_eq!(crd_keys, 1);
        assert!(crd_bytes > 0 && crd_bytes < bytes);
        s.delete_prefix(&s.base_prefix()).await.unwrap();
        assert_eq!(s.count(&s.base_prefix()).await.unwrap(), (0, 0));
    });
}

/// etcd's gauge of open watchers (all clients of the shared etcd).
async fn etcd_watchers(url: &str) -> i64 {
    let metrics_url = format!("{url}/metrics");
    let text = tokio::task::spawn_blocking(move || vcproxy_testenv::http::http_get(&metrics_url).unwrap().text())
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("etcd_debugging_mvcc_watcher_total "))
        .unwrap_or_else(|| panic!("no watcher gauge in etcd metrics"))
        .trim()
        .parse::<f64>()
        .unwrap() as i64
}

#[test]
fn dropping_a_watch_cancels_it_in_etcd() {
    run(|url| async move {
        let s = store(&url, &format!("{}t1", root("wdrop"))).await;
        let prefix = s.collection_prefix(G, R, None).unwrap();
        let before = etcd_watchers(&url).await;
        let mut watches = Vec::new();
        for _ in 0..40 {
            let mut w = Box::pin(s.watch(&prefix, None));
            // The first poll establishes the watch (and finds nothing).
            assert!(tokio::time::timeout(Duration::from_millis(20), w.next()).await.is_err());
            watches.push(w);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let open = loop {
            let n = etcd_watchers(&url).await;
            if n >= before + 30 || tokio::time::Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(open >= before + 30, "40 watches open: {before} → {open}");
        // Still live: an event reaches all of them.
        let rv_a =
            rv(&s.create(&s.object_key(G, R, Some("ns1"), "a").unwrap(), widget("ns1", "a", json!({}))).await.unwrap());
        for w in watches.iter_mut() {
            assert_eq!(event_summary(&next_event(w).await), ("ADDED", "a".to_string(), rv_a));
        }
        drop(watches);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = etcd_watchers(&url).await;
            if n <= open - 30 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "watchers not released: {before} → {open} → {n}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        s.delete_prefix(&s.base_prefix()).await.unwrap();
    });
}

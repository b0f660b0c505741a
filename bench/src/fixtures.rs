//! Realistic Kubernetes JSON, generated deterministically: pods as a Deployment and the kubelet
//! leave them (managedFields, status, a projected token volume), in the super master's form.
//!
//! Objects are written in the tenant's (virtual) view and turned into the super master's view
//! with vcproxy's own `ToSuper` rewrite, so the bodies the benchmark feeds `ToVirtual` are exactly
//! what the apiserver would hold for objects created through vcproxy.

use serde_json::{json, Value};
use vcproxy::rewrite::{rewrite_object, Direction, FixedMapper};

/// The tenant and virtual namespaces the generated objects live in.
pub struct Tenant {
    pub namespaces: Vec<String>,
    pub mapper: FixedMapper,
}

impl Tenant {
    /// `count` virtual namespaces: common names, team names, and one long name (hashed form).
    pub fn new(name: &str, count: usize) -> Tenant {
        let mut namespaces: Vec<String> =
            ["default", "prod", "staging", "dev", "monitoring"].iter().map(|s| s.to_string()).collect();
        let mut i = 0;
        while namespaces.len() < count.saturating_sub(1) {
            namespaces.push(format!("team-{i:02}"));
            i += 1;
        }
        namespaces.push(format!("a-rather-long-namespace-name-that-needs-the-hashed-form-{:03}", count));
        namespaces.truncate(count.max(1));
        let mapper = FixedMapper::new(name).with(namespaces.iter().map(String::as_str));
        Tenant { namespaces, mapper }
    }

    /// `obj` (virtual view) in the super master's view.
    pub fn to_super(&self, mut obj: Value, resource: &str) -> Value {
        rewrite_object(&mut obj, "", resource, Direction::ToSuper, &self.mapper).expect("generated objects rewrite");
        obj
    }
}

/// A deterministic hex string (uids, hashes) from `seed`.
fn hex(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut s = String::with_capacity(len);
    while s.len() < len {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        s.push_str(&format!("{:016x}", x));
    }
    s.truncate(len);
    s
}

fn uid(seed: u64) -> String {
    let h = hex(seed, 32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Pod `i` of a Deployment in `virtual_ns`, tenant view (about 5 KB serialised).
pub fn pod(i: usize, virtual_ns: &str) -> Value {
    let app = format!("app-{}", i % 37);
    let rs_hash = &hex(i as u64 / 5 + 1, 10);
    let name = format!("{app}-{rs_hash}-{}", &hex(i as u64 + 7, 5));
    let ts = format!("2025-06-{:02}T{:02}:{:02}:{:02}Z", 1 + i % 28, i % 24, i % 60, (i * 7) % 60);
    let ip = format!("10.{}.{}.{}", 244 + i % 4, (i / 256) % 256, i % 256);
    let mut pod = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "generateName": format!("{app}-{rs_hash}-"),
            "namespace": virtual_ns,
            "uid": uid(i as u64),
            "resourceVersion": (100_000 + i).to_string(),
            "creationTimestamp": ts,
            "labels": { "app": app, "pod-template-hash": rs_hash, "tier": if i.is_multiple_of(3) { "frontend" } else { "backend" } },
            "annotations": { "kubectl.kubernetes.io/restartedAt": ts, "prometheus.io/scrape": "true", "prometheus.io/port": "9090" },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-{rs_hash}"),
                "uid": uid(i as u64 / 5 + 1_000_000), "controller": true, "blockOwnerDeletion": true
            }],
            "managedFields": [
                {
                    "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": ts,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:annotations": { ".": {}, "f:kubectl.kubernetes.io/restartedAt": {}, "f:prometheus.io/port": {}, "f:prometheus.io/scrape": {} },
                            "f:generateName": {},
                            "f:labels": { ".": {}, "f:app": {}, "f:pod-template-hash": {}, "f:tier": {} },
                            "f:ownerReferences": { ".": {}, format!("k:{{\"uid\":\"{}\"}}", uid(i as u64 / 5 + 1_000_000)): {} }
                        },
                        "f:spec": {
                            "f:affinity": { ".": {}, "f:podAntiAffinity": { ".": {}, "f:preferredDuringSchedulingIgnoredDuringExecution": {} } },
                            "f:containers": { "k:{\"name\":\"main\"}": {
                                ".": {}, "f:env": { ".": {}, "k:{\"name\":\"LOG_LEVEL\"}": { ".": {}, "f:name": {}, "f:value": {} } },
                                "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                                "f:ports": { ".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": { ".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {} } },
                                "f:resources": { ".": {}, "f:limits": { ".": {}, "f:memory": {} }, "f:requests": { ".": {}, "f:cpu": {}, "f:memory": {} } },
                                "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}
                            } },
                            "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                            "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}
                        }
                    }
                },
                {
                    "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": { "f:status": {
                        "f:conditions": {
                            "k:{\"type\":\"ContainersReady\"}": { ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {} },
                            "k:{\"type\":\"Initialized\"}": { ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {} },
                            "k:{\"type\":\"Ready\"}": { ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {} }
                        },
                        "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {},
                        "f:podIPs": { ".": {}, format!("k:{{\"ip\":\"{ip}\"}}"): { ".": {}, "f:ip": {} } },
                        "f:startTime": {}
                    } }
                }
            ]
        },
        "spec": {
            "volumes": [{
                "name": format!("kube-api-access-{}", &hex(i as u64 + 99, 5)),
                "projected": {
                    "sources": [
                        { "serviceAccountToken": { "expirationSeconds": 3607, "path": "token" } },
                        { "configMap": { "name": "kube-root-ca.crt", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
                        { "downwardAPI": { "items": [{ "path": "namespace", "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } }] } }
                    ],
                    "defaultMode": 420
                }
            }],
            "containers": [{
                "name": "main",
                "image": format!("registry.example.com/{app}:v1.{}.{}", i % 10, i % 7),
                "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
                "env": [{ "name": "LOG_LEVEL", "value": "info" }],
                "resources": { "limits": { "memory": "256Mi" }, "requests": { "cpu": "100m", "memory": "128Mi" } },
                "volumeMounts": [{ "name": format!("kube-api-access-{}", &hex(i as u64 + 99, 5)), "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount" }],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "nodeName": format!("node-{}", i % 12),
            "securityContext": {},
            "affinity": { "podAntiAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": { "labelSelector": { "matchLabels": { "app": app } }, "topologyKey": "kubernetes.io/hostname" }
            }] } },
            "schedulerName": "default-scheduler",
            "tolerations": [
                { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
                { "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 }
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {
            "phase": "Running",
            "conditions": [
                { "type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts },
                { "type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts },
                { "type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts },
                { "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts }
            ],
            "hostIP": format!("192.168.0.{}", 10 + i % 12),
            "hostIPs": [{ "ip": format!("192.168.0.{}", 10 + i % 12) }],
            "podIP": ip,
            "podIPs": [{ "ip": ip }],
            "startTime": ts,
            "containerStatuses": [{
                "name": "main",
                "state": { "running": { "startedAt": ts } },
                "lastState": {},
                "ready": true,
                "restartCount": i % 3,
                "image": format!("registry.example.com/{app}:v1.{}.{}", i % 10, i % 7),
                "imageID": format!("registry.example.com/{app}@sha256:{}", hex(i as u64 % 70, 64)),
                "containerID": format!("containerd://{}", hex(i as u64 + 5, 64)),
                "started": true
            }],
            "qosClass": "Burstable"
        }
    });
    // Every fourth pod spreads across the tenant's namespaces too (a namespaceSelector, which
    // vcproxy confines to the tenant on the way in and unwraps on the way out).
    if i.is_multiple_of(4) {
        pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"]["namespaceSelector"] = json!({ "matchLabels": { "team": "shop" } });
    }
    pod
}

/// The PartialObjectMetadata a Table row carries for a pod (`includeObject=Metadata`, kubectl's default).
pub fn partial_metadata(pod: &Value) -> Value {
    json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"].clone() })
}

/// The column definitions of `kubectl get pods -o wide` (server-side printing).
pub fn pod_columns() -> Value {
    let col = |name: &str, ty: &str, format: &str, priority: u32, description: &str| json!({ "name": name, "type": ty, "format": format, "description": description, "priority": priority });
    json!([
        col("Name", "string", "name", 0, "Name must be unique within a namespace."),
        col("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
        col("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        col("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
        col("IP", "string", "", 1, "podIP address allocated to the pod."),
        col("Node", "string", "", 1, "NodeName is a request to schedule this pod onto a specific node."),
        col("Nominated Node", "string", "", 1, "nominatedNodeName is set only when this pod preempts other pods on the node."),
        col("Readiness Gates", "string", "", 1, "If specified, all readiness gates will be evaluated for pod readiness.")
    ])
}

/// One Table row for `pod` (super view): cells plus the metadata-only object.
pub fn pod_row(pod: &Value) -> Value {
    json!({
        "cells": [
            pod["metadata"]["name"], "1/1", "Running", pod["status"]["containerStatuses"][0]["restartCount"], "5d",
            pod["status"]["podIP"], pod["spec"]["nodeName"], "<none>", "<none>"
        ],
        "object": partial_metadata(pod)
    })
}

/// A ConfigMap for the tenant view, with `data_bytes` of payload split over a few keys.
pub fn configmap(name: &str, data_bytes: usize, seed: u64) -> Value {
    const KEYS: usize = 4;
    let per_key = data_bytes / KEYS;
    let mut data = serde_json::Map::new();
    for k in 0..KEYS {
        // Hex payload: JSON-safe, no escapes, incompressible-looking.
        let len = if k == KEYS - 1 { data_bytes - per_key * (KEYS - 1) } else { per_key };
        data.insert(format!("file-{k}.txt"), Value::String(hex(seed * 31 + k as u64, len)));
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "labels": { "app": "bench", "shard": (seed % 8).to_string() } },
        "data": data
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_realistic_and_rewrite_to_super() {
        let t = Tenant::new("acme", 8);
        assert_eq!(t.namespaces.len(), 8);
        let p = t.to_super(pod(4, &t.namespaces[1]), "pods");
        assert_eq!(p["metadata"]["namespace"], vcproxy::mapping::to_super("acme", "prod"));
        let size = serde_json::to_vec(&p).unwrap().len();
        assert!((3000..8000).contains(&size), "pod is {size} bytes");
        let cm = configmap("x", 1000, 1);
        let total: usize = cm["data"].as_object().unwrap().values().map(|v| v.as_str().unwrap().len()).sum();
        assert_eq!(total, 1000);
    }
}

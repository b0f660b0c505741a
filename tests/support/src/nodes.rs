//! Nodes that run pods: kube-scheduler places pods on two fake Nodes that kwok keeps
//! Ready, and kwok's kubelet API (what kube-apiserver dials for exec, attach, logs and
//! port-forward) serves them from the host:
//!
//! - **logs** and **attach** of every container read one CRI-format log file, which a
//!   background thread appends a line to every [`LOG_INTERVAL`] (so `logs -f` and
//!   `attach` have something to follow);
//! - **exec** runs the command given as a local process in one work dir (so `kubectl cp`,
//!   which is exec of `tar`, works with paths relative to it);
//! - **port-forward** to any port of any pod reaches one TCP echo server on loopback.
//!
//! The log feeder and the echo server are threads of the test process, stopped with the
//! control plane (and dying with the process like everything else).

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The fake nodes (annotation `kwok.x-k8s.io/node: fake`, label `type: kwok`).
pub const NODE_NAMES: [&str; 2] = ["kwok-node-1", "kwok-node-2"];

/// Every container log line is `"{POD_LOG_TEXT} {n}"`, n counting from 1.
pub const POD_LOG_TEXT: &str = "vcproxy-testenv log line";

/// Lines in the log file before the control plane is ready.
const FIRST_LINES: u64 = 5;
/// How often the feeder appends a line.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

const STAGES: &str = include_str!("kwok-stages.yaml");

/// The host side of the fake nodes: the log file and its feeder, the exec work dir, the
/// port-forward echo server.
#[derive(Debug)]
pub(crate) struct NodeHost {
    log_file: PathBuf,
    exec_dir: PathBuf,
    echo: EchoServer,
    stop: Arc<AtomicBool>,
    feeder: Mutex<Option<thread::JoinHandle<()>>>,
}

impl NodeHost {
    /// Creates `dir/pod.log` (with the first lines) and `dir/exec/`, and starts the feeder
    /// and the echo server.
    pub(crate) fn start(dir: &Path) -> anyhow::Result<NodeHost> {
        let exec_dir = dir.join("exec");
        fs::create_dir_all(&exec_dir)?;
        let log_file = dir.join("pod.log");
        let mut log = OpenOptions::new().create(true).append(true).open(&log_file)?;
        for n in 1..=FIRST_LINES {
            log.write_all(cri_line(n).as_bytes())?;
        }
        let echo = EchoServer::start()?;
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let stop = stop.clone();
            thread::Builder::new().name("testenv-pod-log".into()).spawn(move || {
                let mut n = FIRST_LINES;
                'feed: while !stop.load(Ordering::Acquire) {
                    let until = std::time::Instant::now() + LOG_INTERVAL;
                    while std::time::Instant::now() < until {
                        if stop.load(Ordering::Acquire) {
                            break 'feed;
                        }
                        thread::sleep(Duration::from_millis(50));
                    }
                    n += 1;
                    if log.write_all(cri_line(n).as_bytes()).is_err() {
                        break;
                    }
                }
            })?
        };
        Ok(NodeHost { log_file, exec_dir, echo, stop, feeder: Mutex::new(Some(feeder)) })
    }

    pub(crate) fn log_file(&self) -> &Path {
        &self.log_file
    }

    pub(crate) fn exec_dir(&self) -> &Path {
        &self.exec_dir
    }

    pub(crate) fn echo_addr(&self) -> SocketAddr {
        self.echo.addr
    }

    pub(crate) fn echoed_bytes(&self) -> u64 {
        self.echo.shared.echoed.load(Ordering::Acquire)
    }

    /// Stops the feeder and the echo server (closing its connections). Idempotent.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(feeder) = self.feeder.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = feeder.join();
        }
        self.echo.stop();
    }

    /// kwok's configuration: options (its kubelet API on `server`, TLS, which nodes it
    /// manages), the stages that make nodes Ready and pods Running, and where logs,
    /// attach, exec and port-forward of every pod go.
    pub(crate) fn kwok_config(&self, server: SocketAddr, cert: &Path, key: &Path) -> String {
        let q = |p: &Path| serde_json::to_string(&p.display().to_string()).expect("a path as JSON");
        format!(
            "apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: 10.244.0.0/16
  nodeIP: {ip}
  nodePort: {port}
  serverAddress: {server}
  tlsCertFile: {cert}
  tlsPrivateKeyFile: {key}
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  nodeLeaseDurationSeconds: 40
  # kwok applies its defaults only without a config file: these are its defaults.
  nodeLeaseParallelism: 4
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: true
  enableProfilingHandler: false
  enableContentionProfiling: false
{STAGES}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: testenv-logs
spec:
  logs:
  - logsFile: {log}
    follow: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterAttach
metadata:
  name: testenv-attach
spec:
  attaches:
  - logsFile: {log}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: testenv-exec
spec:
  execs:
  - local:
      workDir: {exec}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: testenv-port-forward
spec:
  forwards:
  - target:
      address: {echo_ip}
      port: {echo_port}
",
            ip = server.ip(),
            port = server.port(),
            cert = q(cert),
            key = q(key),
            log = q(&self.log_file),
            exec = q(&self.exec_dir),
            echo_ip = self.echo.addr.ip(),
            echo_port = self.echo.addr.port(),
        )
    }
}

impl Drop for NodeHost {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Node objects (JSON `List`) for [`NODE_NAMES`].
pub(crate) fn node_manifest() -> String {
    let items: Vec<serde_json::Value> = NODE_NAMES
        .iter()
        .map(|name| {
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                },
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// True if the NodeList has every node of [`NODE_NAMES`] Ready and free of the
/// `not-ready`/`unreachable` taints (which kube-controller-manager lifts once kwok
/// reports Ready), so pods can be scheduled on them.
pub(crate) fn nodes_schedulable(list: &serde_json::Value) -> bool {
    NODE_NAMES.iter().all(|name| {
        list["items"].as_array().into_iter().flatten().any(|n| {
            let ready = n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let tainted = n["spec"]["taints"].as_array().into_iter().flatten().any(|t| {
                t["key"].as_str().is_some_and(|k| k == "node.kubernetes.io/not-ready" || k == "node.kubernetes.io/unreachable")
            });
            n["metadata"]["name"] == *name && ready && !tainted
        })
    })
}

/// Line `n` of the container log, in the CRI log format kwok reads.
fn cri_line(n: u64) -> String {
    format!("{} stdout F {POD_LOG_TEXT} {n}\n", rfc3339_nanos(SystemTime::now()))
}

/// `2006-01-02T15:04:05.000000000Z` (UTC).
fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[derive(Debug, Default)]
struct EchoShared {
    stop: AtomicBool,
    echoed: AtomicU64,
    open: Mutex<Vec<TcpStream>>,
}

/// A TCP echo server on loopback: writes back every byte it reads.
#[derive(Debug)]
struct EchoServer {
    addr: SocketAddr,
    shared: Arc<EchoShared>,
    acceptor: Mutex<Option<thread::JoinHandle<()>>>,
}

impl EchoServer {
    fn start() -> anyhow::Result<EchoServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(EchoShared::default());
        let acceptor = {
            let shared = shared.clone();
            thread::Builder::new().name("testenv-echo".into()).spawn(move || {
                while !shared.stop.load(Ordering::Acquire) {
                    let conn = match listener.accept() {
                        Ok((conn, _)) => conn,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                        Err(_) => continue,
                    };
                    let _ = conn.set_nonblocking(false);
                    if let Ok(c) = conn.try_clone() {
                        let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
                        open.retain(|s| s.peer_addr().is_ok());
                        open.push(c);
                    }
                    let shared = shared.clone();
                    let _ = thread::Builder::new().name("testenv-echo-conn".into()).spawn(move || echo(conn, &shared));
                }
            })?
        };
        Ok(EchoServer { addr, shared, acceptor: Mutex::new(Some(acceptor)) })
    }

    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        for s in self.shared.open.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(a) = self.acceptor.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = a.join();
        }
    }
}

fn echo(mut conn: TcpStream, shared: &EchoShared) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                shared.echoed.fetch_add(n as u64, Ordering::AcqRel);
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::new(951_782_400 + 3_723, 5); // 2000-02-29T01:02:03
        assert_eq!(rfc3339_nanos(t), "2000-02-29T01:02:03.000000005Z");
        assert_eq!(rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // 2025-12-31T23:59:59
        assert_eq!(rfc3339_nanos(t), "2025-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn echo_server_echoes_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let host = NodeHost::start(dir.path()).unwrap();
        let mut c = TcpStream::connect(host.echo_addr()).unwrap();
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        assert!(host.echoed_bytes() >= 4);
        let log = fs::read_to_string(host.log_file()).unwrap();
        assert_eq!(log.lines().count() as u64, FIRST_LINES);
        assert!(log.lines().next().unwrap().ends_with(&format!("stdout F {POD_LOG_TEXT} 1")), "{log}");
        host.stop();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest); // closed by stop
        assert!(rest.is_empty());
    }
}

//! A real etcd + kube-apiserver + kube-controller-manager on loopback.

use std::ffi::OsString;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::http::{http_get, https_get, Trust};
use crate::pki::{kubeconfig_yaml, Pki};
use crate::process::{self, stop_all, Process};

/// The Kubernetes version the cached binaries are built at (tools/controlplane/VERSION).
pub const KUBERNETES_VERSION: &str = "v1.37.2";

const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const TEMP_PREFIX: &str = "vcproxy-testenv-";

/// The directory holding `kube-apiserver`, `kube-controller-manager`, `kubectl`
/// and `etcd`: `$VCPROXY_K8S_BIN` if set, else the last line printed by
/// `tools/controlplane/build.sh` (which builds them into a cache first if needed).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    static CACHED: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = CACHED.get() {
        return Ok(dir.clone());
    }
    let dir = match std::env::var_os("VCPROXY_K8S_BIN") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let script = Path::new(REPO_ROOT).join("tools/controlplane/build.sh");
            let mut cmd = Command::new("bash");
            cmd.arg(&script);
            let out = process::output(cmd).with_context(|| format!("running {}", script.display()))?;
            if !out.status.success() {
                bail!("{} failed ({}):\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            if last.is_empty() {
                bail!("{} printed no bin dir", script.display());
            }
            PathBuf::from(last)
        }
    };
    for b in ["kube-apiserver", "kube-controller-manager", "kubectl", "etcd"] {
        if !dir.join(b).is_file() {
            bail!("{} has no {b}", dir.display());
        }
    }
    Ok(CACHED.get_or_init(|| dir).clone())
}

/// Path of the real `kubectl` matching the control plane.
pub fn kubectl_path() -> anyhow::Result<PathBuf> {
    Ok(bin_dir()?.join("kubectl"))
}

/// A free TCP port on 127.0.0.1 (bound to port 0 and read back).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running etcd, kube-apiserver and kube-controller-manager. Dropping it (or
/// [`stop`](Self::stop)) stops them in reverse order and removes its temp dir.
#[derive(Debug)]
pub struct ControlPlane {
    dir: PathBuf,
    temp: Mutex<Option<tempfile::TempDir>>,
    bin_dir: PathBuf,
    pki: Pki,
    etcd_url: String,
    apiserver_url: String,
    admin_kubeconfig: PathBuf,
    started_in: Duration,
    // Stopped in reverse start order by stop(); etcd and kube-apiserver can be restarted (the
    // fault tests), on the same ports and data.
    etcd: Mutex<Process>,
    etcd_cmd: (PathBuf, Vec<OsString>),
    apiserver: Mutex<Process>,
    apiserver_cmd: (PathBuf, Vec<OsString>),
    controller_manager: Process,
}

impl ControlPlane {
    /// Starts a control plane in a fresh temp dir (removed on stop).
    pub fn start() -> anyhow::Result<ControlPlane> {
        clean_stale_temp_dirs();
        retry_port_clash(|| {
            let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir()?;
            fs::write(temp.path().join("owner.pid"), std::process::id().to_string())?;
            let dir = temp.path().to_path_buf();
            Self::start_at(dir, Some(temp))
        })
    }

    /// Starts a control plane whose files live in `dir` (wiped first, kept on stop).
    pub fn start_in(dir: &Path) -> anyhow::Result<ControlPlane> {
        retry_port_clash(|| {
            if dir.exists() {
                fs::remove_dir_all(dir).with_context(|| format!("wiping {}", dir.display()))?;
            }
            fs::create_dir_all(dir)?;
            Self::start_at(dir.canonicalize()?, None)
        })
    }

    fn start_at(dir: PathBuf, temp: Option<tempfile::TempDir>) -> anyhow::Result<ControlPlane> {
        let t0 = Instant::now();
        let bin_dir = bin_dir()?;
        let pki = Pki::generate(&dir.join("pki"))?;

        // etcd
        let data = dir.join("etcd-data");
        fs::create_dir_all(&data)?;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(bin_dir.join("etcd"));
        cmd.arg("--name=default")
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        let etcd_cmd = (cmd.get_program().into(), cmd.get_args().map(OsString::from).collect());
        let etcd = Process::spawn("etcd", cmd, &dir.join("etcd.log"))?;
        wait_until(&[&etcd], Duration::from_secs(30), "etcd /health", || {
            Ok(http_get(&format!("{etcd_url}/health"))?.text().contains("\"health\":\"true\""))
        })?;

        // kube-apiserver
        let api_port = free_port()?;
        let apiserver_url = format!("https://127.0.0.1:{api_port}");
        let cert_dir = dir.join("apiserver-certs");
        fs::create_dir_all(&cert_dir)?;
        let mut cmd = Command::new(bin_dir.join("kube-apiserver"));
        cmd.arg(format!("--etcd-servers={etcd_url}"))
            .arg(format!("--cert-dir={}", cert_dir.display()))
            .arg(format!("--tls-cert-file={}", pki.apiserver.cert_file.display()))
            .arg(format!("--tls-private-key-file={}", pki.apiserver.key_file.display()))
            .arg(format!("--client-ca-file={}", pki.ca.cert_file.display()))
            .arg(format!("--secure-port={api_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", pki.sa_pub_file.display()))
            .arg(format!("--service-account-signing-key-file={}", pki.sa_key_file.display()))
            .arg("--authorization-mode=RBAC")
            .arg("--allow-privileged=true")
            .arg("--endpoint-reconciler-type=none")
            .arg("--profiling=false");
        let apiserver_cmd = (cmd.get_program().into(), cmd.get_args().map(OsString::from).collect());
        let apiserver = Process::spawn("kube-apiserver", cmd, &dir.join("kube-apiserver.log"))?;

        let admin_kubeconfig = dir.join("admin.kubeconfig");
        fs::write(
            &admin_kubeconfig,
            kubeconfig_yaml(&apiserver_url, &pki.ca.cert_pem, "admin", &pki.admin.cert_pem, &pki.admin.key_pem),
        )?;
        fs::write(
            dir.join("vcproxy.kubeconfig"),
            kubeconfig_yaml(&apiserver_url, &pki.ca.cert_pem, "vcproxy", &pki.vcproxy.cert_pem, &pki.vcproxy.key_pem),
        )?;

        let deadline = t0 + READY_TIMEOUT;
        wait_until(
            &[&etcd, &apiserver],
            deadline.saturating_duration_since(Instant::now()),
            "kube-apiserver /readyz",
            || Ok(admin_get(&apiserver_url, &pki, "/readyz")?.status == 200),
        )?;

        // kube-controller-manager (it gives up if the apiserver is not healthy
        // within 10 s, so it starts only now).
        let mut cmd = Command::new(bin_dir.join("kube-controller-manager"));
        cmd.arg(format!("--kubeconfig={}", admin_kubeconfig.display()))
            .arg("--leader-elect=false")
            .arg("--controllers=*")
            .arg(format!("--root-ca-file={}", pki.ca.cert_file.display()))
            .arg(format!("--service-account-private-key-file={}", pki.sa_key_file.display()))
            .arg(format!("--cluster-signing-cert-file={}", pki.ca.cert_file.display()))
            .arg(format!("--cluster-signing-key-file={}", pki.ca.key_file.display()))
            .arg("--use-service-account-credentials=false")
            .arg("--secure-port=0");
        let controller_manager =
            Process::spawn("kube-controller-manager", cmd, &dir.join("kube-controller-manager.log"))?;

        let mut cp = ControlPlane {
            dir,
            temp: Mutex::new(temp),
            bin_dir,
            etcd_url,
            apiserver_url,
            admin_kubeconfig,
            started_in: Duration::ZERO,
            etcd: Mutex::new(etcd),
            etcd_cmd,
            apiserver: Mutex::new(apiserver),
            apiserver_cmd,
            controller_manager,
            pki,
        };
        // The controller manager works once it has made the default namespace's
        // service account.
        let (etcd, apiserver) = (lock(&cp.etcd), lock(&cp.apiserver));
        let all = [&*etcd, &*apiserver, &cp.controller_manager];
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(10));
        wait_until(&all, left, "kube-controller-manager (default service account)", || {
            Ok(admin_get(&cp.apiserver_url, &cp.pki, "/api/v1/namespaces/default/serviceaccounts/default")?.status
                == 200)
        })?;
        drop((etcd, apiserver));
        cp.started_in = t0.elapsed();
        Ok(cp)
    }

    /// Stops kube-controller-manager and kube-apiserver, then etcd, and removes
    /// the temp dir (if this control plane owns one). Idempotent.
    pub fn stop(&self) {
        stop_all(&[&self.controller_manager, &lock(&self.apiserver)]);
        stop_all(&[&lock(&self.etcd)]);
        let temp = self.temp.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(temp);
    }

    /// Process ids, for benchmarks that read a component's CPU time from /proc.
    pub fn apiserver_pid(&self) -> u32 {
        lock(&self.apiserver).pid()
    }

    pub fn etcd_pid(&self) -> u32 {
        lock(&self.etcd).pid()
    }

    /// Stops kube-apiserver (SIGTERM, then SIGKILL), leaving etcd and the controller manager.
    pub fn stop_apiserver(&self) {
        lock(&self.apiserver).stop();
    }

    /// Starts kube-apiserver again on its port and waits for its /readyz.
    pub fn start_apiserver(&self) -> anyhow::Result<()> {
        let mut apiserver = lock(&self.apiserver);
        *apiserver = respawn(&apiserver, &self.apiserver_cmd)?;
        wait_until(&[&apiserver], READY_TIMEOUT, "kube-apiserver /readyz after a restart", || {
            Ok(admin_get(&self.apiserver_url, &self.pki, "/readyz")?.status == 200)
        })
    }

    /// Stops etcd (SIGTERM, then SIGKILL); its data stays.
    pub fn stop_etcd(&self) {
        lock(&self.etcd).stop();
    }

    /// Starts etcd again on its ports and data, and waits for its /health.
    pub fn start_etcd(&self) -> anyhow::Result<()> {
        let mut etcd = lock(&self.etcd);
        *etcd = respawn(&etcd, &self.etcd_cmd)?;
        let url = self.etcd_url.clone();
        wait_until(&[&etcd], Duration::from_secs(30), "etcd /health after a restart", || {
            Ok(http_get(&format!("{url}/health"))?.text().contains("\"health\":\"true\""))
        })
    }

    /// `https://127.0.0.1:PORT` of kube-apiserver.
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// `http://127.0.0.1:PORT` of etcd's client endpoint.
    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    /// The CA that signed the apiserver's serving cert and the client certs.
    pub fn ca_file(&self) -> &Path {
        &self.pki.ca.cert_file
    }

    /// A kubeconfig (embedded data) for CN=admin, O=system:masters.
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The proxy's upstream identity: CN=vcproxy, O=system:masters.
    pub fn proxy_client_cert(&self) -> &Path {
        &self.pki.vcproxy.cert_file
    }

    pub fn proxy_client_key(&self) -> &Path {
        &self.pki.vcproxy.key_file
    }

    pub fn admin_client_cert(&self) -> &Path {
        &self.pki.admin.cert_file
    }

    pub fn admin_client_key(&self) -> &Path {
        &self.pki.admin.key_file
    }

    /// All generated keys and certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Where the control plane's files (pki, etcd data, logs) live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    pub fn kubectl_path(&self) -> PathBuf {
        self.bin_dir.join("kubectl")
    }

    /// How long [`start`](Self::start) took until everything was ready.
    pub fn startup_time(&self) -> Duration {
        self.started_in
    }

    /// Runs the real kubectl with `--kubeconfig <kubeconfig>` and `args`.
    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.kubectl_path());
        cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
        process::output(cmd).expect("running kubectl")
    }

    /// [`kubectl`](Self::kubectl) as the super apiserver's admin.
    pub fn admin_kubectl(&self, args: &[&str]) -> Output {
        self.kubectl(&self.admin_kubeconfig, args)
    }

    /// True while etcd, kube-apiserver and kube-controller-manager all run.
    pub fn is_running(&self) -> bool {
        [&*lock(&self.etcd), &*lock(&self.apiserver), &self.controller_manager].iter().all(|p| p.is_running())
    }

    /// The last lines of every component's log, for error messages.
    pub fn log_tails(&self, lines: usize) -> String {
        log_tails(&[&*lock(&self.etcd), &*lock(&self.apiserver), &self.controller_manager], lines)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(p: &Mutex<Process>) -> std::sync::MutexGuard<'_, Process> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stopped component started again with the same command line and log.
fn respawn(old: &Process, (program, args): &(PathBuf, Vec<OsString>)) -> anyhow::Result<Process> {
    old.stop();
    let mut cmd = Command::new(program);
    cmd.args(args);
    Ok(Process::spawn(old.name(), cmd, old.log_path())?.with_stop_timeout(old.stop_timeout()))
}

/// Runs `start` again (up to 3 times in all) when it failed because a port
/// picked as free was taken before the component bound it.
pub(crate) fn retry_port_clash<T>(mut start: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(e) if attempt < 3 && format!("{e:#}").to_ascii_lowercase().contains("address already in use") => {
                eprintln!("vcproxy-testenv: port clash, retrying: {}", format!("{e:#}").lines().next().unwrap_or(""));
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn admin_get(apiserver_url: &str, pki: &Pki, path: &str) -> anyhow::Result<crate::http::Response> {
    https_get(
        &format!("{apiserver_url}{path}"),
        Trust::CaFile(&pki.ca.cert_file),
        Some((&pki.admin.cert_file, &pki.admin.key_file)),
    )
}

fn log_tails(procs: &[&Process], lines: usize) -> String {
    procs
        .iter()
        .map(|p| {
            let state = match p.try_wait() {
                Some(status) => format!("exited: {status}"),
                None => "running".to_string(),
            };
            format!("--- {} (pid {}, {state}) {} ---\n{}", p.name(), p.pid(), p.log_path().display(), p.log_tail(lines))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls `ready` every 100 ms until it returns true, failing fast if a process
/// in `procs` exits, and failing with their log tails after `timeout`.
pub(crate) fn wait_until(
    procs: &[&Process],
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let last_err = match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => "not ready yet".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if let Some(p) = procs.iter().find(|p| !p.is_running()) {
            bail!("{} exited while waiting for {what} (last probe: {last_err})\n{}", p.name(), log_tails(procs, 40));
        }
        if start.elapsed() >= timeout {
            bail!(
                "timed out after {:?} waiting for {what} (last probe: {last_err})\n{}",
                timeout,
                log_tails(procs, 40)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Removes temp dirs left by test processes that were SIGKILLed (their
/// children died with them through PDEATHSIG; only the files remain).
fn clean_stale_temp_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if !is_ours {
            continue;
        }
        let Some(pid) = fs::read_to_string(path.join("owner.pid")).ok().and_then(|s| s.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// One control plane per test binary, started on first use. Statics are never
/// dropped, so an `atexit` handler stops it (gracefully) and removes its temp
/// dir when the process exits — also after failed tests, since the test harness
/// leaves through `process::exit`. If the process is killed instead, PDEATHSIG
/// kills the children and the next start removes the stale temp dir.
///
/// Panics (in every caller) if the control plane could not be started.
pub fn shared() -> &'static ControlPlane {
    let cp = SHARED.get_or_init(|| {
        let result = ControlPlane::start().map_err(|e| format!("{e:#}"));
        if result.is_ok() {
            // SAFETY: registering a plain extern "C" function.
            unsafe { libc::atexit(stop_shared) };
        }
        result
    });
    match cp {
        Ok(cp) => cp,
        Err(e) => panic!("starting the shared control plane failed: {e}"),
    }
}

extern "C" fn stop_shared() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(cp)) = SHARED.get() {
            cp.stop();
        }
    });
}

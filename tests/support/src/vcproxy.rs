//! A running `vcproxy serve` in front of a [`ControlPlane`].

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::controlplane::{free_port, kubectl_path, retry_port_clash, wait_until, ControlPlane};
use crate::http::{http_get, https_get, Trust};
use crate::process::{self, Process};

/// How to start a [`Vcproxy`]; `Default` gives free ports in a fresh temp dir.
#[derive(Debug, Clone)]
pub struct VcproxyOptions {
    /// Directory for `vcproxy.toml`, `vcproxy.log`, `pki/` and tenant
    /// kubeconfigs. `None`: a temp dir removed on drop.
    pub dir: Option<PathBuf>,
    /// Tenant listener; `None`: a free port on 127.0.0.1.
    pub listen: Option<SocketAddr>,
    /// Admin (metrics) listener; `None`: a free port on 127.0.0.1.
    pub admin_listen: Option<SocketAddr>,
    pub drain_seconds: u64,
    pub etcd_prefix: String,
    /// TOML appended to the generated config (e.g. a `[policy]` section).
    pub extra_toml: String,
    pub ready_timeout: Duration,
    /// The URL tenants' kubeconfigs name (a load balancer's); `None`: this proxy's own.
    pub public_url: Option<String>,
    /// A `pki/` directory of another proxy whose serving certificate this one presents too
    /// (replicas behind one URL); `None`: the proxy makes its own.
    pub serving_pki: Option<PathBuf>,
    /// The fleet whose seats this proxy shares; `None`: a fleet of its own, so that test
    /// proxies on the shared control plane do not split each other's seats.
    pub fleet: Option<String>,
    /// The super apiserver URL vcproxy dials (a [`crate::FaultyRelay`]'s); `None`: the control plane's.
    pub upstream_url: Option<String>,
}

impl Default for VcproxyOptions {
    fn default() -> Self {
        VcproxyOptions {
            dir: None,
            listen: None,
            admin_listen: None,
            drain_seconds: 5,
            etcd_prefix: "/vcproxy".into(),
            extra_toml: String::new(),
            ready_timeout: Duration::from_secs(30),
            public_url: None,
            serving_pki: None,
            fleet: None,
            upstream_url: None,
        }
    }
}

/// A `vcproxy serve` process, stopped (SIGTERM, drain, SIGKILL) on drop.
#[derive(Debug)]
pub struct Vcproxy {
    bin: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    url: String,
    admin_url: String,
    process: Option<Process>,
    temp: Option<tempfile::TempDir>,
}

impl Vcproxy {
    /// Starts vcproxy against `cp` on free ports in a temp dir.
    pub fn start(vcproxy_bin: &Path, cp: &ControlPlane) -> anyhow::Result<Vcproxy> {
        Self::start_with(vcproxy_bin, cp, VcproxyOptions::default())
    }

    /// Like [`start`](Self::start) with `extra_toml` appended to the config.
    pub fn start_with_config(vcproxy_bin: &Path, cp: &ControlPlane, extra_toml: &str) -> anyhow::Result<Vcproxy> {
        Self::start_with(vcproxy_bin, cp, VcproxyOptions { extra_toml: extra_toml.into(), ..Default::default() })
    }

    pub fn start_with(vcproxy_bin: &Path, cp: &ControlPlane, opts: VcproxyOptions) -> anyhow::Result<Vcproxy> {
        if opts.listen.is_none() || opts.admin_listen.is_none() {
            retry_port_clash(|| Self::start_once(vcproxy_bin, cp, &opts))
        } else {
            Self::start_once(vcproxy_bin, cp, &opts)
        }
    }

    fn start_once(vcproxy_bin: &Path, cp: &ControlPlane, opts: &VcproxyOptions) -> anyhow::Result<Vcproxy> {
        let (dir, temp) = match &opts.dir {
            Some(dir) => {
                fs::create_dir_all(dir)?;
                (dir.canonicalize()?, None)
            }
            None => {
                let temp = tempfile::Builder::new().prefix("vcproxy-testenv-proxy-").tempdir()?;
                fs::write(temp.path().join("owner.pid"), std::process::id().to_string())?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let listen = match opts.listen {
            Some(a) => a,
            None => SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        };
        let admin_listen = match opts.admin_listen {
            Some(a) => a,
            None => SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        };
        let url = format!("https://{listen}");
        let admin_url = format!("http://{admin_listen}");
        let public_url = opts.public_url.clone().unwrap_or_else(|| url.clone());
        let serving = match &opts.serving_pki {
            Some(pki) => format!(
                "cert_file = {:?}\nkey_file = {:?}\nca_file = {:?}\n",
                pki.join("serving.crt").display().to_string(),
                pki.join("serving.key").display().to_string(),
                pki.join("ca.crt").display().to_string()
            ),
            None => String::new(),
        };
        let fleet = opts.fleet.clone().unwrap_or_else(|| format!("solo-{}", admin_listen.port()));
        let mut toml = format!(
            r#"[server]
listen = "{listen}"
admin_listen = "{admin_listen}"
public_url = "{public_url}"
drain_seconds = {drain}
{serving}
[fleet]
name = "{fleet}"

[upstream]
url = "{upstream}"
ca_file = {ca:?}
client_cert_file = {cert:?}
client_key_file = {key:?}

[etcd]
endpoints = ["{etcd}"]
prefix = "{prefix}"
"#,
            drain = opts.drain_seconds,
            upstream = opts.upstream_url.as_deref().unwrap_or(cp.apiserver_url()),
            ca = cp.ca_file().display().to_string(),
            cert = cp.proxy_client_cert().display().to_string(),
            key = cp.proxy_client_key().display().to_string(),
            etcd = cp.etcd_url(),
            prefix = opts.etcd_prefix,
        );
        if !opts.extra_toml.is_empty() {
            let _ = write!(toml, "\n{}\n", opts.extra_toml.trim_end());
        }
        let config = dir.join("vcproxy.toml");
        fs::write(&config, toml).with_context(|| format!("writing {}", config.display()))?;

        let mut cmd = Command::new(vcproxy_bin);
        cmd.arg("serve").arg("--config").arg(&config).current_dir(&dir);
        let process = Process::spawn("vcproxy", cmd, &dir.join("vcproxy.log"))?
            .with_stop_timeout(Duration::from_secs(opts.drain_seconds + 5));
        let vcproxy =
            Vcproxy { bin: vcproxy_bin.to_path_buf(), dir, config, url, admin_url, process: Some(process), temp };
        let readyz = format!("{}/readyz", vcproxy.url);
        let result = wait_until(&[vcproxy.process()], opts.ready_timeout, "vcproxy /readyz", || {
            // The proxy makes its own CA on first start; readiness is about
            // serving, so this one probe does not verify the certificate.
            Ok(https_get(&readyz, Trust::Insecure, None)?.status == 200)
        });
        if let Err(e) = result {
            vcproxy.stop();
            // The message already has the log's tail; the temp dir goes away with `vcproxy`.
            return Err(e.context(format!(
                "starting {} serve --config {}",
                vcproxy_bin.display(),
                vcproxy.config.display()
            )));
        }
        Ok(vcproxy)
    }

    fn process(&self) -> &Process {
        self.process.as_ref().expect("process present until drop")
    }

    /// The public (tenant) URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT` of the admin listener (`/metrics`).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The proxy's generated CA (`<config dir>/pki/ca.crt`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("pki/ca.crt")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("vcproxy.log")
    }

    /// Everything vcproxy printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.process().pid()
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) unless it has already exited.
    pub fn signal(&self, sig: libc::c_int) -> std::io::Result<()> {
        self.process().signal(sig)
    }

    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        self.process().wait_timeout(timeout)
    }

    pub fn try_wait(&self) -> Option<ExitStatus> {
        self.process().try_wait()
    }

    /// SIGTERM, wait up to drain_seconds + 5 s, SIGKILL. Idempotent.
    pub fn stop(&self) -> Option<ExitStatus> {
        self.process().stop()
    }

    /// Runs `vcproxy tenant <args...> --config <file>`.
    pub fn tenant(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.bin);
        // `--config` goes right after the subcommand, so callers may end their
        // arguments with `--` to pass names that look like flags.
        let (sub, rest) = args.split_first().expect("a tenant subcommand");
        cmd.arg("tenant").arg(sub).arg("--config").arg(&self.config).args(rest).current_dir(&self.dir);
        process::output(cmd).expect("running vcproxy tenant")
    }

    /// Where [`create_tenant`](Self::create_tenant) writes `name`'s kubeconfig.
    pub fn kubeconfig_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.kubeconfig"))
    }

    /// `vcproxy tenant create <name>`: returns the kubeconfig YAML it prints and
    /// writes it to [`kubeconfig_path`](Self::kubeconfig_path).
    pub fn create_tenant(&self, name: &str) -> anyhow::Result<String> {
        let out = self.tenant(&["create", name]);
        if !out.status.success() {
            bail!(
                "vcproxy tenant create {name} failed ({}):\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let yaml = String::from_utf8(out.stdout).context("kubeconfig is not UTF-8")?;
        let path = self.kubeconfig_path(name);
        fs::write(&path, &yaml).with_context(|| format!("writing {}", path.display()))?;
        Ok(yaml)
    }

    /// [`create_tenant`](Self::create_tenant), returning the kubeconfig's path.
    pub fn create_tenant_kubeconfig(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.create_tenant(name)?;
        Ok(self.kubeconfig_path(name))
    }

    /// Runs the real kubectl with `--kubeconfig <kubeconfig>` and `args`.
    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(kubectl_path().expect("kubectl"));
        cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
        process::output(cmd).expect("running kubectl")
    }

    /// `GET <admin_url>/metrics` as text.
    pub fn metrics(&self) -> anyhow::Result<String> {
        let r = http_get(&format!("{}/metrics", self.admin_url))?;
        if r.status != 200 {
            bail!("GET /metrics: {}", r.status);
        }
        Ok(r.text())
    }
}

impl Drop for Vcproxy {
    fn drop(&mut self) {
        drop(self.process.take()); // stops it
        drop(self.temp.take());
    }
}

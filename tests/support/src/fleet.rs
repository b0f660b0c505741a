//! N `vcproxy serve` replicas behind one HAProxy (TCP passthrough, health checks on `/readyz`):
//! what operators run, for the demo, the fault tests and the harness.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::controlplane::{free_port, retry_port_clash, wait_until, ControlPlane};
use crate::http::http_get;
use crate::process::Process;
use crate::vcproxy::{Vcproxy, VcproxyOptions};

/// How to start a [`Fleet`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub replicas: usize,
    /// Directory for `haproxy.cfg`, its log and `replica-<i>/`; `None`: a temp dir.
    pub dir: Option<PathBuf>,
    /// The load balancer's address, the one URL tenants use; `None`: a free port.
    pub listen: Option<SocketAddr>,
    /// Replica `i` serves tenants on `base_port + i` and its admin listener on
    /// `admin_base_port + i`; `None`: free ports.
    pub base_port: Option<u16>,
    pub admin_base_port: Option<u16>,
    /// The fleet name in every replica's `[fleet]` (they share seats).
    pub fleet: String,
    /// TOML appended to every replica's config (a `[policy]`, `[limits]` …).
    pub extra_toml: String,
    pub drain_seconds: u64,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            replicas: 3,
            dir: None,
            listen: None,
            base_port: None,
            admin_base_port: None,
            fleet: "default".into(),
            extra_toml: String::new(),
            drain_seconds: 5,
        }
    }
}

/// Replicas of vcproxy and the HAProxy in front of them; all stopped on drop.
#[derive(Debug)]
pub struct Fleet {
    bin: PathBuf,
    dir: PathBuf,
    url: String,
    stats_url: String,
    opts: FleetOptions,
    /// `(tenant listener, admin listener)` of each replica, fixed for restarts.
    addrs: Vec<(SocketAddr, SocketAddr)>,
    replicas: Vec<Option<Vcproxy>>,
    /// Started once every replica is ready.
    haproxy: Option<Process>,
    _temp: Option<tempfile::TempDir>,
}

impl Fleet {
    /// Starts `opts.replicas` replicas against `cp`, then HAProxy, and waits until HAProxy sees
    /// every replica up.
    pub fn start(vcproxy_bin: &Path, cp: &ControlPlane, opts: FleetOptions) -> anyhow::Result<Fleet> {
        if opts.replicas == 0 {
            bail!("a fleet needs at least one replica");
        }
        let haproxy = haproxy_path()?;
        let (dir, temp) = match &opts.dir {
            Some(d) => {
                fs::create_dir_all(d)?;
                (d.canonicalize()?, None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("vcproxy-testenv-fleet-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let port = |base: Option<u16>, i: usize| -> anyhow::Result<u16> {
            match base {
                Some(b) => Ok(b + i as u16),
                None => free_port(),
            }
        };
        let lb = match opts.listen {
            Some(a) => a,
            None => SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        };
        let mut addrs = Vec::new();
        for i in 0..opts.replicas {
            let tenant = SocketAddr::from(([127, 0, 0, 1], port(opts.base_port, i)?));
            let admin = SocketAddr::from(([127, 0, 0, 1], port(opts.admin_base_port, i)?));
            addrs.push((tenant, admin));
        }
        let stats = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut fleet = Fleet {
            bin: vcproxy_bin.to_path_buf(),
            dir: dir.clone(),
            url: format!("https://{lb}"),
            stats_url: format!("http://{stats}/stats;csv"),
            opts,
            addrs,
            replicas: Vec::new(),
            haproxy: None,
            _temp: temp,
        };
        for i in 0..fleet.opts.replicas {
            let replica = fleet.start_replica(cp, i)?;
            fleet.replicas.push(Some(replica));
        }
        fleet.haproxy = Some(spawn_haproxy(&haproxy, &dir, lb, stats, &fleet.addrs)?);
        fleet.wait_up(fleet.opts.replicas, Duration::from_secs(20))?;
        Ok(fleet)
    }

    fn start_replica(&self, cp: &ControlPlane, i: usize) -> anyhow::Result<Vcproxy> {
        let (listen, admin) = self.addrs[i];
        let opts = VcproxyOptions {
            dir: Some(self.dir.join(format!("replica-{i}"))),
            listen: Some(listen),
            admin_listen: Some(admin),
            drain_seconds: self.opts.drain_seconds,
            extra_toml: self.opts.extra_toml.clone(),
            public_url: Some(self.url.clone()),
            // One serving certificate for the one URL: replica 0 makes it, the others present it.
            serving_pki: (i > 0).then(|| self.dir.join("replica-0/pki")),
            fleet: Some(self.opts.fleet.clone()),
            ..Default::default()
        };
        Vcproxy::start_with(&self.bin, cp, opts).with_context(|| format!("starting replica {i}"))
    }

    /// The load balancer's URL, the one tenants' kubeconfigs name.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replica `i` (panics if it was killed and not restarted).
    pub fn replica(&self, i: usize) -> &Vcproxy {
        self.replicas[i].as_ref().expect("replica is running")
    }

    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The fleet's CA (every replica presents replica 0's certificate).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("replica-0/pki/ca.crt")
    }

    /// SIGKILLs replica `i` (no drain, no lease revoked: the way a node dies).
    pub fn kill(&mut self, i: usize) {
        if let Some(r) = self.replicas[i].take() {
            let _ = r.signal(libc::SIGKILL);
            r.wait_timeout(Duration::from_secs(5));
        }
    }

    /// Starts replica `i` again on its old ports.
    pub fn restart(&mut self, cp: &ControlPlane, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        let r = retry_port_clash(|| self.start_replica(cp, i))?;
        self.replicas[i] = Some(r);
        Ok(())
    }

    /// How many replicas HAProxy's health checks see as up.
    pub fn up(&self) -> anyhow::Result<usize> {
        let csv = http_get(&self.stats_url)?.text();
        Ok(csv.lines().filter(|l| l.starts_with("vcproxy,r") && l.split(',').nth(17) == Some("UP")).count())
    }

    /// Waits until HAProxy sees exactly `n` replicas up.
    pub fn wait_up(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let haproxy = self.haproxy.as_ref().expect("HAProxy is started with the fleet");
        wait_until(&[haproxy], timeout, &format!("{n} replicas up behind HAProxy"), || Ok(self.up()? == n))
            .with_context(|| format!("after {:?}", start.elapsed()))
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        drop(self.haproxy.take());
        for r in self.replicas.iter_mut() {
            drop(r.take());
        }
    }
}

/// What tenants talk to: one vcproxy, or replicas of one fleet behind HAProxy.
#[derive(Debug)]
pub enum Front {
    One(Vcproxy),
    Fleet(Fleet),
}

impl Front {
    /// The URL in tenants' kubeconfigs.
    pub fn url(&self) -> &str {
        match self {
            Front::One(p) => p.url(),
            Front::Fleet(f) => f.url(),
        }
    }

    /// Every running replica (the one proxy, for `One`).
    pub fn replicas(&self) -> Vec<&Vcproxy> {
        match self {
            Front::One(p) => vec![p],
            Front::Fleet(f) => f.replicas.iter().flatten().collect(),
        }
    }

    /// The first replica, whose CLI creates tenants (they are in etcd, for every replica).
    pub fn first(&self) -> &Vcproxy {
        self.replicas()[0]
    }

    /// `/metrics` of every replica.
    pub fn metrics(&self) -> anyhow::Result<Vec<String>> {
        self.replicas().into_iter().map(Vcproxy::metrics).collect()
    }

    /// A replica that exited, and how.
    pub fn exited(&self) -> Option<(&Vcproxy, std::process::ExitStatus)> {
        self.replicas().into_iter().find_map(|p| p.try_wait().map(|s| (p, s)))
    }
}

/// HAProxy from Debian's `haproxy` package (`make test` and `make demo` install it).
pub fn haproxy_path() -> anyhow::Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/local/sbin", "/usr/bin"] {
        let p = Path::new(dir).join("haproxy");
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("haproxy not found: install Debian's haproxy package (the Makefile's deps target does)")
}

/// TCP passthrough (TLS ends at the replicas, so client certificates and HTTP/2 reach them),
/// round robin per connection, health checks on each replica's plain-HTTP `/readyz`.
fn haproxy_config(lb: SocketAddr, stats: SocketAddr, replicas: &[(SocketAddr, SocketAddr)]) -> String {
    let mut cfg = format!(
        "global\n  maxconn 4000\n\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 1h\n  \
         timeout server 1h\n  timeout tunnel 1h\n  timeout check 1s\n  retries 2\n  option redispatch\n\n\
         frontend tenants\n  bind {lb}\n  default_backend vcproxy\n\n\
         backend vcproxy\n  balance roundrobin\n  option httpchk\n  http-check send meth GET uri /readyz\n  \
         default-server inter 500ms fall 2 rise 2\n"
    );
    for (i, (tenant, admin)) in replicas.iter().enumerate() {
        cfg.push_str(&format!("  server r{i} {tenant} check port {}\n", admin.port()));
    }
    cfg.push_str(&format!("\nlisten stats\n  mode http\n  bind {stats}\n  stats enable\n  stats uri /stats\n"));
    cfg
}

fn spawn_haproxy(
    bin: &Path,
    dir: &Path,
    lb: SocketAddr,
    stats: SocketAddr,
    replicas: &[(SocketAddr, SocketAddr)],
) -> anyhow::Result<Process> {
    let cfg = dir.join("haproxy.cfg");
    fs::write(&cfg, haproxy_config(lb, stats, replicas))?;
    let mut cmd = Command::new(bin);
    cmd.arg("-db").arg("-f").arg(&cfg);
    Process::spawn("haproxy", cmd, &dir.join("haproxy.log"))
}

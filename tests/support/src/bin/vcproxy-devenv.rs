//! `vcproxy-devenv demo`: a real control plane, vcproxy in front of it and two
//! tenants, in the foreground until Ctrl-C / SIGTERM (used by `make demo`).

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use vcproxy_testenv::{ControlPlane, Fleet, FleetOptions, Front, Vcproxy, VcproxyOptions};

#[derive(Parser)]
#[command(name = "vcproxy-devenv", about = "Local environments for vcproxy on a real kube-apiserver")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start etcd, kube-apiserver, kube-controller-manager and vcproxy with
    /// tenants `acme` and `globex`; stay in the foreground until Ctrl-C.
    Demo {
        /// The vcproxy binary.
        #[arg(long)]
        vcproxy: PathBuf,
        /// Output directory (config, kubeconfigs, logs; control plane in OUT/controlplane).
        #[arg(long, default_value = "demo")]
        out: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9443")]
        admin_listen: SocketAddr,
        /// A policy file, written as `[policy] file = ...` into the config.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Replicas of vcproxy. More than one: they listen on the ports after `--listen` and
        /// `--admin-listen`, and HAProxy (TCP passthrough, health checks on /readyz) takes
        /// `--listen`, so tenants keep one URL.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=9))]
        replicas: u16,
    },
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_sig: libc::c_int) {
    // A second signal while starting up (e.g. during a long first build)
    // leaves at once; the children die with us through PDEATHSIG.
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        unsafe { libc::_exit(130) };
    }
}

fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

fn check_interrupted() -> anyhow::Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: installs an async-signal-safe handler (an atomic add, _exit).
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Demo { vcproxy, out, listen, admin_listen, policy, replicas } => {
            demo(vcproxy, out, listen, admin_listen, policy, replicas as usize)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vcproxy-devenv: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(
    vcproxy_bin: PathBuf,
    out: PathBuf,
    listen: SocketAddr,
    admin_listen: SocketAddr,
    policy: Option<PathBuf>,
    replicas: usize,
) -> anyhow::Result<ExitCode> {
    let vcproxy_bin =
        vcproxy_bin.canonicalize().with_context(|| format!("vcproxy binary {}", vcproxy_bin.display()))?;
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out_abs = out.canonicalize()?;
    let extra_toml = match &policy {
        Some(p) => {
            let abs = p.canonicalize().with_context(|| format!("policy file {}", p.display()))?;
            format!("[policy]\nfile = {:?}\n", abs.display().to_string())
        }
        None => String::new(),
    };

    let t0 = Instant::now();
    eprintln!("starting etcd, kube-apiserver and kube-controller-manager in {}", out.join("controlplane").display());
    let cp = ControlPlane::start_in(&out_abs.join("controlplane"))?;
    check_interrupted()?;
    eprintln!("control plane ready in {:.1}s at {}", cp.startup_time().as_secs_f64(), cp.apiserver_url());

    let front = if replicas == 1 {
        let _ = fs::remove_file(out_abs.join("vcproxy.log"));
        let opts = VcproxyOptions {
            dir: Some(out_abs.clone()),
            listen: Some(listen),
            admin_listen: Some(admin_listen),
            drain_seconds: 10,
            extra_toml,
            fleet: Some("demo".into()),
            ..Default::default()
        };
        Front::One(Vcproxy::start_with(&vcproxy_bin, &cp, opts)?)
    } else {
        let opts = FleetOptions {
            replicas,
            dir: Some(out_abs.clone()),
            listen: Some(listen),
            base_port: Some(listen.port() + 1),
            admin_base_port: Some(admin_listen.port()),
            fleet: "demo".into(),
            extra_toml,
            drain_seconds: 10,
        };
        Front::Fleet(Fleet::start(&vcproxy_bin, &cp, opts)?)
    };
    check_interrupted()?;
    let proxy = front.first();
    for tenant in ["acme", "globex"] {
        proxy.create_tenant(tenant)?;
        if proxy.dir() != out_abs {
            fs::copy(proxy.kubeconfig_path(tenant), out_abs.join(format!("{tenant}.kubeconfig")))?;
        }
    }
    fs::copy(cp.admin_kubeconfig(), out_abs.join("super-admin.kubeconfig"))?;
    check_interrupted()?;

    let shown = |name: &str| out.join(name).display().to_string();
    let kubectl = cp.kubectl_path();
    println!();
    match &front {
        Front::One(p) => {
            println!("  vcproxy        {}   (log: {})", p.url(), shown("vcproxy.log"));
            println!("  metrics        {}/metrics", p.admin_url());
        }
        Front::Fleet(_) => {
            println!("  HAProxy        https://{listen}   (config: {})", shown("haproxy.cfg"));
            for (i, r) in front.replicas().into_iter().enumerate() {
                let log = shown(&format!("replica-{i}/vcproxy.log"));
                println!("  replica {i}      {}   metrics {}/metrics   (log: {log})", r.url(), r.admin_url());
            }
        }
    }
    println!("  kubectl        {}", kubectl.display());
    println!("  config         {}", shown(if replicas == 1 { "vcproxy.toml" } else { "replica-0/vcproxy.toml" }));
    println!();
    println!("  try:");
    println!("    export PATH={}:$PATH", kubectl.parent().unwrap_or(&kubectl).display());
    println!("    kubectl --kubeconfig {} get ns", shown("acme.kubeconfig"));
    println!("    kubectl --kubeconfig {} create ns shop", shown("acme.kubeconfig"));
    println!("    kubectl --kubeconfig {} get ns", shown("globex.kubeconfig"));
    println!("    kubectl --kubeconfig {} get ns    # the super cluster", shown("super-admin.kubeconfig"));
    println!("    curl -s {}/metrics | grep vcproxy_", proxy.admin_url());
    println!();
    println!("vcproxy demo ready in {:.1}s (Ctrl-C stops everything)", t0.elapsed().as_secs_f64());
    let _ = std::io::stdout().flush();

    let code = loop {
        if interrupted() {
            eprintln!("stopping vcproxy, kube-controller-manager, kube-apiserver and etcd");
            break ExitCode::SUCCESS;
        }
        if let Some((p, status)) = front.exited() {
            eprintln!("vcproxy exited unexpectedly ({status}); last log lines:");
            eprintln!("{}", vcproxy_testenv::process::tail(&p.log_path(), 30));
            break ExitCode::FAILURE;
        }
        if !cp.is_running() {
            eprintln!("a control-plane component exited unexpectedly:\n{}", cp.log_tails(30));
            break ExitCode::FAILURE;
        }
        thread::sleep(Duration::from_millis(200));
    };
    drop(front);
    cp.stop();
    eprintln!("stopped");
    Ok(code)
}


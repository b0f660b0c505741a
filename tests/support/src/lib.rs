//! `vcproxy-testenv`: real components for integration tests, benches and the demo.
//!
//! [`ControlPlane`] starts a real etcd, kube-apiserver and kube-controller-manager
//! (binaries from `tools/controlplane/build.sh`, see [`bin_dir`]) on free loopback
//! ports with a PKI generated at run time; [`Vcproxy`] runs `vcproxy serve` in
//! front of it. [`shared`] gives one control plane per test binary. [`Fleet`] runs
//! several replicas behind HAProxy, as operators do.
//!
//! Process hygiene — no child outlives the test process:
//! 1. Every child is forked by one dedicated spawner thread that lives as long
//!    as the process, and sets `PR_SET_PDEATHSIG = SIGKILL` before exec: when
//!    the process dies in any way (panic, exit, SIGINT, SIGKILL) the kernel
//!    kills the children. Children get their own process group.
//! 2. Handles ([`Process`], [`ControlPlane`], [`Vcproxy`]) stop their children on
//!    `Drop`: SIGTERM, a bounded wait, SIGKILL, reap.
//! 3. Statics are never dropped, so [`shared`] registers an `atexit` handler that
//!    stops the shared control plane gracefully and removes its temp dir; temp
//!    dirs of killed test processes are removed by the next start.
//!
//! Never kill processes by name; only through these handles.

mod controlplane;
mod fleet;
pub mod http;
pub mod pki;
pub mod process;
mod relay;
mod vcproxy;

pub use controlplane::{bin_dir, free_port, kubectl_path, shared, ControlPlane, KUBERNETES_VERSION};
pub use fleet::{haproxy_path, Fleet, FleetOptions, Front};
pub use process::Process;
pub use relay::{FaultyRelay, Mode as RelayMode};
pub use vcproxy::{Vcproxy, VcproxyOptions};

//! Child processes that cannot outlive the test process.
//!
//! Every child is forked by one dedicated spawner thread that lives as long as
//! the process. Each child sets `PR_SET_PDEATHSIG = SIGKILL` before `exec`, so
//! the kernel kills it when that thread dies — which happens only when the whole
//! process dies, however it dies (panic, `process::exit`, SIGINT, SIGKILL).
//! (PDEATHSIG fires when the forking *thread* exits, hence the dedicated thread:
//! a child forked by a short-lived test thread would be killed when that test
//! finished.) Children also get their own process group, so a Ctrl-C in the
//! terminal reaches only our process, which then stops them in order.
//!
//! A [`Process`] handle stops its child on `Drop`: SIGTERM, up to
//! [`Process::stop_timeout`], then SIGKILL, then reap.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

fn spawner() -> &'static mpsc::Sender<SpawnRequest> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("vcproxy-testenv-spawner".into())
            .spawn(move || {
                // Never returns while a sender exists, and the sender lives in a
                // static: this thread lives exactly as long as the process.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("starting the spawner thread");
        tx
    })
}

/// Spawns `cmd` from the spawner thread with PDEATHSIG set and its own
/// process group. Use this (or [`Process::spawn`] / [`output`]) for every child.
pub fn spawn(mut cmd: Command) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (sigemptyset, pthread_sigmask, prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
    cmd.process_group(0);
    let (tx, rx) = mpsc::channel();
    spawner().send((cmd, tx)).map_err(|_| io::Error::other("spawner thread is gone"))?;
    rx.recv().map_err(|_| io::Error::other("spawner thread is gone"))?
}

/// Runs `cmd` to completion (through the spawner, so it dies with us) and
/// collects its output, like [`Command::output`]. Stdin is null.
pub fn output(mut cmd: Command) -> io::Result<Output> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    spawn(cmd)?.wait_with_output()
}

/// A long-running child process whose output goes to a log file and which is
/// stopped (SIGTERM, grace period, SIGKILL, reap) when the handle is dropped.
#[derive(Debug)]
pub struct Process {
    name: String,
    pid: u32,
    child: Mutex<Child>,
    log: PathBuf,
    stop_timeout: Duration,
}

impl Process {
    /// Spawns `cmd` with stdin null and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Process> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log file {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = spawn(cmd).with_context(|| format!("starting {name} ({program})"))?;
        Ok(Process {
            name: name.to_string(),
            pid: child.id(),
            child: Mutex::new(child),
            log: log.to_path_buf(),
            stop_timeout: Duration::from_secs(10),
        })
    }

    /// Sets how long [`stop`](Self::stop) waits after SIGTERM before SIGKILL.
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn stop_timeout(&self) -> Duration {
        self.stop_timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The exit status if the process has exited (reaping it), else `None`.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        self.lock().try_wait().ok().flatten()
    }

    pub fn is_running(&self) -> bool {
        self.try_wait().is_none()
    }

    /// Sends `sig` unless the process has already exited and been reaped (the
    /// pid cannot be reused while we hold the unreaped child, so this never
    /// signals a stranger).
    pub fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        let mut child = self.lock();
        if child.try_wait()?.is_some() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} has exited", self.name)));
        }
        // SAFETY: plain syscall on our own unreaped child.
        if unsafe { libc::kill(self.pid as libc::pid_t, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait up to the stop timeout, SIGKILL, reap. Idempotent.
    pub fn stop(&self) -> Option<ExitStatus> {
        stop_all(&[self]);
        self.try_wait()
    }

    /// The last `lines` lines of the log file.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops several processes concurrently: SIGTERM to all, wait (each up to its
/// stop timeout, counted from now), SIGKILL the stragglers, reap all.
pub fn stop_all(procs: &[&Process]) {
    let start = Instant::now();
    for p in procs {
        let _ = p.signal(libc::SIGTERM);
    }
    for p in procs {
        let left = p.stop_timeout.saturating_sub(start.elapsed());
        if p.wait_timeout(left).is_none() {
            let _ = p.signal(libc::SIGKILL);
            let _ = p.lock().wait();
        }
    }
}

/// The last `lines` lines of a (log) file, reading at most its last 64 KiB.
pub fn tail(path: &Path, lines: usize) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let _ = f.read_to_end(&mut buf);
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

//! A TCP relay that can misbehave: put between vcproxy and the real kube-apiserver to
//! make the upstream slow or broken on demand, without touching the apiserver itself.
//!
//! It relays bytes both ways. [`Mode::Stall`] holds every byte coming back from the
//! apiserver (on open connections and new ones) until the mode changes, as a hung
//! apiserver or a stuck network would. [`Mode::Garbage`] answers with bytes that are
//! not TLS, as a wrong port or a broken load balancer would, and closes. Dropping the
//! relay closes its listener and every connection.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the relay does with the apiserver's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Pass = 0,
    Stall = 1,
    Garbage = 2,
}

/// What a broken upstream sends instead of a TLS record.
const GARBAGE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nthis is not the apiserver you are looking for\r\n";

struct Shared {
    mode: AtomicU8,
    stop: AtomicBool,
    /// Both ends of every relayed connection, to close them on drop.
    open: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Acquire) {
            1 => Mode::Stall,
            2 => Mode::Garbage,
            _ => Mode::Pass,
        }
    }
}

pub struct FaultyRelay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl FaultyRelay {
    /// Listens on a free loopback port and relays to `target`, in [`Mode::Pass`].
    pub fn start(target: SocketAddr) -> anyhow::Result<FaultyRelay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Pass as u8),
            stop: AtomicBool::new(false),
            open: Mutex::default(),
        });
        let acceptor = {
            let shared = shared.clone();
            thread::Builder::new().name("faulty-relay".into()).spawn(move || accept(listener, target, &shared))?
        };
        Ok(FaultyRelay { addr, shared, acceptor: Some(acceptor) })
    }

    /// `https://127.0.0.1:PORT`: the URL to give vcproxy as its upstream.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::Release);
    }
}

impl Drop for FaultyRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for s in self.shared.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn accept(listener: TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Acquire) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => continue,
        };
        let _ = client.set_nonblocking(false);
        if shared.mode() == Mode::Garbage {
            let mut client = client;
            let _ = client.write_all(GARBAGE);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(target) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
        {
            let mut open = shared.open.lock().unwrap();
            open.retain(|s| s.peer_addr().is_ok());
            open.extend([c2.try_clone().unwrap_or(c2), s2.try_clone().unwrap_or(s2)]);
        }
        let (c_read, s_write) = (client.try_clone(), server.try_clone());
        let shared_up = shared.clone();
        let shared_down = shared.clone();
        if let (Ok(c_read), Ok(s_write)) = (c_read, s_write) {
            thread::spawn(move || pump(c_read, s_write, &shared_up, false));
            thread::spawn(move || pump(server, client, &shared_down, true));
        }
    }
}

/// Copies `from` to `to`; `from_apiserver` marks the direction that faults apply to.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, from_apiserver: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if from_apiserver {
            // Hold the bytes while stalled; what comes after is in order.
            while shared.mode() == Mode::Stall && !shared.stop.load(Ordering::Acquire) {
                thread::sleep(Duration::from_millis(20));
            }
            if shared.mode() == Mode::Garbage {
                let _ = to.write_all(GARBAGE);
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

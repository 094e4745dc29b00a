//! The accept loop: one thread accepting, one thread per connection, a cap on
//! concurrent connections, and a graceful stop.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::conn::{serve_connection, Service};
use super::{Limits, TlsAcceptor};
use crate::server::handoff::{Registrar, Registration, Slot};

/// The connections being served, so that a stop can close them and wait for them.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, Arc<TcpStream>>>,
    drained: Condvar,
}

/// A running accept loop.
pub(crate) struct Listener {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    connections: Arc<Connections>,
    accept_thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Listener {
    /// Starts accepting on `listener`, serving each connection with `service` on a
    /// thread of its own.
    pub(crate) fn start(
        listener: TcpListener,
        limits: Limits,
        service: Arc<dyn Service>,
        registrar: Registrar,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<Listener> {
        let local_addr = listener.local_addr()?;
        let secure = tls.is_some();
        listener.set_nonblocking(false)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Connections::default());
        let accept_thread = {
            let stopping = stopping.clone();
            let connections = connections.clone();
            thread::Builder::new()
                .name(format!("eio-accept-{}", local_addr.port()))
                .spawn(move || {
                    accept_loop(
                        listener,
                        limits,
                        service,
                        registrar,
                        tls,
                        stopping,
                        connections,
                    )
                })?
        };
        log::info!(
            "listening on {}://{local_addr}",
            if secure { "https" } else { "http" }
        );
        Ok(Listener {
            local_addr,
            stopping,
            connections,
            accept_thread: Mutex::new(Some(accept_thread)),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The number of connections being served now.
    pub(crate) fn connection_count(&self) -> usize {
        self.connections.open.lock().len()
    }

    /// Stops accepting new connections and joins the accept thread.
    pub(crate) fn stop_accepting(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
        if let Some(t) = self.accept_thread.lock().take() {
            let _ = t.join();
        }
    }

    /// Closes every idle connection. Connections busy with a request are given `grace`
    /// to finish, then their sockets are shut down; returns once every connection
    /// thread has ended (or after `grace` + 1 s at most). With no grace, every socket
    /// is shut down and nothing is waited for.
    pub(crate) fn close_connections(&self, grace: Option<Duration>) {
        let Some(grace) = grace else {
            for s in self.connections.open.lock().values() {
                let _ = s.shutdown(Shutdown::Both);
            }
            return;
        };
        let deadline = Instant::now() + grace;
        let mut open = self.connections.open.lock();
        // Shut down reads: idle keep-alive connections end at once; a request being
        // answered still gets its response written.
        for s in open.values() {
            let _ = s.shutdown(Shutdown::Read);
        }
        while !open.is_empty() {
            if self
                .connections
                .drained
                .wait_until(&mut open, deadline)
                .timed_out()
            {
                break;
            }
        }
        for s in open.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let hard = Instant::now() + Duration::from_secs(1);
        while !open.is_empty() {
            if self
                .connections
                .drained
                .wait_until(&mut open, hard)
                .timed_out()
            {
                log::warn!("{} connection(s) still open after stop", open.len());
                break;
            }
        }
    }
}

fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

fn accept_loop(
    listener: TcpListener,
    limits: Limits,
    service: Arc<dyn Service>,
    registrar: Registrar,
    tls: Option<TlsAcceptor>,
    stopping: Arc<AtomicBool>,
    connections: Arc<Connections>,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let mut backoff = Duration::from_millis(5);
    // A rendezvous channel: a send succeeds only if a thread is idle, waiting.
    let (idle_tx, idle_rx) = crossbeam_channel::bounded::<Job>(0);
    let idle_count = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok((s, p)) => {
                backoff = Duration::from_millis(5);
                (Arc::new(s), p)
            }
            Err(e) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                // Out of file descriptors and the like: log, back off, carry on.
                log::error!("accept failed: {e}; retrying in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        {
            let mut open = connections.open.lock();
            if open.len() >= limits.max_connections {
                drop(open);
                log::warn!(
                    "refusing connection from {peer}: {} connections open",
                    limits.max_connections
                );
                refuse(stream);
                continue;
            }
            open.insert(id, stream.clone());
        }
        log::trace!("connection {id} from {peer}");
        let job = Job {
            id,
            stream,
            peer,
            conns: connections.clone(),
            registration: registrar.register(),
        };
        // An idle connection thread takes it if there is one; else a new thread.
        let job = match idle_tx.try_send(job) {
            Ok(()) => continue,
            Err(e) => e.into_inner(),
        };
        let service = service.clone();
        let idle = (idle_rx.clone(), idle_count.clone());
        let tls = tls.clone();
        let spawned = thread::Builder::new()
            .name("eio-conn".into())
            .stack_size(limits.thread_stack_size)
            .spawn(move || {
                connection_thread(job, &idle.0, &idle.1, limits, &service, tls.as_ref())
            });
        if let Err(e) = spawned {
            log::error!("cannot start a thread for {peer}: {e}");
            let mut open = connections.open.lock();
            if let Some(s) = open.remove(&id) {
                refuse(s);
            }
            connections.drained.notify_all();
            thread::sleep(backoff);
        }
    }
}

/// A connection handed to a connection thread.
struct Job {
    id: u64,
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    conns: Arc<Connections>,
    registration: Registration,
}

/// How long a connection thread waits for another connection before it ends. Reusing
/// threads saves a thread start (stack mapping, guard page, clone) per connection.
const IDLE_THREAD_TIME: Duration = Duration::from_secs(5);

/// The most connection threads kept waiting; beyond, a thread ends with its connection
/// (so that 15k connections closing at once do not leave 15k idle threads behind).
const MAX_IDLE_THREADS: usize = 64;

/// Serves `job`, then whatever connections the accept loop hands over while this
/// thread is idle, until none comes for [`IDLE_THREAD_TIME`].
fn connection_thread(
    mut job: Job,
    idle: &crossbeam_channel::Receiver<Job>,
    idle_count: &AtomicUsize,
    limits: Limits,
    service: &Arc<dyn Service>,
    tls: Option<&TlsAcceptor>,
) {
    loop {
        {
            let Job {
                id,
                stream,
                peer,
                conns,
                registration,
            } = job;
            let guard = ConnGuard {
                _untrack: Untrack { id, conns },
                registration,
            };
            serve_connection(stream, peer, limits, service.clone(), guard, tls);
        }
        if idle_count.fetch_add(1, Ordering::SeqCst) >= MAX_IDLE_THREADS {
            idle_count.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let next = idle.recv_timeout(IDLE_THREAD_TIME);
        idle_count.fetch_sub(1, Ordering::SeqCst);
        job = match next {
            Ok(next) => next,
            Err(_) => return,
        };
    }
}

/// Answers 503 without reading, then closes.
fn refuse(stream: Arc<TcpStream>) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let mut s = &*stream;
    let _ = s.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let _ = stream.shutdown(Shutdown::Write);
}

/// A connection's place in the listener's table and its slot for parking work while
/// handlers run. Whoever serves the connection holds it (it moves with the connection
/// to another thread); dropped, the connection is no longer counted.
pub(crate) struct ConnGuard {
    _untrack: Untrack,
    registration: Registration,
}

impl ConnGuard {
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        self.registration.slot()
    }
}

/// Removes a connection from the table when its thread ends, however it ends.
struct Untrack {
    id: u64,
    conns: Arc<Connections>,
}

impl Drop for Untrack {
    fn drop(&mut self) {
        let mut open = self.conns.open.lock();
        open.remove(&self.id);
        if open.is_empty() {
            self.conns.drained.notify_all();
        }
    }
}

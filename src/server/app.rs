//! `App`: routes the Engine.IO path to the server, then static files, then a fallback
//! handler, then `404`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::http::listener::Listener;
use super::http::{Body, BodyError, Exchange, Outcome, Response, Service};
use super::{endpoint, Server, StaticFiles};
use crate::Result;

type Fallback = dyn Fn(http::Request<Vec<u8>>) -> http::Response<Vec<u8>> + Send + Sync;

/// A server with its routes: the Engine.IO path first, then static files, then a
/// fallback handler, then `404 Not Found`.
///
/// Static files are a development convenience (as in python-engineio): put a real web
/// server in front for production.
///
/// ```no_run
/// use engineio::server::{App, Server, StaticFiles};
///
/// let server = Server::builder().build()?;
/// let running = App::new(server)
///     .static_files(StaticFiles::new().file("/", "index.html").dir("/static", "public"))
///     .fallback(|_req| engineio::http::Response::builder().status(418).body(Vec::new()).unwrap())
///     .listen("127.0.0.1:5000")?;
/// println!("listening on {}", running.local_addr());
/// running.wait();
/// # Ok::<(), engineio::Error>(())
/// ```
pub struct App {
    server: Server,
    static_files: Option<StaticFiles>,
    fallback: Option<Box<Fallback>>,
    max_fallback_body: usize,
    #[cfg(feature = "tls")]
    tls: Option<super::TlsConfig>,
}

impl App {
    /// An app serving `server` on its Engine.IO path, and `404` elsewhere.
    pub fn new(server: Server) -> App {
        App {
            server,
            static_files: None,
            fallback: None,
            max_fallback_body: 1_000_000,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Serves `https` and `wss` with this certificate (feature `tls`) instead of plain
    /// `http`/`ws`. Every route works over TLS as over TCP; the TLS handshake runs on
    /// the connection's thread, within the head timeout (a client that stalls, sends
    /// garbage or speaks plain HTTP is dropped by then), and
    /// [`Request::is_secure`](super::Request::is_secure) is true. Defaults to none.
    ///
    /// ```no_run
    /// use engineio::server::{App, Server, TlsConfig};
    ///
    /// let running = App::new(Server::builder().build()?)
    ///     .tls(TlsConfig::from_pem_files("cert.pem", "key.pem")?)
    ///     .listen("127.0.0.1:8443")?;
    /// running.wait();
    /// # Ok::<(), engineio::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: super::TlsConfig) -> App {
        self.tls = Some(tls);
        self
    }

    /// Serves files by these rules for paths outside the Engine.IO path (`GET` and
    /// `HEAD`). Defaults to none.
    pub fn static_files(mut self, files: StaticFiles) -> App {
        self.static_files = Some(files);
        self
    }

    /// Answers every other request (its body read, up to the fallback body limit).
    /// Defaults to none: `404 Not Found`.
    pub fn fallback(
        mut self,
        f: impl Fn(http::Request<Vec<u8>>) -> http::Response<Vec<u8>> + Send + Sync + 'static,
    ) -> App {
        self.fallback = Some(Box::new(f));
        self
    }

    /// The largest request body handed to the fallback handler; larger ones get `413`.
    /// Defaults to 1,000,000 bytes; at most 1 GiB (checked by [`listen`](Self::listen)).
    pub fn max_fallback_body(mut self, bytes: usize) -> App {
        self.max_fallback_body = bytes;
        self
    }

    /// Binds `addr` and serves on it in background threads, until the returned
    /// [`Listening`] is dropped or the server is shut down.
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the address cannot be bound;
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a `max_fallback_body` out
    /// of range.
    pub fn listen(self, addr: impl ToSocketAddrs) -> Result<Listening> {
        let listener = TcpListener::bind(addr)?;
        self.serve(listener)
    }

    /// Serves on a listener the caller bound.
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the listener is unusable, or
    /// [`ErrorKind::Shutdown`](crate::ErrorKind::Shutdown) if the server was shut down.
    pub fn serve(self, listener: TcpListener) -> Result<Listening> {
        if self.server.is_shut_down() {
            return Err(crate::Error::from_kind(crate::ErrorKind::Shutdown));
        }
        super::config::check_size("max_fallback_body", self.max_fallback_body, 0, 1 << 30)?;
        let server = self.server.clone();
        let inner = server.inner();
        let limits = inner.config().limits;
        let registrar = inner.watchdog().registrar();
        #[cfg(feature = "tls")]
        let tls = self.tls.clone();
        #[cfg(not(feature = "tls"))]
        let tls = None;
        let l = Arc::new(Listener::start(
            listener,
            limits,
            Arc::new(self),
            registrar,
            tls,
        )?);
        inner.add_listener(l.clone());
        inner.listenings.fetch_add(1, Ordering::SeqCst);
        Ok(Listening {
            server,
            listener: l,
            detached: false,
        })
    }

    fn serve_other(&self, ex: &mut Exchange<'_>) -> Response {
        let req = &ex.request;
        if req.method == http::Method::GET || req.method == http::Method::HEAD {
            if let Some(r) = self
                .static_files
                .as_ref()
                .and_then(|s| s.resolve(&req.path))
            {
                if let Ok(f) = File::open(&r.path) {
                    if let Ok(meta) = f.metadata() {
                        let mut resp = Response::new(200);
                        resp.headers.push(("Content-Type", r.content_type));
                        resp.body = Body::File(f, meta.len());
                        return resp;
                    }
                }
            }
        }
        let Some(fallback) = &self.fallback else {
            return not_found();
        };
        let body = match ex.read_body(self.max_fallback_body) {
            Ok(b) => b,
            Err(BodyError::TooLarge) => return Response::new(413).closing(),
            Err(_) => return Response::new(400).closing(),
        };
        let req = &ex.request;
        let mut builder =
            http::Request::builder()
                .method(req.method.clone())
                .uri(if req.raw_query.is_empty() {
                    req.path.clone()
                } else {
                    format!("{}?{}", req.path, req.raw_query)
                });
        if let Some(h) = builder.headers_mut() {
            *h = req.headers.clone();
        }
        let Ok(mut request) = builder.body(body) else {
            return Response::new(400).closing();
        };
        request.extensions_mut().insert(req.remote_addr);
        let out = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fallback(request)))
        {
            Ok(r) => r,
            Err(_) => {
                log::error!("fallback handler panicked");
                return Response::with_body(500, "text/plain", "Internal Server Error");
            }
        };
        let (parts, body) = out.into_parts();
        let mut resp = Response::new(parts.status.as_u16());
        for (name, value) in parts.headers.iter() {
            if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
                continue;
            }
            if let Ok(v) = value.to_str() {
                resp.app_headers
                    .push((name.as_str().to_string(), v.to_string()));
            }
        }
        resp.body = Body::Bytes(body);
        resp
    }
}

fn not_found() -> Response {
    Response::with_body(404, "text/plain", "Not Found")
}

impl Service for App {
    fn serve(&self, ex: &mut Exchange<'_>) -> Outcome {
        let inner = self.server.inner();
        let path = &ex.request.path;
        let engine_path = inner.config().path.as_str();
        if path.starts_with(engine_path) {
            return endpoint::serve(inner, ex);
        }
        Outcome::Respond(self.serve_other(ex))
    }
}

/// A running [`App`]: its address, and a way to wait for or cause its end.
///
/// It keeps the server running: dropping it (the last one, if the server listens on
/// several addresses) shuts the server down ([`Server::shutdown`]): the port is
/// released and the server's threads end. To serve until the process exits, call
/// [`wait`](Self::wait) (which returns once something calls [`Server::shutdown`]), or
/// [`detach`](Self::detach) it.
///
/// ```no_run
/// use engineio::server::{App, Server};
///
/// let running = App::new(Server::builder().build()?).listen("127.0.0.1:0")?;
/// let addr = running.local_addr();
/// // ... talk to `addr` ...
/// drop(running); // shut down: `addr` is free again
/// # Ok::<(), engineio::Error>(())
/// ```
#[must_use = "dropping a Listening shuts the server down; call `wait` or `detach` to keep it running"]
pub struct Listening {
    server: Server,
    listener: Arc<Listener>,
    detached: bool,
}

impl Listening {
    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// The server behind it.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// How many TCP connections are open now.
    pub fn connection_count(&self) -> usize {
        self.listener.connection_count()
    }

    /// Blocks until the server is shut down.
    pub fn wait(&self) {
        self.server.wait()
    }

    /// Shuts the server down (see [`Server::shutdown`]).
    pub fn shutdown(&self) {
        self.server.shutdown()
    }

    /// Lets the server run without this handle: it then stops only when
    /// [`Server::shutdown`] is called (through any clone of the server).
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let inner = self.server.inner();
        if inner.listenings.fetch_sub(1, Ordering::SeqCst) == 1 && !self.detached {
            self.server.shutdown();
        }
    }
}

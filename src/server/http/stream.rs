//! A connection's bytes: plain TCP, or TLS over it (feature `tls`).
//!
//! A TLS connection cannot be split into a read half and a write half: one rustls
//! state encrypts and decrypts. It sits behind a lock that is never held across a
//! blocking socket call: a reader waits for ciphertext on the socket without it, then
//! takes it to decrypt; a writer takes it to encrypt and hands the ciphertext to the
//! socket outside it (HTTP responses, on the connection's own thread) or to the
//! WebSocket writer, which keeps its frames in order under its own lock.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
#[cfg(feature = "tls")]
use std::time::Instant;

/// One connection's stream, shared by whoever serves it (`&Stream` reads and writes).
pub(crate) struct Stream {
    tcp: Arc<TcpStream>,
    /// Boxed: rustls's state is over 1 KiB, which a plain connection should not carry.
    #[cfg(feature = "tls")]
    tls: Option<Box<parking_lot::Mutex<rustls::ServerConnection>>>,
}

impl Stream {
    /// A plain TCP connection.
    pub(crate) fn plain(tcp: Arc<TcpStream>) -> Stream {
        Stream {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A TLS connection: the handshake runs on the calling thread until `deadline`
    /// (the head timeout), so a client that stalls or sends garbage costs only its own
    /// connection's thread, for at most that long.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(
        tcp: Arc<TcpStream>,
        config: Arc<rustls::ServerConfig>,
        deadline: Instant,
    ) -> io::Result<Stream> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let stream = Stream {
            tcp,
            tls: Some(Box::new(parking_lot::Mutex::new(conn))),
        };
        stream.handshake(deadline)?;
        Ok(stream)
    }

    /// The TCP socket under it (timeouts, shutdown, non-blocking sends).
    pub(crate) fn tcp(&self) -> &Arc<TcpStream> {
        &self.tcp
    }

    /// Whether it is TLS.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }

    pub(crate) fn shutdown(&self, how: Shutdown) {
        let _ = self.tcp.shutdown(how);
    }

    /// Reads decrypted bytes (blocking, within the socket's read timeout). `Ok(0)` is
    /// the end of the stream.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls_read(&self.tcp, tls, buf);
        }
        (&*self.tcp).read(buf)
    }

    /// Writes all of `data` (blocking, within the socket's write timeout). Only for a
    /// connection one thread writes to (HTTP responses, the `101`): a WebSocket's
    /// writers go through [`encrypt`](Self::encrypt) under the frame writer's lock.
    pub(crate) fn write_all(&self, data: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            let mut out = Vec::with_capacity(data.len() + 64);
            self.encrypt(data, &mut out)?;
            return (&*self.tcp).write_all(&out);
        }
        (&*self.tcp).write_all(data)
    }

    /// Appends the bytes that carry `data` on the wire to `out`: `data` itself on a
    /// plain connection, its TLS records (and any record rustls had pending) on TLS.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn encrypt(&self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut conn = tls.lock();
            // rustls takes a bounded amount of plaintext at a time (64 KiB): encrypt
            // as we go.
            let mut rest = data;
            loop {
                while conn.wants_write() {
                    conn.write_tls(out)?;
                }
                if rest.is_empty() {
                    return Ok(());
                }
                match conn.writer().write(rest)? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    n => rest = &rest[n..],
                }
            }
        }
        out.extend_from_slice(data);
        Ok(())
    }

    /// TLS records rustls wants sent that no write carried yet (alerts, a reply to a
    /// key update), appended to `out`. `false` if there were none.
    pub(crate) fn pending_output(&self, out: &mut Vec<u8>) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut conn = tls.lock();
            let had = conn.wants_write();
            while conn.wants_write() {
                conn.write_tls(out)?;
            }
            return Ok(had);
        }
        let _ = out;
        Ok(false)
    }

    /// Whether the peer has closed its side (checked without blocking). Bytes it sent
    /// ahead (a pipelined request) count as alive; on TLS they are kept, decrypted, for
    /// the next read.
    pub(crate) fn peer_closed(&self) -> bool {
        if self.tcp.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = self.peer_closed_now();
        let _ = self.tcp.set_nonblocking(false);
        closed
    }

    fn peer_closed_now(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut conn = tls.lock();
            // Until rustls has what it can hold: the rest waits in the socket.
            while conn.wants_read() {
                match conn.read_tls(&mut &*self.tcp) {
                    Ok(0) => return true,
                    Ok(_) => match conn.process_new_packets() {
                        Err(_) => return true,
                        Ok(state) if state.peer_has_closed() => return true,
                        Ok(_) => {}
                    },
                    Err(e) => {
                        return !matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        )
                    }
                }
            }
            return false;
        }
        let mut b = [0u8; 1];
        match self.tcp.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }

    #[cfg(feature = "tls")]
    fn handshake(&self, deadline: Instant) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let mut raw = [0u8; RAW_CHUNK];
        let mut out = Vec::new();
        loop {
            let mut conn = tls.lock();
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
            let handshaking = conn.is_handshaking();
            drop(conn);
            if !out.is_empty() {
                (&*self.tcp).write_all(&out)?;
                out.clear();
            }
            if !handshaking {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.tcp.set_read_timeout(Some(left))?;
            let n = match (&*self.tcp).read(&mut raw) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::ErrorKind::TimedOut.into())
                }
                Err(e) => return Err(e),
            };
            let mut conn = tls.lock();
            feed(&mut conn, &raw[..n]).inspect_err(|_| {
                // Tell the client why (an alert), best effort.
                let mut alert = Vec::new();
                while conn.wants_write() && conn.write_tls(&mut alert).is_ok() {}
                let _ = (&*self.tcp).write_all(&alert);
            })?;
        }
    }
}

/// Ciphertext read from the socket at once. Reads happen only when rustls holds no
/// plaintext, so what one chunk decrypts to always fits its plaintext buffer (16 KiB).
#[cfg(feature = "tls")]
const RAW_CHUNK: usize = 8 * 1024;

/// Hands ciphertext to rustls and processes it.
#[cfg(feature = "tls")]
fn feed(conn: &mut rustls::ServerConnection, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        conn.read_tls(&mut data)?;
        conn.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(())
}

// Not inlined: its 8 KiB buffer would otherwise be in the frame of every plain read,
// and the stack pages it touches stay resident in every connection's thread.
#[cfg(feature = "tls")]
#[inline(never)]
fn tls_read(
    tcp: &TcpStream,
    tls: &parking_lot::Mutex<rustls::ServerConnection>,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut raw = [0u8; RAW_CHUNK];
    loop {
        {
            let mut conn = tls.lock();
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        // Wait for ciphertext without the lock: writers may encrypt meanwhile.
        let n = match (&*tcp).read(&mut raw) {
            Ok(0) => return Ok(0),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        feed(&mut tls.lock(), &raw[..n])?;
    }
}

/// [`Stream::write_all`] as an [`io::Write`], for response bodies.
pub(crate) struct Writing<'a>(pub &'a Stream);

impl Write for Writing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

//! Total deadlines on blocking sockets.
//!
//! The operating system bounds each `read` or `write` call (`SO_RCVTIMEO`,
//! `SO_SNDTIMEO`), not an operation made of many calls: a server that drip-feeds one
//! byte at a time, or takes a large frame a few bytes at a time, would hold a
//! per-call timeout for ever. These helpers give the socket, before each call, the
//! time left until the operation's deadline, and fail with
//! [`io::ErrorKind::TimedOut`] once it has passed. The socket's timeout is changed
//! only when it differs from the time left by more than [`SLACK`], so the fast path
//! (one call that completes) costs no extra system call.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How far a socket's timeout may differ from the time left before it is set again:
/// an operation ends at most this long after its deadline.
const SLACK: Duration = Duration::from_millis(5);

/// The error of an operation whose deadline passed.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the operation did not finish within the request timeout",
    )
}

/// The timeout one side (read or write) of a socket has, as last set through it.
/// One `Timer` per side per socket: clones of a socket share its timeouts.
#[derive(Debug, Default)]
pub(crate) struct Timer {
    /// `None` until set once (the socket's value is unknown), then what was set.
    current: Option<Option<Duration>>,
}

impl Timer {
    /// Gives the socket the time left until `deadline` (no timeout for `None`)
    /// through `set`, unless it is close enough already.
    fn arm(
        &mut self,
        deadline: Option<Instant>,
        set: impl FnOnce(Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        let want = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left < Duration::from_millis(1) {
                    return Err(timed_out());
                }
                Some(left)
            }
        };
        let close_enough = match (self.current, want) {
            (Some(None), None) => true,
            (Some(Some(now)), Some(want)) => {
                let diff = now.abs_diff(want);
                diff <= SLACK
            }
            _ => false,
        };
        if !close_enough {
            set(want)?;
            self.current = Some(want);
        }
        Ok(())
    }
}

/// One `read` from `socket` that returns by `deadline` (blocks as long as it takes
/// for `None`).
pub(crate) fn read(
    socket: &TcpStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
    timer: &mut Timer,
) -> io::Result<usize> {
    loop {
        timer.arm(deadline, |t| socket.set_read_timeout(t))?;
        match (&*socket).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The timeout fired; a few milliseconds early at most, then try again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) && deadline.is_some() => {}
            other => return other,
        }
    }
}

/// Writes all of `buf` to `socket` by `deadline`.
pub(crate) fn write_all(
    socket: &TcpStream,
    mut buf: &[u8],
    deadline: Instant,
    timer: &mut Timer,
) -> io::Result<()> {
    while !buf.is_empty() {
        timer.arm(Some(deadline), |t| socket.set_write_timeout(t))?;
        match (&*socket).write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A socket whose every read and write ends by one deadline: for the steps of
/// connecting (proxy `CONNECT`, TLS handshake).
pub(crate) struct DeadlineStream<'a> {
    socket: &'a TcpStream,
    deadline: Instant,
    read_timer: Timer,
    write_timer: Timer,
}

impl<'a> DeadlineStream<'a> {
    pub(crate) fn new(socket: &'a TcpStream, deadline: Instant) -> DeadlineStream<'a> {
        DeadlineStream {
            socket,
            deadline,
            read_timer: Timer::default(),
            write_timer: Timer::default(),
        }
    }
}

impl Read for DeadlineStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read(self.socket, buf, Some(self.deadline), &mut self.read_timer)
    }
}

impl Write for DeadlineStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_all(self.socket, buf, self.deadline, &mut self.write_timer)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn a_drip_fed_read_ends_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for _ in 0..40 {
                if s.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        let socket = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        let mut stream = DeadlineStream::new(&socket, started + Duration::from_millis(200));
        let mut buf = [0u8; 1];
        let mut got = 0;
        let err = loop {
            match stream.read(&mut buf) {
                Ok(0) => panic!("eof"),
                Ok(_) => got += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(got >= 2, "{got}");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(400), "{took:?}");
        drop(socket);
        server.join().unwrap();
    }

    #[test]
    fn a_write_nobody_reads_ends_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = TcpStream::connect(addr).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        let mut timer = Timer::default();
        let big = vec![0u8; 64 << 20];
        let started = Instant::now();
        let err = write_all(
            &socket,
            &big,
            started + Duration::from_millis(300),
            &mut timer,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_millis(800), "{took:?}");
    }
}

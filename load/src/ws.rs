//! WebSocket framing for the client side of the load generator (RFC 6455): what the
//! generator writes (masked frames) and what it reads (the server's frames). Pure: no
//! sockets, no clocks.

/// Frame opcodes the generator knows.
pub mod opcode {
    /// A continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message.
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Closing handshake.
    pub const CLOSE: u8 = 0x8;
    /// Ping: answered with a pong carrying the same data.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// The `Sec-WebSocket-Key` every generated handshake sends. Servers only hash it; its
/// uniqueness protects browsers from caches, which loopback benchmarks do not have.
pub const HANDSHAKE_KEY: &str = "ZW5naW5laW8tYmVuY2gtMQ==";

/// The HTTP request that opens a WebSocket at `path_and_query`.
pub fn handshake_request(host: &str, path_and_query: &str) -> Vec<u8> {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {HANDSHAKE_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Appends one whole, final, masked client frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// One frame read from the server.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whether this frame ends its message.
    pub fin: bool,
    /// The frame's opcode (see [`opcode`]).
    pub opcode: u8,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// Why a server's frame cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub &'static str);

/// Reads one frame from the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the frame and how many bytes it took.
pub fn decode_frame(buf: &[u8], max_len: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    if buf[0] & 0x70 != 0 {
        return Err(FrameError(
            "reserved bits set (no extension was negotiated)",
        ));
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() < 4 => return Ok(None),
        126 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() < 10 => return Ok(None),
        127 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()), 10),
        n => (n as u64, 2),
    };
    if len > max_len as u64 {
        return Err(FrameError("frame larger than the generator accepts"));
    }
    let len = len as usize;
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < at + len {
        return Ok(None);
    }
    let mut payload = buf[at..at + len].to_vec();
    if let Some(m) = mask {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= m[i & 3]);
    }
    Ok(Some((
        Frame {
            fin,
            opcode,
            payload,
        },
        at + len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frame_round_trips_through_an_unmasking_decoder() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, opcode::BINARY, &payload, [1, 2, 3, 4]);
            let (frame, used) = decode_frame(&out, 1 << 20).unwrap().unwrap();
            assert_eq!(used, out.len());
            assert_eq!(frame.payload, payload);
            assert!(frame.fin);
            assert_eq!(frame.opcode, opcode::BINARY);
        }
    }

    #[test]
    fn server_frames_decode_and_partial_input_waits() {
        let frame = [0x81, 0x05, b'4', b'h', b'e', b'l', b'o'];
        for cut in 0..frame.len() {
            assert_eq!(decode_frame(&frame[..cut], 100), Ok(None));
        }
        let (f, used) = decode_frame(&frame, 100).unwrap().unwrap();
        assert_eq!(
            (f.opcode, f.payload.as_slice(), used),
            (1, &b"4helo"[..], 7)
        );
        let long = [&[0x82u8, 126, 0x01, 0x00][..], &[7u8; 256][..]].concat();
        assert_eq!(decode_frame(&long, 1000).unwrap().unwrap().1, 260);
        assert!(decode_frame(&long, 100).is_err());
        assert!(decode_frame(&[0xC1, 0], 100).is_err());
    }
}

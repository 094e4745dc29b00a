//! HTTP compression of polling responses: choosing a coding from `Accept-Encoding` (Q2) and
//! compressing with it (Q3).

use std::io::Write;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

/// A content coding the server can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// RFC 1952 gzip.
    Gzip,
    /// HTTP's `deflate`: a zlib stream (RFC 1950), not raw deflate.
    Deflate,
}

impl Encoding {
    /// The coding's name, as written in `Content-Encoding`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// Chooses the coding for a response from the request's `Accept-Encoding` (Q2).
///
/// Codings and q-values are read case-insensitively and tolerate whitespace. A coding whose
/// q-value is malformed counts as not listed; `q=0` excludes it. Among `gzip` and `deflate`
/// the higher q-value wins, a tie going to the one listed first. `x-gzip` counts as `gzip`
/// (RFC 9110 §8.4.1.3). A `*` with q > 0 admits `gzip` at the `*`'s q-value and position when
/// `gzip` is not listed itself (gzip rather than deflate because every client that can
/// decode one decodes gzip). Nothing acceptable, or no header, ⇒ `None`.
pub(crate) fn negotiate(accept_encoding: Option<&str>) -> Option<Encoding> {
    // (q in thousandths, position in the list) of the first well-formed mention.
    let mut gzip: Option<(u16, usize)> = None;
    let mut deflate: Option<(u16, usize)> = None;
    let mut star: Option<(u16, usize)> = None;
    for (position, item) in accept_encoding?.split(',').enumerate() {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let slot = match coding.as_str() {
            "gzip" | "x-gzip" => &mut gzip,
            "deflate" => &mut deflate,
            "*" => &mut star,
            _ => continue,
        };
        if slot.is_some() {
            continue;
        }
        let mut q = Some(1000);
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                // A parameter without `=` is not HTTP; distrust the whole item.
                q = None;
                break;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = parse_qvalue(value.trim());
            }
        }
        if let Some(q) = q {
            *slot = Some((q, position));
        }
    }
    if gzip.is_none() {
        gzip = star;
    }
    let candidates = [(Encoding::Gzip, gzip), (Encoding::Deflate, deflate)];
    candidates
        .into_iter()
        .filter_map(|(encoding, pref)| pref.map(|(q, pos)| (encoding, q, pos)))
        .filter(|&(_, q, _)| q > 0)
        // Highest q first, then earliest position.
        .min_by_key(|&(_, q, pos)| (std::cmp::Reverse(q), pos))
        .map(|(encoding, _, _)| encoding)
}

/// Parses an RFC 9110 qvalue (`0`, `0.5`, `1.000`, at most three decimals) into thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Compresses `data` with `encoding` at the default level (Q3).
pub(crate) fn compress(encoding: Encoding, data: &[u8]) -> Vec<u8> {
    // Writing into a Vec cannot fail, so neither can the encoders.
    const INFALLIBLE: &str = "compressing into memory cannot fail";
    let out = Vec::with_capacity(data.len() / 2 + 64);
    match encoding {
        Encoding::Gzip => {
            let mut e = GzEncoder::new(out, Compression::default());
            e.write_all(data).expect(INFALLIBLE);
            e.finish().expect(INFALLIBLE)
        }
        Encoding::Deflate => {
            let mut e = ZlibEncoder::new(out, Compression::default());
            e.write_all(data).expect(INFALLIBLE);
            e.finish().expect(INFALLIBLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn names() {
        assert_eq!(Encoding::Gzip.name(), "gzip");
        assert_eq!(Encoding::Deflate.name(), "deflate");
    }

    #[test]
    fn negotiation() {
        use Encoding::{Deflate, Gzip};
        let cases: &[(Option<&str>, Option<Encoding>)] = &[
            (Some("gzip, deflate"), Some(Gzip)),
            (Some("deflate;q=1, gzip"), Some(Deflate)),
            (Some("gzip;q=0, deflate"), Some(Deflate)),
            (Some("br"), None),
            (Some(""), None),
            (None, None),
            (Some("deflate, gzip"), Some(Deflate)),
            (Some("gzip;q=0.5, deflate;q=0.8"), Some(Deflate)),
            (Some("GZIP ; Q = 0.9 , Deflate;q=0.1"), Some(Gzip)),
            (Some("gzip;q=0, deflate;q=0"), None),
            (Some("gzip;q=0.000"), None),
            (Some("identity"), None),
            (Some("br, gzip;q=0.2"), Some(Gzip)),
            (Some("x-gzip"), Some(Gzip)),
            // Malformed q-values make the coding count as absent.
            (Some("gzip;q=2, deflate;q=0.1"), Some(Deflate)),
            (Some("gzip;q=abc"), None),
            (Some("gzip;q=0.1234, deflate;q=0.001"), Some(Deflate)),
            (Some("gzip;q=1.001"), None),
            (Some("gzip;q=, deflate"), Some(Deflate)),
            (Some("gzip;level, deflate"), Some(Deflate)),
            (Some("gzip;q=1.000"), Some(Gzip)),
            // The first well-formed mention counts.
            (Some("deflate;q=0.5, deflate;q=1, gzip;q=0.6"), Some(Gzip)),
            // `*` stands for gzip when gzip is not listed.
            (Some("*"), Some(Gzip)),
            (Some("deflate, *"), Some(Deflate)),
            (Some("*, deflate"), Some(Gzip)),
            (Some("*;q=0"), None),
            (Some("*;q=0, deflate"), Some(Deflate)),
            (Some("gzip;q=0, *"), None),
            (Some("deflate;q=0.5, *;q=0.7"), Some(Gzip)),
            (Some(" , ,gzip"), Some(Gzip)),
        ];
        for (header, expected) in cases {
            assert_eq!(negotiate(*header), *expected, "{header:?}");
        }
    }

    #[test]
    fn gzip_round_trip() {
        let data = "4hello world ".repeat(200);
        let packed = compress(Encoding::Gzip, data.as_bytes());
        assert_eq!(&packed[..2], &[0x1f, 0x8b]);
        assert!(packed.len() < data.len());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn deflate_is_zlib_round_trip() {
        let data = "4hello world ".repeat(200);
        let packed = compress(Encoding::Deflate, data.as_bytes());
        assert_eq!(&packed[..2], &[0x78, 0x9c]);
        let mut out = String::new();
        flate2::read::ZlibDecoder::new(&packed[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn empty_input_round_trips() {
        for encoding in [Encoding::Gzip, Encoding::Deflate] {
            let packed = compress(encoding, b"");
            let mut out = Vec::new();
            match encoding {
                Encoding::Gzip => flate2::read::GzDecoder::new(&packed[..])
                    .read_to_end(&mut out)
                    .unwrap(),
                Encoding::Deflate => flate2::read::ZlibDecoder::new(&packed[..])
                    .read_to_end(&mut out)
                    .unwrap(),
            };
            assert!(out.is_empty());
        }
    }
}

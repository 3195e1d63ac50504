//! The AWS event-stream framing of `InvokeWithResponseStream` replies
//! (`application/vnd.amazon.eventstream`).
//!
//! A message is:
//!
//! ```text
//! total length (u32 BE) | headers length (u32 BE) | CRC32 of the previous 8 bytes (u32 BE)
//! headers: name length (u8) | name | value type (u8, 7 = string) | value length (u16 BE) | value
//! payload
//! CRC32 of everything before it (u32 BE)
//! ```
//!
//! Lambda sends `PayloadChunk` events (the chunk as the payload, as is) and one final
//! `InvokeComplete` event (a JSON payload with `ErrorCode`, `ErrorDetails`, `LogResult`).
//! Written here rather than taken from `aws-smithy-eventstream`, whose dependency tree and
//! minimum Rust version are far above ours for a few dozen lines.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ErrorReport;

/// The content type of an event stream.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// String-valued header type.
const STRING: u8 = 7;
/// Prelude (12) + message CRC (4).
const OVERHEAD: usize = 16;

/// One event message with string headers and `payload`.
pub(crate) fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let headers_len: usize = headers
        .iter()
        .map(|(n, v)| 1 + n.len() + 1 + 2 + v.len())
        .sum();
    let total = OVERHEAD + headers_len + payload.len();
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(total as u32);
    out.put_u32(headers_len as u32);
    out.put_u32(crc32(&out[..8]));
    for (name, value) in headers {
        // Names are our own constants, values short: both fit their length fields.
        out.put_u8(name.len() as u8);
        out.put_slice(name.as_bytes());
        out.put_u8(STRING);
        out.put_u16(value.len() as u16);
        out.put_slice(value.as_bytes());
    }
    out.put_slice(payload);
    out.put_u32(crc32(&out));
    out.freeze()
}

/// CRC-32 (IEEE 802.3, reflected; the event stream's checksum), a byte at a time: the local
/// server is not a hot path, and this keeps a SIMD crate out of every default build.
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// A `PayloadChunk` event carrying `chunk`.
pub(crate) fn payload_chunk(chunk: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", "PayloadChunk"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        chunk,
    )
}

/// The final `InvokeComplete` event, with the error if the invocation failed.
pub(crate) fn invoke_complete(failure: Option<&ErrorReport>) -> Bytes {
    let payload = match failure {
        None => serde_json::json!({}),
        Some(f) => serde_json::json!({
            "ErrorCode": f.error_type(),
            "ErrorDetails": f.error_message(),
        }),
    };
    message(
        &[
            (":event-type", "InvokeComplete"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        &serde_json::to_vec(&payload).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_checksum() {
        // The standard check value, and agreement with an independent implementation.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let data: Vec<u8> = (0..10_000u32).map(|n| (n * 7 + n / 13) as u8).collect();
        assert_eq!(crc32(&data), crc32fast::hash(&data));
    }

    /// An independent reading of one message: (headers, payload, bytes used).
    fn decode(buf: &[u8]) -> (Vec<(String, String)>, Vec<u8>, usize) {
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let total = be32(&buf[0..4]) as usize;
        let headers_len = be32(&buf[4..8]) as usize;
        assert_eq!(be32(&buf[8..12]), crc32fast::hash(&buf[..8]), "prelude crc");
        assert_eq!(
            be32(&buf[total - 4..total]),
            crc32fast::hash(&buf[..total - 4]),
            "message crc"
        );
        let mut headers = vec![];
        let mut at = 12;
        while at < 12 + headers_len {
            let n = buf[at] as usize;
            let name = String::from_utf8(buf[at + 1..at + 1 + n].to_vec()).unwrap();
            at += 1 + n;
            assert_eq!(buf[at], STRING);
            let len = u16::from_be_bytes([buf[at + 1], buf[at + 2]]) as usize;
            let value = String::from_utf8(buf[at + 3..at + 3 + len].to_vec()).unwrap();
            at += 3 + len;
            headers.push((name, value));
        }
        (headers, buf[at..total - 4].to_vec(), total)
    }

    #[test]
    fn known_vector() {
        // The event-stream specification's smallest message: no headers, no payload.
        assert_eq!(
            &message(&[], b"")[..],
            [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]
        );
    }

    #[test]
    fn chunk_and_complete_round_trip() {
        let mut stream = payload_chunk(b"Number: 1\n").to_vec();
        stream.extend_from_slice(&invoke_complete(Some(&ErrorReport::new(
            "Function.StreamError",
            "db gone",
        ))));
        let (h, p, used) = decode(&stream);
        assert_eq!(p, b"Number: 1\n");
        assert!(h.contains(&(":event-type".into(), "PayloadChunk".into())));
        assert!(h.contains(&(":message-type".into(), "event".into())));
        let (h, p, _) = decode(&stream[used..]);
        assert!(h.contains(&(":event-type".into(), "InvokeComplete".into())));
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ErrorCode": "Function.StreamError", "ErrorDetails": "db gone"})
        );
        let (_, p, _) = decode(&invoke_complete(None));
        assert_eq!(p, b"{}");
    }
}

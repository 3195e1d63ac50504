//! How large the error reports the runtime sends may be, and how a message is cut to fit.
//!
//! An error message can be anything a handler wrote: a whole upstream reply, a megabyte of
//! context. Sent as it is, a long one breaks the very report that carries it: the trailers of
//! a streamed response are one header block, and hyper-based servers refuse a block over
//! 16 KiB (Node's default for a request head is 16 KiB too), so Lambda would see a broken
//! stream and no error at all. Every report is therefore capped, and a message that does not
//! fit is cut on a character boundary and marked `… [truncated N bytes]`, N being how many
//! bytes of the message were left out. The sizes are documented on [`Diagnostic`].

use crate::error::types;
use crate::Diagnostic;

/// The longest error type sent, in bytes. A longer one cannot match Lambda's
/// `(Runtime|Function).Name` pattern in any useful way: it is sent as `Function.Unknown`.
pub(crate) const MAX_ERROR_TYPE: usize = 128;

/// The longest `Lambda-Runtime-Function-Error-Body` trailer value (base64), in bytes.
///
/// With the `Lambda-Runtime-Function-Error-Type` trailer (at most [`MAX_ERROR_TYPE`] bytes)
/// and both names, the trailer block stays near 8.5 KiB: half of the 16 KiB hyper accepts.
pub(crate) const MAX_ERROR_BODY_TRAILER: usize = 8 * 1024;

/// The longest `/error` or `/init/error` body, in bytes: far more than a useful message,
/// far under the 6 MB payload a synchronous caller receives it in, and within what
/// CloudWatch Logs keeps of one log event (256 KiB).
pub(crate) const MAX_ERROR_REPORT: usize = 256 * 1024;

/// The longest `Lambda-Runtime-Function-XRay-Error-Cause` header value, in bytes.
///
/// A request header: it shares the request head with the others, and the smallest head
/// limits in common servers are 16 KiB (Node) and 8 KiB per line (nginx). The client's
/// `/error` request renders the cause JSON with [`render_capped`] to this size.
pub(crate) const MAX_XRAY_ERROR_CAUSE: usize = 8 * 1024;

/// The error type to send for `diagnostic`: its own, or `Function.Unknown` when it is
/// longer than [`MAX_ERROR_TYPE`].
pub(crate) fn error_type(diagnostic: &Diagnostic) -> &str {
    let ty = diagnostic.error_type();
    if ty.len() > MAX_ERROR_TYPE {
        types::UNKNOWN
    } else {
        ty
    }
}

/// `render(message)`, with `message` cut and marked until the output is at most `max` bytes.
///
/// `render` must grow with its input (a longer message never renders shorter) and render a
/// message to at least its own length, as JSON and base64 encodings of it do. The message
/// keeps as much of its beginning as fits, followed by the marker; when nothing but the
/// marker fits, the output is `render` of the marker alone (which may then
/// exceed `max`: callers pass limits of kilobytes, markers are tens of bytes).
pub(crate) fn render_capped(
    message: &str,
    max: usize,
    mut render: impl FnMut(&str) -> Vec<u8>,
) -> Vec<u8> {
    if message.len() <= max {
        let whole = render(message);
        if whole.len() <= max {
            return whole;
        }
    }
    // Each round keeps a share of the message in proportion to how far over the output was
    // (escaping and base64 grow evenly), and at least one byte less than the round before.
    let mut keep = message.len().min(max);
    loop {
        keep = floor_char_boundary(message, keep);
        let out = render(&truncated(message, keep));
        if out.len() <= max || keep == 0 {
            return out;
        }
        let proportional = (keep as u128 * max as u128 / out.len() as u128) as usize;
        keep = proportional.min(keep - 1);
    }
}

/// The first `keep` bytes of `message` (a char boundary), then the marker.
fn truncated(message: &str, keep: usize) -> String {
    let dropped = message.len() - keep;
    format!("{}… [truncated {dropped} bytes]", &message[..keep])
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(message: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "errorMessage": message })).unwrap()
    }

    fn message_of(out: &[u8]) -> String {
        let v: serde_json::Value = serde_json::from_slice(out).unwrap();
        v["errorMessage"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_message_that_fits_is_sent_whole() {
        let out = render_capped("disk gone", 1024, json);
        assert_eq!(message_of(&out), "disk gone");
    }

    #[test]
    fn a_long_message_is_cut_and_marked() {
        let message = "x".repeat(100_000);
        let out = render_capped(&message, 4096, json);
        assert!(out.len() <= 4096, "{} bytes", out.len());
        let got = message_of(&out);
        let kept = got.find('…').unwrap();
        assert!(got[..kept].bytes().all(|b| b == b'x'));
        assert_eq!(
            &got[kept..],
            format!("… [truncated {} bytes]", 100_000 - kept)
        );
        // Nearly all of the budget is used for the message.
        assert!(out.len() > 4000, "{} bytes", out.len());
    }

    #[test]
    fn cuts_on_a_char_boundary() {
        // Two-, three- and four-byte characters: any cut inside one would be invalid UTF-8.
        let message = "é漢🦀".repeat(10_000);
        for max in [100, 101, 102, 103, 1000, 4096] {
            let out = render_capped(&message, max, json);
            assert!(out.len() <= max, "{} > {max}", out.len());
            let got = message_of(&out);
            let kept = got.find("… [truncated").unwrap();
            assert!(message.starts_with(&got[..kept]));
        }
    }

    #[test]
    fn heavy_escaping_still_fits_and_keeps_text() {
        // Each NUL is six bytes of JSON (\u0000): the budget holds a sixth as many.
        let message = "\0".repeat(50_000);
        let out = render_capped(&message, 6000, json);
        assert!(out.len() <= 6000, "{} bytes", out.len());
        let got = message_of(&out);
        let kept = got.find('…').unwrap();
        assert!(kept > 900, "kept only {kept} bytes");
    }

    #[test]
    fn base64_of_json_fits_its_cap() {
        use base64::Engine as _;
        let message = "y".repeat(1 << 20);
        let out = render_capped(&message, MAX_ERROR_BODY_TRAILER, |m| {
            base64::engine::general_purpose::STANDARD
                .encode(json(m))
                .into_bytes()
        });
        assert!(out.len() <= MAX_ERROR_BODY_TRAILER);
        assert!(out.len() > MAX_ERROR_BODY_TRAILER - 8);
    }

    #[test]
    fn long_error_types_become_unknown() {
        let d = Diagnostic::new("Function.".to_owned() + &"A".repeat(200), "x");
        assert_eq!(error_type(&d), "Function.Unknown");
        let d = Diagnostic::new("Function.Quota", "x");
        assert_eq!(error_type(&d), "Function.Quota");
    }
}

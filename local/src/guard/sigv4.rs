//! AWS Signature Version 4, checked as Lambda checks the requests of an `AWS_IAM` function
//! URL and of its API: the `Authorization` header's signature over the canonical request,
//! for service `lambda`, with the access key the server knows, within 5 minutes of
//! `X-Amz-Date`.

use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::civil::days_from_civil;

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from the server's clock, either way: 5 minutes, as AWS allows.
pub(crate) const MAX_SKEW_SECS: i64 = 5 * 60;
/// The payload hash of a request whose body is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const CONTENT_SHA256: &str = "x-amz-content-sha256";
const SECURITY_TOKEN: &str = "x-amz-security-token";

/// The credentials requests must be signed with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Credentials<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    /// With a session token, requests must carry it in `x-amz-security-token`.
    pub(crate) session_token: Option<&'a str>,
}

/// Why a request's signature does not pass.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not a complete SigV4 one, or a request that lacks
    /// what it signs; says what is wrong.
    Incomplete(String),
    /// The access key (or the session token) is not the server's.
    UnknownKey,
    /// Signed for another service than `lambda`.
    Scope(String),
    /// `X-Amz-Date` is more than 5 minutes away; AWS's message.
    Expired(String),
    /// The signature is not the one the request's content and the secret key give.
    Mismatch,
}

/// What a valid signature tells about its signer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Signed {
    /// The access key id it was signed with.
    pub(crate) access_key_id: String,
}

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug)]
struct Authorization<'a> {
    access_key_id: &'a str,
    /// `yyyymmdd/region/service/aws4_request`.
    scope: &'a str,
    date: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20250715/us-east-1/lambda/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=<64 hex digits>`.
fn parse_authorization(value: &str) -> Result<Authorization<'_>, Failure> {
    let Some(rest) = value.strip_prefix(ALGORITHM) else {
        return Err(Failure::Incomplete(
            "the authorization header is not an AWS4-HMAC-SHA256 signature".to_owned(),
        ));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| {
        Failure::Incomplete(format!("authorization header requires '{what}' parameter"))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let (access_key_id, scope) = credential
        .split_once('/')
        .ok_or_else(|| Failure::Incomplete("malformed credential".to_owned()))?;
    let fields: Vec<&str> = scope.split('/').collect();
    let [date, _region, service, "aws4_request"] = fields[..] else {
        return Err(Failure::Incomplete(format!(
            "credential should be scoped to a valid region, not '{scope}'"
        )));
    };
    Ok(Authorization {
        access_key_id,
        scope,
        date,
        service,
        signed_headers,
        signature,
    })
}

/// `YYYYMMDD'T'HHMMSS'Z'` → seconds since the Unix epoch.
pub(crate) fn parse_amz_date(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = &date[range];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, min, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Seconds since the epoch → `YYYYMMDD'T'HHMMSS'Z'`.
fn format_amz_date(secs: i64) -> String {
    let (y, m, d) = crate::civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Checks the request `parts` with `body`, received at `now` (seconds since the epoch),
/// against `credentials`.
pub(crate) fn verify(
    credentials: Credentials<'_>,
    parts: &Parts,
    body: &[u8],
    now: i64,
) -> Result<Signed, Failure> {
    let headers = &parts.headers;
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Failure::Missing);
    };
    let value = value
        .to_str()
        .map_err(|_| Failure::Incomplete("the authorization header is not text".to_owned()))?;
    let auth = parse_authorization(value)?;
    if auth.access_key_id != credentials.access_key_id {
        return Err(Failure::UnknownKey);
    }
    if auth.service != "lambda" {
        return Err(Failure::Scope(auth.service.to_owned()));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Failure::Incomplete(
                "authorization header requires existence of a 'X-Amz-Date' header".to_owned(),
            )
        })?;
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| Failure::Incomplete(format!("'{amz_date}' is not a valid X-Amz-Date")))?;
    if now - signed_at > MAX_SKEW_SECS {
        return Err(Failure::Expired(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now - MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if signed_at - now > MAX_SKEW_SECS {
        return Err(Failure::Expired(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format_amz_date(now + MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if !amz_date.starts_with(auth.date) {
        return Err(Failure::Incomplete(format!(
            "date in credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..8]
        )));
    }
    let token = headers
        .get(SECURITY_TOKEN)
        .map(|v| v.as_bytes())
        .filter(|t| !t.is_empty());
    match (credentials.session_token, token) {
        (Some(expected), Some(given)) if bool::from(expected.as_bytes().ct_eq(given)) => {}
        (None, None) => {}
        _ => return Err(Failure::UnknownKey),
    }
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(Failure::Incomplete(
            "'Host' must be a signed header".to_owned(),
        ));
    }
    let payload_hash = match headers.get(CONTENT_SHA256).map(|v| v.to_str()) {
        None => hex(&Sha256::digest(body)),
        Some(Ok(UNSIGNED_PAYLOAD)) => UNSIGNED_PAYLOAD.to_owned(),
        Some(Ok(declared)) if declared.starts_with("STREAMING-") => {
            return Err(Failure::Incomplete(format!(
                "'{declared}' (aws-chunked) payloads are not accepted by lambda"
            )))
        }
        Some(Ok(declared)) => {
            if !declared.eq_ignore_ascii_case(&hex(&Sha256::digest(body))) {
                return Err(Failure::Incomplete(
                    "the x-amz-content-sha256 header does not match the payload".to_owned(),
                ));
            }
            declared.to_owned()
        }
        Some(Err(_)) => return Err(Failure::Incomplete("x-amz-content-sha256".to_owned())),
    };
    let signature = decode_hex(auth.signature).ok_or(Failure::Mismatch)?;
    let key = signing_key(
        credentials.secret_access_key,
        auth.date,
        auth.scope.split('/').nth(1).unwrap_or(""),
    );
    let headers_block = canonical_headers(parts, &signed);
    // As AWS canonicalizes the target (normalized, each segment encoded again; query sorted),
    // or as sent, which is what some clients sign (curl before 8.x).
    let standard = (
        canonical_path(parts.uri.path()),
        canonical_query(parts.uri.query().unwrap_or("")),
    );
    let as_sent = (
        if parts.uri.path().is_empty() {
            "/"
        } else {
            parts.uri.path()
        }
        .to_owned(),
        parts.uri.query().unwrap_or("").to_owned(),
    );
    let candidates = if standard == as_sent {
        vec![standard]
    } else {
        vec![standard, as_sent]
    };
    for (path, query) in &candidates {
        let canonical = [
            parts.method.as_str(),
            path,
            query,
            &headers_block,
            auth.signed_headers,
            &payload_hash,
        ]
        .join("\n");
        let to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{}\n{}",
            auth.scope,
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut mac = key.clone();
        mac.update(to_sign.as_bytes());
        if mac.verify_slice(&signature).is_ok() {
            return Ok(Signed {
                access_key_id: auth.access_key_id.to_owned(),
            });
        }
        tracing::debug!(canonical_request = %canonical, "the signature does not match this canonical request");
    }
    Err(Failure::Mismatch)
}

/// The key that signs for `date` in `region`, for service `lambda`, ready for the string
/// to sign.
fn signing_key(secret: &str, date: &str, region: &str) -> HmacSha256 {
    let step = |key: &[u8], data: &str| -> Vec<u8> {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let k = step(format!("AWS4{secret}").as_bytes(), date);
    let k = step(&k, region);
    let k = step(&k, "lambda");
    let k = step(&k, "aws4_request");
    <HmacSha256 as Mac>::new_from_slice(&k)
        .unwrap_or_else(|_| unreachable!("hmac accepts any key length"))
}

/// `name:value\n` for each signed header, values trimmed, inner runs of spaces collapsed,
/// repeated headers joined with `,`.
fn canonical_headers(parts: &Parts, signed: &[&str]) -> String {
    let mut out = String::new();
    for name in signed {
        out.push_str(name);
        out.push(':');
        let values = parts.headers.get_all(*name).iter().map(|v| {
            let text = String::from_utf8_lossy(v.as_bytes());
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        });
        out.push_str(&values.collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// The path without `.` and `..` segments nor empty ones (a trailing `/` kept), each byte
/// but the unreserved ones and `/` percent-encoded: the path as sent is encoded again.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The query's parameters decoded, encoded again, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| -> Vec<u8> { percent_encoding::percent_decode_str(s).collect() };
            (encode(&decode(name)), encode(&decode(value)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every byte but `A-Z a-z 0-9 - _ . ~` as `%XX`.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses and checks arbitrary input: must never panic. For the fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(authorization: &[u8], amz_date: &[u8], path: &str, body: &[u8]) {
    let mut req = http::Request::post("/");
    if let Ok(uri) = path.parse::<http::Uri>() {
        req = req.uri(uri);
    }
    let Ok(req) = req.body(()) else { return };
    let (mut parts, ()) = req.into_parts();
    for (name, value) in [("authorization", authorization), ("x-amz-date", amz_date)] {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            parts.headers.insert(name, v);
        }
    }
    parts
        .headers
        .insert("host", http::HeaderValue::from_static("127.0.0.1:7000"));
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "secret",
        session_token: None,
    };
    let now = std::str::from_utf8(amz_date)
        .ok()
        .and_then(parse_amz_date)
        .unwrap_or(0);
    if let Some(secs) = std::str::from_utf8(amz_date).ok().and_then(parse_amz_date) {
        assert_eq!(parse_amz_date(&format_amz_date(secs)), Some(secs));
    }
    let _ = verify(creds, &parts, body, now);
    let _ = canonical_path(path);
    let _ = canonical_query(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn creds(token: Option<&str>) -> Credentials<'_> {
        Credentials {
            access_key_id: KEY,
            secret_access_key: SECRET,
            session_token: token,
        }
    }

    /// Signs as a client does, independently of `verify`'s code path where it matters: the
    /// canonical request is written out by hand by each test.
    fn sign(canonical: &str, date: &str, region: &str, secret: &str) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{}/{region}/lambda/aws4_request\n{}",
            &date[..8],
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut mac = signing_key(secret, &date[..8], region);
        mac.update(to_sign.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    fn request(
        method: &str,
        uri: &str,
        date: &str,
        signed: &str,
        signature: &str,
        extra: &[(&str, &str)],
    ) -> Parts {
        let mut b = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:7000")
            .header("x-amz-date", date)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={KEY}/{}/us-east-1/lambda/aws4_request, \
                     SignedHeaders={signed}, Signature={signature}",
                    &date[..8]
                ),
            );
        for (n, v) in extra {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const DATE: &str = "20250715T103651Z";

    fn now() -> i64 {
        parse_amz_date(DATE).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date(DATE), Some(1_752_575_811));
        assert_eq!(format_amz_date(1_752_575_811), DATE);
        for bad in [
            "",
            "20250715T103651",
            "2025-07-15T10:36Z",
            "20251315T103651Z",
            "2025071aT103651Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_signed_post_passes_and_its_body_is_covered() {
        let body = b"{\"hello\":\"world\"}";
        let canonical = format!(
            "POST\n/2021-11-15/functions/local/response-streaming-invocations\n\n\
             host:127.0.0.1:7000\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{}",
            hex(&Sha256::digest(body))
        );
        let sig = sign(&canonical, DATE, "us-east-1", SECRET);
        let parts = request(
            "POST",
            "/2021-11-15/functions/local/response-streaming-invocations",
            DATE,
            "host;x-amz-date",
            &sig,
            &[],
        );
        assert_eq!(
            verify(creds(None), &parts, body, now()),
            Ok(Signed {
                access_key_id: KEY.to_owned()
            })
        );
        // Another body, another secret, a signature of another shape: refused.
        assert_eq!(
            verify(creds(None), &parts, b"{}", now()),
            Err(Failure::Mismatch)
        );
        let wrong = Credentials {
            secret_access_key: "not-the-secret",
            ..creds(None)
        };
        assert_eq!(verify(wrong, &parts, body, now()), Err(Failure::Mismatch));
        let short = request("POST", "/", DATE, "host;x-amz-date", "abcd", &[]);
        assert_eq!(
            verify(creds(None), &short, body, now()),
            Err(Failure::Mismatch)
        );
        // Within 5 minutes either way, and not beyond.
        assert!(verify(creds(None), &parts, body, now() + 300).is_ok());
        assert!(verify(creds(None), &parts, body, now() - 300).is_ok());
        let Err(Failure::Expired(msg)) = verify(creds(None), &parts, body, now() + 301) else {
            panic!("not expired")
        };
        assert_eq!(
            msg,
            "Signature expired: 20250715T103651Z is now earlier than 20250715T103652Z \
             (20250715T104152Z - 5 min.)"
        );
        assert!(matches!(
            verify(creds(None), &parts, body, now() - 301),
            Err(Failure::Expired(_))
        ));
    }

    #[test]
    fn paths_and_queries_as_aws_and_as_sent() {
        // AWS's form: the encoded path encoded again, the query sorted.
        let uri = "/2015-03-31/functions/arn%3Aaws%3Alambda/invocations?b=2&a=%20x";
        let canonical = format!(
            "POST\n/2015-03-31/functions/arn%253Aaws%253Alambda/invocations\na=%20x&b=2\n\
             host:127.0.0.1:7000\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{}",
            hex(&Sha256::digest(b""))
        );
        let sig = sign(&canonical, DATE, "eu-west-1", SECRET);
        let mut parts = request("POST", uri, DATE, "host;x-amz-date", &sig, &[]);
        parts.headers.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={KEY}/20250715/eu-west-1/lambda/aws4_request,\
                 SignedHeaders=host;x-amz-date,Signature={sig}"
            )
            .parse()
            .unwrap(),
        );
        assert!(verify(creds(None), &parts, b"", now()).is_ok());
        // As sent.
        let canonical = format!(
            "GET\n/a/./b/\nz=1&a=2\nhost:127.0.0.1:7000\nx-amz-date:{DATE}\n\n\
             host;x-amz-date\n{}",
            hex(&Sha256::digest(b""))
        );
        let sig = sign(&canonical, DATE, "us-east-1", SECRET);
        let parts = request("GET", "/a/./b/?z=1&a=2", DATE, "host;x-amz-date", &sig, &[]);
        assert!(verify(creds(None), &parts, b"", now()).is_ok());
        assert_eq!(canonical_path("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_query("b=2&a&c=%2F~"), "a=&b=2&c=%2F~");
    }

    #[test]
    fn session_tokens_and_payload_hashes() {
        let canonical = format!(
            "GET\n/\n\nhost:127.0.0.1:7000\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\
             x-amz-date:{DATE}\nx-amz-security-token:tok en\n\n\
             host;x-amz-content-sha256;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD"
        );
        let sig = sign(&canonical, DATE, "us-east-1", SECRET);
        let signed = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token";
        let extra = [
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("x-amz-security-token", "  tok   en "),
        ];
        let parts = request("GET", "/", DATE, signed, &sig, &extra);
        // The body is not signed; the token's spaces are canonical ones, its value is not.
        assert!(verify(creds(Some("  tok   en ")), &parts, b"anything", now()).is_ok());
        assert_eq!(
            verify(creds(Some("other")), &parts, b"", now()),
            Err(Failure::UnknownKey)
        );
        assert_eq!(
            verify(creds(None), &parts, b"", now()),
            Err(Failure::UnknownKey)
        );
        let no_token = request("GET", "/", DATE, "host;x-amz-date", &sig, &[]);
        assert_eq!(
            verify(creds(Some("tok")), &no_token, b"", now()),
            Err(Failure::UnknownKey)
        );
        let streaming = request(
            "PUT",
            "/",
            DATE,
            "host;x-amz-date",
            &sig,
            &[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")],
        );
        assert!(matches!(
            verify(creds(None), &streaming, b"", now()),
            Err(Failure::Incomplete(_))
        ));
        let mismatched = request(
            "PUT",
            "/",
            DATE,
            "host;x-amz-date",
            &sig,
            &[("x-amz-content-sha256", &hex(&Sha256::digest(b"a")))],
        );
        assert!(matches!(
            verify(creds(None), &mismatched, b"b", now()),
            Err(Failure::Incomplete(_))
        ));
    }

    #[test]
    fn malformed_and_foreign_signatures() {
        let sig = "0".repeat(64);
        let mut parts = request("GET", "/", DATE, "host;x-amz-date", &sig, &[]);
        parts.headers.remove("authorization");
        assert_eq!(
            verify(creds(None), &parts, b"", now()),
            Err(Failure::Missing)
        );
        for (value, want) in [
            ("Bearer abc", "AWS4-HMAC-SHA256"),
            ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250715/us-east-1/lambda/aws4_request", "SignedHeaders"),
            ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, SignedHeaders=host, Signature=00", "malformed"),
            ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250715/lambda, SignedHeaders=host, Signature=00", "region"),
        ] {
            parts.headers.insert("authorization", value.parse().unwrap());
            match verify(creds(None), &parts, b"", now()) {
                Err(Failure::Incomplete(msg)) => assert!(msg.contains(want), "{value}: {msg}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        let other_key = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20250715/us-east-1/lambda/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        parts
            .headers
            .insert("authorization", other_key.parse().unwrap());
        assert_eq!(
            verify(creds(None), &parts, b"", now()),
            Err(Failure::UnknownKey)
        );
        let s3 = format!(
            "AWS4-HMAC-SHA256 Credential={KEY}/20250715/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        parts.headers.insert("authorization", s3.parse().unwrap());
        assert_eq!(
            verify(creds(None), &parts, b"", now()),
            Err(Failure::Scope("s3".to_owned()))
        );
        let unsigned_host = request("GET", "/", DATE, "x-amz-date", &sig, &[]);
        assert!(matches!(
            verify(creds(None), &unsigned_host, b"", now()),
            Err(Failure::Incomplete(_))
        ));
        let mut no_date = request("GET", "/", DATE, "host;x-amz-date", &sig, &[]);
        no_date.headers.remove("x-amz-date");
        assert!(matches!(
            verify(creds(None), &no_date, b"", now()),
            Err(Failure::Incomplete(_))
        ));
        fuzz(
            b"AWS4-HMAC-SHA256 Credential=a/b/c/d/e",
            b"99999999T999999Z",
            "/%zz/../..",
            b"",
        );
    }
}

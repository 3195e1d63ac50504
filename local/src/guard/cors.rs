//! A function URL's CORS settings, applied in front of the function as Lambda applies them.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};

use crate::options::Cors;

impl Cors {
    /// Whether `origin` (an `Origin` header value) is one of `allow_origins`.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allow_origins.iter().any(|allowed| {
            let allowed = allowed.trim().trim_end_matches('/');
            allowed == "*" || (allowed.eq_ignore_ascii_case(origin) && origin != "null")
        })
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), or `None` when the request is not one. An origin
    /// that is not allowed gets an answer without CORS headers, which the browser refuses.
    pub(crate) fn preflight(&self, parts: &Parts) -> Option<HeaderMap> {
        if parts.method != Method::OPTIONS {
            return None;
        }
        let origin = parts.headers.get(ORIGIN)?;
        let method = parts.headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Origin"));
        let Some(allow_origin) = self.allow_origin(origin) else {
            return Some(headers);
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.allow_credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        // A credentialed request cannot use `*`: name what it asked for instead.
        let methods = match self.wildcard(&self.allow_methods) {
            true if self.allow_credentials => Some(method.clone()),
            _ => list(&self.allow_methods),
        };
        if let Some(methods) = methods {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        let requested = parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS);
        let allow_headers = match self.wildcard(&self.allow_headers) {
            true if self.allow_credentials => requested.cloned(),
            _ => list(&self.allow_headers),
        };
        if let Some(allow_headers) = allow_headers {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        }
        if let Some(age) = self.max_age.filter(|a| !a.is_zero()) {
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age.as_secs()));
        }
        Some(headers)
    }

    /// Replaces the function's `Access-Control-*` headers in `response` with these settings'
    /// for a request from `origin`.
    pub(crate) fn apply(&self, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        for name in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ACCESS_CONTROL_EXPOSE_HEADERS,
            ACCESS_CONTROL_ALLOW_METHODS,
            ACCESS_CONTROL_ALLOW_HEADERS,
            ACCESS_CONTROL_MAX_AGE,
        ] {
            response.remove(name);
        }
        let Some(origin) = origin else {
            return;
        };
        if !response.get_all(VARY).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("origin"))
            })
        }) {
            response.append(VARY, HeaderValue::from_static("Origin"));
        }
        let Some(allow_origin) = self.allow_origin(origin) else {
            return;
        };
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.allow_credentials {
            response.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = list(&self.expose_headers) {
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose);
        }
    }

    /// `Access-Control-Allow-Origin` for `origin`: `*` when any origin is allowed and no
    /// credentials are, else the origin itself when it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok()?;
        if !self.allows_origin(text) {
            return None;
        }
        if self.wildcard(&self.allow_origins) && !self.allow_credentials {
            return Some(HeaderValue::from_static("*"));
        }
        Some(origin.clone())
    }

    fn wildcard(&self, list: &[String]) -> bool {
        list.iter().any(|v| v.trim() == "*")
    }
}

/// The entries joined with `,`, or `None` when there are none (or they cannot be a header).
fn list(entries: &[String]) -> Option<HeaderValue> {
    let joined = entries
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    if joined.is_empty() {
        return None;
    }
    HeaderValue::from_str(&joined).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        Cors {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["content-type".into(), "x-custom".into()],
            expose_headers: vec!["x-my-custom-header".into()],
            max_age: Some(Duration::from_secs(600)),
            allow_credentials: false,
        }
    }

    fn preflight(origin: &str) -> Parts {
        http::Request::options("/")
            .header(ORIGIN, origin)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn preflight_from_an_allowed_origin() {
        let c = cors(&["http://localhost:5173", "https://app.example.com/"]);
        let h = c.preflight(&preflight("https://app.example.com")).unwrap();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "content-type,x-custom");
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(h[VARY], "Origin");
        assert!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        // Not allowed: answered, without CORS headers.
        let h = c.preflight(&preflight("https://evil.example")).unwrap();
        assert!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(h.get(ACCESS_CONTROL_ALLOW_METHODS).is_none());
        // Not a preflight: an OPTIONS without Access-Control-Request-Method.
        let plain = http::Request::options("/")
            .header(ORIGIN, "https://app.example.com")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(c.preflight(&plain).is_none());
        let get = http::Request::get("/").body(()).unwrap().into_parts().0;
        assert!(c.preflight(&get).is_none());
    }

    #[test]
    fn wildcards_and_credentials() {
        let mut c = cors(&["*"]);
        c.allow_methods = vec!["*".into()];
        c.allow_headers = vec!["*".into()];
        let h = c.preflight(&preflight("https://any.example")).unwrap();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "*");
        c.allow_credentials = true;
        let h = c.preflight(&preflight("https://any.example")).unwrap();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://any.example");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "POST");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
        assert!(!c.allows_origin("null") || c.allow_origins == ["*"]);
        assert!(!cors(&["null"]).allows_origin("null"));
    }

    #[test]
    fn the_settings_replace_the_function_s_headers() {
        let c = cors(&["http://localhost:5173"]);
        let mut res = HeaderMap::new();
        res.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        res.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-secret"),
        );
        res.insert("x-my-custom-header", HeaderValue::from_static("1"));
        let origin = HeaderValue::from_static("http://localhost:5173");
        c.apply(Some(&origin), &mut res);
        assert_eq!(res[ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert_eq!(res[ACCESS_CONTROL_EXPOSE_HEADERS], "x-my-custom-header");
        assert_eq!(res[VARY], "Origin");
        assert_eq!(res["x-my-custom-header"], "1");

        // Another origin: the function's `*` is gone, nothing in its place.
        let mut res = HeaderMap::new();
        res.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        res.insert(VARY, HeaderValue::from_static("accept-encoding, origin"));
        c.apply(Some(&HeaderValue::from_static("http://other:1")), &mut res);
        assert!(res.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(res.get_all(VARY).iter().count(), 1);
        // No Origin: the function's CORS headers are still replaced (by none).
        let mut res = HeaderMap::new();
        res.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        c.apply(None, &mut res);
        assert!(res.is_empty());
    }
}

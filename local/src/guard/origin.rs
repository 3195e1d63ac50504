//! Cross-site requests: which pages may send requests to the local server.
//!
//! A browser lets any page send a "simple" request (a form post, `fetch` with `no-cors`) to
//! any address, 127.0.0.1 included: it only keeps the page from reading the answer. Such a
//! request would still run the function with the developer's credentials. Browsers say
//! where a request comes from: `Origin` (on every non-`GET` request and every CORS one) and
//! `Sec-Fetch-Site` (`same-origin`, `same-site`, `cross-site`, or `none` for one the user
//! typed).

use http::header::{HOST, ORIGIN};
use http::request::Parts;
use http::HeaderMap;

use crate::allowed_hosts::{self, AllowedHosts};
use crate::options::Cors;

/// The header browsers send to say how the page that sent a request relates to its target.
pub(crate) const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// How strict the check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// The function's doors: pages on loopback origins, the allowed hosts and the CORS
    /// settings' origins may send requests; other sites only with the setting that allows
    /// cross-site requests.
    State {
        /// `LOCAL_LAMBDA_ALLOW_CROSS_SITE`.
        allow_cross_site: bool,
    },
    /// The inspector's pages: same-origin only, whatever the settings.
    SameOrigin,
}

/// `Ok` when the page (if any) that sent this request may; `Err` says what it came from.
pub(crate) fn admits(
    parts: &Parts,
    hosts: &AllowedHosts,
    cors: Option<&Cors>,
    policy: Policy,
) -> Result<(), String> {
    let headers = &parts.headers;
    let allow_cross_site = matches!(
        policy,
        Policy::State {
            allow_cross_site: true
        }
    );
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        let ok = if policy == Policy::SameOrigin {
            is_same_origin(&origin, headers)
        } else {
            allow_cross_site
                || cors.is_some_and(|c| c.allows_origin(&origin))
                || is_same_origin(&origin, headers)
                || origin_host(&origin).is_some_and(|h| hosts.allows(h))
        };
        return if ok {
            Ok(())
        } else {
            Err(format!("a page on {origin}"))
        };
    }
    let site = headers
        .get(SEC_FETCH_SITE)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    let refused = match policy {
        Policy::SameOrigin => site == b"cross-site" || site == b"same-site",
        Policy::State { allow_cross_site } => !allow_cross_site && site == b"cross-site",
    };
    if refused {
        return Err(format!(
            "a page on another site (sec-fetch-site: {})",
            String::from_utf8_lossy(site)
        ));
    }
    Ok(())
}

/// Whether `origin` is the origin the request was sent to: its authority is the `Host`.
fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    authority.eq_ignore_ascii_case(host)
}

/// The host of an `http(s)://host[:port]` origin (`None` for `null` and other schemes).
pub(crate) fn origin_host(origin: &str) -> Option<&str> {
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    allowed_hosts::split_authority(authority).map(|(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOORS: Policy = Policy::State {
        allow_cross_site: false,
    };

    fn req(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::post("/invoke").header(HOST, "127.0.0.1:7000");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_doors_refuse_foreign_pages() {
        let hosts = AllowedHosts::new(None, &["phone.lan".to_owned()]);
        let ok = |h: &[(&str, &str)]| admits(&req(h), &hosts, None, DOORS);
        assert_eq!(ok(&[]), Ok(()));
        assert_eq!(ok(&[(SEC_FETCH_SITE, "none")]), Ok(()));
        assert_eq!(ok(&[(SEC_FETCH_SITE, "same-site")]), Ok(()));
        assert_eq!(ok(&[("origin", "http://127.0.0.1:7000")]), Ok(()));
        // Another loopback origin, even on another site (localhost vs 127.0.0.1).
        assert_eq!(
            ok(&[
                ("origin", "http://localhost:5173"),
                (SEC_FETCH_SITE, "cross-site")
            ]),
            Ok(())
        );
        assert_eq!(ok(&[("origin", "http://phone.lan:8080")]), Ok(()));
        assert!(ok(&[(SEC_FETCH_SITE, "cross-site")]).is_err());
        assert!(ok(&[("origin", "https://evil.example")]).is_err());
        assert!(ok(&[("origin", "null")]).is_err());
        assert!(ok(&[("origin", "http://127.0.0.1.evil.example")]).is_err());

        let cors = Cors {
            allow_origins: vec!["https://app.example.com".into()],
            ..Cors::default()
        };
        let with = |h: &[(&str, &str)]| admits(&req(h), &hosts, Some(&cors), DOORS);
        assert_eq!(
            with(&[
                ("origin", "https://app.example.com"),
                (SEC_FETCH_SITE, "cross-site")
            ]),
            Ok(())
        );
        assert!(with(&[("origin", "https://evil.example")]).is_err());

        let open = Policy::State {
            allow_cross_site: true,
        };
        let any = |h: &[(&str, &str)]| admits(&req(h), &hosts, None, open);
        assert_eq!(any(&[("origin", "https://evil.example")]), Ok(()));
        assert_eq!(any(&[(SEC_FETCH_SITE, "cross-site")]), Ok(()));
    }

    #[test]
    fn the_inspector_is_same_origin() {
        let hosts = AllowedHosts::new(None, &[]);
        let cors = Cors {
            allow_origins: vec!["*".into()],
            ..Cors::default()
        };
        let ok = |h: &[(&str, &str)]| admits(&req(h), &hosts, Some(&cors), Policy::SameOrigin);
        assert_eq!(ok(&[]), Ok(()));
        assert_eq!(
            ok(&[
                ("origin", "http://127.0.0.1:7000"),
                (SEC_FETCH_SITE, "same-origin")
            ]),
            Ok(())
        );
        assert_eq!(ok(&[(SEC_FETCH_SITE, "none")]), Ok(()));
        assert!(ok(&[("origin", "http://localhost:5173")]).is_err());
        assert!(ok(&[(SEC_FETCH_SITE, "same-site")]).is_err());
        assert!(ok(&[(SEC_FETCH_SITE, "cross-site")]).is_err());
    }
}

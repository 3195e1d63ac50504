//! A function URL's CORS settings: [`Cors`], as the developer sets them (the guard applies
//! them).

use std::time::Duration;

/// A function URL's CORS settings, in the shape of `FunctionUrlConfig.Cors`; see the
/// [guide](https://github.com/lambda-stream/lambda-stream/blob/main/docs/door.md#cors-as-the-urls-cors-settings).
///
/// With settings, the local server answers CORS preflight requests itself, without invoking
/// the function, and puts its own `Access-Control-*` headers on every response in place of
/// any the function set, as a function URL with CORS settings does.
///
/// ```
/// let mut cors = lambda_stream_local::Cors::default();
/// cors.allow_origins = vec!["http://localhost:5173".to_owned()];
/// cors.allow_methods = vec!["GET".to_owned(), "POST".to_owned()];
/// cors.max_age = Some(std::time::Duration::from_secs(300));
/// let mut options = lambda_stream_local::Options::default();
/// options.cors = Some(cors);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cors {
    /// `AllowOrigins`: the origins that may call the function (`https://app.example.com`),
    /// or `*` for any: `LOCAL_LAMBDA_CORS_ALLOW_ORIGINS`, comma-separated.
    pub allow_origins: Vec<String>,
    /// `AllowMethods`: `GET`, `POST`... or `*`: `LOCAL_LAMBDA_CORS_ALLOW_METHODS`.
    pub allow_methods: Vec<String>,
    /// `AllowHeaders`: the request headers a page may send, or `*`:
    /// `LOCAL_LAMBDA_CORS_ALLOW_HEADERS`.
    pub allow_headers: Vec<String>,
    /// `ExposeHeaders`: the response headers a page may read:
    /// `LOCAL_LAMBDA_CORS_EXPOSE_HEADERS`.
    pub expose_headers: Vec<String>,
    /// `MaxAge`: how long a browser may cache a preflight answer: `LOCAL_LAMBDA_CORS_MAX_AGE`
    /// in seconds (none by default: the browser does not cache it).
    pub max_age: Option<Duration>,
    /// `AllowCredentials`: whether a page may send cookies and read the response of a
    /// credentialed request: `LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS` (`true`/`false`).
    pub allow_credentials: bool,
}

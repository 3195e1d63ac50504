//! What the runtime serves: the one bound of every `run*`, the local server and the test kit.

use std::future::Future;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::{Body, BoxError};

/// A tower service the runtime can serve: a [`tower::Service`](tower_service::Service) of
/// `http::Request<`[`Body`]`>` whose response body is any [`http_body::Body`], with errors
/// (of the service and of its body) that convert into [`BoxError`].
///
/// You do not implement it: it is implemented for every fitting `tower::Service` (an axum
/// `Router`, a `tower::service_fn`, a layered stack, [`stream_fn`](crate::stream_fn)'s
/// service), and sealed. It names in one bound what [`run`](crate::run) asks of a service,
/// as hyper's `HttpService` does for its servers.
///
/// ```
/// use lambda_stream::{Body, LambdaService};
/// use std::convert::Infallible;
/// use http::{Request, Response};
///
/// fn assert_servable<S: LambdaService>(_: &S) {}
///
/// let service = tower::service_fn(|_req: Request<Body>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hello")))
/// });
/// assert_servable(&service);
/// ```
pub trait LambdaService: sealed::Sealed {
    /// The response body.
    type ResBody: http_body::Body<Error: Into<BoxError>> + Send + 'static;
    /// The service's error.
    type Error: Into<BoxError>;
    /// The future of a response.
    type Future: Future<Output = Result<Response<Self::ResBody>, Self::Error>>;

    #[doc(hidden)]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>>;

    #[doc(hidden)]
    fn call(&mut self, request: Request<Body>) -> Self::Future;
}

impl<S, B> LambdaService for S
where
    S: tower_service::Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Error: Into<BoxError>> + Send + 'static,
{
    type ResBody = B;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::poll_ready(self, cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        tower_service::Service::call(self, request)
    }
}

/// What the runtime asks of a response body: the bound of [`LambdaService::ResBody`], named
/// once for the crate's own code.
pub(crate) trait ResponseBody:
    http_body::Body<Error: Into<BoxError>> + Send + 'static
{
}

impl<B> ResponseBody for B where B: http_body::Body<Error: Into<BoxError>> + Send + 'static {}

mod sealed {
    use http::{Request, Response};

    use crate::Body;

    pub trait Sealed {}

    impl<S, B> Sealed for S where S: tower_service::Service<Request<Body>, Response = Response<B>> {}
}

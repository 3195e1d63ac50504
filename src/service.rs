//! What the runtime serves: the one bound of every `run*`, the local server and the test kit.

use std::future::Future;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};

use crate::{Body, BoxError};

/// A tower service the runtime can serve: a [`tower::Service`](tower_service::Service) of
/// `http::Request<`[`Body`]`>` or of `http::Request<`[`Bytes`]`>`, whose response body is any
/// [`http_body::Body`], with errors (of the service and of its body) that convert into
/// [`BoxError`].
///
/// Every `run*` of [`Runtime`](crate::Runtime), [`run`](crate::run), the local server and
/// `testing::TestClient` take a service through this bound, as it is:
///
/// - a service of `Request<Body>`: an axum `Router` (it takes any `http_body::Body`, and
///   `Body` is one), a layered tower-http stack, a `tower::service_fn` of `Request<Body>`;
/// - a service of `Request<Bytes>`: the event's body as the buffer it is, for handlers that
///   want plain `Bytes` (`examples/design_shape.rs`);
/// - [`stream_fn`](crate::stream_fn)'s service (a service of `Request<Body>`).
///
/// You do not implement it, nor name `M`: it is implemented for every fitting service and
/// sealed, and `M` (a marker of which request the service takes) is inferred, as axum's
/// `Handler<T, S>` infers its `T`. Generic code passes the bound on:
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use lambda_stream::{Body, IntoLambdaService};
/// use std::convert::Infallible;
///
/// fn assert_servable<S: IntoLambdaService<M>, M>(_: &S) {}
///
/// let of_body = tower::service_fn(|_req: Request<Body>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hello")))
/// });
/// let of_bytes = tower::service_fn(|req: Request<Bytes>| async move {
///     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(req.into_body())))
/// });
/// assert_servable(&of_body);
/// assert_servable(&of_bytes);
/// ```
///
/// A service that is neither is refused, with a message that says what it must be:
///
/// ```compile_fail,E0277
/// use http::{Request, Response};
/// use std::convert::Infallible;
///
/// # async fn f() -> Result<(), lambda_stream::Error> {
/// // A request body of `Vec<u8>` is not one the runtime hands to services.
/// let service = tower::service_fn(|_req: Request<Vec<u8>>| async {
///     Ok::<_, Infallible>(Response::new(String::new()))
/// });
/// lambda_stream::run(service).await
/// # }
/// ```
///
/// A closure that leaves its request's type to inference (`service_fn(|_req| ..)`, the
/// request unused) fits both shapes, and the compiler asks for the type of `M`: name the
/// request's type (`|_req: Request<Bytes>|`).
///
/// Serving a `Request<Bytes>` service costs nothing a `Request<Body>` one does not: the
/// runtime's `Body` is the event's `Bytes`, moved into the request as it is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service lambda-stream can run",
    label = "not a `tower::Service` of `http::Request<lambda_stream::Body>` or of `http::Request<bytes::Bytes>` returning `http::Response<impl http_body::Body>`",
    note = "a handler is a `tower::Service<http::Request<lambda_stream::Body>>` (an axum `Router` is one) or a `tower::Service<http::Request<bytes::Bytes>>`, whose response is an `http::Response<B>` with `B: http_body::Body + Send + 'static`, and whose errors (the service's and `B`'s) convert into `lambda_stream::BoxError`",
    note = "an async fn becomes one with `tower::service_fn`; a writer-style one, `async fn(Request<Body>, ResponseWriter)`, with `lambda_stream::stream_fn`"
)]
pub trait IntoLambdaService<M>: sealed::Sealed<M> {
    /// The service the runtime serves: `Self`, or `Self` taking the runtime's request as
    /// the `Request<Bytes>` it expects.
    type Service: LambdaService;

    /// The service the runtime serves.
    fn into_lambda_service(self) -> Self::Service;
}

/// What the runtime serves, once a service went through [`IntoLambdaService`]: a
/// [`tower::Service`](tower_service::Service) of `http::Request<`[`Body`]`>` whose response
/// body is any [`http_body::Body`], with errors (of the service and of its body) that convert
/// into [`BoxError`].
///
/// You do not implement it: it is implemented for every fitting `tower::Service` (an axum
/// `Router`, a `tower::service_fn`, a layered stack, [`stream_fn`](crate::stream_fn)'s
/// service), and sealed. It names in one bound what the runtime's loop asks of a service, as
/// hyper's `HttpService` does for its servers; `run*` take the wider [`IntoLambdaService`].
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service of `http::Request<lambda_stream::Body>` lambda-stream can run",
    label = "not a `tower::Service<http::Request<lambda_stream::Body>>` returning `http::Response<impl http_body::Body>`",
    note = "a `LambdaService` is a `tower::Service<http::Request<lambda_stream::Body>>` whose response is an `http::Response<B>` with `B: http_body::Body + Send + 'static`, and whose errors (the service's and `B`'s) convert into `lambda_stream::BoxError`; bound by `IntoLambdaService<M>` to take services of `http::Request<bytes::Bytes>` too"
)]
pub trait LambdaService: sealed::SealedService {
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

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::poll_ready(self, cx)
    }

    #[inline]
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

impl<S> IntoLambdaService<markers::ViaBody> for S
where
    S: LambdaService,
{
    type Service = S;

    #[inline]
    fn into_lambda_service(self) -> S {
        self
    }
}

impl<S, B> IntoLambdaService<markers::ViaBytes> for S
where
    S: tower_service::Service<Request<Bytes>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Error: Into<BoxError>> + Send + 'static,
{
    type Service = markers::BytesRequests<S>;

    #[inline]
    fn into_lambda_service(self) -> Self::Service {
        markers::BytesRequests { inner: self }
    }
}

/// `init`, resolving to the service its service is served as: how the `run*_with_init`
/// functions convert the service their `init` makes.
pub(crate) async fn init_into_service<F, E, S, M>(init: F) -> Result<S::Service, E>
where
    F: Future<Output = Result<S, E>>,
    S: IntoLambdaService<M>,
{
    init.await.map(S::into_lambda_service)
}

/// The markers of [`IntoLambdaService`], and the service a `Request<Bytes>` one is served
/// through. Public in a private module: nameable by the trait's impls, not by users.
mod markers {
    #![allow(unreachable_pub)]

    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http::Request;

    use crate::Body;

    /// The service takes `Request<Body>`.
    #[derive(Debug)]
    pub enum ViaBody {}

    /// The service takes `Request<Bytes>`.
    #[derive(Debug)]
    pub enum ViaBytes {}

    /// A service of `Request<Bytes>`, served the runtime's `Request<Body>`: the body's
    /// `Bytes` move out of it, nothing is copied.
    #[derive(Clone, Debug)]
    pub struct BytesRequests<S> {
        pub(super) inner: S,
    }

    impl<S> tower_service::Service<Request<Body>> for BytesRequests<S>
    where
        S: tower_service::Service<Request<Bytes>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        #[inline]
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        #[inline]
        fn call(&mut self, request: Request<Body>) -> S::Future {
            self.inner.call(request.map(Body::into_bytes))
        }
    }
}

mod sealed {
    use bytes::Bytes;
    use http::{Request, Response};

    use super::markers::{ViaBody, ViaBytes};
    use crate::Body;

    pub trait SealedService {}

    impl<S, B> SealedService for S where S: tower_service::Service<Request<Body>, Response = Response<B>>
    {}

    pub trait Sealed<M> {}

    impl<S: super::LambdaService> Sealed<ViaBody> for S {}

    impl<S, B> Sealed<ViaBytes> for S where
        S: tower_service::Service<Request<Bytes>, Response = Response<B>>
    {
    }
}

#[cfg(test)]
mod tests {
    //! Compile-pass: every entry point takes each handler shape as it is. (That a service
    //! of neither shape is refused, with its message, is the `compile_fail` doctest of
    //! `IntoLambdaService`.)

    use std::convert::Infallible;
    use std::future::Future;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full};
    use tower::ServiceBuilder;

    use crate::testing::TestClient;
    use crate::{stream_fn, Body, ResponseWriter, Runtime};

    async fn of_bytes(req: Request<Bytes>) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::new(req.into_body())))
    }

    async fn of_body(req: Request<Body>) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::new(req.into_body().into_bytes())))
    }

    async fn writer(req: Request<Body>, mut out: ResponseWriter) -> Result<(), crate::BoxError> {
        out.write_and_finish(req.into_body().into_bytes()).await?;
        Ok(())
    }

    fn router() -> axum::Router {
        axum::Router::new().route("/", axum::routing::post(|body: Bytes| async move { body }))
    }

    /// Builds (never polls) the future of every entry point with `service`.
    macro_rules! every_entry_point {
        ($service:expr) => {{
            fn ready<T>(t: T) -> impl Future<Output = Result<T, Infallible>> {
                std::future::ready(Ok(t))
            }
            drop(crate::run($service));
            drop(Runtime::from_env().run($service));
            drop(Runtime::from_env().run_with_init(ready($service)));
            drop(Runtime::from_env().run_concurrent($service));
            drop(Runtime::from_env().run_concurrent_with_init(ready($service)));
            drop(async {
                let server = Runtime::from_env().bind_local().await?;
                server.run($service).await
            });
            drop(async {
                let server = Runtime::from_env().bind_local().await?;
                server.run_with_init(ready($service)).await
            });
            drop(async {
                let server = Runtime::from_env().bind_local().await?;
                server.run_concurrent($service).await
            });
            TestClient::new($service)
        }};
    }

    #[tokio::test]
    async fn every_entry_point_takes_each_shape_as_it_is() {
        let shapes = [
            every_entry_point!(tower::service_fn(of_bytes)),
            every_entry_point!(tower::service_fn(of_body)),
            every_entry_point!(router()),
            every_entry_point!(ServiceBuilder::new().concurrency_limit(4).service(router())),
            every_entry_point!(ServiceBuilder::new()
                .concurrency_limit(4)
                .service_fn(of_bytes)),
            every_entry_point!(stream_fn(writer)),
        ];
        // And each serves: the body goes through unchanged, whichever request it takes.
        for (i, client) in shapes.iter().enumerate() {
            let res = client
                .request(Request::post("/").body(Bytes::from("echo")).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "shape {i}: {res:?}");
            assert_eq!(res.text(), "echo", "shape {i}");
        }
    }

    #[tokio::test]
    async fn a_request_bytes_service_gets_the_body_as_it_was_decoded() {
        use crate::LambdaService as _;
        let mut service = super::IntoLambdaService::into_lambda_service(tower::service_fn(
            |req: Request<Bytes>| async move {
                assert_eq!(req.uri(), "/path?q=1");
                assert_eq!(req.headers()["x-test"], "1");
                Ok::<_, Infallible>(Response::new(Full::new(req.into_body())))
            },
        ));
        let request = Request::post("/path?q=1")
            .header("x-test", "1")
            .body(Body::from("the body"))
            .unwrap();
        let res = service.call(request).await.unwrap();
        assert_eq!(
            res.into_body().collect().await.unwrap().to_bytes(),
            "the body"
        );
    }
}

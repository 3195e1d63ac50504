//! [`Builder`]: the test client's function configuration, timeout and concurrency.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::{Inner, Starter, State, Worker};
use super::TestClient;
use crate::client::Client;
use crate::{Config, IntoLambdaService, LambdaService};

/// Configures a [`TestClient`]: the function's name, timeout and configuration.
///
/// ```
/// use std::time::Duration;
/// # use lambda_stream::Body;
/// # use std::convert::Infallible;
/// # use http::{Request, Response};
/// # let service = tower::service_fn(|_req: Request<Body>| async {
/// #     Ok::<_, Infallible>(Response::new(String::new()))
/// # });
///
/// let client = lambda_stream::testing::TestClient::builder()
///     .function_name("orders")
///     .timeout(Duration::from_secs(3))
///     .build(service);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    timeout: Duration,
    concurrency: usize,
}

impl Default for Builder {
    fn default() -> Self {
        let config = Config {
            function_name: "test".to_owned(),
            function_version: "$LATEST".to_owned(),
            region: "us-east-1".to_owned(),
            memory_size_mb: Some(128),
            initialization_type: "on-demand".to_owned(),
            ..Config::default()
        };
        Builder {
            config,
            timeout: lambda_stream_local::Options::default().function_timeout,
            concurrency: 1,
        }
    }
}

impl Builder {
    /// The function's configuration, as the handler's [`Context`](crate::Context) sees it;
    /// default: function `test`, version `$LATEST`, 128 MB, `us-east-1`. Nothing is read
    /// from the environment.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The function's name (in its configuration and ARN).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.config.function_name = name.into();
        self
    }

    /// The function timeout (default 900 s, Lambda's maximum): each invocation's deadline
    /// (`Lambda-Runtime-Deadline-Ms`) is this far from when the runtime takes it, and a
    /// response still streaming then ends with a `Sandbox.Timeout` error. 100 ms later the
    /// invocation is stopped, as Lambda stops a timed-out function: the handler's future or
    /// response body is dropped.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many invocations the service serves at once (default 1, as one Lambda execution
    /// environment does): with more, invocations made at once (e.g. spawned, or joined) run
    /// side by side through the one service, each with its own request id and deadline, as
    /// the local server runs concurrent callers.
    pub fn concurrency(mut self, invocations: usize) -> Self {
        self.concurrency = invocations.max(1);
        self
    }

    /// The client of `service`.
    pub fn build<S, M>(self, service: S) -> TestClient
    where
        S: IntoLambdaService<M, Service: Send + 'static>,
        <S::Service as LambdaService>::Future: Send,
    {
        let service = service.into_lambda_service();
        let concurrency = self.concurrency;
        let starter: Starter = Box::new(move |addr, config| {
            let config = Arc::new(config);
            // Checked here, so that a bad address fails the start, not the first invocation.
            let first =
                Client::<<S::Service as LambdaService>::ResBody>::new(addr, config.clone())?;
            let mut first = Some(first);
            let addr = addr.to_owned();
            Ok(Box::pin(async move {
                let mode = crate::ResponseMode::Streamed;
                // The local server's loop, whatever the concurrency: the same deadlines.
                let connect = || match first.take() {
                    Some(client) => Ok(client),
                    None => Client::new(&addr, config.clone()).map_err(crate::Error::config),
                };
                crate::runtime::serve_many(service, connect, concurrency, mode).await
            }) as Worker)
        });
        TestClient {
            inner: Arc::new(Inner {
                config: self.config,
                timeout: self.timeout,
                state: Mutex::new(State::Idle(starter)),
            }),
        }
    }
}

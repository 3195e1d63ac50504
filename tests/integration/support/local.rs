//! Test support: the local development server on a free loopback port, for the suites that
//! drive it with real HTTP clients.

use std::net::SocketAddr;

use lambda_stream::local::Options;
use lambda_stream::{LambdaService, Runtime};

/// The server's default options, on a free port of 127.0.0.1.
pub fn options() -> Options {
    let mut options = Options::default();
    options.addr = "127.0.0.1:0".parse().unwrap();
    options
}

/// Binds `runtime`'s local server with `options` and serves `service` on it in the
/// background; returns where it listens. The server stops with the test's runtime.
pub async fn serve<S>(runtime: Runtime, options: Options, service: S) -> SocketAddr
where
    S: LambdaService + Send + 'static,
    S::Future: Send,
{
    let server = runtime.local_options(options).bind_local().await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run(service));
    addr
}

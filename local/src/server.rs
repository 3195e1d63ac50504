//! [`Server`]: the local server bound, then [`Serving`] its Runtime API and front doors.

use std::fmt;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::emulator::{self, Invocation};
use crate::error::Error;
use crate::function::FunctionConfig;
#[cfg(all(feature = "host", unix))]
use crate::host;
use crate::options::{Options, Source};
use crate::{doors, guard};

/// A bound local server: the front doors' listener, ready to serve. See the [crate docs](crate).
///
/// Binding first tells you the address (useful with port `0`, in tests); [`Server::serve`]
/// then starts the Runtime API a runtime connects to and the front doors.
///
/// ```no_run
/// # async fn doc() -> Result<(), lambda_stream_local::Error> {
/// use lambda_stream_local::{FunctionConfig, Options, Server};
///
/// let mut options = Options::default();
/// options.addr = "127.0.0.1:0".parse().unwrap();
/// let server = Server::bind(options, FunctionConfig::default()).await?;
/// println!("curl -N http://{}/", server.local_addr());
/// let serving = server.serve()?;
/// // A runtime with AWS_LAMBDA_RUNTIME_API=serving.runtime_api() serves the callers.
/// # drop(serving);
/// # Ok(())
/// # }
/// ```
pub struct Server {
    function: FunctionConfig,
    options: Options,
    listener: TcpListener,
    addr: SocketAddr,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("function", &self.function.name)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the front doors' listener at [`Options::addr`], for the function `function`.
    ///
    /// Fails when the address cannot be listened on (in use, not this machine's).
    pub async fn bind(options: Options, function: FunctionConfig) -> Result<Self, Error> {
        let wanted = options.addr;
        let listener = TcpListener::bind(wanted).await.map_err(|e| {
            let next = if e.kind() == std::io::ErrorKind::AddrInUse {
                "another process listens there (another function's local server?): stop it, \
                 or pick another port"
            } else {
                "pick another address or port"
            };
            Error::server(format!(
                "cannot listen on {wanted}: {e}; {next}: LOCAL_LAMBDA_PORT={} (0: any free \
                 port), LOCAL_LAMBDA_HOST for the address",
                wanted.port().checked_add(1).unwrap_or(0),
            ))
        })?;
        let addr = listener.local_addr().map_err(Error::server)?;
        Ok(Server {
            function,
            options,
            listener,
            addr,
        })
    }

    /// The address the front doors listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The function's settings.
    pub fn function(&self) -> &FunctionConfig {
        &self.function
    }

    /// Starts the Runtime API (on an ephemeral loopback port) and the front doors, on the
    /// current tokio runtime; they serve until the [`Serving`] is dropped.
    ///
    /// Fails when the Runtime API cannot listen. Must be called within a tokio runtime.
    pub fn serve(self) -> Result<Serving, Error> {
        let (queue, invocations) = mpsc::unbounded_channel();
        let timeout = self.options.function_timeout;
        let (runtime_api, api) = emulator::bind(&self.function, timeout, invocations, None)
            .map_err(|e| Error::server(format!("cannot listen for the runtime api: {e}")))?;
        let local_addr = self.addr;
        let mut tasks = self.open(queue);
        tasks.spawn(api);
        Ok(Serving {
            runtime_api,
            local_addr,
            _tasks: tasks,
        })
    }

    /// Opens the front doors, which queue invocations to `queue`: their task, which stops
    /// when the set is dropped.
    fn open(self, queue: mpsc::UnboundedSender<Invocation>) -> JoinSet<()> {
        let guard = guard::Guard::new(&self.options);
        guard.warn_at_startup(&self.options);
        let (front, path) = match self.options.source {
            Source::FunctionUrl => ("function url".to_owned(), String::new()),
            Source::RestApi => (
                format!("rest api, stage {}", self.options.rest_api.stage),
                format!("{}/", self.options.rest_api.stage),
            ),
            Source::HttpApi => ("http api".to_owned(), String::new()),
            Source::Alb => ("alb".to_owned(), String::new()),
        };
        tracing::info!(
            "local lambda server on http://{addr}: try `curl -N http://{addr}/{path}` \
             ({front}), `curl -N -d '{{}}' http://{addr}/invoke` (raw event), or an aws sdk \
             with endpoint_url http://{addr}; inspector on http://{addr}/_lambda/",
            addr = self.addr,
        );
        let doors = doors::State::new(queue, self.options, &self.function, guard);
        let mut tasks = JoinSet::new();
        tasks.spawn(doors::serve(self.listener, doors));
        tasks
    }
}

#[cfg(all(feature = "host", unix))]
impl Server {
    /// Serves the front doors, with `function` run as the function's processes, until the
    /// host is stopped (Ctrl-C, `SIGTERM` or `SIGHUP`); see
    /// [Run what you deploy](https://github.com/lambda-stream/lambda-stream/blob/main/docs/host.md).
    ///
    /// A host killed outright (`SIGKILL`) cannot stop its processes: they lose their Runtime
    /// API, and end as their runtime ends then.
    ///
    /// Fails at once if a signal handler cannot be installed; a process that cannot be
    /// started fails each invocation given to it (`Runtime.InvalidEntrypoint`), not the host.
    pub async fn host(self, function: host::Function) -> Result<(), Error> {
        let stop = host::stop_signal()?;
        self.host_until(function, stop).await
    }

    /// [`Server::host`], stopped when `stop` completes rather than on a signal.
    pub async fn host_until(
        self,
        function: host::Function,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), Error> {
        let config = self.function.clone();
        let options = self.options.clone();
        host::serve(function, config, &options, |queue| self.open(queue), stop).await;
        Ok(())
    }
}

/// A local server that serves: its Runtime API and its front doors, until dropped.
#[derive(Debug)]
pub struct Serving {
    runtime_api: SocketAddr,
    local_addr: SocketAddr,
    /// The Runtime API's and the doors' tasks: aborted when dropped.
    _tasks: JoinSet<()>,
}

impl Serving {
    /// The Runtime API's address, `AWS_LAMBDA_RUNTIME_API` for the function's runtime.
    pub fn runtime_api(&self) -> SocketAddr {
        self.runtime_api
    }

    /// The address the front doors listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_says_how_to_pick_another() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let options = Options {
            addr,
            ..Options::default()
        };
        let e = Server::bind(options, FunctionConfig::default())
            .await
            .unwrap_err();
        let why = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            why.starts_with(&format!("cannot listen on {addr}: "))
                && why.contains("another process listens there")
                && why.contains(&format!(
                    "LOCAL_LAMBDA_PORT={} (0: any free port)",
                    addr.port() + 1
                )),
            "{why}"
        );
    }
}

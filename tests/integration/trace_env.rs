//! `_X_AMZN_TRACE_ID` around invocations, against the Runtime API mock.
//!
//! In a process of its own ([`process::alone`]): the variable is process-wide, and the
//! one-worker runtimes of the other tests set it too. Its one test runs the cases in turn.

use crate::support::{self, process};

use std::convert::Infallible;
use std::num::NonZeroUsize;

use http::{Request, Response};
use lambda_stream::{Body, Runtime};
use support::{MockEvent, MockRuntimeApi};
use tower::service_fn;

const VAR: &str = "_X_AMZN_TRACE_ID";

/// Answers with what `_X_AMZN_TRACE_ID` held when the service was called.
async fn env_echo(_req: Request<Body>) -> Result<Response<String>, Infallible> {
    let seen = std::env::var(VAR).unwrap_or_else(|_| "<unset>".to_owned());
    Ok(Response::new(seen))
}

async fn seen(mock: &MockRuntimeApi, event: MockEvent) -> String {
    mock.push_event(event);
    String::from_utf8(mock.response().await.split().1).unwrap()
}

fn event(id: &str, trace: Option<&str>) -> MockEvent {
    MockEvent::fixture(id, "function-url-get.json").header("lambda-runtime-trace-id", trace)
}

#[tokio::test]
async fn the_trace_id_variable_is_set_and_cleared_only_with_one_invocation_at_a_time() {
    if !process::alone(
        module_path!(),
        "the_trace_id_variable_is_set_and_cleared_only_with_one_invocation_at_a_time",
    ) {
        return;
    }
    std::env::remove_var(VAR);

    // run: set before the call, replaced by the next trace id, removed for an event without.
    let mock = MockRuntimeApi::start().await;
    let rt = tokio::spawn(Runtime::new(mock.config()).run(service_fn(env_echo)));
    assert_eq!(
        seen(&mock, event("a", Some("Root=1-aaa;Sampled=1"))).await,
        "Root=1-aaa;Sampled=1"
    );
    assert_eq!(
        seen(&mock, event("b", Some("Root=1-bbb;Sampled=0"))).await,
        "Root=1-bbb;Sampled=0"
    );
    assert_eq!(seen(&mock, event("c", None)).await, "<unset>");
    assert_eq!(
        seen(&mock, event("d", Some("Root=1-ddd"))).await,
        "Root=1-ddd"
    );
    stop(rt).await;
    std::env::remove_var(VAR);

    // run_concurrent with one worker: set too.
    let mock = MockRuntimeApi::start().await;
    let rt = tokio::spawn(Runtime::new(mock.config()).run_concurrent(service_fn(env_echo)));
    assert_eq!(
        seen(&mock, event("e", Some("Root=1-eee"))).await,
        "Root=1-eee"
    );
    stop(rt).await;
    std::env::remove_var(VAR);

    // More than one worker: never.
    let mock = MockRuntimeApi::start().await;
    let mut config = mock.config();
    config.max_concurrency = NonZeroUsize::new(2);
    let rt = tokio::spawn(Runtime::new(config).run_concurrent(service_fn(env_echo)));
    assert_eq!(seen(&mock, event("f", Some("Root=1-fff"))).await, "<unset>");
    assert_eq!(seen(&mock, event("g", Some("Root=1-ggg"))).await, "<unset>");
    stop(rt).await;

    // The opt-out.
    let mock = MockRuntimeApi::start().await;
    let runtime = Runtime::new(mock.config()).trace_id_env(false);
    let rt = tokio::spawn(runtime.run(service_fn(env_echo)));
    assert_eq!(seen(&mock, event("h", Some("Root=1-hhh"))).await, "<unset>");
    stop(rt).await;
}

/// Stops a runtime and waits until it is gone, so that the next one alone sets the variable.
async fn stop(rt: tokio::task::JoinHandle<Result<(), lambda_stream::Error>>) {
    rt.abort();
    let _ = rt.await;
}

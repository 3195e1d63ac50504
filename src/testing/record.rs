//! Reading an invocation's replies into the [`TestResponse`] the caller sees.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use lambda_stream_local::{open_prelude, ErrorReport, ReadReplies, Replies, Reply};

use super::client::Stopped;
use super::{Chunk, FunctionError, TestResponse};
use crate::error::types;
use crate::Diagnostic;

/// An invocation's replies, ended by the runtime stopping.
pub(super) struct Watched<R = Replies> {
    pub(super) replies: R,
    pub(super) stopped: Stopped,
}

/// Whether the runtime took the invocation.
pub(super) trait Taken {
    fn is_started(&self) -> bool;
}

impl Taken for Replies {
    fn is_started(&self) -> bool {
        Replies::is_started(self)
    }
}

impl<R: ReadReplies + Taken> ReadReplies for Watched<R> {
    async fn next(&mut self) -> Reply {
        tokio::select! {
            biased;
            reply = self.replies.next() => reply,
            // `Err`: the worker's task ended without a word (it panicked).
            _ = self.stopped.wait_for(Option::is_some) => Reply::Failed(ErrorReport::new(
                types::EXIT_ERROR,
                "the runtime stopped during the invocation",
            )),
        }
    }
}

impl<R: Taken> Watched<R> {
    fn is_started(&self) -> bool {
        self.replies.is_started()
    }
}

/// Reads an invocation's replies into the response the caller sees; `None` when the runtime
/// never took the invocation (it stopped).
pub(super) async fn record<R: ReadReplies + Taken>(
    mut replies: Watched<R>,
    request_id: String,
    sent_at: Instant,
) -> Option<TestResponse> {
    let mut res = TestResponse {
        request_id,
        status: StatusCode::BAD_GATEWAY,
        headers: HeaderMap::new(),
        prelude: None,
        chunks: Vec::new(),
        body: Bytes::new(),
        error: None,
        sent_at,
        head_at: None,
        ended_at: sent_at,
    };
    let opened = match open_prelude(&mut replies).await {
        Ok(opened) => opened,
        // Never taken: the runtime stopped first.
        Err(u) if !u.head && !u.reported && !replies.is_started() => return None,
        Err(u) => {
            res.prelude = u.prelude;
            return Some(res.failed(u.failure, u.head));
        }
    };
    let now = Instant::now();
    res.status = opened.status;
    res.headers = opened.headers;
    res.prelude = opened.prelude;
    res.head_at = Some(now);
    if !opened.first.is_empty() {
        res.chunks.push(Chunk {
            bytes: opened.first,
            arrived_at: now,
        });
    }

    loop {
        match replies.chunk().await {
            Ok(Some(bytes)) => res.chunks.push(Chunk {
                bytes,
                arrived_at: Instant::now(),
            }),
            Ok(None) => break,
            Err(f) => {
                res.error = Some(mid_stream(f));
                break;
            }
        }
    }
    res.ended_at = Instant::now();
    res.body = join(&res.chunks);
    Some(res)
}

impl TestResponse {
    /// Ends the response as failed; `started`: its head had been sent.
    fn failed(mut self, failure: ErrorReport, started: bool) -> Self {
        if started {
            self.head_at.get_or_insert_with(Instant::now);
        }
        self.error = Some(FunctionError {
            diagnostic: diagnostic(failure),
            mid_stream: started,
        });
        self.ended_at = Instant::now();
        self
    }
}

fn mid_stream(f: ErrorReport) -> FunctionError {
    FunctionError {
        diagnostic: diagnostic(f),
        mid_stream: true,
    }
}

/// The local Lambda's report of a failure, as the runtime's own [`Diagnostic`].
fn diagnostic(report: ErrorReport) -> Diagnostic {
    Diagnostic::new(
        report.error_type().to_owned(),
        report.error_message().to_owned(),
    )
}

fn join(chunks: &[Chunk]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.bytes.clone(),
        many => {
            let mut body = BytesMut::with_capacity(many.iter().map(|c| c.bytes.len()).sum());
            for chunk in many {
                body.extend_from_slice(&chunk.bytes);
            }
            body.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use http::HeaderValue;
    use tokio::sync::watch;

    use super::*;
    use crate::wire::HTTP_INTEGRATION_CONTENT_TYPE;

    /// What the Runtime API tells the caller: the runtime took the invocation, then a reply.
    enum Step {
        Started,
        Reply(Reply),
    }

    impl From<Reply> for Step {
        fn from(reply: Reply) -> Self {
            Step::Reply(reply)
        }
    }

    /// Replies as the Runtime API would send them; then none, until the reader is done.
    struct Scripted {
        steps: VecDeque<Step>,
        started: bool,
    }

    impl ReadReplies for Scripted {
        async fn next(&mut self) -> Reply {
            loop {
                match self.steps.pop_front() {
                    Some(Step::Started) => self.started = true,
                    Some(Step::Reply(reply)) => return reply,
                    None => std::future::pending().await,
                }
            }
        }
    }

    impl Taken for Scripted {
        fn is_started(&self) -> bool {
            self.started
        }
    }

    /// What `record` makes of these replies, the runtime stopping after them with `stop`.
    async fn recorded(steps: Vec<Step>, stop: Option<crate::Error>) -> Option<TestResponse> {
        let (stop_tx, stopped) = watch::channel(None);
        if let Some(e) = stop {
            let _ = stop_tx.send(Some(Arc::new(e)));
        }
        let watched = Watched {
            replies: Scripted {
                steps: steps.into(),
                started: false,
            },
            stopped,
        };
        record(watched, "r-1".into(), Instant::now()).await
    }

    fn started() -> Step {
        Step::Started
    }

    fn head() -> Step {
        Reply::Head {
            content_type: Some(HTTP_INTEGRATION_CONTENT_TYPE),
            streaming: true,
        }
        .into()
    }

    fn data(bytes: &'static [u8]) -> Step {
        Reply::Data(Bytes::from_static(bytes)).into()
    }

    #[tokio::test]
    async fn a_prelude_split_anywhere_and_body_bytes_beside_its_delimiter() {
        let res = recorded(
            vec![
                started(),
                head(),
                data(br#"{"statusCode":418,"hea"#),
                data(b"ders\":{\"x\":\"1\"},\"cookies\":[\"c=1\"]}\0\0\0"),
                data(b"\0\0\0\0\0body "),
                data(b"more"),
                Reply::End.into(),
            ],
            None,
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 418);
        assert_eq!(res.header("x"), Some("1"));
        assert_eq!(res.cookies(), ["c=1"]);
        assert_eq!(
            res.prelude(),
            Some(&br#"{"statusCode":418,"headers":{"x":"1"},"cookies":["c=1"]}"#[..])
        );
        let chunks: Vec<_> = res.chunks().iter().map(|c| c.bytes().clone()).collect();
        assert_eq!(chunks, ["body ", "more"]);
        assert_eq!(res.body(), "body more");
        assert!(res.is_complete());
    }

    #[tokio::test]
    async fn an_unusable_prelude_is_an_invalid_response() {
        let res = recorded(
            vec![
                started(),
                head(),
                data(b"nope\0\0\0\0\0\0\0\0x"),
                Reply::End.into(),
            ],
            None,
        )
        .await
        .unwrap();
        let err = res.error().unwrap();
        assert_eq!(err.error_type(), "Runtime.InvalidResponse");
        assert!(err.is_mid_stream());
        assert_eq!(res.status(), 502);
        assert_eq!(res.prelude(), Some(&b"nope"[..]));

        let res = recorded(
            vec![started(), head(), data(b"{}"), Reply::End.into()],
            None,
        )
        .await
        .unwrap();
        assert_eq!(res.error().unwrap().error_type(), "Runtime.InvalidResponse");
        assert!(res.prelude().is_none());
    }

    #[tokio::test]
    async fn a_stopped_runtime_is_an_error_or_ends_the_response() {
        // Never taken: no response at all.
        assert!(recorded(vec![], Some(crate::Error::local("gone")))
            .await
            .is_none());
        // Taken, then the runtime stopped.
        let res = recorded(
            vec![started(), head(), data(b"{}\0\0\0\0\0\0\0\0a")],
            Some(crate::Error::local("gone")),
        )
        .await
        .unwrap();
        assert_eq!(res.text(), "a");
        let err = res.error().unwrap();
        assert_eq!(err.error_type(), "Runtime.ExitError");
        assert!(err.is_mid_stream());
    }

    #[tokio::test]
    async fn without_a_prelude_the_content_type_is_the_runtimes() {
        let head = Reply::Head {
            content_type: Some(HeaderValue::from_static("text/csv")),
            streaming: true,
        };
        let res = recorded(
            vec![started(), head.into(), data(b"a,b\n"), Reply::End.into()],
            None,
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.header("content-type"), Some("text/csv"));
        assert_eq!(res.text(), "a,b\n");
        assert!(res.prelude().is_none());
    }
}

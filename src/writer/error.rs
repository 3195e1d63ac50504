use std::fmt;

/// Why a [`ResponseWriter`](super::ResponseWriter) call failed, or why a
/// [`WriterBody`](super::WriterBody) ended early.
///
/// Opaque, like hyper's errors: ask what happened with the `is_*` predicates. Misuse of the
/// writer is reported here rather than by a panic, so a handler can decide what it means
/// (often nothing: `?` it, and the response ends with the error).
///
/// ```
/// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) {
/// out.write_and_finish("done").await.ok();
/// let err = out.finish().await.unwrap_err();
/// assert!(err.is_finished());
/// assert_eq!(err.to_string(), "the response is already finished");
/// # }
/// ```
pub struct Error {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Finished,
    HeadSent,
    Closed,
    Abandoned,
}

impl Error {
    pub(super) fn finished() -> Self {
        Error {
            kind: Kind::Finished,
        }
    }

    pub(super) fn head_sent() -> Self {
        Error {
            kind: Kind::HeadSent,
        }
    }

    pub(super) fn closed() -> Self {
        Error { kind: Kind::Closed }
    }

    pub(super) fn abandoned() -> Self {
        Error {
            kind: Kind::Abandoned,
        }
    }

    /// The response was already finished: by [`finish`](super::ResponseWriter::finish) or
    /// [`write_and_finish`](super::ResponseWriter::write_and_finish). Nothing more can be
    /// written or finished.
    pub fn is_finished(&self) -> bool {
        self.kind == Kind::Finished
    }

    /// The status and headers were already sent: by
    /// [`write_status_and_headers`](super::ResponseWriter::write_status_and_headers), or with
    /// their defaults by the first write. They cannot be changed any more.
    pub fn is_head_sent(&self) -> bool {
        self.kind == Kind::HeadSent
    }

    /// Nobody reads the response any more: the runtime dropped it (the Runtime API
    /// connection failed, or a middleware such as a deadline ended it). Stop writing.
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    /// A body error: the handler's task ended without finishing or failing the response
    /// (the tokio runtime shut down under it).
    pub fn is_abandoned(&self) -> bool {
        self.kind == Kind::Abandoned
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("writer::Error").field(&self.kind).finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Finished => "the response is already finished",
            Kind::HeadSent => "the status and headers were already sent",
            Kind::Closed => "the response stream is closed",
            Kind::Abandoned => "the handler stopped without finishing the response",
        })
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_and_messages() {
        let all = [
            Error::finished(),
            Error::head_sent(),
            Error::closed(),
            Error::abandoned(),
        ];
        for (i, e) in all.iter().enumerate() {
            let flags = [
                e.is_finished(),
                e.is_head_sent(),
                e.is_closed(),
                e.is_abandoned(),
            ];
            assert_eq!(flags.iter().filter(|f| **f).count(), 1);
            assert!(flags[i]);
            let msg = e.to_string();
            assert!(msg.chars().next().is_some_and(char::is_lowercase));
            assert!(!msg.ends_with('.'));
        }
    }
}

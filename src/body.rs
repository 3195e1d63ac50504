//! The request body the runtime hands to services.

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// The body of a request from an event: the event's body, decoded, in one buffer.
///
/// It is an [`http_body::Body`], so an axum `Router` and tower-http's request layers take it
/// as they are, and it dereferences to [`Bytes`], so a handler reads it like bytes:
///
/// ```
/// use lambda_stream::Body;
///
/// let body = Body::from("{\"name\":\"ada\"}");
/// let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(value["name"], "ada");
/// assert_eq!(body.len(), 14);
/// assert!(body.starts_with(b"{"));
/// ```
///
/// As an `http_body::Body` it yields its bytes as one frame; once read that way it is empty.
///
/// A service that would rather take the [`Bytes`] themselves is a service of
/// `http::Request<Bytes>`: the runtime serves it as it is, with the same buffer moved out of
/// the `Body` ([`into_bytes`](Body::into_bytes)), nothing copied (see
/// [`IntoLambdaService`](crate::IntoLambdaService)). `Bytes` is not an `http_body::Body`
/// itself, which is why the runtime's request body is this type and not `Bytes`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Body(Bytes);

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body(Bytes::new())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Body {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        &self.0
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body(bytes)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body(bytes.into())
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body(text.into())
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body(Bytes::from_static(bytes))
    }
}

impl From<Body> for Bytes {
    fn from(body: Body) -> Self {
        body.0
    }
}

impl PartialEq<Bytes> for Body {
    fn eq(&self, other: &Bytes) -> bool {
        self.0 == *other
    }
}

impl PartialEq<[u8]> for Body {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl PartialEq<&[u8]> for Body {
    fn eq(&self, other: &&[u8]) -> bool {
        self.0 == *other
    }
}

impl PartialEq<str> for Body {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Body {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(std::mem::take(&mut self.0)))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn yields_its_bytes_once() {
        let body = Body::from("hello");
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(5));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, "hello");
        let empty = Body::empty();
        assert!(http_body::Body::is_end_stream(&empty));
        assert!(empty.collect().await.unwrap().to_bytes().is_empty());
    }

    #[test]
    fn reads_like_bytes() {
        let body = Body::from(vec![1u8, 2, 3]);
        assert_eq!(&body[..], &[1, 2, 3]);
        assert_eq!(body, &[1u8, 2, 3][..]);
        assert_eq!(Bytes::from(body.clone()), body.into_bytes());
    }
}

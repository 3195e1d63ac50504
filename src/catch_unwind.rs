//! The panic boundary around the handler's values: a panic in polling its futures is
//! reported, and a panic in dropping any of them (a future, a body, the service itself) is
//! logged, never fatal and never in the way of a response that is already complete.

use std::any::Any;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

pin_project! {
    /// Polls `F`, turning a panic into `Err(payload)`. `F` is dropped as soon as it is done
    /// (or panicked), inside the boundary.
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        inner: Caught<F>,
    }
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> Self {
        CatchUnwind {
            inner: Caught::new(inner, "a future of the handler"),
        }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let Some(future) = inner.as_mut().as_pin_mut() else {
            panic!("CatchUnwind polled after it completed");
        };
        // The future is dropped right after a panic, never polled again: unwind safety holds.
        let out = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(v)) => Ok(v),
            Err(payload) => Err(payload),
        };
        inner.clear();
        Poll::Ready(out)
    }
}

pin_project! {
    /// Owns a (pinned) value of the handler, and drops it inside the panic boundary: when
    /// [`clear`](Caught::clear)ed, or when the `Caught` itself is dropped.
    pub(crate) struct Caught<T> {
        #[pin]
        value: Option<T>,
        what: &'static str,
    }

    impl<T> PinnedDrop for Caught<T> {
        fn drop(this: Pin<&mut Self>) {
            this.clear();
        }
    }
}

impl<T> Caught<T> {
    /// `what` names the value in the log line of a panic in its `Drop`.
    pub(crate) fn new(value: T, what: &'static str) -> Self {
        Caught {
            value: Some(value),
            what,
        }
    }

    /// The value, unless it was cleared.
    pub(crate) fn as_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut T>> {
        self.project().value.as_pin_mut()
    }

    /// Whether the value was dropped.
    pub(crate) fn is_cleared(&self) -> bool {
        self.value.is_none()
    }

    /// Drops the value now; a panic in its `Drop` is logged.
    pub(crate) fn clear(self: Pin<&mut Self>) {
        let this = self.project();
        if this.value.is_none() {
            return;
        }
        let mut value = this.value;
        // Assigning over the value drops it; should that panic, the slot still ends up
        // `None`, so it is never dropped twice.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| value.set(None))) {
            log_drop_panic(this.what, &*payload);
        }
    }
}

/// Owns a value of the handler that is used by `&mut` (the service), and drops it inside the
/// panic boundary.
pub(crate) struct Guarded<T> {
    value: Option<T>,
    what: &'static str,
}

impl<T> Guarded<T> {
    /// `what` names the value in the log line of a panic in its `Drop`.
    pub(crate) fn new(value: T, what: &'static str) -> Self {
        Guarded {
            value: Some(value),
            what,
        }
    }
}

impl<T> Deref for Guarded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.value {
            Some(value) => value,
            // Only `drop` takes the value out.
            None => unreachable!("a Guarded value is there until it is dropped"),
        }
    }
}

impl<T> DerefMut for Guarded<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.value {
            Some(value) => value,
            None => unreachable!("a Guarded value is there until it is dropped"),
        }
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        drop_caught(self.value.take(), self.what);
    }
}

/// Clones `value` inside the panic boundary: a panic in its `Clone` is `Err(payload)`.
///
/// `value` is only read. Should its `Clone` leave state it shares behind half-updated (a
/// poisoned lock, say), the next clone may panic too: that one is caught the same way.
pub(crate) fn clone_caught<T: Clone>(value: &T) -> Result<T, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(|| value.clone()))
}

/// Drops `value` inside the panic boundary; a panic in its `Drop` is logged.
pub(crate) fn drop_caught<T>(value: T, what: &'static str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        log_drop_panic(what, &*payload);
    }
}

fn log_drop_panic(what: &'static str, payload: &(dyn Any + Send)) {
    tracing::error!(
        what,
        panic = panic_message(payload),
        "{what} panicked while it was dropped; ignoring it"
    );
}

/// The message of a panic: its payload when that is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "a panic with a non-string payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Panics when dropped, and counts its drops.
    struct Bomb(Arc<AtomicUsize>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("boom in drop");
        }
    }

    #[test]
    fn a_panicking_drop_is_caught_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        drop_caught(Bomb(drops.clone()), "a bomb");
        assert_eq!(drops.load(Ordering::SeqCst), 1);

        let mut caught = Box::pin(Caught::new(Bomb(drops.clone()), "a bomb"));
        caught.as_mut().clear();
        assert!(caught.is_cleared());
        drop(caught);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "dropped exactly once");

        drop(Box::pin(Caught::new(Bomb(drops.clone()), "a bomb")));
        assert_eq!(drops.load(Ordering::SeqCst), 3);

        drop(Guarded::new(Bomb(drops.clone()), "a bomb"));
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_panicking_clone_is_caught() {
        struct Brittle(bool);
        impl Clone for Brittle {
            fn clone(&self) -> Self {
                if self.0 {
                    panic!("boom in clone");
                }
                Brittle(false)
            }
        }
        assert!(clone_caught(&Brittle(false)).is_ok());
        let payload = clone_caught(&Brittle(true))
            .err()
            .map(|p| panic_message(&*p).to_owned());
        assert_eq!(payload.as_deref(), Some("boom in clone"));
    }

    #[tokio::test]
    async fn a_future_that_panics_when_dropped_still_gives_its_output() {
        struct Ready {
            _armed: Bomb,
        }
        impl Future for Ready {
            type Output = u8;
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
                Poll::Ready(7)
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let out = CatchUnwind::new(Ready {
            _armed: Bomb(drops.clone()),
        })
        .await;
        assert_eq!(out.ok(), Some(7));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_future_that_panics_in_poll_and_in_drop_is_one_reported_panic() {
        struct Explodes {
            _armed: Bomb,
        }
        impl Future for Explodes {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                panic!("boom in poll")
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let payload = CatchUnwind::new(Explodes {
            _armed: Bomb(drops.clone()),
        })
        .await
        .unwrap_err();
        assert_eq!(panic_message(&*payload), "boom in poll");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}

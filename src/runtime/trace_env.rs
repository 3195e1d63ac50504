//! `_X_AMZN_TRACE_ID`: the process-wide copy of the invocation's X-Ray trace header.
//!
//! The AWS SDKs read it (aws-sdk-rust copies it into `X-Amzn-Trace-Id` on every AWS call when
//! `AWS_LAMBDA_FUNCTION_NAME` is set), and both X-Ray's downstream segments and Lambda's
//! recursive-loop detection depend on that header. The runtime sets it before calling the
//! service and removes it when an event carries no trace id, as every official runtime does,
//! but only while one invocation runs at a time: with concurrent invocations one variable
//! cannot hold two trace ids.

/// The variable's name.
pub(crate) const VAR: &str = "_X_AMZN_TRACE_ID";

/// Sets `_X_AMZN_TRACE_ID` to `trace_id`, or removes it for `None`.
///
/// Call only while no other invocation runs, from the task that serves the invocation.
pub(crate) fn propagate(trace_id: Option<&str>) {
    match trace_id {
        Some(id) => std::env::set_var(VAR, id),
        None => std::env::remove_var(VAR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_cleared() {
        propagate(Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"));
        assert_eq!(
            std::env::var(VAR).as_deref(),
            Ok("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1")
        );
        propagate(None);
        assert!(std::env::var_os(VAR).is_none());
    }
}

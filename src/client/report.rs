//! The error reports: `/invocation/{id}/error` and `/init/error`, with the X-Ray error cause.

use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Request};

use super::{request, ApiError, Client, InvocationIds, Outgoing, INVOCATION_ID};
use crate::service::ResponseBody;
use crate::{wire, Diagnostic};

/// `Lambda-Runtime-Function-XRay-Error-Cause`, on `/error`.
const XRAY_ERROR_CAUSE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-xray-error-cause");

impl<B> Client<B>
where
    B: ResponseBody,
{
    /// `POST /runtime/invocation/{id}/error`.
    pub(crate) async fn report_error(
        &mut self,
        request_id: &str,
        diagnostic: &Diagnostic,
    ) -> Result<(), ApiError> {
        let ids = self.ids(request_id);
        self.report_error_of(&ids, diagnostic).await
    }

    /// `POST /runtime/invocation/{id}/error`, echoing what `ids` holds: also for an
    /// invocation another client got from `/next` (a dead worker's, which its supervisor
    /// reports).
    pub(crate) async fn report_error_of(
        &mut self,
        ids: &InvocationIds,
        diagnostic: &Diagnostic,
    ) -> Result<(), ApiError> {
        let mut req = error_request(self.invocation_path(&ids.request_id, "error"), diagnostic)?;
        if let Some(value) = &ids.invocation_id {
            req.headers_mut().insert(INVOCATION_ID, value.clone());
        }
        self.post(req).await
    }

    /// `POST /runtime/init/error`.
    pub(crate) async fn report_init_error(
        &mut self,
        diagnostic: &Diagnostic,
    ) -> Result<(), ApiError> {
        let req = error_request(format!("{}/init/error", self.base), diagnostic)?;
        self.post(req).await
    }
}

fn error_request<B>(
    path: String,
    diagnostic: &Diagnostic,
) -> Result<Request<Outgoing<B>>, ApiError> {
    let mut req = request(
        Method::POST,
        path,
        Outgoing::full(wire::error_report_body(diagnostic)),
    )?;
    let h = req.headers_mut();
    h.insert(CONTENT_TYPE, wire::ERROR_CONTENT_TYPE);
    h.insert(wire::ERROR_TYPE, wire::error_type_header(diagnostic));
    if let Some(cause) = xray_error_cause(diagnostic) {
        h.insert(XRAY_ERROR_CAUSE, cause);
    }
    Ok(req)
}

/// The X-Ray error cause of `diagnostic`, as the official runtime clients send it:
/// `{"working_directory":..,"exceptions":[{"type":..,"message":..,"stack":[]}],"paths":[]}`,
/// its message cut to fit [`wire::limits::MAX_XRAY_ERROR_CAUSE`].
fn xray_error_cause(diagnostic: &Diagnostic) -> Option<HeaderValue> {
    #[derive(serde::Serialize)]
    struct Cause<'a> {
        working_directory: &'a str,
        exceptions: [Exception<'a>; 1],
        paths: [&'a str; 0],
    }
    #[derive(serde::Serialize)]
    struct Exception<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        message: &'a str,
        stack: [&'a str; 0],
    }
    let working_directory = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = wire::limits::error_type(diagnostic);
    let json = wire::limits::render_capped(
        diagnostic.error_message(),
        wire::limits::MAX_XRAY_ERROR_CAUSE,
        |message| {
            serde_json::to_vec(&Cause {
                working_directory: &working_directory,
                exceptions: [Exception {
                    kind,
                    message,
                    stack: [],
                }],
                paths: [],
            })
            .unwrap_or_default()
        },
    );
    // serde_json escapes control characters; other bytes are valid in a header value.
    HeaderValue::from_bytes(&json)
        .ok()
        .filter(|_| !json.is_empty())
}

//! `/healthz`: the liveness probe orchestrators poll. Answering at all means the server is
//! up; there is no JetStream whose state could make it unhealthy.

use super::http::Response;

pub(crate) fn page() -> Response {
    // Compact, unlike the other endpoints, as nats-server sends it.
    Response::new(200, "application/json", &br#"{"status":"ok"}"#[..])
}

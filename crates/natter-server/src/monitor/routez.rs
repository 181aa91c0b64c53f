//! `/routez`: cluster routes. Natter has no cluster yet, so the list is always empty.

use std::time::SystemTime;

use serde::Serialize;

use super::clock;
use crate::server::Shared;

/// A route as `/routez` will describe it once routes exist; never built today, the type
/// only fixes the element type of the empty list.
#[derive(Debug, Serialize)]
pub(crate) struct RouteInfo {}

/// The `/routez` document.
#[derive(Debug, Serialize)]
pub(crate) struct Routez {
    server_id: String,
    now: String,
    num_routes: usize,
    routes: Vec<RouteInfo>,
}

pub(crate) fn build(shared: &Shared) -> Routez {
    Routez {
        server_id: shared.id().to_string(),
        now: clock::rfc3339_nanos(SystemTime::now()),
        num_routes: 0,
        routes: Vec::new(),
    }
}

//! `/`: a small HTML page linking the endpoints, for people who open the monitoring port
//! in a browser.

use super::http::Response;
use crate::info::NATTER_VERSION;

const LINKS: &[(&str, &str)] = &[
    ("varz", "General"),
    ("connz", "Connections"),
    ("subsz", "Subscriptions"),
    ("routez", "Routes"),
    ("healthz", "Health Probe"),
    ("metrics", "Prometheus Metrics"),
];

pub(crate) fn page() -> Response {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Natter monitoring</title>\n\
         <style>body { font-family: sans-serif; margin-left: 32px } \
         a { display: block; padding-bottom: 6px }</style>\n</head>\n<body>\n",
    );
    html.push_str(&format!("<h1>Natter v{NATTER_VERSION}</h1>\n"));
    for (path, label) in LINKS {
        html.push_str(&format!("<a href=\"./{path}\">{label}</a>\n"));
    }
    html.push_str("</body>\n</html>\n");
    Response::new(200, "text/html; charset=utf-8", html)
}

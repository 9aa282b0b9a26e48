//! Operations: health and Prometheus metrics (request counts per route, cache).

use std::sync::atomic::Ordering;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::http::*;

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The service is up and serving a snapshot")))]
pub(crate) async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(json!({"status": "ok", "snapshot": state.served.manifest.number}))
}

/// Request counts per route and cache hits: for the operator's monitoring, not the
/// public (a `metrics` or `admin` token; `kmapa users add prometheus --role metrics`).
pub(crate) async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let role = role_of(&req, &state, "/metrics", "metrics")?;
    if !role.reads_metrics() {
        return Err(Problem::forbidden(format!(
            "the {} role cannot read /metrics: a metrics or admin token can",
            role.code()
        )));
    }
    let mut s = String::new();
    s.push_str("# HELP kmapa_http_requests_total HTTP requests by route and status.\n# TYPE kmapa_http_requests_total counter\n");
    let requests = state.metrics.requests.read().expect("metrics lock");
    let mut routes: Vec<&String> = requests.keys().collect();
    routes.sort();
    for route in routes {
        for (class, n) in requests[route].iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                s.push_str(&format!(
                    "kmapa_http_requests_total{{route=\"{route}\",status=\"{class}xx\"}} {n}\n"
                ));
            }
        }
    }
    s.push_str(&format!(
        "# HELP kmapa_cache_hits_total Responses served from the response cache.\n# TYPE kmapa_cache_hits_total counter\nkmapa_cache_hits_total {}\n",
        state.metrics.cache_hits.load(Ordering::Relaxed)
    ));
    s.push_str(&format!(
        "# HELP kmapa_cache_bytes Bytes held by the response cache (bounded).\n# TYPE kmapa_cache_bytes gauge\nkmapa_cache_bytes {}\n",
        state.cache_bytes()
    ));
    s.push_str(&format!(
        "# HELP kmapa_snapshot The published snapshot served.\n# TYPE kmapa_snapshot gauge\nkmapa_snapshot {}\n",
        state.served.manifest.number
    ));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(s))
}

/// Counts a finished request for /metrics (the route pattern, never the query).
pub fn record(state: &AppState, route: &str, status: u16) {
    let class = usize::from(status / 100).min(5);
    if let Some(c) = state
        .metrics
        .requests
        .read()
        .expect("metrics lock")
        .get(route)
    {
        c[class].fetch_add(1, Ordering::Relaxed);
        return;
    }
    state
        .metrics
        .requests
        .write()
        .expect("metrics lock")
        .entry(route.to_string())
        .or_default()[class]
        .fetch_add(1, Ordering::Relaxed);
}

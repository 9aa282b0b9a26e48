//! kmapa's HTTP layer. It never sees a record: it serves published snapshots of the
//! protected public tier (`snapshot`), prepared once into collections (`data`), as
//! OGC API – Features and the map's convenience API (`app`).

pub mod app;
pub mod convenience;
pub mod data;
pub mod export;
pub mod snapshot;
pub mod users;
pub mod webmap;

use std::path::PathBuf;
use std::time::Instant;

use actix_web::dev::Service;
use actix_web::{App, HttpServer, middleware, web};

pub use app::{AppState, configure};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub address: String,
    /// Origins allowed to embed the API (CORS); empty: none but the same origin.
    pub cors_origins: Vec<String>,
    pub workers: usize,
    /// Requests per second allowed per client address (bursts of twice that); 0: no limit.
    pub rate_limit: u32,
    /// A MapLibre style URL for the web map's basemap; none: a plain background.
    pub basemap_style: Option<String>,
}

/// A token bucket per client address.
pub struct RateLimiter {
    per_second: f64,
    buckets: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            buckets: Default::default(),
        }
    }

    /// True when the client may make one more request now.
    pub fn allow(&self, ip: std::net::IpAddr) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let burst = 2.0 * self.per_second;
        let mut b = self.buckets.lock().expect("rate limiter lock");
        if b.len() > 100_000 {
            b.retain(|_, (_, t)| now.duration_since(*t).as_secs() < 60);
        }
        let (tokens, last) = b.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The route pattern of the hot paths, for /metrics, without running the router's
/// matching a second time (`HttpRequest::match_pattern` re-matches every pattern).
fn route_of(path: &str) -> Option<&'static str> {
    let mut s = path.strip_prefix('/')?.split('/');
    match (s.next(), s.next(), s.next(), s.next(), s.next()) {
        (Some("collections"), Some(id), Some("items"), None, None) if !id.is_empty() => {
            Some("/collections/{id}/items")
        }
        (Some("collections"), Some(id), Some("items"), Some(f), None)
            if !id.is_empty() && !f.is_empty() =>
        {
            Some("/collections/{id}/items/{fid}")
        }
        (Some("collections"), Some(id), None, None, None) if !id.is_empty() => {
            Some("/collections/{id}")
        }
        _ => None,
    }
}

/// Serves a loaded snapshot until stopped; with `analyst`, the analyst tier too (its
/// users in `<data-dir>/users.sqlite`).
pub fn run(
    opts: &ServeOptions,
    snapshot: &snapshot::Snapshot,
    analyst: Option<std::sync::Arc<dyn app::Analyst>>,
) -> anyhow::Result<()> {
    let served = data::Served::from_snapshot(snapshot)?;
    let number = served.manifest.number;
    let mut state = AppState::new(served)
        .with_users(users::Users::open(&opts.data_dir)?)
        .with_basemap_style(opts.basemap_style.clone());
    if let Some(a) = analyst {
        state = state.with_analyst(a);
    }
    let state = web::Data::new(state);
    let origins = opts.cors_origins.clone();
    let limiter = web::Data::new(RateLimiter::new(opts.rate_limit));
    let server = HttpServer::new(move || {
        let mut cors = actix_cors::Cors::default()
            .allowed_methods(["GET", "HEAD"])
            .max_age(3600);
        for o in &origins {
            cors = if o == "*" {
                cors.allow_any_origin()
            } else {
                cors.allowed_origin(o)
            };
        }
        App::new()
            .app_data(state.clone())
            .app_data(limiter.clone())
            .app_data(web::PayloadConfig::new(16 * 1024))
            // Responses are compressed once, when cached (see `app`), not per request.
            .wrap(middleware::Condition::new(!origins.is_empty(), cors))
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let limited = match (req.app_data::<web::Data<RateLimiter>>(), req.peer_addr()) {
                    (Some(l), Some(addr)) => !l.allow(addr.ip()),
                    _ => false,
                };
                if limited {
                    let res = actix_web::ResponseError::error_response(&app::Problem {
                        status: actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                        title: "Too many requests",
                        detail: "slow down: this address has made too many requests; try again in a second".into(),
                    });
                    let mut res = req.into_response(res).map_into_right_body();
                    res.headers_mut().insert(
                        actix_web::http::header::RETRY_AFTER,
                        actix_web::http::header::HeaderValue::from_static("1"),
                    );
                    return futures_util::future::Either::Left(std::future::ready(Ok(res)));
                }
                let log = tracing::enabled!(tracing::Level::INFO);
                let (method, path) = if log {
                    (req.method().to_string(), req.path().to_string())
                } else {
                    (String::new(), String::new())
                };
                let state = req.app_data::<web::Data<AppState>>().cloned();
                let route = route_of(req.path())
                    .map(String::from)
                    .or_else(|| req.match_pattern())
                    .unwrap_or_else(|| "unmatched".into());
                let fut = srv.call(req);
                futures_util::future::Either::Right(async move {
                    let res = fut.await?.map_into_left_body();
                    let status = res.status().as_u16();
                    if let Some(s) = state {
                        app::record(&s, &route, status);
                    }
                    if log {
                        tracing::info!(
                            %method, %path, status, ms = started.elapsed().as_secs_f64() * 1000.0,
                            "request"
                        );
                    }
                    Ok(res)
                })
            })
            .configure(configure)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(app::Problem::not_found(
                    "no such resource; start at / for the links",
                ))
            }))
    })
    .workers(opts.workers.max(1))
    .bind(&opts.address)?;
    println!(
        "serving snapshot {number} at http://{} (Ctrl-C stops)",
        opts.address
    );
    actix_web::rt::System::new().block_on(server.run())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_routes_are_named_as_the_router_names_them() {
        use actix_web::dev::ResourceDef;
        // actix's own pattern matching (what the router and `match_pattern` use) is the
        // reference; anything else falls back to `match_pattern`.
        let patterns = [
            "/collections/{id}",
            "/collections/{id}/items",
            "/collections/{id}/items/{fid}",
        ];
        for path in [
            "/collections/problems-districts/items",
            "/collections/districts/items/FAB-01",
            "/collections/institutions",
            "/collections",
            "/collections/",
            "/collections//items",
            "/collections/a/items/",
            "/collections/a/items/b/c",
            "/api/v1/vocabulary",
            "/",
        ] {
            let expected = patterns
                .iter()
                .find(|p| ResourceDef::new(**p).is_match(path))
                .copied();
            assert_eq!(route_of(path), expected, "{path}");
        }
    }

    #[test]
    fn the_rate_limiter_allows_a_burst_then_refuses_then_refills() {
        let l = RateLimiter::new(5);
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let allowed = (0..20).filter(|_| l.allow(ip)).count();
        assert_eq!(allowed, 10, "a burst of twice the rate");
        assert!(l.allow(other), "limits are per address");
        std::thread::sleep(std::time::Duration::from_millis(450));
        assert!(l.allow(ip), "tokens refill over time");
        assert!(RateLimiter::new(0).allow(ip));
    }
}

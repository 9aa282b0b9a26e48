//! kmapa's HTTP layer. It never sees a record: it serves published snapshots of the
//! protected public tier (`snapshot`), prepared once into collections (`data`), as
//! OGC API – Features and the map's convenience API (`app`).

pub mod admin_api;
pub mod analyst_api;
pub mod app;
pub mod convenience;
pub mod data;
pub mod export;
pub mod http;
pub mod needs;
pub mod ogc;
pub mod operations;
pub mod report;
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
    /// Requests one client address may have in flight at once; 0: no limit. A client
    /// paging one request after another (GDAL, QGIS) is never refused; one opening many
    /// connections at once is.
    pub max_in_flight: u32,
    /// A MapLibre style URL for the web map's basemap; none: a plain background.
    pub basemap_style: Option<String>,
    /// The public base URL behind a reverse proxy (`https://mapa.example.pl/kmapa`):
    /// links are built from it; none: `http://` and the Host header.
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the rate limit);
    /// from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Requests per second per client address, with bursts of twice that (GCRA, from the
/// `governor` crate).
pub struct RateLimiter {
    limiter: Option<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>,
    calls: std::sync::atomic::AtomicU64,
}

impl RateLimiter {
    /// `per_second` 0: no limit.
    pub fn new(per_second: u32) -> Self {
        let limiter = std::num::NonZeroU32::new(per_second).map(|n| {
            let burst = n.saturating_mul(std::num::NonZeroU32::new(2).expect("2"));
            governor::RateLimiter::keyed(governor::Quota::per_second(n).allow_burst(burst))
        });
        RateLimiter {
            limiter,
            calls: Default::default(),
        }
    }

    /// True when the client may make one more request now.
    pub fn allow(&self, ip: std::net::IpAddr) -> bool {
        let Some(l) = &self.limiter else {
            return true;
        };
        // Forget addresses whose bucket is full again, now and then, so that memory
        // stays bounded by the addresses of the last moments.
        if self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % 65_536
            == 65_535
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        l.check_key(&ip).is_ok()
    }
}

/// Requests in flight per client address.
pub struct InFlight {
    max: u32,
    counts: dashmap::DashMap<std::net::IpAddr, u32>,
}

/// One request in flight; counted down when dropped.
pub struct InFlightGuard {
    owner: std::sync::Arc<InFlight>,
    ip: std::net::IpAddr,
}

impl InFlight {
    /// `max` 0: no limit.
    pub fn new(max: u32) -> std::sync::Arc<Self> {
        std::sync::Arc::new(InFlight {
            max,
            counts: Default::default(),
        })
    }

    /// A guard for one more request from `ip`, or `None` when it has `max` in flight.
    pub fn enter(self: &std::sync::Arc<Self>, ip: std::net::IpAddr) -> Option<InFlightGuard> {
        if self.max == 0 {
            return Some(InFlightGuard {
                owner: self.clone(),
                ip,
            });
        }
        let mut n = self.counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            owner: self.clone(),
            ip,
        })
    }

    /// Requests `ip` has in flight.
    pub fn of(&self, ip: std::net::IpAddr) -> u32 {
        self.counts.get(&ip).map_or(0, |n| *n)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.owner.max == 0 {
            return;
        }
        // Forget the address once it has nothing in flight: memory follows the clients
        // of the moment.
        self.owner.counts.remove_if_mut(&self.ip, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that is not a trusted proxy (each proxy appends the
/// address it saw, so entries left of an untrusted one may be forged).
pub fn client_ip(
    peer: std::net::IpAddr,
    forwarded_for: Option<&str>,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(list) = forwarded_for else {
        return peer;
    };
    for part in list.rsplit(',') {
        match part.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // Garbage where an address should be: stop trusting the header here.
            Err(_) => return peer,
        }
    }
    peer
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

/// Makes a snapshot's analyst tier (`Ok(None)`: not offered).
pub type AnalystOf = std::sync::Arc<
    dyn Fn(&snapshot::Snapshot) -> anyhow::Result<Option<std::sync::Arc<dyn http::Analyst>>>
        + Send
        + Sync,
>;

/// What `kmapa serve` offers besides the public tier, made by the owner of the store.
#[derive(Default, Clone)]
pub struct Extras {
    /// The analyst tier of a snapshot (`None`: not offered).
    pub analyst: Option<AnalystOf>,
    pub batches: Option<std::sync::Arc<dyn admin_api::Batches>>,
    pub publishing: Option<std::sync::Arc<dyn admin_api::Publishing>>,
    pub directory: Option<std::sync::Arc<dyn admin_api::Directory>>,
}

/// Serves the latest snapshot until stopped, with what `extras` offers (users in
/// `<data-dir>/users.sqlite`). When the admin API publishes, the server finishes the
/// requests in flight and serves the new snapshot on the same socket (connections
/// arriving meanwhile wait in the socket's queue).
pub fn run(opts: &ServeOptions, first: snapshot::Snapshot, extras: Extras) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(&opts.address)?;
    actix_web::rt::System::new().block_on(async move {
        let (mut server, mut reload) = start(opts, &extras, &listener, &first)?;
        loop {
            let handle = server.handle();
            let task = actix_web::rt::spawn(server);
            let task = match futures_util::future::select(task, Box::pin(reload.recv())).await {
                futures_util::future::Either::Left((done, _)) => {
                    done??;
                    return Ok(());
                }
                futures_util::future::Either::Right((_, task)) => task,
            };
            // This server stops accepting (connections wait in the socket's queue), the
            // next snapshot's server starts accepting on the same socket, and this one
            // stops once the requests it took have had time to be read and answered
            // (a graceful stop waits for requests in flight, not for connections whose
            // request has not been read yet).
            handle.pause().await;
            let snap = snapshot::Snapshot::load(&opts.data_dir, None)?;
            (server, reload) = start(opts, &extras, &listener, &snap)?;
            actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
            handle.stop(true).await;
            let _ = task.await;
        }
    })
}

/// A server for `snap` on `listener`, and where it asks to be reloaded.
fn start(
    opts: &ServeOptions,
    extras: &Extras,
    listener: &std::net::TcpListener,
    snap: &snapshot::Snapshot,
) -> anyhow::Result<(
    actix_web::dev::Server,
    tokio::sync::mpsc::UnboundedReceiver<()>,
)> {
    let served = data::Served::from_snapshot(snap)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut state = AppState::new(served)
        .with_users(users::Users::open(&opts.data_dir)?)
        .with_basemap_style(opts.basemap_style.clone())
        .with_public_url(opts.public_url.clone())
        .with_reload(tx);
    if let Some(make) = &extras.analyst
        && let Some(a) = make(snap)?
    {
        state = state.with_analyst(a);
    }
    if let Some(b) = &extras.batches {
        state = state.with_batches(b.clone());
    }
    if let Some(p) = &extras.publishing {
        state = state.with_publishing(p.clone());
    }
    if let Some(d) = &extras.directory {
        state = state.with_directory(d.clone());
    }
    let server = server(opts, state, listener.try_clone()?)?;
    println!(
        "serving snapshot {} at http://{} (Ctrl-C stops)",
        snap.manifest.number, opts.address
    );
    Ok((server, rx))
}

/// The HTTP server of one snapshot's state, on `listener`.
fn server(
    opts: &ServeOptions,
    state: AppState,
    listener: std::net::TcpListener,
) -> anyhow::Result<actix_web::dev::Server> {
    let state = web::Data::new(state);
    let origins = opts.cors_origins.clone();
    let limiter = web::Data::new(RateLimiter::new(opts.rate_limit));
    let trusted = web::Data::new(opts.trusted_proxies.clone());
    let in_flight = web::Data::from(InFlight::new(opts.max_in_flight));
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
            .app_data(trusted.clone())
            .app_data(in_flight.clone())
            .app_data(web::PayloadConfig::new(16 * 1024))
            // Responses are compressed once, when cached (see `app`), not per request.
            .wrap(middleware::Condition::new(!origins.is_empty(), cors))
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let client = req.peer_addr().map(|addr| {
                    let trusted = req
                        .app_data::<web::Data<Vec<std::net::IpAddr>>>()
                        .map_or(&[][..], |t| t.as_slice());
                    let forwarded = req
                        .headers()
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok());
                    client_ip(addr.ip(), forwarded, trusted)
                });
                let too_fast = match (req.app_data::<web::Data<RateLimiter>>(), client) {
                    (Some(l), Some(ip)) => !l.allow(ip),
                    _ => false,
                };
                let guard = match (req.app_data::<web::Data<InFlight>>(), client) {
                    (Some(f), Some(ip)) if !too_fast => f.clone().into_inner().enter(ip).ok_or(()),
                    _ => Err(()),
                };
                let refused = match (&guard, too_fast) {
                    (_, true) => Some("slow down: this address has made too many requests; try again in a second"),
                    (Err(()), false)
                        if req.app_data::<web::Data<InFlight>>().is_some() && client.is_some() =>
                    {
                        Some("too many requests at once from this address: wait for the answers before asking more")
                    }
                    _ => None,
                };
                if let Some(detail) = refused {
                    let res = actix_web::ResponseError::error_response(&http::Problem {
                        status: actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                        title: "Too many requests",
                        detail: detail.into(),
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
                    // Counted as in flight until the handler has answered.
                    drop(guard);
                    let status = res.status().as_u16();
                    if let Some(s) = state {
                        operations::record(&s, &route, status);
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
                Err::<actix_web::HttpResponse, _>(http::Problem::not_found(
                    "no such resource; start at / for the links",
                ))
            }))
    })
    .workers(opts.workers.max(1))
    // Hashing and compressing large answers run here (http::off_worker): two threads
    // per worker bound both the CPU they take and the memory of answers being made
    // (each thread's allocator arena holds on to what it has used).
    .worker_max_blocking_threads(2)
    .listen(listener)?
    .run();
    Ok(server)
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
    fn the_client_behind_a_trusted_proxy_is_the_last_untrusted_forwarded_address() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxy = ip("127.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        // Straight from a client: its own address, whatever it claims.
        assert_eq!(
            client_ip(ip("203.0.113.7"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.7")
        );
        // Through the proxy: the address the proxy saw.
        assert_eq!(
            client_ip(proxy, Some("198.51.100.4"), &trusted),
            ip("198.51.100.4")
        );
        // A client forging the header: what it wrote is left of what the proxy appended.
        assert_eq!(
            client_ip(proxy, Some("1.1.1.1, 198.51.100.4"), &trusted),
            ip("198.51.100.4")
        );
        // Two proxies in a row.
        assert_eq!(
            client_ip(proxy, Some("198.51.100.4, 10.0.0.2"), &trusted),
            ip("198.51.100.4")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
        assert_eq!(client_ip(proxy, Some("nonsense"), &trusted), proxy);
        // Untrusted peers are never taken at their word.
        assert_eq!(
            client_ip(ip("10.9.9.9"), Some("198.51.100.4"), &[]),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn a_client_may_have_so_many_requests_in_flight_and_no_more() {
        let f = InFlight::new(2);
        let a: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        let b: std::net::IpAddr = "198.51.100.2".parse().unwrap();
        let one = f.enter(a).expect("first");
        let two = f.enter(a).expect("second");
        assert!(f.enter(a).is_none(), "a third at once is refused");
        assert!(f.enter(b).is_some(), "others are not affected");
        drop(one);
        let three = f.enter(a).expect("one answered: room again");
        drop((two, three));
        assert_eq!(f.of(a), 0);
        assert!(f.counts.is_empty(), "idle addresses are forgotten");
        // One after another, any number.
        for _ in 0..10_000 {
            assert!(f.enter(a).is_some());
        }
        let unlimited = InFlight::new(0);
        let held: Vec<_> = (0..100).map(|_| unlimited.enter(a).unwrap()).collect();
        assert_eq!(held.len(), 100);
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

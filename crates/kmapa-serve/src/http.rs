//! HTTP plumbing shared by every handler: the service's state and response cache,
//! problem details (RFC 9457), query checking, ETag/304, compression off the worker,
//! and the bearer token's role. Handlers live in `ogc`, `convenience`, `analyst_api`,
//! `operations` and `webmap`; `app` wires them into routes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::data::Served;
pub use kmapa_protect::output::{Analyst, AnalystCell};

/// Shared state of the service.
pub struct AppState {
    pub served: Served,
    /// Answers by request, bounded in bytes (moka, weighed by body size).
    cache: moka::sync::Cache<String, Cached>,
    pub metrics: Metrics,
    pub users: Option<crate::users::Users>,
    /// Batches for the admin panel (the `kmapa` binary's store; `None`: not offered).
    pub batches: Option<std::sync::Arc<dyn crate::admin_api::Batches>>,
    /// The institutions directory for the admin panel (`None`: not offered).
    pub directory: Option<std::sync::Arc<dyn crate::admin_api::Directory>>,
    /// Preview, publish and roll back for the admin panel (`None`: not offered).
    pub publishing: Option<std::sync::Arc<dyn crate::admin_api::Publishing>>,
    /// Asks the server to serve the latest snapshot (after the requests in flight).
    reload: Option<tokio::sync::mpsc::UnboundedSender<()>>,
    pub analyst: Option<std::sync::Arc<dyn Analyst>>,
    /// A MapLibre style URL for the web map's basemap (deployments with internet); none
    /// by default: the map then draws on a plain background and asks nothing of anyone.
    pub basemap_style: Option<String>,
    /// The public base URL links are built from (`https://mapa.example.pl/kmapa`);
    /// none: `http://` and the request's Host header. Never a forwarding header.
    pub public_url: Option<String>,
}

#[derive(Clone)]
pub(crate) struct Cached {
    body: web::Bytes,
    etag: String,
    etag_header: HeaderValue,
    content_type: &'static str,
    /// Compressed once, on first demand, then served as they are.
    gzip: std::sync::Arc<std::sync::OnceLock<web::Bytes>>,
    brotli: std::sync::Arc<std::sync::OnceLock<web::Bytes>>,
}

impl Cached {
    fn gzip(&self) -> web::Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                e.write_all(&self.body).expect("in memory");
                web::Bytes::from(e.finish().expect("in memory"))
            })
            .clone()
    }

    fn brotli(&self) -> web::Bytes {
        self.brotli
            .get_or_init(|| {
                use std::io::Write;
                let mut w = brotli::CompressorWriter::new(Vec::new(), 1 << 16, 6, 22);
                w.write_all(&self.body).expect("in memory");
                web::Bytes::from(w.into_inner())
            })
            .clone()
    }
}

/// The encoding to answer with, from Accept-Encoding (brotli, then gzip).
pub(crate) fn encoding(req: &HttpRequest) -> Option<&'static str> {
    let accept = req.headers().get(header::ACCEPT_ENCODING)?.to_str().ok()?;
    let offers = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            it.next().is_some_and(|n| n.trim() == name)
                && it.all(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0))
                })
        })
    };
    if offers("br") {
        Some("br")
    } else if offers("gzip") {
        Some("gzip")
    } else {
        None
    }
}

#[derive(Default)]
pub struct Metrics {
    /// Per route pattern, counts by status (index: status / 100, 0..=5).
    pub requests: std::sync::RwLock<HashMap<String, [AtomicU64; 6]>>,
    pub cache_hits: AtomicU64,
}

/// The response cache's budget: bodies plus room for their compressed copies.
pub const CACHE_BYTES: u64 = 128 << 20;

pub(crate) fn new_cache(bytes: u64) -> moka::sync::Cache<String, Cached> {
    moka::sync::Cache::builder()
        .weigher(|k: &String, v: &Cached| {
            // The body, and up to as much again for its gzip and brotli copies.
            u32::try_from(k.len() + 2 * v.body.len()).unwrap_or(u32::MAX)
        })
        .max_capacity(bytes)
        .build()
}
pub(crate) const GEOJSON: &str = "application/geo+json";
pub(crate) const JSON: &str = "application/json";

impl AppState {
    pub fn new(served: Served) -> Self {
        AppState {
            served,
            cache: new_cache(CACHE_BYTES),
            metrics: Metrics::default(),
            users: None,
            analyst: None,
            batches: None,
            publishing: None,
            directory: None,
            reload: None,
            basemap_style: None,
            public_url: None,
        }
    }

    /// A response cache of at most `bytes` (default [`CACHE_BYTES`]).
    pub fn with_cache_bytes(mut self, bytes: u64) -> Self {
        self.cache = new_cache(bytes);
        self
    }

    /// Bytes the response cache holds now (after pending evictions).
    pub fn cache_bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    /// Links are built from `url` (trailing slashes dropped), whatever the request says.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url.map(|u| u.trim_end_matches('/').to_string());
        self
    }

    pub fn with_basemap_style(mut self, url: Option<String>) -> Self {
        self.basemap_style = url;
        self
    }

    pub fn with_users(mut self, users: crate::users::Users) -> Self {
        self.users = Some(users);
        self
    }

    pub fn with_analyst(mut self, analyst: std::sync::Arc<dyn Analyst>) -> Self {
        self.analyst = Some(analyst);
        self
    }

    /// The admin panel's batches (upload, withdraw, restore), done by the store's owner.
    pub fn with_batches(mut self, batches: std::sync::Arc<dyn crate::admin_api::Batches>) -> Self {
        self.batches = Some(batches);
        self
    }

    pub fn with_publishing(
        mut self,
        publishing: std::sync::Arc<dyn crate::admin_api::Publishing>,
    ) -> Self {
        self.publishing = Some(publishing);
        self
    }

    pub fn with_directory(
        mut self,
        directory: std::sync::Arc<dyn crate::admin_api::Directory>,
    ) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Where [`AppState::reload`] asks to serve the latest snapshot.
    pub fn with_reload(mut self, reload: tokio::sync::mpsc::UnboundedSender<()>) -> Self {
        self.reload = Some(reload);
        self
    }

    /// Asks the server to serve the latest snapshot once the requests in flight are
    /// answered (nothing without a server loop: tests).
    pub fn reload(&self) {
        if let Some(r) = &self.reload {
            let _ = r.send(());
        }
    }
}

/// An RFC 9457 problem.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "Invalid request",
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::UNAUTHORIZED,
            title: "Sign-in required",
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal error",
            detail: detail.into(),
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::CONFLICT,
            title: "Conflict",
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.detail)
    }
}

impl actix_web::ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            b.insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"kmapa analyst tier\"",
            ));
        }
        b.content_type("application/problem+json").body(
            json!({
                "type": "about:blank",
                "title": self.title,
                "status": self.status.as_u16(),
                "detail": self.detail,
            })
            .to_string(),
        )
    }
}

/// The base URL for links: the configured public URL, or `http://` and the Host header
/// (which the response cache keys on). `Forwarded` and `X-Forwarded-*` never reach a
/// link: one forged request would otherwise put another host into a cached answer.
pub(crate) fn base(req: &HttpRequest) -> String {
    if let Some(state) = req.app_data::<web::Data<AppState>>()
        && let Some(url) = &state.public_url
    {
        return url.clone();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or(req.app_config().host());
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The breakdown group a query asks for (`sex=…` or `age=…`, not both): `all` by default.
pub(crate) fn group_param(q: &BTreeMap<String, String>) -> Result<String, Problem> {
    match (q.get("sex"), q.get("age")) {
        (Some(s), None) => Ok(format!("sex={s}")),
        (None, Some(a)) => Ok(format!("age={a}")),
        (None, None) => Ok("all".into()),
        _ => Err(Problem::bad_request("give sex or age, not both")),
    }
}

/// What a query asks to be counted (`counted=persons|households`): persons by default.
pub(crate) fn counted_param(
    q: &BTreeMap<String, String>,
) -> Result<kmapa_protect::output::Counted, Problem> {
    use kmapa_protect::output::Counted;
    match q.get("counted") {
        None => Ok(Counted::Persons),
        Some(v) => Counted::parse(v).ok_or_else(|| {
            Problem::bad_request(format!(
                "counted={v:?}: give persons (the default) or households (families)"
            ))
        }),
    }
}

/// Parses the query string, refusing parameters not in `allowed`.
pub(crate) fn query(
    req: &HttpRequest,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, Problem> {
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|e| Problem::bad_request(format!("the query string cannot be read: {e}")))?
            .into_inner();
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if k != "f" && !allowed.contains(&k.as_str()) {
            let mut known: Vec<&str> = allowed.to_vec();
            known.push("f");
            return Err(Problem::bad_request(format!(
                "unknown parameter {k:?}; this resource takes: {}",
                known.join(", ")
            )));
        }
        if out.insert(k.clone(), v).is_some() {
            return Err(Problem::bad_request(format!(
                "parameter {k:?} is given twice"
            )));
        }
    }
    if let Some(f) = out.get("f")
        && f != "json"
        && f != "geojson"
    {
        return Err(Problem::bad_request(format!(
            "f={f:?}: only json is offered here"
        )));
    }
    Ok(out)
}

/// Serves `body` with an ETag (304 when the client has it) and Cache-Control.
pub(crate) fn respond(req: &HttpRequest, cached: Cached) -> HttpResponse {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == cached.etag || t.trim() == "*")
        });
    let mut b = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    // Header values made once (per answer, or static): nothing to parse per request.
    b.insert_header((header::ETAG, cached.etag_header.clone()))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        ))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
    if matches {
        return b.finish();
    }
    b.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(cached.content_type),
    ));
    match encoding(req).filter(|_| cached.body.len() > 1024) {
        Some("br") => b
            .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("br")))
            .body(cached.brotli()),
        Some(_) => b
            .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")))
            .body(cached.gzip()),
        None => b.body(cached.body),
    }
}

pub(crate) fn make(body: String, content_type: &'static str) -> Cached {
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..20]
    );
    Cached {
        gzip: Default::default(),
        brotli: Default::default(),
        body: web::Bytes::from(body),
        etag_header: HeaderValue::from_str(&etag).expect("hex in quotes"),
        etag,
        content_type,
    }
}

/// An embedded file, compressed once and served with an ETag.
pub(crate) fn static_response(
    req: &HttpRequest,
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
) -> HttpResponse {
    static FILES: std::sync::OnceLock<Mutex<HashMap<&'static str, Cached>>> =
        std::sync::OnceLock::new();
    let cache = FILES.get_or_init(Default::default);
    let c = cache
        .lock()
        .expect("files lock")
        .entry(name)
        .or_insert_with(|| make(body.to_string(), content_type))
        .clone();
    respond(req, c)
}

/// Answers from the response cache, or computes, caches and answers. Hashing a new
/// answer and compressing a large one run on the blocking pool, not on the async
/// workers, so that a few large pages do not stall every other request.
pub(crate) async fn cached_response(
    req: &HttpRequest,
    state: &AppState,
    compute: impl FnOnce() -> Result<(String, &'static str), Problem>,
) -> Result<HttpResponse, Problem> {
    // Links depend on the Host header unless a public URL is set: then Host is left
    // out of the key, so that varying it cannot fill the cache with copies.
    let host = match state.public_url {
        Some(_) => "",
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
    };
    let key = format!("{}?{}|{host}", req.path(), req.query_string());
    cached(req, state, key, compute).await
}

/// As [`cached_response`], for an answer only signed-in users may see (the caller has
/// checked the token): the same for every such user, so cached once, but never stored
/// by shared caches. Such answers hold no links, so Host is not part of the key.
pub(crate) async fn cached_private_response(
    req: &HttpRequest,
    state: &AppState,
    compute: impl FnOnce() -> Result<(String, &'static str), Problem>,
) -> Result<HttpResponse, Problem> {
    let key = format!("private|{}?{}", req.path(), req.query_string());
    let mut res = cached(req, state, key, compute).await?;
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(res)
}

pub(crate) async fn cached(
    req: &HttpRequest,
    state: &AppState,
    key: String,
    compute: impl FnOnce() -> Result<(String, &'static str), Problem>,
) -> Result<HttpResponse, Problem> {
    let c = match state.cache.get(&key) {
        Some(c) => {
            state.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            c
        }
        None => {
            let (body, ct) = compute()?;
            let c = if body.len() > OFF_WORKER_BYTES {
                off_worker(move || make(body, ct)).await?
            } else {
                make(body, ct)
            };
            state.cache.insert(key, c.clone());
            c
        }
    };
    let c = compressed(c, encoding(req)).await?;
    Ok(respond(req, c))
}

/// Answers larger than this are hashed and compressed off the async workers.
pub(crate) const OFF_WORKER_BYTES: usize = 64 << 10;

/// Runs CPU-heavy work on actix's blocking pool.
pub(crate) async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    web::block(f).await.map_err(|_| Problem {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Busy",
        detail: "the server could not finish this answer; try again".into(),
    })
}

/// The answer with its copy in `encoding` made, off the workers when it is large.
pub(crate) async fn compressed(
    c: Cached,
    encoding: Option<&'static str>,
) -> Result<Cached, Problem> {
    let missing = match encoding {
        _ if c.body.len() <= 1024 => false,
        Some("br") => c.brotli.get().is_none(),
        Some(_) => c.gzip.get().is_none(),
        None => false,
    };
    if !missing || c.body.len() <= OFF_WORKER_BYTES {
        return Ok(c);
    }
    off_worker(move || {
        match encoding {
            Some("br") => drop(c.brotli()),
            _ => drop(c.gzip()),
        }
        c
    })
    .await
}

/// The bearer token a request carries, if any.
pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The bearer token's role: 401 without a valid token.
pub(crate) fn role_of(
    req: &HttpRequest,
    state: &AppState,
    what: &str,
    role: &str,
) -> Result<crate::users::Role, Problem> {
    let Some(token) = bearer(req) else {
        return Err(Problem::unauthorized(format!(
            "{what} needs a bearer token (Authorization: Bearer …); an administrator issues one with `kmapa users add NAME --role {role}`"
        )));
    };
    state
        .users
        .as_ref()
        .and_then(|u| u.role_of(token))
        .ok_or_else(|| Problem::unauthorized("this token is not valid (revoked, or mistyped)"))
}

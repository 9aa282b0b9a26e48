//! The HTTP service (actix-web): OGC API – Features (Part 1: Core, GeoJSON, OpenAPI
//! 3.0) over the latest published snapshot, the convenience API of the map, health and
//! metrics. Errors are RFC 9457 problem details. Responses carry an ETag (304 on
//! If-None-Match) and Cache-Control; compression is negotiated by the middleware.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;

use crate::data::{Collection, Kind, Served};
pub use kmapa_protect::output::{Analyst, AnalystCell};

/// Shared state of the service.
pub struct AppState {
    pub served: Served,
    /// Answers by request, bounded in bytes (moka, weighed by body size).
    cache: moka::sync::Cache<String, Cached>,
    pub metrics: Metrics,
    pub users: Option<crate::users::Users>,
    pub analyst: Option<std::sync::Arc<dyn Analyst>>,
    /// A MapLibre style URL for the web map's basemap (deployments with internet); none
    /// by default: the map then draws on a plain background and asks nothing of anyone.
    pub basemap_style: Option<String>,
    /// The public base URL links are built from (`https://mapa.example.pl/kmapa`);
    /// none: `http://` and the request's Host header. Never a forwarding header.
    pub public_url: Option<String>,
}

#[derive(Clone)]
struct Cached {
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
fn encoding(req: &HttpRequest) -> Option<&'static str> {
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

fn new_cache(bytes: u64) -> moka::sync::Cache<String, Cached> {
    moka::sync::Cache::builder()
        .weigher(|k: &String, v: &Cached| {
            // The body, and up to as much again for its gzip and brotli copies.
            u32::try_from(k.len() + 2 * v.body.len()).unwrap_or(u32::MAX)
        })
        .max_capacity(bytes)
        .build()
}
const GEOJSON: &str = "application/geo+json";
const JSON: &str = "application/json";

impl AppState {
    pub fn new(served: Served) -> Self {
        AppState {
            served,
            cache: new_cache(CACHE_BYTES),
            metrics: Metrics::default(),
            users: None,
            analyst: None,
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

/// GET, and HEAD with the same status and headers (actix sends no body for HEAD).
fn read() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// Wires every route into an actix `App` (tests use the same function).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, route) in [
        ("/", read().to(landing)),
        ("/conformance", read().to(conformance)),
        ("/api", read().to(api)),
        ("/collections", read().to(collections)),
        ("/collections/{id}", read().to(collection)),
        ("/collections/{id}/items", read().to(items)),
        ("/collections/{id}/queryables", read().to(queryables)),
        ("/collections/{id}/items/{fid}", read().to(item)),
        ("/api/v1/vocabulary", read().to(vocabulary)),
        ("/api/v1/snapshot", read().to(snapshot_info)),
        (
            "/api/v1/series",
            read().to(crate::convenience::series_handler),
        ),
        (
            "/api/v1/table.csv",
            read().to(crate::convenience::table_csv),
        ),
        (
            "/api/v1/districts/{code}/profile",
            read().to(crate::convenience::profile),
        ),
        ("/analyst/layers", read().to(analyst_layers)),
        ("/analyst/layers/{layer}/items", read().to(analyst_items)),
        ("/web/{path:.*}", read().to(crate::webmap::file)),
        ("/health", read().to(health)),
        ("/metrics", read().to(metrics)),
    ] {
        // Any other method: 405 with the methods allowed, as problem+json.
        cfg.service(
            web::resource(path)
                .route(route)
                .default_service(web::to(method_not_allowed)),
        );
    }
}

async fn method_not_allowed() -> HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&Problem {
        status: StatusCode::METHOD_NOT_ALLOWED,
        title: "Method not allowed",
        detail: "this API is read-only: GET and HEAD only".into(),
    });
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    res
}

/// The base URL for links: the configured public URL, or `http://` and the Host header
/// (which the response cache keys on). `Forwarded` and `X-Forwarded-*` never reach a
/// link: one forged request would otherwise put another host into a cached answer.
fn base(req: &HttpRequest) -> String {
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
fn respond(req: &HttpRequest, cached: Cached) -> HttpResponse {
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

fn make(body: String, content_type: &'static str) -> Cached {
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

async fn cached(
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
const OFF_WORKER_BYTES: usize = 64 << 10;

/// Runs CPU-heavy work on actix's blocking pool.
async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    web::block(f).await.map_err(|_| Problem {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Busy",
        detail: "the server could not finish this answer; try again".into(),
    })
}

/// The answer with its copy in `encoding` made, off the workers when it is large.
async fn compressed(c: Cached, encoding: Option<&'static str>) -> Result<Cached, Problem> {
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

fn link(href: String, rel: &str, ty: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": ty, "title": title})
}

#[utoipa::path(get, path = "/", tag = "OGC API – Features",
    responses((status = 200, description = "Landing page: links to the API definition, conformance and collections")))]
async fn landing(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    // A browser gets the map; its query string is the map's own state (a shared view).
    if crate::webmap::wants_html(&req) {
        return Ok(crate::webmap::index(&req));
    }
    query(&req, &[])?;
    cached_response(&req, &state, || {
        let b = base(&req);
        let m = &state.served.manifest;
        Ok((
            json!({
                "title": "kmapa – mapa problemów społecznych / map of social problems",
                "description": format!(
                    "Chronione dane publiczne, migawka nr {} (polityka {}). Protected public data, snapshot {} (policy {}).{}",
                    m.number, m.policy_version, m.number, m.policy_version,
                    if m.synthetic { " DANE SYNTETYCZNE / SYNTHETIC DATA." } else { "" }
                ),
                "links": [
                    link(format!("{b}/"), "self", JSON, "this document"),
                    link(format!("{b}/api"), "service-desc", "application/vnd.oai.openapi+json;version=3.0", "the API definition"),
                    link(format!("{b}/conformance"), "conformance", JSON, "OGC API conformance classes implemented"),
                    link(format!("{b}/collections"), "data", JSON, "the collections"),
                ],
            })
            .to_string(),
            JSON,
        ))
    }).await
}

#[utoipa::path(get, path = "/conformance", tag = "OGC API – Features",
    responses((status = 200, description = "Conformance classes implemented")))]
async fn conformance(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    cached_response(&req, &state, || {
        Ok((
            json!({"conformsTo": [
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
                "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
                "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
            ]})
            .to_string(),
            JSON,
        ))
    }).await
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kmapa",
        description = "Protected public data on social problems: OGC API – Features and the map's API. Every number has passed kmapa's protection core."
    ),
    paths(
        landing,
        conformance,
        collections,
        collection,
        items,
        queryables,
        item,
        vocabulary,
        snapshot_info,
        health,
        crate::convenience::series_handler,
        crate::convenience::profile,
        crate::convenience::table_csv,
        analyst_layers,
        analyst_items
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.0 document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn api(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    cached_response(&req, &state, || {
        Ok((
            openapi().to_json().expect("the document serialises"),
            "application/vnd.oai.openapi+json;version=3.0",
        ))
    })
    .await
}

fn collection_json(b: &str, c: &Collection, state: &AppState) -> Value {
    let years = &state.served.years;
    let temporal = match (years.first(), years.last()) {
        (Some(a), Some(z)) => json!([[
            format!("{a}-01-01T00:00:00Z"),
            format!("{z}-12-31T23:59:59Z")
        ]]),
        _ => json!([[null, null]]),
    };
    json!({
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "extent": {
            "spatial": {"bbox": [c.bbox], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
            "temporal": {"interval": temporal},
        },
        "filters": c.filters,
        "links": [
            link(format!("{b}/collections/{}", c.id), "self", JSON, &c.title),
            link(format!("{b}/collections/{}/items", c.id), "items", GEOJSON, "the features"),
            link(
                format!("{b}/collections/{}/queryables", c.id),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                SCHEMA_JSON,
                "the properties features can be filtered by",
            ),
        ],
    })
}

const SCHEMA_JSON: &str = "application/schema+json";

#[utoipa::path(get, path = "/collections/{collectionId}/queryables", tag = "OGC API – Features",
    params(("collectionId" = String, Path, description = "Collection id")),
    responses((status = 200, description = "JSON Schema of the query parameters the items can be filtered by, with their values (OGC API – Features – Part 3)"),
              (status = 404, description = "No such collection")))]
async fn queryables(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let c = find(&state, &id)?;
    cached_response(&req, &state, || {
        let b = base(&req);
        let mut properties = serde_json::Map::new();
        for &f in c.filters {
            let values = c.values.get(f).cloned().unwrap_or_default();
            let description = match f {
                "category" => "category code (see /api/v1/vocabulary), or any_ops / any_pup",
                "year" => "year",
                "unit" | "district" => "unit code: district, parent area or H3 index",
                "sex" => "breakdown by sex",
                "age" => "breakdown by age band",
                "type" => "type of institution",
                "sector" => "sector of the institution",
                _ => f,
            };
            let schema = if f == "year" {
                json!({"type": "integer", "title": f, "description": description,
                       "enum": values.iter().filter_map(|v| v.parse::<u16>().ok()).collect::<Vec<_>>()})
            } else {
                json!({"type": "string", "title": f, "description": description, "enum": values})
            };
            properties.insert(f.to_string(), schema);
        }
        Ok((
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": format!("{b}/collections/{}/queryables", c.id),
                "type": "object",
                "title": c.title,
                "properties": properties,
                "additionalProperties": false,
            })
            .to_string(),
            SCHEMA_JSON,
        ))
    }).await
}

#[utoipa::path(get, path = "/collections", tag = "OGC API – Features",
    responses((status = 200, description = "The collections: district boundaries, problem layers per district, area and hexagon resolution, institutions")))]
async fn collections(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    cached_response(&req, &state, || {
        let b = base(&req);
        Ok((
            json!({
                "links": [link(format!("{b}/collections"), "self", JSON, "the collections")],
                "collections": state.served.collections.iter().map(|c| collection_json(&b, c, &state)).collect::<Vec<_>>(),
            })
            .to_string(),
            JSON,
        ))
    }).await
}

fn find<'a>(state: &'a AppState, id: &str) -> Result<&'a Collection, Problem> {
    state.served.collection(id).ok_or_else(|| {
        Problem::not_found(format!(
            "no collection {id:?}; there are: {}",
            state
                .served
                .collections
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[utoipa::path(get, path = "/collections/{collectionId}", tag = "OGC API – Features",
    params(("collectionId" = String, Path, description = "Collection id")),
    responses((status = 200, description = "One collection"), (status = 404, description = "No such collection")))]
async fn collection(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let c = find(&state, &id)?;
    cached_response(&req, &state, || {
        Ok((collection_json(&base(&req), c, &state).to_string(), JSON))
    })
    .await
}

/// The filters of one items request, checked.
struct Filter {
    limit: usize,
    offset: usize,
    bbox: Option<[f64; 4]>,
    category: Option<String>,
    year: Option<u16>,
    unit: Option<String>,
    group: Option<String>,
    kind: Option<String>,
    sector: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// Refuses a filter value the collection does not have, naming the parameter and the
/// values it can take (a typo must not look like "nothing here").
fn check_values(c: &crate::data::Collection, q: &BTreeMap<String, String>) -> Result<(), Problem> {
    for (k, v) in q {
        let Some(values) = c.values.get(k.as_str()) else {
            continue;
        };
        if values.is_empty() {
            return Err(Problem::bad_request(format!(
                "{k}={v:?}: collection {} publishes no values of {k}",
                c.id
            )));
        }
        if !values.contains(v) {
            let listed: Vec<&str> = values.iter().map(String::as_str).take(60).collect();
            let more = if values.len() > listed.len() {
                format!(", … ({} in all)", values.len())
            } else {
                String::new()
            };
            let hint = if k == "category" {
                " (see /api/v1/vocabulary)"
            } else {
                ""
            };
            return Err(Problem::bad_request(format!(
                "{k}={v:?} is not in collection {}; {k} can be: {}{more}{hint}",
                c.id,
                listed.join(", ")
            )));
        }
    }
    Ok(())
}

fn parse_filter(q: &BTreeMap<String, String>) -> Result<Filter, Problem> {
    let number = |k: &str, v: &str| -> Result<usize, Problem> {
        v.parse()
            .map_err(|_| Problem::bad_request(format!("{k}={v:?} is not a whole number")))
    };
    let limit = match q.get("limit") {
        Some(v) => number("limit", v)?,
        None => DEFAULT_LIMIT,
    };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit={limit}: use 1 to {MAX_LIMIT}"
        )));
    }
    let offset = match q.get("offset") {
        Some(v) => number("offset", v)?,
        None => 0,
    };
    let bbox = match q.get("bbox") {
        None => None,
        Some(v) => {
            let n: Vec<f64> = v
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    Problem::bad_request(format!(
                        "bbox={v:?}: give four numbers, minLon,minLat,maxLon,maxLat"
                    ))
                })?;
            if n.len() != 4 || n.iter().any(|x| !x.is_finite()) || n[0] > n[2] || n[1] > n[3] {
                return Err(Problem::bad_request(format!(
                    "bbox={v:?}: give four numbers, minLon,minLat,maxLon,maxLat, with min ≤ max"
                )));
            }
            Some([n[0], n[1], n[2], n[3]])
        }
    };
    let year = match q.get("year") {
        None => None,
        Some(v) => Some(
            v.parse::<u16>()
                .map_err(|_| Problem::bad_request(format!("year={v:?} is not a year")))?,
        ),
    };
    let group = match (q.get("sex"), q.get("age")) {
        (Some(_), Some(_)) => {
            return Err(Problem::bad_request(
                "give sex or age, not both: breakdowns are published one at a time",
            ));
        }
        (Some(s), None) => Some(format!("sex={s}")),
        (None, Some(a)) => Some(format!("age={a}")),
        (None, None) => None,
    };
    Ok(Filter {
        limit,
        offset,
        bbox,
        category: q.get("category").cloned(),
        year,
        unit: q.get("unit").or(q.get("district")).cloned(),
        group,
        kind: q.get("type").cloned(),
        sector: q.get("sector").cloned(),
    })
}

#[derive(utoipa::IntoParams)]
#[allow(dead_code)]
struct ItemsParams {
    /// Features per page (1–10000, default 100).
    limit: Option<usize>,
    /// Features to skip.
    offset: Option<usize>,
    /// minLon,minLat,maxLon,maxLat (CRS84).
    bbox: Option<String>,
    /// Problem layers: category code (see /api/v1/vocabulary), or any_ops / any_pup.
    category: Option<String>,
    /// Problem layers: year.
    year: Option<u16>,
    /// Problem layers: unit code (district, area or H3 index); `district` is a synonym.
    unit: Option<String>,
    /// District boundaries and the district layer: district code.
    district: Option<String>,
    /// Breakdown by sex (K, M, unknown), where the tier publishes it.
    sex: Option<String>,
    /// Breakdown by age band (0-17, 18-29, 30-49, 50-64, 65+, unknown), where published.
    age: Option<String>,
    /// Institutions: type.
    #[param(rename = "type")]
    kind: Option<String>,
    /// Institutions: sector.
    sector: Option<String>,
}

#[utoipa::path(get, path = "/collections/{collectionId}/items", tag = "OGC API – Features",
    params(("collectionId" = String, Path, description = "Collection id"), ItemsParams),
    responses((status = 200, description = "GeoJSON FeatureCollection with numberMatched, numberReturned and next/prev links"),
              (status = 400, description = "Unknown or invalid parameter (problem details)"),
              (status = 404, description = "No such collection")))]
async fn items(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    // A cached answer exists only for a request that was valid: look there first.
    cached_response(&req, &state, || {
        let c = find(&state, &id)?;
        let mut allowed = vec!["limit", "offset", "bbox"];
        allowed.extend(c.filters);
        let q = query(&req, &allowed)?;
        let mut f = parse_filter(&q)?;
        check_values(c, &q)?;
        // A page stays bounded in bytes: a larger limit gets this collection's largest
        // page, with a link to the next (OGC API – Features lets a server do so).
        f.limit = f.limit.min(c.max_page);
        let matching: Vec<&crate::data::Item> = c
            .items
            .iter()
            .filter(|i| {
                f.bbox.is_none_or(|b| {
                    i.bbox[0] <= b[2] && i.bbox[2] >= b[0] && i.bbox[1] <= b[3] && i.bbox[3] >= b[1]
                })
            })
            .filter(|i| match c.kind {
                Kind::Problems(_) => {
                    f.category
                        .as_ref()
                        .is_none_or(|x| i.category.as_ref() == Some(x))
                        && f.year.is_none_or(|y| i.year == Some(y))
                        && f.unit.as_ref().is_none_or(|u| i.unit.as_ref() == Some(u))
                        && i.group.as_deref() == Some(f.group.as_deref().unwrap_or("all"))
                }
                Kind::Boundaries => f.unit.as_ref().is_none_or(|u| i.unit.as_ref() == Some(u)),
                Kind::Institutions => {
                    f.kind.as_ref().is_none_or(|k| i.kind.as_ref() == Some(k))
                        && f.sector
                            .as_ref()
                            .is_none_or(|s| i.sector.as_ref() == Some(s))
                        && f.category.as_ref().is_none_or(|x| i.serves.contains(x))
                }
            })
            .collect();
        let page: Vec<&&crate::data::Item> = matching.iter().skip(f.offset).take(f.limit).collect();
        let b = base(&req);
        let href = |offset: usize| {
            let mut q2 = q.clone();
            q2.insert("offset".into(), offset.to_string());
            q2.insert("limit".into(), f.limit.to_string());
            let qs: Vec<String> = q2
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect();
            format!("{b}/collections/{}/items?{}", c.id, qs.join("&"))
        };
        let mut links = vec![link(
            format!("{b}{}?{}", req.path(), req.query_string()),
            "self",
            GEOJSON,
            "this page",
        )];
        if f.offset + page.len() < matching.len() {
            links.push(link(href(f.offset + f.limit), "next", GEOJSON, "next page"));
        }
        if f.offset > 0 {
            links.push(link(
                href(f.offset.saturating_sub(f.limit)),
                "prev",
                GEOJSON,
                "previous page",
            ));
        }
        let mut body = String::with_capacity(256 + page.len() * 512);
        body.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
        for (n, i) in page.iter().enumerate() {
            if n > 0 {
                body.push(',');
            }
            body.push_str(&c.feature(i));
        }
        body.push_str("],");
        let tail = json!({
            "numberMatched": matching.len(),
            "numberReturned": page.len(),
            "timeStamp": state.served.manifest.published_at,
            "links": links,
            "snapshot": state.served.manifest.number,
            "policy_version": state.served.manifest.policy_version,
        })
        .to_string();
        body.push_str(&tail[1..]);
        Ok((body, GEOJSON))
    })
    .await
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[utoipa::path(get, path = "/collections/{collectionId}/items/{featureId}", tag = "OGC API – Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    responses((status = 200, description = "One GeoJSON Feature"), (status = 404, description = "No such feature")))]
async fn item(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let (id, fid) = path.into_inner();
    let c = find(&state, &id)?;
    let i = c
        .items
        .iter()
        .find(|i| i.id == fid)
        .ok_or_else(|| Problem::not_found(format!("no feature {fid:?} in {id}")))?;
    cached_response(&req, &state, || Ok((c.feature(i), GEOJSON))).await
}

#[utoipa::path(get, path = "/api/v1/vocabulary", tag = "kmapa",
    responses((status = 200, description = "Categories with Polish and English labels, hierarchy (parent), source and the years they were in force")))]
async fn vocabulary(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    cached_response(&req, &state, || {
        Ok((state.served.vocabulary.to_string(), JSON))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/snapshot", tag = "kmapa",
    responses((status = 200, description = "The snapshot served: number, date, policy, threshold, years")))]
async fn snapshot_info(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    cached_response(&req, &state, || {
        let m = &state.served.manifest;
        Ok((
            json!({
                "number": m.number, "published_at": m.published_at, "policy_version": m.policy_version,
                "k": m.k, "width": m.width, "years": m.years, "synthetic": m.synthetic,
                "layers": state.served.problem_layers(),
                "hexagon_measures": state.served.hexagon_measures(),
                "bbox": state.served.collection("districts").map(|c| c.bbox),
                "city": m.city, "attribution": state.served.attribution,
                "example_district": state.served.example_district,
            })
            .to_string(),
            JSON,
        ))
    }).await
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The service is up and serving a snapshot")))]
async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(json!({"status": "ok", "snapshot": state.served.manifest.number}))
}

/// The bearer token's role: 401 without a valid token.
fn role_of(
    req: &HttpRequest,
    state: &AppState,
    what: &str,
    role: &str,
) -> Result<crate::users::Role, Problem> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
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

/// Request counts per route and cache hits: for the operator's monitoring, not the
/// public (a `metrics` or `admin` token; `kmapa users add prometheus --role metrics`).
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
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

/// The caller's role, from `Authorization: Bearer <token>`; 401 without a valid token,
/// Why a whole analyst answer is hidden.
const WITHHELD_PL: &str = "Wstrzymane w całości: w połączeniu z innymi odpowiedziami te wartości pozwoliłyby odtworzyć dokładną małą liczbę osób.";
const WITHHELD_EN: &str = "Withheld as a whole: together with other answers these values would give away an exact small count of people.";

/// 403 without the analyst role.
fn require_analyst(req: &HttpRequest, state: &AppState) -> Result<(), Problem> {
    let role = role_of(req, state, "the analyst tier", "analyst")?;
    if !role.is_analyst() {
        return Err(Problem::forbidden(format!(
            "a {} token cannot read the analyst tier: ask for the analyst role",
            role.code()
        )));
    }
    Ok(())
}

fn analyst_of(state: &AppState) -> Result<&dyn Analyst, Problem> {
    state.analyst.as_deref().ok_or_else(|| Problem {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Analyst tier not available",
        detail: "this server was started without the analyst tier".into(),
    })
}

#[utoipa::path(get, path = "/analyst/layers", tag = "analyst tier",
    responses((status = 200, description = "Layers and breakdowns the analyst tier offers, its threshold and its p-table"),
              (status = 401, description = "No or invalid bearer token"), (status = 403, description = "Not an analyst")),
    security(("bearer" = [])))]
async fn analyst_layers(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    require_analyst(&req, &state)?;
    query(&req, &[])?;
    let a = analyst_of(&state)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(json!({
            "tier": "analyst", "layers": a.layers(), "groups": a.groups(),
            "breakdown_layers": a.breakdown_layers(),
            "threshold": a.threshold(),
            // Row n: for a true count n (the last row for every larger count), each
            // possible noise with its probability.
            "ptable": a.ptable().rows.iter().map(|r| &r.outcomes).collect::<Vec<_>>(),
        })))
}

#[utoipa::path(get, path = "/analyst/layers/{layer}/items", tag = "analyst tier",
    params(("layer" = String, Path, description = "districts, parents, city or h3_<resolution>"),
           ("category" = String, Query, description = "Category code"),
           ("year" = u16, Query, description = "Year"),
           ("sex" = Option<String>, Query, description = "K, M or unknown"),
           ("age" = Option<String>, Query, description = "Age band")),
    responses((status = 200, description = "GeoJSON features with counts perturbed by the Cell Key Method"),
              (status = 401, description = "No or invalid bearer token"), (status = 403, description = "Not an analyst")),
    security(("bearer" = [])))]
async fn analyst_items(
    req: HttpRequest,
    state: web::Data<AppState>,
    layer: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    require_analyst(&req, &state)?;
    // The same answer for every analyst: cached once (bounded with the rest),
    // compressed once, never stored by shared caches.
    cached_private_response(&req, &state, || analyst_answer(&req, &state, &layer)).await
}

/// An analyst layer's answer for the request's query.
fn analyst_answer(
    req: &HttpRequest,
    state: &AppState,
    layer: &str,
) -> Result<(String, &'static str), Problem> {
    let q = query(req, &["category", "year", "sex", "age"])?;
    let a = analyst_of(state)?;
    if !a.layers().iter().any(|l| l == layer) {
        return Err(Problem::not_found(format!(
            "the analyst tier has no layer {:?}; it has: {}",
            layer,
            a.layers().join(", ")
        )));
    }
    use kmapa_protect::output::LayerKind;
    let kind = LayerKind::parse(layer)
        .ok_or_else(|| Problem::not_found(format!("the analyst tier has no layer {layer:?}")))?;
    let category = q
        .get("category")
        .ok_or_else(|| Problem::bad_request("give category (see /api/v1/vocabulary)"))?;
    let year: u16 = q
        .get("year")
        .ok_or_else(|| Problem::bad_request("give year"))?
        .parse()
        .map_err(|_| Problem::bad_request("year is not a year"))?;
    let group = group_param(&q)?;
    if group != "all" && !a.groups().contains(&group) {
        return Err(Problem::bad_request(format!(
            "{group}: the analyst tier offers {}",
            a.groups().join(", ")
        )));
    }
    let cells = a
        .query(kind, category, year, &group)
        .map_err(Problem::bad_request)?;
    // Withheld: every unit is hidden, and the answer says why, so that a reader does
    // not read "under the threshold" into it.
    let withheld = a.withheld(kind, category, year, &group);
    let mut body = String::from("{\"type\":\"FeatureCollection\",\"features\":[");
    for (n, c) in cells.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        let geometry = state
            .served
            .geometry_of(kind, &c.unit)
            .unwrap_or_else(|| "null".into());
        let (pl, en) = crate::data::status_text(c.status);
        let props = json!({
            "unit": c.unit, "category": category, "group": group, "year": year,
            "value": c.value, "status": c.status, "status_pl": pl, "status_en": en, "tier": "analyst",
        });
        let mut props = props;
        if withheld {
            props["withheld"] = json!(true);
        }
        let id = serde_json::to_string(&format!("{}:{category}:{group}:{year}", c.unit))
            .expect("a string");
        body.push_str(&format!(
            "{{\"type\":\"Feature\",\"id\":{id},\"geometry\":{geometry},\"properties\":{props}}}"
        ));
    }
    body.push_str(&format!(
        "],\"numberMatched\":{0},\"numberReturned\":{0},\"tier\":\"analyst\"",
        cells.len()
    ));
    if withheld {
        body.push_str(&format!(
            ",\"withheld\":true,\"withheld_pl\":{},\"withheld_en\":{}",
            json!(WITHHELD_PL),
            json!(WITHHELD_EN)
        ));
    }
    body.push('}');
    Ok((body, GEOJSON))
}

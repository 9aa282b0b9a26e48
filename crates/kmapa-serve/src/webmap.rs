//! The web map's files, embedded in the binary (no CDN, nothing fetched at run time):
//! `web/` of the repository, with MapLibre GL JS vendored under `web/vendor/`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::http::{AppState, Problem, static_response};

/// (path under /web/, content type, bytes)
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/app.js"),
    ),
    (
        "classes.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/classes.js"),
    ),
    (
        "revit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/revit.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/style.css"),
    ),
    (
        "vendor/maplibre-gl/maplibre-gl.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/vendor/maplibre-gl/maplibre-gl.js"),
    ),
    (
        "vendor/maplibre-gl/maplibre-gl.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/vendor/maplibre-gl/maplibre-gl.css"),
    ),
    (
        "vendor/maplibre-gl/LICENSE.txt",
        "text/plain; charset=utf-8",
        include_str!("../../../web/vendor/maplibre-gl/LICENSE.txt"),
    ),
];

/// The admin panel's files (served, never exported: a static site has no admin API).
const ADMIN_FILES: &[(&str, &str, &str)] = &[
    (
        "admin.html",
        "text/html; charset=utf-8",
        include_str!("../../../web/admin.html"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/admin.js"),
    ),
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/admin.css"),
    ),
];

/// `/admin`: the admin panel (a client of `/admin/api/…`).
pub async fn admin_page(req: HttpRequest) -> HttpResponse {
    let (name, ct, body) = ADMIN_FILES[0];
    static_response(&req, name, body, ct)
}

/// True when the client asks for a web page rather than JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    !req.query_string().contains("f=json")
        && req
            .headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// The map page.
pub fn index(req: &HttpRequest) -> HttpResponse {
    let (_, ct, body) = FILES[0];
    static_response(req, "index.html", body, ct)
}

/// The web map's files: (path under `web/`, bytes), for the static export.
pub fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES.iter().map(|(n, _, b)| (*n, *b))
}

/// The web map's settings: where its data comes from (`api`: this server; `static`: the
/// files of an export) and the optional basemap.
pub fn config(mode: &str, basemap_style: Option<&str>) -> String {
    serde_json::json!({ "mode": mode, "basemap_style": basemap_style }).to_string()
}

/// `/web/{path}`.
pub async fn file(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    if path.as_str() == "config.json" {
        return crate::http::cached_response(&req, &state, || {
            Ok((
                config("api", state.basemap_style.as_deref()),
                "application/json",
            ))
        })
        .await;
    }
    let (name, ct, body) = FILES
        .iter()
        .chain(ADMIN_FILES)
        .find(|(n, _, _)| *n == path.as_str())
        .ok_or_else(|| Problem::not_found(format!("no file {:?} in the web map", path.as_str())))?;
    Ok(static_response(&req, name, body, ct))
}

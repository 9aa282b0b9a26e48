//! The HTTP service (actix-web): OGC API – Features (Part 1: Core, GeoJSON, OpenAPI
//! 3.0) over the latest published snapshot, the convenience API of the map, the
//! analyst tier, health and metrics. This module wires the routes and generates the
//! OpenAPI document; the handlers are in `ogc`, `convenience`, `analyst_api`,
//! `operations` and `webmap`, on the plumbing of `http` (problem details, ETag/304,
//! response cache, compression). Handlers depend on `http`, never on each other or on
//! this module.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::OpenApi;

use crate::analyst_api::*;
use crate::http::*;
pub use crate::http::{AppState, Metrics, Problem};
use crate::ogc::*;
pub use crate::operations::record;
use crate::operations::*;
pub use kmapa_protect::output::{Analyst, AnalystCell};

/// GET, and HEAD with the same status and headers (actix sends no body for HEAD).
fn read() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// Wires every route into an actix `App` (tests use the same function).
pub fn configure(cfg: &mut web::ServiceConfig) {
    admin_routes(cfg);
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
            "/api/v1/needs",
            read().to(crate::convenience::needs_handler),
        ),
        (
            "/api/v1/reports/{unit}",
            read().to(crate::convenience::report_handler),
        ),
        (
            "/api/v1/districts/{code}/profile",
            read().to(crate::convenience::profile),
        ),
        ("/admin", read().to(crate::webmap::admin_page)),
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

/// The admin API: the only routes that change anything, each with the methods it takes
/// (an administrator's bearer token required, checked before the body is read).
fn admin_routes(cfg: &mut web::ServiceConfig) {
    use crate::admin_api::*;
    cfg.service(
        web::resource("/admin/api/users")
            .route(read().to(list_users))
            .route(web::post().to(add_user))
            .default_service(web::to(|| not_allowed("GET, HEAD, POST"))),
    );
    cfg.service(
        web::resource("/admin/api/users/{name}")
            .route(web::delete().to(revoke_user))
            .default_service(web::to(|| not_allowed("DELETE"))),
    );
    cfg.service(
        web::resource("/admin/api/batches")
            .route(read().to(list_batches))
            .route(web::post().to(upload_batch))
            .default_service(web::to(|| not_allowed("GET, HEAD, POST"))),
    );
    cfg.service(
        web::resource("/admin/api/batches/{id}/{action}")
            .route(web::post().to(batch_status))
            .default_service(web::to(|| not_allowed("POST"))),
    );
    cfg.service(
        web::resource("/admin/api/geocode")
            .route(read().to(geocode))
            .default_service(web::to(|| not_allowed("GET, HEAD"))),
    );
    cfg.service(
        web::resource("/admin/api/institutions")
            .route(read().to(list_institutions))
            .route(web::post().to(add_institution))
            .default_service(web::to(|| not_allowed("GET, HEAD, POST"))),
    );
    cfg.service(
        web::resource("/admin/api/institutions/{id}")
            .route(web::put().to(edit_institution))
            .default_service(web::to(|| not_allowed("PUT"))),
    );
    cfg.service(
        web::resource("/admin/api/institutions/{id}/retire")
            .route(web::post().to(retire_institution))
            .default_service(web::to(|| not_allowed("POST"))),
    );
    cfg.service(
        web::resource("/admin/api/snapshots")
            .route(read().to(list_snapshots))
            .default_service(web::to(|| not_allowed("GET, HEAD"))),
    );
    cfg.service(
        web::resource("/admin/api/preview/districts")
            .route(read().to(preview_districts))
            .default_service(web::to(|| not_allowed("GET, HEAD"))),
    );
    cfg.service(
        web::resource("/admin/api/preview")
            .route(web::post().to(preview))
            .default_service(web::to(|| not_allowed("POST"))),
    );
    cfg.service(
        web::resource("/admin/api/{action:publish|rollback}")
            .route(web::post().to(publish))
            .default_service(web::to(|| not_allowed("POST"))),
    );
    cfg.service(
        web::resource("/admin/api/log")
            .route(read().to(admin_log))
            .default_service(web::to(|| not_allowed("GET, HEAD"))),
    );
}

async fn not_allowed(allow: &'static str) -> HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&Problem {
        status: StatusCode::METHOD_NOT_ALLOWED,
        title: "Method not allowed",
        detail: if allow == "GET, HEAD" {
            "this API is read-only: GET and HEAD only".into()
        } else {
            format!("this resource takes {allow}")
        },
    });
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

async fn method_not_allowed() -> HttpResponse {
    not_allowed("GET, HEAD").await
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
        crate::convenience::needs_handler,
        crate::convenience::report_handler,
        crate::convenience::report_handler,
        crate::convenience::table_csv,
        analyst_layers,
        analyst_items,
        crate::admin_api::list_users,
        crate::admin_api::add_user,
        crate::admin_api::revoke_user,
        crate::admin_api::admin_log,
        crate::admin_api::list_batches,
        crate::admin_api::upload_batch,
        crate::admin_api::batch_status,
        crate::admin_api::list_snapshots,
        crate::admin_api::preview,
        crate::admin_api::publish,
        crate::admin_api::list_institutions,
        crate::admin_api::add_institution,
        crate::admin_api::edit_institution,
        crate::admin_api::retire_institution,
        crate::admin_api::preview_districts,
        crate::admin_api::geocode
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

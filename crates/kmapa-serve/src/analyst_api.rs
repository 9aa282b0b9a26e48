//! The analyst tier over HTTP: its layers and their answers (Cell Key Method
//! perturbed, withheld where the audit says so), for analyst tokens only.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::http::*;

/// Why a whole analyst answer is hidden.
pub(crate) const WITHHELD_PL: &str = "Wstrzymane w całości: w połączeniu z innymi odpowiedziami te wartości pozwoliłyby odtworzyć dokładną małą liczbę osób.";
pub(crate) const WITHHELD_EN: &str = "Withheld as a whole: together with other answers these values would give away an exact small count of people.";

/// 403 without the analyst role.
pub(crate) fn require_analyst(req: &HttpRequest, state: &AppState) -> Result<(), Problem> {
    let role = role_of(req, state, "the analyst tier", "analyst")?;
    if !role.is_analyst() {
        return Err(Problem::forbidden(format!(
            "a {} token cannot read the analyst tier: ask for the analyst role",
            role.code()
        )));
    }
    Ok(())
}

pub(crate) fn analyst_of(state: &AppState) -> Result<&dyn Analyst, Problem> {
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
pub(crate) async fn analyst_layers(
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
           ("age" = Option<String>, Query, description = "Age band"),
           ("skipGeometry" = Option<bool>, Query, description = "true: every feature's geometry is null (the numbers alone, for scripts; false by default)")),
    responses((status = 200, description = "GeoJSON features with counts perturbed by the Cell Key Method"),
              (status = 401, description = "No or invalid bearer token"), (status = 403, description = "Not an analyst")),
    security(("bearer" = [])))]
pub(crate) async fn analyst_items(
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
pub(crate) fn analyst_answer(
    req: &HttpRequest,
    state: &AppState,
    layer: &str,
) -> Result<(String, &'static str), Problem> {
    let q = query(req, &["category", "year", "sex", "age", "skipGeometry"])?;
    let skip_geometry = match q.get("skipGeometry").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "skipGeometry={other:?}: give true (no geometries) or false"
            )));
        }
    };
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
        let geometry = if skip_geometry {
            None
        } else {
            state.served.geometry_of(kind, &c.unit)
        }
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

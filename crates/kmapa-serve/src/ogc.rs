//! OGC API – Features (Part 1: Core, GeoJSON): landing page, conformance,
//! collections, items, queryables, single features, and the kmapa vocabulary and
//! snapshot descriptions.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use kmapa_protect::output::Counted;
use serde_json::{Value, json};

use crate::data::{Collection, DEFAULT_LIMIT, Kind, MAX_LIMIT};
use crate::http::*;

pub(crate) fn link(href: String, rel: &str, ty: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": ty, "title": title})
}

#[utoipa::path(get, path = "/", tag = "OGC API – Features",
    responses((status = 200, description = "Landing page: links to the API definition, conformance and collections")))]
pub(crate) async fn landing(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
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
pub(crate) async fn conformance(
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

pub(crate) fn collection_json(b: &str, c: &Collection, state: &AppState) -> Value {
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

pub(crate) const SCHEMA_JSON: &str = "application/schema+json";

#[utoipa::path(get, path = "/collections/{collectionId}/queryables", tag = "OGC API – Features",
    params(("collectionId" = String, Path, description = "Collection id")),
    responses((status = 200, description = "JSON Schema of the query parameters the items can be filtered by, with their values (OGC API – Features – Part 3)"),
              (status = 404, description = "No such collection")))]
pub(crate) async fn queryables(
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
pub(crate) async fn collections(
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

pub(crate) fn find<'a>(state: &'a AppState, id: &str) -> Result<&'a Collection, Problem> {
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
pub(crate) async fn collection(
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
pub(crate) struct Filter {
    limit: usize,
    offset: usize,
    bbox: Option<[f64; 4]>,
    category: Option<String>,
    year: Option<u16>,
    unit: Option<String>,
    group: Option<String>,
    counted: Counted,
    kind: Option<String>,
    sector: Option<String>,
}

/// Refuses a filter value the collection does not have, naming the parameter and the
/// values it can take (a typo must not look like "nothing here").
pub(crate) fn check_values(
    c: &crate::data::Collection,
    q: &BTreeMap<String, String>,
) -> Result<(), Problem> {
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

pub(crate) fn parse_filter(q: &BTreeMap<String, String>) -> Result<Filter, Problem> {
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
    let counted = counted_param(q)?;
    Ok(Filter {
        limit,
        offset,
        bbox,
        category: q.get("category").cloned(),
        year,
        unit: q.get("unit").or(q.get("district")).cloned(),
        group,
        counted,
        kind: q.get("type").cloned(),
        sector: q.get("sector").cloned(),
    })
}

/// What a problem layer counts: persons, or households (families).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum CountedParam {
    Persons,
    Households,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ItemsParams {
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
    /// Problem layers: what is counted, `persons` (default) or `households` (families,
    /// for the welfare-centre measures the policy publishes them for).
    #[param(inline)]
    counted: Option<CountedParam>,
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
pub(crate) async fn items(
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
                        && i.counted == f.counted
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

pub(crate) fn enc(s: &str) -> String {
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
pub(crate) async fn item(
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
pub(crate) async fn vocabulary(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    cached_response(&req, &state, || {
        Ok((state.served.vocabulary.to_string(), JSON))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/snapshot", tag = "kmapa",
    responses((status = 200, description = "The snapshot served: number, date, policy, threshold, years")))]
pub(crate) async fn snapshot_info(
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

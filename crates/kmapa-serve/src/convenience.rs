//! The map's and diagnosis teams' API: a district profile, time series and CSV
//! downloads. Every number is a cell of the snapshot's protected tier, with its status.

use actix_web::{HttpRequest, HttpResponse, web};
use kmapa_protect::PublicStatus;
use kmapa_protect::output::{Counted, LayerKind, PublishedCell};
use serde_json::{Value, json};

use crate::data::{Served, status_text};
use crate::http::{AppState, Problem, cached_response, counted_param, group_param, query};

const JSON: &str = "application/json";

fn layer_of(name: &str) -> Result<LayerKind, Problem> {
    LayerKind::parse(name).ok_or_else(|| {
        Problem::bad_request(format!(
            "layer={name:?}: use city, parents, districts, h3 (the adaptive hexagon layer) or h3_<resolution>"
        ))
    })
}

fn cell_json(c: Option<&PublishedCell>) -> Value {
    match c {
        Some(c) => {
            let status = c.status.public();
            let (pl, en) = status_text(status);
            json!({
                "year": c.year, "value": c.value, "status": status,
                "rate_per_1000": c.rate_per_1000.map(|r| (r * 100.0).round() / 100.0),
                "status_pl": pl, "status_en": en,
            })
        }
        None => Value::Null,
    }
}

/// The series of one measure at one unit over the snapshot's years.
fn series(s: &Served, layer: LayerKind, unit: &str, measure: &str, group: &str) -> Vec<Value> {
    s.years
        .iter()
        .filter_map(|&y| {
            s.cells
                .get(&(
                    layer,
                    unit.to_string(),
                    measure.to_string(),
                    group.to_string(),
                    y,
                ))
                .map(|c| cell_json(Some(c)))
        })
        .collect()
}

/// `/api/v1/series?category=&unit=&layer=`: one measure at one unit over the years.
#[utoipa::path(get, path = "/api/v1/series", tag = "kmapa",
    params(("category" = String, Query, description = "Category code or any_ops / any_pup"),
           ("layer" = Option<String>, Query, description = "city (default), parents, districts, h3 (the adaptive hexagon layer), h3_<resolution>"),
           ("unit" = Option<String>, Query, description = "Unit code (not for the city)"),
           ("sex" = Option<String>, Query, description = "Breakdown group, where published"),
           ("age" = Option<String>, Query, description = "Breakdown group, where published")),
    responses((status = 200, description = "Values by year with their status"), (status = 400, description = "Invalid parameters"), (status = 404, description = "Nothing published")))]
pub async fn series_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["category", "unit", "layer", "sex", "age"])?;
    let category = q
        .get("category")
        .ok_or_else(|| Problem::bad_request("give category (see /api/v1/vocabulary)"))?;
    let known = state.served.vocabulary.as_array().is_some_and(|codes| {
        codes
            .iter()
            .any(|c| c["code"].as_str() == Some(category.as_str()))
    });
    if !known {
        return Err(Problem::bad_request(format!(
            "category={category:?} is not a category code (see /api/v1/vocabulary)"
        )));
    }
    // Without a layer, the unit says which (a district, a parent area, a hexagon).
    let layer = match (q.get("layer"), q.get("unit")) {
        (Some(l), _) => layer_of(l)?,
        (None, None) => LayerKind::City,
        (None, Some(u)) if u == "city" => LayerKind::City,
        (None, Some(u)) => state
            .served
            .collections
            .iter()
            .find_map(|c| match c.kind {
                crate::data::Kind::Problems(l)
                    if c.values.get("unit").is_some_and(|v| v.contains(u)) =>
                {
                    Some(l)
                }
                _ => None,
            })
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "unit={u:?} is not a published district, parent area or hexagon (see /collections/districts/items)"
                ))
            })?,
    };
    let unit = match layer {
        LayerKind::City => match q.get("unit").map(String::as_str) {
            None | Some("city") => "city".to_string(),
            Some(u) => {
                return Err(Problem::bad_request(format!(
                    "unit={u:?} with layer=city: the city layer has one unit, city"
                )));
            }
        },
        _ => q.get("unit").cloned().ok_or_else(|| {
            Problem::bad_request("give unit (a district, area or H3 code) for this layer")
        })?,
    };
    let group = group_param(&q)?;
    let values = series(&state.served, layer, &unit, category, &group);
    if values.is_empty() {
        return Err(Problem::not_found(format!(
            "nothing published for {category} at {unit} ({group})"
        )));
    }
    cached_response(&req, &state, || {
        Ok((
            json!({
                "category": category, "unit": unit, "group": group, "series": values,
                "snapshot": state.served.manifest.number, "policy_version": state.served.manifest.policy_version,
            })
            .to_string(),
            JSON,
        ))
    }).await
}

/// The `year` parameter: a published year, by default the latest.
fn year_param(
    q: &std::collections::BTreeMap<String, String>,
    state: &AppState,
) -> Result<u16, Problem> {
    let years = &state.served.years;
    match q.get("year") {
        Some(y) => y
            .parse::<u16>()
            .ok()
            .filter(|y| years.contains(y))
            .ok_or_else(|| {
                let list: Vec<String> = years.iter().map(u16::to_string).collect();
                Problem::bad_request(format!(
                    "year={y:?} is not a published year ({})",
                    list.join(", ")
                ))
            }),
        None => years
            .last()
            .copied()
            .ok_or_else(|| Problem::not_found("the snapshot has no years")),
    }
}

/// `/api/v1/needs?category=&year=`: needs against help for one problem and year.
#[utoipa::path(get, path = "/api/v1/needs", tag = "kmapa",
    params(("category" = String, Query, description = "Category code, or any_ops / any_pup"),
           ("year" = Option<u16>, Query, description = "Year (default: the latest published)")),
    responses((status = 200, description = "Per district: the protected rate per 1,000 next to the institutions helping with the problem (by type, places, staff, nearest distance), classed by both (3 × 3); hidden values are 'not enough data'"),
              (status = 400, description = "Invalid parameters"), (status = 404, description = "Nothing published for districts")))]
pub async fn needs_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["category", "year"])?;
    let category = q
        .get("category")
        .ok_or_else(|| Problem::bad_request("give category (see /api/v1/vocabulary)"))?;
    let year = year_param(&q, &state)?;
    let body = crate::needs::needs(&state.served, category, year).ok_or_else(|| {
        Problem::not_found(format!(
            "nothing published for {category:?} on districts in {year} (see /api/v1/vocabulary)"
        ))
    })?;
    cached_response(&req, &state, || Ok((body.to_string(), JSON))).await
}

/// `/api/v1/reports/{unit}` and `/api/v1/reports/{unit}.xlsx`: a district's or the
/// city's report (two past years, the current one, a forecast column), as JSON or XLSX.
#[utoipa::path(get, path = "/api/v1/reports/{unit}", tag = "kmapa",
    params(("unit" = String, Path, description = "District code or city; add .xlsx for the spreadsheet"),
           ("year" = Option<u16>, Query, description = "The current year of the report (default: the latest published)")),
    responses((status = 200, description = "The report: persons and rates per 1,000 over three years with the symbols '.' (hidden or no reliable data), 'x' (not applicable) and a footnote; JSON, or XLSX with .xlsx"),
              (status = 400, description = "Invalid parameters"), (status = 404, description = "No such district")))]
pub async fn report_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
    unit: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["year"])?;
    let (code, xlsx) = match unit.strip_suffix(".xlsx") {
        Some(c) => (c.to_string(), true),
        None => (unit.to_string(), false),
    };
    let year = year_param(&q, &state)?;
    let report = crate::report::report(&state.served, &code, year)
        .ok_or_else(|| Problem::not_found(format!("no district {code:?} (or city)")))?;
    if xlsx {
        let bytes = crate::report::xlsx(&report)
            .map_err(|e| Problem::internal(format!("the spreadsheet could not be written: {e}")))?;
        let mut res = HttpResponse::Ok();
        res.content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        res.insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"kmapa-raport-{code}-{year}.xlsx\""),
        ));
        return Ok(res.body(bytes));
    }
    let body = serde_json::to_string(&report).expect("a report serialises");
    cached_response(&req, &state, || Ok((body, JSON))).await
}

/// `/api/v1/districts/{code}/profile`: every category over the years against the city,
/// the institutions serving the district, and what is hidden and why.
#[utoipa::path(get, path = "/api/v1/districts/{code}/profile", tag = "kmapa",
    params(("code" = String, Path, description = "District code")),
    responses((status = 200, description = "District profile for diagnosis teams"), (status = 404, description = "No such district")))]
pub async fn profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    if !state.served.districts.contains_key(code.as_str()) {
        return Err(Problem::not_found(format!(
            "no district {:?}",
            code.as_str()
        )));
    }
    cached_response(&req, &state, || {
        Ok((
            profile_json(&state.served, &code).expect("a district"),
            JSON,
        ))
    })
    .await
}

/// The district profile document (as `/api/v1/districts/{code}/profile` answers it and
/// the static export stores it); `None` for an unknown district.
pub fn profile_json(s: &Served, code: &str) -> Option<String> {
    let district = s.districts.get(code)?.clone();
    let mut hidden = 0usize;
    let categories: Vec<Value> = s
        .vocabulary
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| {
            let m = c["code"].as_str()?;
            let here = series(s, LayerKind::Districts, code, m, "all");
            if here.is_empty() {
                return None;
            }
            hidden += here
                .iter()
                .filter(|v| {
                    serde_json::from_value::<PublicStatus>(v["status"].clone())
                        .is_ok_and(PublicStatus::is_hidden)
                })
                .count();
            let city = series(s, LayerKind::City, "city", m, "all");
            Some(json!({
                "code": m, "label_pl": c["label_pl"], "label_en": c["label_en"],
                "source": c["source"], "parent": c["parent"],
                "series": here, "city": city,
            }))
        })
        .collect();
    let institutions: Vec<&kmapa_model::institutions::Institution> = s
        .institutions
        .iter()
        .filter(|i| i.area.covers(code))
        .collect();
    Some(
        json!({
            "district": district,
            "categories": categories,
            "institutions": institutions,
            "hidden_values": hidden,
            "note_pl": format!("Wartości poniżej {} osób oraz te, z których dałoby się je wyliczyć, są ukryte dla ochrony prywatności.", s.manifest.k),
            "note_en": format!("Values under {} people, and those they could be worked out from, are hidden to protect privacy.", s.manifest.k),
            "synthetic": s.manifest.synthetic,
            "snapshot": s.manifest.number, "policy_version": s.manifest.policy_version,
        })
        .to_string(),
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `/api/v1/table.csv?layer=&category=&year=&unit=&counted=`: any table as CSV (UTF-8).
#[utoipa::path(get, path = "/api/v1/table.csv", tag = "kmapa",
    params(("layer" = Option<String>, Query, description = "city, parents, districts (default), h3 (the adaptive hexagon layer), h3_<resolution>"),
           ("category" = Option<String>, Query, description = "Category code"),
           ("year" = Option<u16>, Query, description = "Year"),
           ("unit" = Option<String>, Query, description = "Unit code"),
           ("sex" = Option<String>, Query, description = "Breakdown group, where published"),
           ("age" = Option<String>, Query, description = "Breakdown group, where published"),
           ("counted" = Option<String>, Query, description = "persons (default) or households (families, where published)")),
    responses((status = 200, description = "CSV, one row per published cell, hidden values empty with their status", content_type = "text/csv")))]
pub async fn table_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(
        &req,
        &["layer", "category", "year", "unit", "sex", "age", "counted"],
    )?;
    let layer = layer_of(q.get("layer").map_or("districts", String::as_str))?;
    let counted = counted_param(&q)?;
    let year: Option<u16> = match q.get("year") {
        Some(y) => Some(
            y.parse()
                .map_err(|_| Problem::bad_request(format!("year={y:?} is not a year")))?,
        ),
        None => None,
    };
    let group = group_param(&q)?;
    let s = &state.served;
    let cells = match counted {
        Counted::Persons => &s.cells,
        Counted::Households => &s.household_cells,
    };
    let mut rows: Vec<&PublishedCell> = cells
        .values()
        .filter(|c| c.layer == layer && c.group == group)
        .filter(|c| q.get("category").is_none_or(|x| &c.measure == x))
        .filter(|c| year.is_none_or(|y| c.year == y))
        .filter(|c| q.get("unit").is_none_or(|u| &c.unit == u))
        .collect();
    rows.sort_by(|a, b| (&a.measure, a.year, &a.unit).cmp(&(&b.measure, b.year, &b.unit)));
    let mut out = String::from(
        "unit,name,category,group,counted,year,value,status,rate_per_1000,snapshot,policy_version\n",
    );
    for c in rows {
        let name = s
            .districts
            .get(&c.unit)
            .and_then(|d| d["name"].as_str())
            .unwrap_or("");
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&c.unit),
            csv_field(name),
            csv_field(&c.measure),
            csv_field(&c.group),
            c.counted.code(),
            c.year,
            c.value.map_or(String::new(), |v| v.to_string()),
            serde_json::to_value(c.status.public())
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            c.rate_per_1000.map_or(String::new(), |r| format!("{r:.2}")),
            s.manifest.number,
            csv_field(&s.manifest.policy_version),
        ));
    }
    let mut res = cached_response(&req, &state, || Ok((out, "text/csv; charset=utf-8"))).await?;
    res.headers_mut().insert(
        actix_web::http::header::CONTENT_DISPOSITION,
        actix_web::http::header::HeaderValue::from_static("attachment; filename=\"kmapa.csv\""),
    );
    Ok(res)
}

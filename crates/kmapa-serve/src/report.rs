//! Reports a city can file: a district's (or the city's) table laid out as the annual
//! *Ocena Zasobów Pomocy Społecznej* and diagnosis documents lay theirs out: two past
//! years, the current year and an empty forecast column, persons and rates per 1,000,
//! with the statistical symbols "." (hidden to protect privacy, or no reliable data),
//! "x" (not applicable) and "0" (nobody), and a footnote on protection. Every figure is
//! a published cell of the snapshot (docs/diagnosis.md).
//!
//! As JSON (`/api/v1/reports/{unit}`, the map's print report) and as an editable XLSX
//! (`/api/v1/reports/{unit}.xlsx`, rust_xlsxwriter).

use kmapa_protect::PublicStatus;
use kmapa_protect::output::LayerKind;
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, XlsxError,
};
use serde::Serialize;
use serde_json::Value;

use crate::data::Served;

/// One figure of a report: a number, or a symbol saying why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Figure {
    /// Persons or residents.
    Count(u64),
    /// A rate.
    Number(f64),
    /// `"."`: hidden to protect privacy, or no reliable data; `"x"`: not applicable.
    Symbol(&'static str),
}

pub const HIDDEN: &str = ".";
pub const NOT_APPLICABLE: &str = "x";

#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub code: String,
    pub label_pl: String,
    pub label_en: String,
    pub source: String,
    /// A sub-row ("w tym …") of `parent`.
    pub parent: Option<String>,
    /// Persons in each of the report's years.
    pub persons: Vec<Figure>,
    /// Persons per 1,000 residents in each year (two decimals).
    pub rate_per_1000: Vec<Figure>,
    /// The city's rate in the current year, for comparison (district reports).
    pub city_rate_per_1000: Option<Figure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// A district code, or `city`.
    pub unit: String,
    pub name: String,
    pub parent_name: Option<String>,
    /// The two past years and the current one (oldest first).
    pub years: Vec<u16>,
    /// The forecast column's year (left empty for the team to fill in).
    pub forecast_year: u16,
    pub population: Vec<Figure>,
    pub rows: Vec<ReportRow>,
    pub footnote_pl: String,
    pub footnote_en: String,
    pub synthetic: bool,
    pub snapshot: u32,
    pub policy_version: String,
    pub published_at: String,
}

/// The report of `unit` (a district code or `city`) for `year` and the two years
/// before it; `None` for an unknown unit.
pub fn report(s: &Served, unit: &str, year: u16) -> Option<Report> {
    let (layer, name, parent_name, populations) = if unit == "city" {
        let pops: Vec<Option<u64>> = (0..3)
            .map(|i| {
                let y = (year.saturating_sub(2) + i).to_string();
                let per: Vec<Option<u64>> = s
                    .districts
                    .values()
                    .map(|d| d["population"][&y].as_u64())
                    .collect();
                per.iter().copied().sum::<Option<u64>>()
            })
            .collect();
        (LayerKind::City, "Miasto / City".to_string(), None, pops)
    } else {
        let d = s.districts.get(unit)?;
        let pops = (0..3)
            .map(|i| d["population"][(year.saturating_sub(2) + i).to_string()].as_u64())
            .collect();
        (
            LayerKind::Districts,
            d["name"].as_str().unwrap_or(unit).to_string(),
            d["parent_name"].as_str().map(str::to_string),
            pops,
        )
    };
    let years: Vec<u16> = (0..3).map(|i| year.saturating_sub(2) + i).collect();
    let cell = |layer: LayerKind, unit: &str, m: &str, y: u16| {
        s.cells
            .get(&(layer, unit.to_string(), m.to_string(), "all".to_string(), y))
    };
    let figure_of =
        |layer: LayerKind, unit: &str, m: &str, y: u16, rate: bool| match cell(layer, unit, m, y) {
            None => Figure::Symbol(NOT_APPLICABLE),
            Some(c) if c.status.public() == PublicStatus::Hidden => Figure::Symbol(HIDDEN),
            Some(c) => {
                if rate {
                    match c.rate_per_1000 {
                        Some(r) => Figure::Number((r * 100.0).round() / 100.0),
                        None => Figure::Symbol(NOT_APPLICABLE),
                    }
                } else {
                    Figure::Count(u64::from(c.value.unwrap_or(0)))
                }
            }
        };
    let mut rows = Vec::new();
    let vocab: Vec<&Value> = s.vocabulary.as_array()?.iter().collect();
    // Unit totals first, then each source's categories with their sub-rows after them.
    let mut order: Vec<&Value> = vocab
        .iter()
        .copied()
        .filter(|c| c["total"] == true)
        .collect();
    for c in vocab
        .iter()
        .filter(|c| c["total"] != true && c["parent"].is_null())
    {
        order.push(c);
        order.extend(vocab.iter().copied().filter(|x| x["parent"] == c["code"]));
    }
    order.sort_by_key(|c| c["source"].as_str().unwrap_or("").to_string());
    for c in order {
        let code = c["code"].as_str()?;
        let persons: Vec<Figure> = years
            .iter()
            .map(|&y| figure_of(layer, unit, code, y, false))
            .collect();
        if persons.iter().all(|f| *f == Figure::Symbol(NOT_APPLICABLE)) {
            continue;
        }
        let rate_per_1000 = years
            .iter()
            .map(|&y| figure_of(layer, unit, code, y, true))
            .collect();
        rows.push(ReportRow {
            code: code.to_string(),
            label_pl: c["label_pl"].as_str().unwrap_or(code).to_string(),
            label_en: c["label_en"].as_str().unwrap_or(code).to_string(),
            source: c["source"].as_str().unwrap_or("").to_string(),
            parent: c["parent"].as_str().map(str::to_string),
            persons,
            rate_per_1000,
            city_rate_per_1000: (layer != LayerKind::City)
                .then(|| figure_of(LayerKind::City, "city", code, year, true)),
        });
    }
    let k = s.manifest.k;
    Some(Report {
        unit: unit.to_string(),
        name,
        parent_name,
        years,
        forecast_year: year + 1,
        population: populations
            .into_iter()
            .map(|p| p.map_or(Figure::Symbol(NOT_APPLICABLE), Figure::Count))
            .collect(),
        rows,
        footnote_pl: format!(
            "Znak „.” – wartość ukryta dla ochrony prywatności (ukrywamy wartości poniżej {k} osób oraz te, z których dałoby się je wyliczyć – tym samym znakiem, bez podawania powodu) lub brak wiarygodnych danych; „x” – nie dotyczy (kategoria nie obowiązywała lub nie jest publikowana, brak liczby mieszkańców); „0” – nikt. Liczby osób z opublikowanej, chronionej migawki; wskaźnik na 1000 mieszkańców. Kolumnę prognozy wypełnia zespół."
        ),
        footnote_en: format!(
            "\".\" – hidden to protect privacy (values under {k} people, and those they could be worked out from, are hidden – all with the same symbol, no reason given) or no reliable data; \"x\" – not applicable (category not in force or not published, population unknown); \"0\" – nobody. Persons from the published, protected snapshot; rates per 1,000 residents. The forecast column is for the team to fill in."
        ),
        synthetic: s.manifest.synthetic,
        snapshot: s.manifest.number,
        policy_version: s.manifest.policy_version.clone(),
        published_at: s.manifest.published_at.clone(),
    })
}

/// The report as an XLSX workbook: one sheet, the table as the documents lay it out,
/// numbers as numbers (so the team can compute with them), symbols as text.
pub fn xlsx(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    // Dated as the snapshot, so that the same report is the same file.
    let mut props = DocProperties::new()
        .set_title(format!("kmapa – {}", r.name))
        .set_author("kmapa");
    if let Ok(at) = ExcelDateTime::parse_from_str(r.published_at.get(..19).unwrap_or("")) {
        props = props.set_creation_datetime(&at);
    }
    wb.set_properties(&props);
    let ws = wb.add_worksheet();
    ws.set_name("Raport")?;
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let head = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_border(FormatBorder::Thin)
        .set_background_color("#E8EEF2");
    let cell = Format::new().set_border(FormatBorder::Thin);
    let int = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format("# ##0");
    let dec = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format("0.00");
    let symbol = Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Right);
    let sub = Format::new().set_border(FormatBorder::Thin).set_indent(2);
    let note = Format::new().set_text_wrap().set_italic();

    let mut row = 0u32;
    let place = match &r.parent_name {
        Some(p) => format!("{} ({p})", r.name),
        None => r.name.clone(),
    };
    ws.write_with_format(row, 0, format!("Problemy społeczne – {place}"), &title)?;
    row += 1;
    ws.write(
        row,
        0,
        format!(
            "kmapa, migawka {} z {}, polityka {}{}",
            r.snapshot,
            r.published_at.get(..10).unwrap_or(&r.published_at),
            r.policy_version,
            if r.synthetic {
                " – DANE SYNTETYCZNE (demonstracyjne), nie opisują prawdziwych osób"
            } else {
                ""
            }
        ),
    )?;
    row += 2;
    // Header: two rows, as in the OZPS tables.
    let y: Vec<String> = r.years.iter().map(u16::to_string).collect();
    ws.merge_range(row, 0, row + 1, 0, "Wyszczególnienie", &head)?;
    ws.merge_range(row, 1, row, 4, "Liczba osób", &head)?;
    ws.merge_range(row, 5, row, 7, "Na 1000 mieszkańców", &head)?;
    let city_col = r.rows.iter().any(|x| x.city_rate_per_1000.is_some());
    if city_col {
        ws.merge_range(
            row,
            8,
            row + 1,
            8,
            &format!("Miasto {} (na 1000)", y[2]),
            &head,
        )?;
    }
    for (i, yy) in y.iter().enumerate() {
        ws.write_with_format(row + 1, 1 + i as u16, yy.as_str(), &head)?;
        ws.write_with_format(row + 1, 5 + i as u16, yy.as_str(), &head)?;
    }
    ws.write_with_format(row + 1, 4, format!("{} (prognoza)", r.forecast_year), &head)?;
    row += 2;
    let put =
        |ws: &mut rust_xlsxwriter::Worksheet, row: u32, col: u16, f: &Figure, fmt: &Format| match f
        {
            Figure::Count(n) => ws
                .write_number_with_format(row, col, *n as f64, fmt)
                .map(|_| ()),
            Figure::Number(x) => ws.write_number_with_format(row, col, *x, fmt).map(|_| ()),
            Figure::Symbol(s) => ws
                .write_string_with_format(row, col, *s, &symbol)
                .map(|_| ()),
        };
    ws.write_with_format(row, 0, "Mieszkańcy", &bold)?;
    for (i, f) in r.population.iter().enumerate() {
        put(ws, row, 1 + i as u16, f, &int)?;
    }
    ws.write_with_format(row, 4, "", &cell)?;
    row += 1;
    let mut source = String::new();
    for x in &r.rows {
        if x.source != source {
            source.clone_from(&x.source);
            let name = match source.as_str() {
                "OPS" => "Pomoc społeczna (OPS) – powody przyznania pomocy",
                "PUP" => "Rynek pracy (PUP) – bezrobotni zarejestrowani",
                other => other,
            };
            ws.write_with_format(row, 0, name, &bold)?;
            row += 1;
        }
        let label = if x.parent.is_some() {
            format!("w tym: {}", x.label_pl)
        } else {
            x.label_pl.clone()
        };
        ws.write_with_format(row, 0, label, if x.parent.is_some() { &sub } else { &cell })?;
        for (i, f) in x.persons.iter().enumerate() {
            put(ws, row, 1 + i as u16, f, &int)?;
        }
        ws.write_with_format(row, 4, "", &cell)?;
        for (i, f) in x.rate_per_1000.iter().enumerate() {
            put(ws, row, 5 + i as u16, f, &dec)?;
        }
        if let Some(f) = &x.city_rate_per_1000 {
            put(ws, row, 8, f, &dec)?;
        }
        row += 1;
    }
    row += 1;
    ws.merge_range(row, 0, row + 3, 8, &r.footnote_pl, &note)?;
    ws.set_column_width(0, 52)?;
    for c in 1..=8 {
        ws.set_column_width(c, 12)?;
    }
    ws.set_freeze_panes(5, 1)?;
    wb.save_to_buffer()
}

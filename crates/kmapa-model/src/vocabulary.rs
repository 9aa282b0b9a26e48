//! The category vocabulary: reasons for social assistance (art. 7 of the Social
//! Assistance Act) with their MRPiPS-03 sub-rows, the art. 49 groups of registered
//! unemployed in both versions, and the Kooperacja Plus map layers mapped onto them.
//! Kept as versioned data (`data/categories.csv`), never as Rust enums: the law changes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::problem::{ContractError, Problem, check};
use crate::source::Source;
use crate::table::Table;

/// The columns of `categories.csv`, in order.
pub const COLUMNS: [&str; 11] = [
    "code",
    "source",
    "parent",
    "label_pl",
    "label_en",
    "legal_basis",
    "valid_from",
    "valid_to",
    "statutory",
    "kplus_layer",
    "notes",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    /// Stable machine code, `[a-z0-9_]+`.
    pub code: String,
    pub source: Source,
    /// Parent category (a sub-row is counted in its parent).
    pub parent: Option<String>,
    pub label_pl: String,
    pub label_en: String,
    pub legal_basis: String,
    pub valid_from: NaiveDate,
    /// Last day in force; `None` while in force.
    pub valid_to: Option<NaiveDate>,
    /// False for categories the law does not name (the "renta" layer of Kooperacja Plus).
    pub statutory: bool,
    /// The Kooperacja Plus map layer this category corresponds to, if any.
    pub kplus_layer: Option<String>,
    pub notes: String,
}

impl Category {
    /// True when the category was in force on `date`.
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| to >= date)
    }

    /// True when the category was in force on at least one day of `year`.
    pub fn valid_in_year(&self, year: i32) -> bool {
        self.valid_from.year() <= year && self.valid_to.is_none_or(|to| to.year() >= year)
    }
}

/// All categories, in file order, with their hierarchy.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    categories: Vec<Category>,
    by_code: HashMap<String, usize>,
}

impl Vocabulary {
    pub fn read(path: &Path) -> Result<Self, ContractError> {
        Self::from_table(&Table::read(path)?)
    }

    pub fn from_table(t: &Table) -> Result<Self, ContractError> {
        let cols = t.require(&COLUMNS)?;
        let [
            c_code,
            c_source,
            c_parent,
            c_pl,
            c_en,
            c_basis,
            c_from,
            c_to,
            c_stat,
            c_kplus,
            c_notes,
        ] = cols[..]
        else {
            unreachable!("require returns one index per name")
        };
        let mut problems = Vec::new();
        let mut categories: Vec<Category> = Vec::new();
        let mut lines = Vec::new();
        let mut by_code = HashMap::new();
        for row in t.rows() {
            let code = row.get(c_code);
            if code.is_empty()
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                problems.push(
                    t.problem(row, c_code, "invalid category code")
                        .hint("Codes are lower-case ASCII letters, digits and `_`"),
                );
                continue;
            }
            if by_code.contains_key(code) {
                problems.push(
                    t.problem(row, c_code, "duplicate category code")
                        .hint("Each code must appear once"),
                );
                continue;
            }
            let source = match row.get(c_source).parse::<Source>() {
                Ok(s) => s,
                Err(e) => {
                    problems.push(t.problem(row, c_source, e));
                    continue;
                }
            };
            let date = |col: usize, problems: &mut Vec<Problem>| -> Option<NaiveDate> {
                let v = row.get(col);
                if v.is_empty() {
                    return None;
                }
                match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                    Ok(d) => Some(d),
                    Err(_) => {
                        problems.push(
                            t.problem(row, col, "not a date")
                                .hint("Write dates as YYYY-MM-DD"),
                        );
                        None
                    }
                }
            };
            let Some(valid_from) = date(c_from, &mut problems) else {
                if row.get(c_from).is_empty() {
                    problems.push(
                        t.problem(row, c_from, "valid_from is required")
                            .hint("Give the date the category came into force"),
                    );
                }
                continue;
            };
            let valid_to = date(c_to, &mut problems);
            if let Some(to) = valid_to
                && to < valid_from
            {
                problems.push(t.problem(row, c_to, "valid_to is before valid_from"));
            }
            let statutory = match row.get(c_stat) {
                "true" => true,
                "false" => false,
                _ => {
                    problems.push(t.problem(row, c_stat, "statutory must be true or false"));
                    true
                }
            };
            for (col, what) in [(c_pl, "Polish label"), (c_en, "English label")] {
                if row.get(col).is_empty() {
                    problems.push(t.problem(row, col, format!("the {what} is empty")));
                }
            }
            by_code.insert(code.to_string(), categories.len());
            lines.push(row);
            categories.push(Category {
                code: code.to_string(),
                source,
                parent: row.opt(Some(c_parent)).map(str::to_string),
                label_pl: row.get(c_pl).to_string(),
                label_en: row.get(c_en).to_string(),
                legal_basis: row.get(c_basis).to_string(),
                valid_from,
                valid_to,
                statutory,
                kplus_layer: row.opt(Some(c_kplus)).map(str::to_string),
                notes: row.get(c_notes).to_string(),
            });
        }
        // Parents must exist, share the source, and form no cycle.
        for (i, cat) in categories.iter().enumerate() {
            let Some(parent) = &cat.parent else { continue };
            let row = lines[i];
            match by_code.get(parent) {
                None => problems.push(
                    t.problem(row, c_parent, "parent category is not in the vocabulary")
                        .hint("Name the code of a category defined in this file"),
                ),
                Some(&p) if categories[p].source != cat.source => problems.push(t.problem(
                    row,
                    c_parent,
                    "parent category belongs to another source",
                )),
                Some(_) => {
                    let mut seen = 0;
                    let mut at = Some(i);
                    while let Some(j) = at {
                        seen += 1;
                        if seen > categories.len() {
                            problems.push(t.problem(
                                row,
                                c_parent,
                                "the parent chain loops back on itself",
                            ));
                            break;
                        }
                        at = categories[j]
                            .parent
                            .as_ref()
                            .and_then(|p| by_code.get(p).copied());
                    }
                }
            }
        }
        check(problems)?;
        Ok(Self {
            categories,
            by_code,
        })
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn get(&self, code: &str) -> Option<&Category> {
        self.by_code.get(code).map(|&i| &self.categories[i])
    }

    /// The category and its ancestors, nearest first.
    pub fn ancestors_and_self<'a>(&'a self, code: &str) -> impl Iterator<Item = &'a Category> {
        std::iter::successors(self.get(code), move |c| {
            c.parent.as_deref().and_then(|p| self.get(p))
        })
    }

    /// Categories of a source in force during `year`.
    pub fn valid_for(&self, source: Source, year: i32) -> impl Iterator<Item = &Category> {
        self.categories
            .iter()
            .filter(move |c| c.source == source && c.valid_in_year(year))
    }

    /// Direct children of each category, by parent code.
    pub fn children(&self) -> BTreeMap<&str, Vec<&Category>> {
        let mut out: BTreeMap<&str, Vec<&Category>> = BTreeMap::new();
        for c in &self.categories {
            if let Some(p) = &c.parent {
                out.entry(p.as_str()).or_default().push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vocabulary, ContractError> {
        let text = format!("{}\n{body}", COLUMNS.join(","));
        Vocabulary::from_table(&Table::parse(Path::new("categories.csv"), text.as_bytes())?)
    }

    #[test]
    fn validity_is_by_calendar_year_overlap() {
        let v = parse(
            "a,PUP,,A,A,x,2014-05-27,2025-05-31,true,,\n\
             b,PUP,,B,B,x,2009-02-01,2014-05-26,true,,",
        )
        .unwrap();
        let a = v.get("a").unwrap();
        assert!(!a.valid_in_year(2013));
        assert!(a.valid_in_year(2014));
        assert!(a.valid_in_year(2025));
        assert!(!a.valid_in_year(2026));
        let in_2014: Vec<_> = v.valid_for(Source::Pup, 2014).map(|c| &c.code).collect();
        assert_eq!(in_2014, ["a", "b"]);
        let in_2015: Vec<_> = v.valid_for(Source::Pup, 2015).map(|c| &c.code).collect();
        assert_eq!(in_2015, ["a"]);
    }

    #[test]
    fn ancestors_walk_up_the_hierarchy() {
        let v = parse(
            "top,OPS,,T,T,x,2004-05-01,,true,,\n\
             mid,OPS,top,M,M,x,2004-05-01,,true,,\n\
             leaf,OPS,mid,L,L,x,2004-05-01,,true,,",
        )
        .unwrap();
        let chain: Vec<_> = v.ancestors_and_self("leaf").map(|c| &c.code).collect();
        assert_eq!(chain, ["leaf", "mid", "top"]);
    }

    #[test]
    fn bad_rows_are_reported_together() {
        let err = parse(
            "Bad-Code,OPS,,X,X,x,2004-05-01,,true,,\n\
             a,ZUS,,X,X,x,2004-05-01,,true,,\n\
             b,OPS,missing,X,X,x,2004-05-01,,true,,\n\
             c,OPS,,X,X,x,2004-13-01,,true,,\n\
             d,OPS,e,X,X,x,2004-05-01,,true,,\n\
             e,OPS,d,X,X,x,2004-05-01,2003-01-01,maybe,,",
        )
        .unwrap_err();
        let lines: Vec<_> = err.problems().iter().map(|p| p.line.unwrap()).collect();
        // codes, source, date, valid_to<from, statutory, unknown parent, two loops
        assert_eq!(lines, [2, 3, 5, 7, 7, 4, 6, 7]);
        assert!(err.problems()[6].message.contains("loops"));
    }
}

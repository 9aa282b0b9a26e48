//! The protection policy: what each tier publishes and how it is protected. A TOML
//! file with safe defaults; anything unsafe or unknown is refused with a message that
//! says what to change. Every output carries the policy version that produced it.
//!
//! ```toml
//! version = "wroclaw-2025-01"
//!
//! [public]
//! k = 10                      # counts 1..k-1 are hidden; below 3 is refused
//! width = 10                  # hidden cells must stay uncertain over at least this width
//! layers = ["districts", "parents", "city", "h3"]
//! h3_resolutions = [8]
//! years = "all"               # or [2023, 2024]
//! breakdowns = []             # "sex", "age_band"
//! breakdown_layers = ["districts", "parents", "city"]
//! h3_measures = ["*"]         # or codes: ["any_ops", "any_pup", "poverty"]
//! h3_adaptive = false         # true: one hexagon layer, each at the finest safe resolution
//! households = []             # OPS measures also published as households (families): ["any_ops", "poverty"], or ["*"]
//!
//! [analyst]
//! layers = ["districts", "parents", "city", "h3"]
//! h3_resolutions = [7, 8, 9]
//! breakdowns = ["sex", "age_band"]
//! breakdown_layers = ["districts", "parents", "city"]   # not hexagons (breakdowns there are not audited)
//! threshold = 10              # perturbed counts below this are hidden
//!
//! [analyst.ckm]
//! max_noise = 3
//! variance = 2.0
//! js = 2
//! ```

use serde::{Deserialize, Serialize};

use crate::ckm::PTableParams;

/// The lowest threshold kmapa accepts: Polish public statistics may not publish
/// aggregates of fewer than 3 units (art. 38 of the Public Statistics Act).
pub const MIN_K: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Districts,
    Parents,
    City,
    H3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breakdown {
    Sex,
    AgeBand,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Years {
    /// `"all"`.
    All(AllYears),
    List(Vec<i32>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllYears {
    All,
}

impl Years {
    pub fn includes(&self, year: i32) -> bool {
        match self {
            Years::All(_) => true,
            Years::List(l) => l.contains(&year),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicTier {
    pub k: u64,
    pub width: f64,
    pub layers: Vec<Layer>,
    pub h3_resolutions: Vec<u8>,
    pub years: Years,
    pub breakdowns: Vec<Breakdown>,
    /// Layers at which breakdowns are published (a subset of `layers`). Hexagons are
    /// left out by default: split by sex or age, most hexagons hold a handful of people
    /// and protecting them costs most of the map (docs/benchmarks.md).
    pub breakdown_layers: Vec<Layer>,
    /// Measures published on hexagons: category codes, `any_ops`, `any_pup`, or `"*"`
    /// for every measure. A hexagon holds few people, so a rare category there pulls
    /// district cells of the totals it belongs to into secondary suppression; keeping
    /// hexagons for the totals (and common categories) keeps the district map whole
    /// (docs/benchmarks.md). The other measures' hexagons are still built, unpublished.
    pub h3_measures: Vec<String>,
    /// One adaptive hexagon layer instead of one layer per resolution: each hexagon is
    /// published at the finest of `h3_resolutions` at which it is safe (a hexagon is
    /// split only where every finer hexagon under it holds no one or at least `k`
    /// persons, and merged back where a finer one would have to be hidden), so rare
    /// problems show on larger hexagons instead of hatched small ones.
    pub h3_adaptive: bool,
    /// Measures also published as households (families), beside persons, at
    /// districts, parent areas and the city: welfare-centre (OPS) category codes,
    /// `any_ops`, or `"*"` for every OPS measure (the welfare centres' MRPiPS-03 counts
    /// every reason both ways). Protected jointly with the persons (the same people:
    /// households ≤ persons in every unit, and a unit with persons has a household),
    /// so a rare problem's households pull its persons into suppression: list the
    /// common ones (docs/benchmarks.md). Labour-office (PUP) records name no households.
    pub households: Vec<String>,
}

impl PublicTier {
    /// Whether the measure with this code is published on hexagons.
    pub fn hexagons_for(&self, code: &str) -> bool {
        self.h3_measures.iter().any(|m| m == "*" || m == code)
    }
}

impl Default for PublicTier {
    fn default() -> Self {
        Self {
            k: 10,
            width: 10.0,
            layers: vec![Layer::Districts, Layer::Parents, Layer::City, Layer::H3],
            h3_resolutions: vec![8],
            years: Years::All(AllYears::All),
            breakdowns: Vec::new(),
            breakdown_layers: vec![Layer::Districts, Layer::Parents, Layer::City],
            h3_measures: vec!["*".into()],
            h3_adaptive: false,
            households: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalystTier {
    pub layers: Vec<Layer>,
    pub h3_resolutions: Vec<u8>,
    pub years: Years,
    pub breakdowns: Vec<Breakdown>,
    /// Layers the breakdowns are answered at. Not hexagons: analyst answers are
    /// audited with the public tier at districts, parent areas and the city only
    /// (docs/privacy.md), so breakdowns by hexagon are refused.
    pub breakdown_layers: Vec<Layer>,
    /// Perturbed counts below this are not shown.
    pub threshold: u64,
    pub ckm: CkmParams,
    /// Protect and audit with the relations between measures as well (the default;
    /// `false` audits each measure and year on its own, which a reader who uses the
    /// relations may defeat: docs/privacy.md, section 5).
    pub joint_measures: bool,
}

impl Default for AnalystTier {
    fn default() -> Self {
        Self {
            layers: vec![Layer::Districts, Layer::Parents, Layer::City, Layer::H3],
            h3_resolutions: vec![7, 8, 9],
            years: Years::All(AllYears::All),
            breakdowns: vec![Breakdown::Sex, Breakdown::AgeBand],
            breakdown_layers: vec![Layer::Districts, Layer::Parents, Layer::City],
            threshold: 10,
            ckm: CkmParams::default(),
            joint_measures: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CkmParams {
    pub max_noise: u32,
    pub variance: f64,
    pub js: u32,
}

impl Default for CkmParams {
    fn default() -> Self {
        Self {
            max_noise: 3,
            variance: 2.0,
            js: 2,
        }
    }
}

impl From<CkmParams> for PTableParams {
    fn from(c: CkmParams) -> Self {
        PTableParams {
            max_noise: c.max_noise,
            variance: c.variance,
            js: c.js,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Carried by every output this policy produces.
    pub version: String,
    pub public: PublicTier,
    pub analyst: AnalystTier,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: "default".into(),
            public: PublicTier::default(),
            analyst: AnalystTier::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl Policy {
    /// Parses and validates a policy file's text (`file` names it in messages).
    pub fn parse(file: &str, text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Invalid {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        policy.validate(file)?;
        Ok(policy)
    }

    pub fn validate(&self, file: &str) -> Result<(), PolicyError> {
        let bad = |message: String| {
            Err(PolicyError::Invalid {
                file: file.to_string(),
                message,
            })
        };
        if self.version.trim().is_empty() {
            return bad(
                "`version` is empty: name the policy so outputs can say which produced them".into(),
            );
        }
        if self.public.k < MIN_K {
            return bad(format!(
                "public.k = {} is below {MIN_K}: Polish public statistics may not publish aggregates of fewer \
                 than 3 units; use 10 (the default) unless you have a documented reason",
                self.public.k
            ));
        }
        if !(self.public.width.is_finite() && self.public.width >= 1.0) {
            return bad(format!(
                "public.width = {} must be a number of at least 1",
                self.public.width
            ));
        }
        for (tier, res) in [
            ("public", &self.public.h3_resolutions),
            ("analyst", &self.analyst.h3_resolutions),
        ] {
            if let Some(r) = res.iter().find(|r| !(5..=10).contains(*r)) {
                return bad(format!(
                    "{tier}.h3_resolutions has {r}: use resolutions 5 to 10"
                ));
            }
        }
        let hexes = |layers: &[Layer], res: &[u8]| {
            layers
                .contains(&Layer::H3)
                .then(|| res.iter().max().copied())
                .flatten()
        };
        if let (Some(public), Some(analyst)) = (
            hexes(&self.public.layers, &self.public.h3_resolutions),
            hexes(&self.analyst.layers, &self.analyst.h3_resolutions),
        ) && public > analyst
        {
            return bad(format!(
                "public.h3_resolutions goes down to {public}, finer than the analyst tier's finest ({analyst}): \
                 analyst answers are audited with the public hexagons as sums of their own, so add {public} to \
                 analyst.h3_resolutions or publish coarser hexagons"
            ));
        }
        let c = self.analyst.ckm;
        if c.max_noise == 0 || c.max_noise > 20 {
            return bad(format!(
                "analyst.ckm.max_noise = {} must be 1 to 20",
                c.max_noise
            ));
        }
        if !(c.variance > 0.0 && c.variance <= f64::from(c.max_noise * c.max_noise)) {
            return bad(format!(
                "analyst.ckm.variance = {} must be positive and at most max_noise² = {}",
                c.variance,
                c.max_noise * c.max_noise
            ));
        }
        if self.analyst.breakdown_layers.contains(&Layer::H3) {
            return bad(
                "analyst.breakdown_layers has h3: breakdowns by hexagon are not offered, because the audit of analyst answers covers hexagons for everyone only (docs/privacy.md); use districts, parents and city"
                    .into(),
            );
        }
        if self.analyst.threshold < MIN_K {
            return bad(format!(
                "analyst.threshold = {} is below {MIN_K}",
                self.analyst.threshold
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_key_is_documented_in_docs_policy_md() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md"),
        )
        .unwrap();
        let value = toml::Value::try_from(Policy::default()).unwrap();
        let mut missing = Vec::new();
        fn walk(v: &toml::Value, path: &str, doc: &str, missing: &mut Vec<String>) {
            let Some(map) = v.as_table() else { return };
            for (key, inner) in map {
                let full = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if inner.is_table() {
                    if !doc.contains(&format!("## `[{full}]`")) {
                        missing.push(format!("[{full}]"));
                    }
                    walk(inner, &full, doc, missing);
                } else if !doc.contains(&format!("| `{key}` |")) {
                    missing.push(full);
                }
            }
        }
        walk(&value, "", &doc, &mut missing);
        assert!(missing.is_empty(), "not in docs/policy.md: {missing:?}");
    }

    #[test]
    fn an_empty_file_gives_the_safe_defaults() {
        let p = Policy::parse("p.toml", "").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.public.k, 10);
        assert!(p.public.years.includes(2015));
    }

    #[test]
    fn a_full_file_is_read() {
        let p = Policy::parse(
            "p.toml",
            r#"
            version = "wroclaw-2025-01"
            [public]
            k = 5
            layers = ["districts", "city"]
            years = [2023, 2024]
            [analyst.ckm]
            max_noise = 4
            variance = 3.0
            "#,
        )
        .unwrap();
        assert_eq!(p.version, "wroclaw-2025-01");
        assert_eq!(p.public.k, 5);
        assert_eq!(p.public.layers, [Layer::Districts, Layer::City]);
        assert!(p.public.years.includes(2024) && !p.public.years.includes(2015));
        assert_eq!(p.analyst.ckm.max_noise, 4);
        assert_eq!(p.analyst.ckm.js, 2, "unset fields keep their defaults");
    }

    #[test]
    fn unsafe_or_unknown_settings_are_refused_with_a_reason() {
        let err = Policy::parse("p.toml", "[public]\nk = 2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("public.k = 2 is below 3"), "{err}");
        let err = Policy::parse("p.toml", "[public]\nkk = 12")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `kk`"), "{err}");
        let err = Policy::parse("p.toml", "[public]\nlayers = [\"streets\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("streets"), "{err}");
        let err = Policy::parse("p.toml", "[analyst.ckm]\nvariance = 50")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most max_noise²"), "{err}");
        let err = Policy::parse(
            "p.toml",
            "[analyst]\nbreakdown_layers = [\"districts\", \"h3\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("breakdowns by hexagon are not offered"),
            "{err}"
        );
        let err = Policy::parse("p.toml", "version = \"\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`version` is empty"), "{err}");
        let err = Policy::parse("p.toml", "[public]\nh3_resolutions = [10]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("finer than the analyst tier's finest (9)"),
            "{err}"
        );
        // Without analyst hexagons there is nothing to tie them to.
        Policy::parse(
            "p.toml",
            "[public]\nh3_resolutions = [10]\n[analyst]\nlayers = [\"districts\"]",
        )
        .unwrap();
    }
}

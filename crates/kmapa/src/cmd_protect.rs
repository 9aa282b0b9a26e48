//! `kmapa protect` and `kmapa audit`: the public tier from the active batches, and the
//! proof of what an attacker can infer from it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use kmapa_cube::analyst_audit::{AnalystAuditor, measure_families};
use kmapa_cube::public::{ProtectedTier, TierAudit, audit_public_tier};
use kmapa_cube::{Cube, CubeBuilder};
use kmapa_geo::City;
use kmapa_ingest::Store;
use kmapa_model::Vocabulary;
use kmapa_model::fsutil::write_atomically;
use kmapa_protect::policy::Policy;

/// Where `kmapa protect` writes, inside the data directory.
pub const PROTECTED_FILE: &str = "public/protected.json";
pub const AUDIT_FILE: &str = "public/audit.json";
/// The analyst tier's per-atom counts and cell keys, published with the tier.
pub const ATOMS_FILE: &str = "public/analyst-atoms.bin";
/// The joint analyst protection's decisions per system, reused while a system is the
/// same (`kmapa_cube::analyst_audit::JointMemo`); never published.
pub const JOINT_MEMO_FILE: &str = "public/analyst-joint-memo.json";

#[derive(Args, Clone)]
pub struct Common {
    /// Data directory (the embedded store).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// Protection policy (TOML).
    #[arg(long, default_value = "data/policy.toml")]
    pub policy: PathBuf,
    /// City directory (districts.geojson, population.csv, …). Remembered by the data
    /// directory at its first ingest (or `kmapa init`): leave it out afterwards; another
    /// city is refused.
    #[arg(long)]
    pub city: Option<PathBuf>,
    #[arg(long, default_value = "data/categories.csv")]
    pub vocabulary: PathBuf,
}

impl Common {
    /// The data directory's city (bound now if it had none).
    pub fn city_dir(&self) -> anyhow::Result<(PathBuf, kmapa_geo::city::CityId)> {
        let r = crate::city::resolve(&self.data_dir, self.city.as_deref())?;
        r.bind_if_new(&self.data_dir, false)?;
        Ok((r.dir, r.id))
    }
}

#[derive(Args)]
pub struct ProtectArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Say why a cell is hidden: its reason, and for a cell hidden to protect another,
    /// which one, down to the small count that started it (every layer and group of
    /// the unit, e.g. `--explain FAB-05 poverty 2024`).
    #[arg(long, num_args = 3, value_names = ["UNIT", "MEASURE", "YEAR"])]
    pub explain: Option<Vec<String>>,
    /// Protect the analyst tier against a reader who uses the relations between
    /// measures even if the policy turns it off (`[analyst] joint_measures = false`);
    /// with the default policy it is on anyway.
    #[arg(long)]
    pub joint_measures: bool,
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print only the summary, not every hidden cell.
    #[arg(long)]
    pub summary: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also cross-check the max-flow intervals of up to N hidden cells per table
    /// against the LP solver (microlp); slower.
    #[arg(long, default_value_t = 0)]
    pub lp_check: usize,
    /// Audit the analyst tier with the relations between measures (a sub-row never
    /// exceeds its category, a category the unit total, the unit total the sum of the
    /// top categories; every measure of a source and year as one system) even if the
    /// policy turns it off (`[analyst] joint_measures = false`); with the default
    /// policy it is on anyway (docs/privacy.md, section 5).
    #[arg(long)]
    pub joint_measures: bool,
}

/// The public tiers of every snapshot published so far: a reader keeps them all, so
/// a new tier is protected and audited against them (docs/privacy.md).
pub fn earlier_tiers(data_dir: &Path) -> anyhow::Result<Vec<ProtectedTier>> {
    kmapa_serve::snapshot::list(data_dir)
        .into_iter()
        .map(|n| {
            Ok(kmapa_serve::snapshot::Snapshot::load(data_dir, Some(n))
                .with_context(|| {
                    format!(
                        "snapshot {n}: cannot be read, so a new tier cannot be checked against it"
                    )
                })?
                .tier)
        })
        .collect()
}

/// The analyst answers of every snapshot published so far, with its public tier: a
/// reader who kept them combines them with the new ones (docs/privacy.md).
fn earlier_analyst(
    data_dir: &Path,
    tiers: &[ProtectedTier],
) -> anyhow::Result<Vec<kmapa_cube::analyst_audit::Earlier>> {
    let mut out = Vec::new();
    for (n, tier) in kmapa_serve::snapshot::list(data_dir).into_iter().zip(tiers) {
        let path =
            kmapa_serve::snapshot::dir(data_dir, n).join(kmapa_serve::snapshot::ANALYST_ATOMS);
        if !path.exists() {
            continue; // a snapshot without an analyst tier answered no analyst
        }
        let atoms = kmapa_cube::atoms::AnalystAtoms::read(&path)?;
        out.push(kmapa_cube::analyst_audit::Earlier::new(n, atoms, tier));
    }
    Ok(out)
}

pub fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "{}: cannot read the policy file (pass --policy, or copy data/policy.toml)",
            path.display()
        )
    })?;
    Ok(Policy::parse(&path.display().to_string(), &text)?)
}

/// The secret the Cell Key Method derives record keys from: `<data-dir>/ckm.key`,
/// made on first use (32 random bytes, readable by the owner only). Changing it changes
/// every analyst value, so it is kept with the data.
pub fn ckm_secret(data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("ckm.key");
    if let Ok(s) = std::fs::read(&path) {
        anyhow::ensure!(
            s.len() >= 32,
            "{}: too short; restore it from a backup",
            path.display()
        );
        return Ok(s);
    }
    let mut key = vec![0u8; 32];
    rand::fill(&mut key[..]);
    kmapa_model::fsutil::write_atomically(&path, |w| std::io::Write::write_all(w, &key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

struct Loaded {
    vocabulary: Vocabulary,
    city: City,
    city_id: kmapa_geo::city::CityId,
    policy: Policy,
    cube: Cube,
    /// Checksums of the batches counted.
    batches: Vec<String>,
    /// Fingerprint of the cell-key secret the cube's keys come from.
    key_fingerprint: String,
    data_dir: PathBuf,
}

fn load(c: &Common) -> anyhow::Result<Loaded> {
    let policy = load_policy(&c.policy)?;
    let vocabulary = Vocabulary::read(&c.vocabulary)?;
    let store = Store::open(&c.data_dir)?;
    let (city_dir, city_id) = c.city_dir()?;
    let city = City::load(&city_dir, &vocabulary)?;
    let files = store.active_record_files()?;
    anyhow::ensure!(
        !files.is_empty(),
        "{}: no active batches: ingest records first (`kmapa ingest`)",
        c.data_dir.display()
    );
    // The public tier does not use cell keys; the analyst tier, audited here with it,
    // derives them from the store's secret.
    let secret = ckm_secret(&c.data_dir)?;
    let mut builder = CubeBuilder::new(&vocabulary, &city.layer, &secret);
    builder.add_batches(&files)?;
    let cube = builder.build();
    Ok(Loaded {
        vocabulary,
        city,
        city_id,
        policy,
        cube,
        batches: store.active_checksums()?,
        key_fingerprint: kmapa_protect::ckm::fingerprint(&secret),
        data_dir: c.data_dir.clone(),
    })
}

pub fn run_protect(a: &ProtectArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let l = load(&a.common)?;
    let loaded = started.elapsed();
    let started = Instant::now();
    let earlier = earlier_tiers(&a.common.data_dir)?;
    let (mut protected, audit, why) = kmapa_cube::public::protect_public_tier_explained(
        &l.cube,
        &l.vocabulary,
        l.city.population.as_ref(),
        &l.policy.public,
        &l.policy.version,
        &earlier,
    )?;
    let took = started.elapsed();
    anyhow::ensure!(
        audit.difference_failures.is_empty(),
        "the new tier, read together with the published snapshots, gives away:\n  {}\nkmapa does not yet hide more to prevent this (docs/privacy.md, section 5): nothing was written; please report it with the policy, and publish once more records have arrived",
        audit.difference_failures.join("\n  ")
    );
    anyhow::ensure!(
        audit.passed(),
        "the protected tier fails its own audit ({} cells): this is a bug, please report it",
        audit.failures
    );
    let dir = &a.common.data_dir;
    // What the server answers analysts from: no records, per-atom counts and cell keys;
    // the audit checks exactly these answers.
    let started = Instant::now();
    let atoms = kmapa_cube::atoms::AnalystAtoms::build(&l.cube, &l.policy.analyst);
    atoms.write(&dir.join(ATOMS_FILE))?;
    let atoms_took = started.elapsed();
    // Every count protected from here on is in the atoms: the person-level facts (the
    // largest part of memory on a large store) go before the analyst tier's systems
    // are built.
    drop(l.cube);
    let started = Instant::now();
    let auditor = AnalystAuditor::new(&atoms, &l.policy.analyst, &protected)
        .with_earlier(earlier_analyst(dir, &earlier)?);
    let joint_measures = a.joint_measures || l.policy.analyst.joint_measures;
    let (analyst, analyst_audit) = if joint_measures {
        // Each measure and year on its own, then every measure of a source and year
        // with the relations between measures, from what the first pass withheld; the
        // decisions for a source and year whose systems did not change are taken from
        // the memo of the last protection.
        let families = measure_families(&l.vocabulary, &atoms.header.measures);
        let memo_path = dir.join(JOINT_MEMO_FILE);
        let memo = read_joint_memo(&memo_path)?;
        let (analyst, audit, seen) =
            auditor.protect_with_memo(l.key_fingerprint.clone(), &families, &memo)?;
        write_json(&memo_path, &seen)?;
        (analyst, audit)
    } else {
        auditor.protect(l.key_fingerprint.clone())?
    };
    let analyst_took = started.elapsed();
    let withheld = analyst.withheld.len();
    let atoms_sha256 = kmapa_serve::snapshot::checksum(&std::fs::read(dir.join(ATOMS_FILE))?);
    protected.analyst = Some(kmapa_protect::output::AnalystProtection {
        atoms_sha256,
        ..analyst
    });
    protected.batches = l.batches.clone();
    protected.summary.city = Some(l.city_id.fingerprint.clone());
    write_json(&dir.join(PROTECTED_FILE), &protected)?;
    write_json(&dir.join(AUDIT_FILE), &audit)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "policy_version": protected.policy_version,
                "summary": protected.summary,
                "audit": { "hidden_cells": audit.hidden_cells, "failures": audit.failures,
                           "narrowest_width": audit.narrowest_width },
                "seconds": took.as_secs_f64(),
                "analyst": { "small_counts_checked": analyst_audit.small_counts_checked,
                             "withheld_queries": withheld, "lps": analyst_audit.lps,
                             "seconds": analyst_took.as_secs_f64(),
                             "atoms": atoms.len(), "atoms_seconds": atoms_took.as_secs_f64() },
            }))?
        );
    } else if !a.quiet {
        print_loss(&protected);
        print_largest(&why);
        println!(
            "protected {} tables ({} years) in {:.2} s (data loaded in {:.2} s); audit passed: {} hidden cells, each uncertain over at least {} persons",
            protected.summary.tables,
            protected.summary.years.len(),
            took.as_secs_f64(),
            loaded.as_secs_f64(),
            audit.hidden_cells,
            audit.narrowest_width.map_or("-".into(), fmt_width),
        );
        println!(
            "analyst tier audited with the public one{} in {:.2} s: {} small counts checked, {withheld} queries withheld so that none is pinned exactly",
            if joint_measures {
                " and the relations between measures"
            } else {
                " (each measure on its own: [analyst] joint_measures = false)"
            },
            analyst_took.as_secs_f64(),
            analyst_audit.small_counts_checked,
        );
        println!(
            "analyst tier's data: {} atom counts with cell keys in {:.2} s ({})",
            atoms.len(),
            atoms_took.as_secs_f64(),
            dir.join(ATOMS_FILE).display()
        );
        println!("written: {}", dir.join(PROTECTED_FILE).display());
    }
    if let Some(e) = &a.explain {
        explain(&protected, &why, &e[0], &e[1], &e[2])?;
    }
    Ok(())
}

/// Per layer, the largest cell hidden to protect another, and what it protects.
fn print_largest(why: &[kmapa_cube::public::Explanation]) {
    let mut largest: std::collections::BTreeMap<String, &kmapa_cube::public::Explanation> =
        Default::default();
    for e in why
        .iter()
        .filter(|e| e.status == kmapa_protect::CellStatus::SecondarySuppressed)
    {
        let Some(layer) = e.cell.layer else { continue };
        let key = format!("{layer:?}");
        if largest.get(&key).is_none_or(|b| e.value > b.value) {
            largest.insert(key, e);
        }
    }
    for e in largest.values() {
        println!(
            "largest cell hidden to protect another: {}, {} persons (protects {})",
            e.cell,
            e.value,
            e.protects.as_ref().map_or("-".into(), |p| p.to_string())
        );
    }
}

/// Why a unit's cells of one measure and year are hidden, cell by cell, following
/// each cover down to the cell that started it.
fn explain(
    protected: &ProtectedTier,
    why: &[kmapa_cube::public::Explanation],
    unit: &str,
    measure: &str,
    year: &str,
) -> anyhow::Result<()> {
    let year: u16 = year
        .parse()
        .map_err(|_| anyhow::anyhow!("--explain: year {year:?} is not a year (e.g. 2024)"))?;
    let cells: Vec<_> = protected
        .cells
        .iter()
        .filter(|c| c.unit == unit && c.measure == measure && c.year == year)
        .collect();
    anyhow::ensure!(
        !cells.is_empty(),
        "--explain: the tier publishes no cell {measure} {year} for unit {unit:?} (a district or parent-area code, an H3 index, or `city`; a measure code of data/categories.csv or any_ops/any_pup; a year the policy publishes)"
    );
    let k = protected.summary.k;
    let reason = |e: &kmapa_cube::public::Explanation| {
        let of = e.cell.counted.code();
        match e.status {
            kmapa_protect::CellStatus::PrimarySuppressed => {
                format!("{} {of}: fewer than k = {k}", e.value)
            }
            kmapa_protect::CellStatus::DifferenceSuppressed => format!(
                "{} {of}: changed by 1..{} since an earlier snapshot",
                e.value,
                k - 1
            ),
            kmapa_protect::CellStatus::SecondarySuppressed => format!(
                "{} {of}, hidden to protect {}",
                e.value,
                e.protects.as_ref().map_or("-".into(), |p| p.to_string())
            ),
            s => format!("{} {of} ({s:?})", e.value),
        }
    };
    for c in cells {
        let Some(mut e) = why.iter().find(|e| {
            e.cell.layer == Some(c.layer)
                && e.cell.unit == c.unit
                && e.cell.measure == c.measure
                && e.cell.group == c.group
                && e.cell.counted == c.counted
                && e.cell.year == c.year
        }) else {
            println!(
                "{measure} ({}{}) {year} {unit}: published, {}",
                c.group,
                if c.counted.is_persons() {
                    ""
                } else {
                    ", households"
                },
                c.value.map_or("-".into(), |v| v.to_string())
            );
            continue;
        };
        println!("{}: hidden, {}", e.cell, reason(e));
        // Down the chain of covers to the cell that started it.
        let mut depth = 1;
        while let Some(next) = e.protects.as_ref() {
            let Some(n) = why.iter().find(|x| &x.cell == next) else {
                if next.layer.is_none() {
                    let what = if next.unit.ends_with("×none") {
                        "the persons of a district located by district only"
                    } else {
                        "the part of a district in a hexagon"
                    };
                    println!(
                        "{}{next}: never published ({what}), protected like a small count",
                        "  ".repeat(depth)
                    );
                }
                break;
            };
            println!("{}{}: hidden, {}", "  ".repeat(depth), n.cell, reason(n));
            if depth > 10 || std::ptr::eq(n, e) {
                break;
            }
            e = n;
            depth += 1;
        }
    }
    Ok(())
}

fn fmt_width(w: f64) -> String {
    if w.is_finite() {
        format!("{w}")
    } else {
        "∞".into()
    }
}

/// The information-loss table, one line per layer.
pub fn print_loss(p: &ProtectedTier) {
    println!(
        "policy {}: k = {}, required width = {}",
        p.policy_version, p.summary.k, p.summary.width
    );
    println!(
        "{:<10} {:>8} {:>9} {:>8} {:>10} {:>8} {:>10} {:>12} {:>8}",
        "layer",
        "cells",
        "non-empty",
        "primary",
        "secondary",
        "changed",
        "persons",
        "hidden pers.",
        "hidden %"
    );
    for (name, l) in &p.summary.layers {
        println!(
            "{:<10} {:>8} {:>9} {:>8} {:>10} {:>8} {:>10} {:>12} {:>7.1}%",
            name,
            l.cells,
            l.non_empty,
            l.primary,
            l.secondary,
            l.difference,
            l.persons,
            l.hidden_persons,
            if l.persons > 0 {
                100.0 * l.hidden_persons as f64 / l.persons as f64
            } else {
                0.0
            }
        );
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create the directory", parent.display()))?;
    }
    write_atomically(path, |w| {
        serde_json::to_writer(&mut *w, value).map_err(std::io::Error::other)
    })
    .with_context(|| format!("{}: cannot write", path.display()))
}

/// The joint protection's memo of an earlier run, or an empty one (no earlier run).
fn read_joint_memo(path: &Path) -> anyhow::Result<kmapa_cube::analyst_audit::JointMemo> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{}: not a memo kmapa wrote; delete it (the next `kmapa protect` solves every system again)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
    }
}

pub fn read_protected(data_dir: &Path) -> anyhow::Result<ProtectedTier> {
    let path = data_dir.join(PROTECTED_FILE);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "{}: no protected tier: run `kmapa protect` first",
            path.display()
        )
    })?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{}: not a protected tier", path.display()))
}

pub fn run_audit(a: &AuditArgs) -> anyhow::Result<()> {
    let l = load(&a.common)?;
    let protected = read_protected(&a.common.data_dir)?;
    anyhow::ensure!(
        protected.policy_version == l.policy.version,
        "{} was protected under policy {:?}, but {} is {:?}: run `kmapa protect` again or pass the policy it was made with",
        a.common.data_dir.join(PROTECTED_FILE).display(),
        protected.policy_version,
        a.common.policy.display(),
        l.policy.version
    );
    let started = Instant::now();
    let earlier = earlier_tiers(&a.common.data_dir)?;
    let audit = audit_public_tier(
        &l.cube,
        &l.vocabulary,
        l.city.population.as_ref(),
        &l.policy.public,
        &protected,
        &earlier,
    )?;
    let took = started.elapsed();
    report(&audit, &protected, a, took.as_secs_f64())?;
    let joint = a.joint_measures || l.policy.analyst.joint_measures;
    let analyst_pinned = audit_analyst(&l, &protected, a.json, joint)?;
    if a.lp_check > 0 {
        let started = Instant::now();
        let check = kmapa_cube::public::lp_cross_check(
            &l.cube,
            &l.vocabulary,
            &l.policy.public,
            &protected,
            a.lp_check,
        )?;
        for d in &check.disagreements {
            eprintln!("LP disagrees: {d}");
        }
        println!(
            "LP cross-check (microlp, each table's relations): {} of {} hidden cells agree with the max-flow intervals ({:.1} s)",
            check.agree,
            check.cells,
            started.elapsed().as_secs_f64()
        );
        anyhow::ensure!(
            check.disagreements.is_empty(),
            "the LP cross-check found {} disagreements: this is a bug, please report it",
            check.disagreements.len()
        );
    }
    anyhow::ensure!(
        audit.passed(),
        "audit FAILED: {} of {} hidden cells and small unpublished cells can be narrowed below the required width",
        audit.failures,
        audit.hidden_cells + audit.internal_cells
    );
    anyhow::ensure!(
        analyst_pinned == 0,
        "audit FAILED: analyst answers with the public tier pin {analyst_pinned} small counts exactly"
    );
    Ok(())
}

/// Audits the analyst tier as written (its withheld queries) with the public tier;
/// the number of small counts pinned exactly.
fn audit_analyst(
    l: &Loaded,
    protected: &ProtectedTier,
    quiet: bool,
    joint_measures: bool,
) -> anyhow::Result<usize> {
    let Some(analyst) = &protected.analyst else {
        anyhow::bail!(
            "{}: the tier has no analyst protection (written by an older kmapa): run `kmapa protect` again",
            PROTECTED_FILE
        );
    };
    anyhow::ensure!(
        analyst.key_fingerprint == l.key_fingerprint,
        "the analyst tier was protected with another cell-key secret than the store's ckm.key: run `kmapa protect` again"
    );
    // The answers the snapshot will give: the atoms protect wrote, which must be the
    // ones the data give and the ones the tier was protected with.
    let path = l.data_dir.join(ATOMS_FILE);
    let atoms = kmapa_cube::atoms::AnalystAtoms::read(&path)?;
    anyhow::ensure!(
        kmapa_serve::snapshot::checksum(&std::fs::read(&path)?) == analyst.atoms_sha256,
        "{}: not the analyst data the tier was protected with: run `kmapa protect` again",
        path.display()
    );
    anyhow::ensure!(
        atoms == kmapa_cube::atoms::AnalystAtoms::build(&l.cube, &l.policy.analyst),
        "{}: not what the ingested batches give: run `kmapa protect` again",
        path.display()
    );
    let started = Instant::now();
    let earlier = earlier_analyst(&l.data_dir, &earlier_tiers(&l.data_dir)?)?;
    let auditor = AnalystAuditor::new(&atoms, &l.policy.analyst, protected).with_earlier(earlier);
    let mut report = auditor.audit(&analyst.withheld)?;
    let took = started.elapsed();
    let mut joint = None;
    if joint_measures {
        let started = Instant::now();
        let families = measure_families(&l.vocabulary, &atoms.header.measures);
        let found = auditor.audit_joint(&families, &analyst.withheld)?;
        joint = Some((
            found.small_counts_checked,
            found.pinned.len(),
            started.elapsed(),
        ));
        report.pinned.extend(found.pinned);
    }
    for p in &report.pinned {
        eprintln!(
            "analyst: {} {} {} {} {} is pinned to exactly {}",
            kmapa_cube::public::layer_name(p.layer),
            p.unit,
            p.measure,
            p.year,
            p.group,
            p.value
        );
    }
    if !quiet {
        println!(
            "analyst tier with the public one, in {:.2} s: {} small counts checked, {} queries withheld, {} pinned exactly",
            took.as_secs_f64(),
            report.small_counts_checked,
            analyst.withheld.len(),
            report.pinned.len() - joint.map_or(0, |j| j.1)
        );
        if let Some((checked, pinned, took)) = joint {
            println!(
                "analyst tier with the relations between measures, in {:.2} s: {checked} small counts checked, {pinned} pinned exactly",
                took.as_secs_f64(),
            );
        }
    }
    Ok(report.pinned.len())
}

fn report(audit: &TierAudit, p: &ProtectedTier, a: &AuditArgs, secs: f64) -> anyhow::Result<()> {
    if a.json {
        println!("{}", serde_json::to_string(audit)?);
        return Ok(());
    }
    if !a.summary {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut lines = || -> std::io::Result<()> {
            writeln!(
                out,
                "{:<9} {:<18} {:<28} {:>4} {:<21} {:>8} {:>8} {:>6} result",
                "layer", "unit", "measure", "year", "status", "lower", "upper", "need"
            )?;
            for c in &audit.cells {
                writeln!(
                    out,
                    "{:<9} {:<18} {:<28} {:>4} {:<21} {:>8} {:>8} {:>6} {}",
                    kmapa_cube::public::layer_name(c.layer),
                    c.unit,
                    c.measure,
                    c.year,
                    serde_json::to_value(c.status)?.as_str().unwrap_or("?"),
                    c.lower,
                    c.upper.map_or("∞".into(), |u| u.to_string()),
                    c.required_width,
                    if c.passed { "ok" } else { "TOO NARROW" }
                )?;
            }
            out.flush()
        };
        match lines() {
            // `kmapa audit | head` is fine.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
    }
    for f in &audit.difference_failures {
        println!("{f}: GIVES AWAY A SMALL GROUP (with an earlier snapshot)");
    }
    for f in &audit.internal_failures {
        println!(
            "{} {} ({}) {}: [{}, {}] TOO NARROW (a small district × hexagon piece a reader can work out: it must be able to be empty, or be as wide as a hidden small count)",
            f.cell,
            f.measure,
            f.group,
            f.year,
            f.lower,
            f.upper.map_or("∞".into(), |u| u.to_string())
        );
    }
    print_loss(p);
    println!(
        "audit of {} hidden cells and {} small district × hexagon pieces in {secs:.2} s: {} too narrow; narrowest interval {} (required {}, and a hidden small count must be able to reach k = {}; a small piece must be able to be empty or be as wide)",
        audit.hidden_cells,
        audit.internal_cells,
        audit.failures,
        audit.narrowest_width.map_or("-".into(), fmt_width),
        p.summary.width,
        p.summary.k,
    );
    println!(
        "threat model (docs/privacy.md): a reader knows every published value, that a hidden cell is hidden (not why), every published relation (each measure's layers, sub-rows ≤ parents ≤ unit totals ≤ sums of categories), the district × hexagon pieces, and the published population; intervals are spanned by solutions of all of it, so an attacker's interval is at least as wide"
    );
    Ok(())
}

//! Published snapshots: the public tier frozen, numbered and immutable.
//!
//! `kmapa publish` copies the protected tier, its audit report, the policy and the
//! city files the map needs (boundaries, population and its grid, institutions,
//! vocabulary) into
//! `<data-dir>/snapshots/<N>/`, with a manifest of SHA-256 checksums. The directory is
//! written under a hidden name and renamed into place, so a snapshot is either complete
//! or absent. The public endpoints serve the latest snapshot, never live data.

use std::fs;
use std::path::{Path, PathBuf};

use kmapa_protect::output::{ProtectedTier, TierAudit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SNAPSHOTS_DIR: &str = "snapshots";
pub const MANIFEST: &str = "manifest.json";
pub const TIER: &str = "tier.json";
pub const AUDIT: &str = "audit.json";
pub const POLICY: &str = "policy.toml";
pub const DISTRICTS: &str = "districts.geojson";
pub const POPULATION: &str = "population.csv";
pub const INSTITUTIONS: &str = "institutions.csv";
pub const POPULATION_GRID: &str = "population-grid.csv";
pub const VOCABULARY: &str = "categories.csv";
/// The analyst tier's per-atom counts and cell keys (kmapa_cube::atoms), when the policy
/// has an analyst tier.
pub const ANALYST_ATOMS: &str = "analyst-atoms.bin";

/// Files every snapshot has.
const REQUIRED: [&str; 5] = [TIER, AUDIT, POLICY, VOCABULARY, DISTRICTS];
/// Files a snapshot may have. Nothing else may be in its directory or its manifest:
/// the set is fixed here, not by the manifest, so that a file dropped from the manifest
/// cannot be edited and served unchecked.
const OPTIONAL: [&str; 4] = [POPULATION, INSTITUTIONS, POPULATION_GRID, ANALYST_ATOMS];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub number: u32,
    /// RFC 3339, UTC.
    pub published_at: String,
    pub policy_version: String,
    pub k: u64,
    pub width: f64,
    pub years: Vec<u16>,
    pub hidden_cells: usize,
    /// The audit passed when the snapshot was made (a snapshot is never made otherwise).
    pub audit_passed: bool,
    /// True when the city files say their data are synthetic.
    pub synthetic: bool,
    /// File name → SHA-256 (hex).
    pub files: std::collections::BTreeMap<String, String>,
    /// The city it was made from (absent in snapshots made before cities were
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<kmapa_geo::city::CityId>,
    /// What the publisher said of it (the admin panel asks for a comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// For a rollback: the earlier snapshot whose files it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error(
        "{0}: no snapshot has been published yet: run `kmapa protect` and `kmapa publish` first"
    )]
    None(String),
    #[error("the protected tier fails its audit ({0} cells too exposed): it cannot be published")]
    AuditFailed(usize),
    #[error("{path}: checksum mismatch for {file}: the snapshot was altered after publishing")]
    Altered { path: String, file: String },
    #[error(
        "{path}: {problem}: the snapshot was altered after publishing; restore it from a backup or publish a new one"
    )]
    Incomplete { path: String, problem: String },
}

/// SHA-256 of a file's bytes, hex: what a manifest records.
pub fn checksum(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// What goes into a snapshot.
pub struct PublishInputs<'a> {
    pub data_dir: &'a Path,
    pub tier: &'a ProtectedTier,
    pub audit: &'a TierAudit,
    pub policy_file: &'a Path,
    pub city_dir: &'a Path,
    /// The city's identity, recorded in the manifest.
    pub city: Option<&'a kmapa_geo::city::CityId>,
    pub vocabulary_file: &'a Path,
    /// The analyst tier's atoms written by `kmapa protect`, if any.
    pub analyst_atoms: Option<&'a Path>,
    /// The institutions directory kept in the data directory (the admin panel's), to
    /// publish instead of the city's file.
    pub institutions: Option<&'a Path>,
}

/// Numbers of the snapshots present, ascending.
pub fn list(data_dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = fs::read_dir(data_dir.join(SNAPSHOTS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

pub fn dir(data_dir: &Path, number: u32) -> PathBuf {
    data_dir.join(SNAPSHOTS_DIR).join(format!("{number:06}"))
}

/// Freezes the tier into the next numbered snapshot; returns its manifest.
pub fn publish(inputs: &PublishInputs<'_>) -> Result<Manifest, SnapshotError> {
    publish_commented(inputs, None)
}

/// [`publish`] with the publisher's comment kept in the manifest.
pub fn publish_commented(
    inputs: &PublishInputs<'_>,
    comment: Option<&str>,
) -> Result<Manifest, SnapshotError> {
    if !inputs.audit.passed() {
        return Err(SnapshotError::AuditFailed(inputs.audit.failures));
    }
    let root = inputs.data_dir.join(SNAPSHOTS_DIR);
    fs::create_dir_all(&root).map_err(|e| file_err(&root, e))?;
    let number = list(inputs.data_dir).last().map_or(1, |n| n + 1);
    let target = dir(inputs.data_dir, number);
    let partial = root.join(format!(".{number:06}.partial"));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| file_err(&partial, e))?;
    }
    fs::create_dir_all(&partial).map_err(|e| file_err(&partial, e))?;
    let mut files = std::collections::BTreeMap::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), SnapshotError> {
        let path = partial.join(name);
        fs::write(&path, bytes).map_err(|e| file_err(&path, e))?;
        files.insert(name.to_string(), checksum(bytes));
        Ok(())
    };
    let json = |v: &dyn erased::Ser| v.to_json();
    put(TIER, &json(inputs.tier))?;
    put(AUDIT, &json(inputs.audit))?;
    let read = |p: &Path| fs::read(p).map_err(|e| file_err(p, e));
    put(POLICY, &read(inputs.policy_file)?)?;
    put(VOCABULARY, &read(inputs.vocabulary_file)?)?;
    if let Some(atoms) = inputs.analyst_atoms {
        put(ANALYST_ATOMS, &read(atoms)?)?;
    }
    let mut synthetic = false;
    for name in [DISTRICTS, POPULATION, INSTITUTIONS, POPULATION_GRID] {
        let source = match (name, inputs.institutions) {
            (INSTITUTIONS, Some(own)) => own.to_path_buf(),
            _ => inputs.city_dir.join(match name {
                DISTRICTS => kmapa_geo::city::DISTRICTS_FILE,
                POPULATION => kmapa_geo::city::POPULATION_FILE,
                POPULATION_GRID => kmapa_geo::city::POPULATION_GRID_FILE,
                _ => kmapa_geo::city::INSTITUTIONS_FILE,
            }),
        };
        if source.exists() {
            let bytes = read(&source)?;
            synthetic |= name != DISTRICTS && String::from_utf8_lossy(&bytes).contains(",true");
            put(name, &bytes)?;
        }
    }
    let manifest = Manifest {
        number,
        published_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        policy_version: inputs.tier.policy_version.clone(),
        k: inputs.tier.summary.k,
        width: inputs.tier.summary.width,
        years: inputs.tier.summary.years.clone(),
        hidden_cells: inputs.audit.hidden_cells,
        audit_passed: true,
        synthetic,
        files,
        city: inputs.city.cloned(),
        comment: comment.map(String::from),
        copy_of: None,
    };
    finish(&partial, &target, &manifest)?;
    Ok(manifest)
}

/// Publishes snapshot `number`'s files again as a new snapshot (a rollback: snapshots
/// are only ever added); `Ok(None)` if there is no such snapshot.
pub fn republish(
    data_dir: &Path,
    number: u32,
    comment: Option<&str>,
) -> Result<Option<Manifest>, SnapshotError> {
    if !list(data_dir).contains(&number) {
        return Ok(None);
    }
    let old = Snapshot::load(data_dir, Some(number))?;
    let root = data_dir.join(SNAPSHOTS_DIR);
    let next = list(data_dir).last().map_or(1, |n| n + 1);
    let target = dir(data_dir, next);
    let partial = root.join(format!(".{next:06}.partial"));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| file_err(&partial, e))?;
    }
    fs::create_dir_all(&partial).map_err(|e| file_err(&partial, e))?;
    for name in old.manifest.files.keys() {
        let from = old.dir.join(name);
        fs::copy(&from, partial.join(name)).map_err(|e| file_err(&from, e))?;
    }
    let manifest = Manifest {
        number: next,
        published_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        comment: comment.map(String::from),
        copy_of: Some(number),
        ..old.manifest
    };
    finish(&partial, &target, &manifest)?;
    Ok(Some(manifest))
}

/// Writes the manifest into the partial directory and makes it the snapshot at once.
fn finish(partial: &Path, target: &Path, manifest: &Manifest) -> Result<(), SnapshotError> {
    let path = partial.join(MANIFEST);
    fs::write(
        &path,
        serde_json::to_vec_pretty(&manifest).map_err(|e| file_err(&path, e))?,
    )
    .map_err(|e| file_err(&path, e))?;
    fs::rename(partial, target).map_err(|e| file_err(target, e))?;
    Ok(())
}

/// A loaded snapshot, checked against its manifest.
pub struct Snapshot {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub tier: ProtectedTier,
    pub audit: TierAudit,
}

impl Snapshot {
    /// Loads snapshot `number`, or the latest when `None`.
    pub fn load(data_dir: &Path, number: Option<u32>) -> Result<Self, SnapshotError> {
        let number = match number {
            Some(n) => n,
            None => *list(data_dir)
                .last()
                .ok_or_else(|| SnapshotError::None(data_dir.display().to_string()))?,
        };
        let dir = dir(data_dir, number);
        let read = |name: &str| {
            let p = dir.join(name);
            fs::read(&p).map_err(|e| file_err(&p, e))
        };
        let manifest: Manifest = serde_json::from_slice(&read(MANIFEST)?)
            .map_err(|e| file_err(&dir.join(MANIFEST), e))?;
        let incomplete = |problem: String| SnapshotError::Incomplete {
            path: dir.display().to_string(),
            problem,
        };
        for name in REQUIRED {
            if !manifest.files.contains_key(name) {
                return Err(incomplete(format!("the manifest does not list {name}")));
            }
        }
        for name in manifest.files.keys() {
            if !REQUIRED.contains(&name.as_str()) && !OPTIONAL.contains(&name.as_str()) {
                return Err(incomplete(format!(
                    "the manifest lists an unknown file {name}"
                )));
            }
        }
        for entry in fs::read_dir(&dir).map_err(|e| file_err(&dir, e))? {
            let entry = entry.map_err(|e| file_err(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != MANIFEST && !manifest.files.contains_key(&name) {
                return Err(incomplete(format!("{name} is not in the manifest")));
            }
        }
        for (name, sum) in &manifest.files {
            if checksum(&read(name)?) != *sum {
                return Err(SnapshotError::Altered {
                    path: dir.display().to_string(),
                    file: name.clone(),
                });
            }
        }
        let tier =
            serde_json::from_slice(&read(TIER)?).map_err(|e| file_err(&dir.join(TIER), e))?;
        let audit =
            serde_json::from_slice(&read(AUDIT)?).map_err(|e| file_err(&dir.join(AUDIT), e))?;
        Ok(Snapshot {
            dir,
            manifest,
            tier,
            audit,
        })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Serialising either output type through one closure.
mod erased {
    pub trait Ser {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).expect("plain data serialises")
        }
    }
}

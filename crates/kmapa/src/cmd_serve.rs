//! `kmapa publish` and `kmapa serve`: freeze the protected public tier into a numbered
//! snapshot, and serve the latest one over HTTP.

use std::path::PathBuf;

use clap::Args;
use kmapa_serve::AnalystOf;
use kmapa_serve::snapshot::{self, PublishInputs, Snapshot};

use crate::cmd_protect::{AUDIT_FILE, PROTECTED_FILE, read_protected};

#[derive(Args)]
pub struct PublishArgs {
    /// Data directory, the policy the tier was protected with (copied into the
    /// snapshot), city and vocabulary: as for `kmapa protect`.
    #[command(flatten)]
    pub common: crate::cmd_protect::Common,
    /// Publish even when the latest snapshot already holds this very tier.
    #[arg(long)]
    pub again: bool,
    /// A comment kept with the snapshot (the admin panel asks for one).
    #[arg(long)]
    pub comment: Option<String>,
    /// Roll back: publish snapshot N's files again as a new snapshot (snapshots are
    /// only ever added), instead of the protected tier.
    #[arg(long, value_name = "N")]
    pub rollback: Option<u32>,
}

#[derive(Args, Default)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below, by the same names with underscores
    /// (`data_dir`, `policy`, `address`, `cors_origins`, `workers`, `no_analyst`,
    /// `rate_limit`, `max_in_flight`, `basemap_style`, `public_url`, `trusted_proxies`); flags given on
    /// the command line win over it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (the embedded store, with its snapshots) [default: kmapa-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The policy this server must serve under. The public tier was protected and
    /// published under the policy frozen in its snapshot; with this, serving refuses to
    /// start unless that is the same policy (so a changed policy file cannot go live
    /// without `kmapa protect` and `kmapa publish`). Without it: the snapshot's policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub address: Option<String>,
    /// An origin allowed to call the API from a browser (CORS), e.g. https://www.wroclaw.pl; `*` for any. Repeatable.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Serve the public tier only (no analyst endpoints).
    #[arg(long)]
    pub no_analyst: bool,
    /// The largest file the admin panel takes as an upload, MiB (larger ones are
    /// refused before they are read to the end) [default: 2048].
    #[arg(long)]
    pub upload_limit_mb: Option<u64>,
    /// Requests per second allowed per client address (bursts of twice that); 0: no limit [default: 0].
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Requests one client address may have in flight at once; 0: no limit [default: 16].
    /// Clients paging one request after another (GDAL, QGIS) are never refused.
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// A MapLibre style URL to draw under the layers (for deployments with internet);
    /// without it the map asks no one else for anything.
    #[arg(long)]
    pub basemap_style: Option<String>,
    /// The address the public reaches this server at, behind a reverse proxy
    /// (e.g. https://mapa.wroclaw.pl/kmapa): every link is built from it. Without it
    /// links use http:// and the request's Host header; forwarding headers never.
    #[arg(long)]
    pub public_url: Option<String>,
    /// A reverse proxy's address whose X-Forwarded-For names the client, for the rate
    /// limit (e.g. 127.0.0.1 for nginx on the same machine). Repeatable.
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// `kmapa serve --config FILE`: the same settings as the flags.
#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub data_dir: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub address: Option<String>,
    pub cors_origins: Option<Vec<String>>,
    pub workers: Option<usize>,
    pub no_analyst: Option<bool>,
    pub rate_limit: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub basemap_style: Option<String>,
    pub public_url: Option<String>,
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

/// The settings in force: flags, then the config file, then the defaults.
pub struct ServeSettings {
    pub data_dir: PathBuf,
    pub policy: Option<PathBuf>,
    pub options: kmapa_serve::ServeOptions,
    pub no_analyst: bool,
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<ServeSettings> {
        let c: ServeConfig = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    anyhow::anyhow!("{}: {e}: give an existing config file", p.display())
                })?;
                toml::from_str(&text).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: {e}\nknown settings: data_dir, policy, address, cors_origins, workers, no_analyst, rate_limit, max_in_flight, basemap_style, public_url, trusted_proxies",
                        p.display()
                    )
                })?
            }
            None => ServeConfig::default(),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(c.data_dir)
            .unwrap_or_else(|| "kmapa-data".into());
        let cors_origins = if self.cors_origins.is_empty() {
            c.cors_origins.unwrap_or_default()
        } else {
            self.cors_origins.clone()
        };
        Ok(ServeSettings {
            options: kmapa_serve::ServeOptions {
                data_dir: data_dir.clone(),
                address: self
                    .address
                    .clone()
                    .or(c.address)
                    .unwrap_or_else(|| "127.0.0.1:8080".into()),
                cors_origins,
                workers: self
                    .workers
                    .or(c.workers)
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                rate_limit: self.rate_limit.or(c.rate_limit).unwrap_or(0),
                max_in_flight: self.max_in_flight.or(c.max_in_flight).unwrap_or(16),
                basemap_style: self.basemap_style.clone().or(c.basemap_style),
                public_url: match self.public_url.clone().or(c.public_url) {
                    Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                        anyhow::bail!(
                            "public_url {u:?}: give a full URL, e.g. https://mapa.example.pl/kmapa"
                        )
                    }
                    u => u,
                },
                trusted_proxies: if self.trusted_proxies.is_empty() {
                    c.trusted_proxies.unwrap_or_default()
                } else {
                    self.trusted_proxies.clone()
                },
            },
            no_analyst: self.no_analyst || c.no_analyst.unwrap_or(false),
            policy: self.policy.clone().or(c.policy),
            data_dir,
        })
    }
}

/// Publishes the protected tier as a new snapshot unless the latest one already holds
/// it; returns the number served.
pub fn run_publish(a: &PublishArgs) -> anyhow::Result<u32> {
    let c = &a.common;
    let log = |what: &str, result: &str| -> anyhow::Result<()> {
        kmapa_serve::users::Users::open(&c.data_dir)?.log(
            "cli",
            what,
            a.comment.as_deref().unwrap_or(""),
            result,
        )?;
        Ok(())
    };
    if let Some(n) = a.rollback {
        let what = format!("roll back to snapshot {n}");
        let Some(m) = snapshot::republish(&c.data_dir, n, a.comment.as_deref())? else {
            log(&what, "no such snapshot")?;
            anyhow::bail!(
                "{}: no snapshot {n} (published: {:?})",
                c.data_dir.display(),
                snapshot::list(&c.data_dir)
            );
        };
        log(&what, "done")?;
        println!(
            "published snapshot {} with the files of snapshot {n} in {} (a running kmapa serve serves it after a restart, or publish from the admin panel to switch at once)",
            m.number,
            snapshot::dir(&c.data_dir, m.number).display()
        );
        return Ok(m.number);
    }
    let published = publish_tier(c, a.again, a.comment.as_deref())?;
    log(
        "publish",
        if matches!(published, Published::Already(_)) {
            "nothing to publish"
        } else {
            "done"
        },
    )?;
    match published {
        Published::Already(n) => {
            println!(
                "snapshot {n} already holds this tier ({}); nothing published",
                c.data_dir.join(PROTECTED_FILE).display()
            );
            Ok(n)
        }
        Published::New(new) => {
            let (m, previous) = *new;
            println!(
                "published snapshot {} (policy {}, {} hidden cells audited) in {}",
                m.number,
                m.policy_version,
                m.hidden_cells,
                snapshot::dir(&c.data_dir, m.number).display()
            );
            if let Some(p) = previous {
                print_changes(
                    &changes(&p.tier, &read_protected(&c.data_dir)?),
                    p.manifest.number,
                );
            }
            Ok(m.number)
        }
    }
}

/// The institutions directory kept in the data directory by the admin panel (published
/// instead of the city's file once it exists).
const OWN_INSTITUTIONS: &str = "institutions.csv";

/// Whether the institutions the next snapshot would hold are those `latest` holds
/// (nothing to compare when the data directory keeps none of its own).
fn same_institutions(data_dir: &std::path::Path, latest: &Snapshot) -> bool {
    let Ok(own) = std::fs::read(data_dir.join(OWN_INSTITUTIONS)) else {
        return true;
    };
    latest.manifest.files.get(snapshot::INSTITUTIONS) == Some(&snapshot::checksum(&own))
}

enum Published {
    /// The latest snapshot, which already holds the tier.
    Already(u32),
    /// The new snapshot, and the one before it.
    New(Box<(snapshot::Manifest, Option<Snapshot>)>),
}

/// Publishes the protected tier of `c.data_dir` with an optional comment, unless the
/// latest snapshot already holds it (and not `again`).
fn publish_tier(
    c: &crate::cmd_protect::Common,
    again: bool,
    comment: Option<&str>,
) -> anyhow::Result<Published> {
    let tier = read_protected(&c.data_dir)?;
    let audit_path = c.data_dir.join(AUDIT_FILE);
    let audit: kmapa_protect::output::TierAudit =
        serde_json::from_slice(&std::fs::read(&audit_path).map_err(|e| {
            anyhow::anyhow!("{}: {e}: run `kmapa protect` first", audit_path.display())
        })?)?;
    // Read (and checksum) the latest snapshot once: to skip a re-publish, and to say
    // what changed.
    let previous = Snapshot::load(&c.data_dir, None).ok();
    if !again
        && let Some(latest) = &previous
        && latest.tier == tier
        && same_institutions(&c.data_dir, latest)
    {
        return Ok(Published::Already(latest.manifest.number));
    }
    let (city_dir, city) = c.city_dir()?;
    if let Some(made_with) = &tier.summary.city {
        anyhow::ensure!(
            *made_with == city.fingerprint,
            "{}: made from other city files (fingerprint {made_with}) than the city now bound, {city}: run `kmapa protect` again",
            c.data_dir.join(PROTECTED_FILE).display()
        );
    }
    let m = snapshot::publish_commented(
        &PublishInputs {
            data_dir: &c.data_dir,
            tier: &tier,
            audit: &audit,
            policy_file: &c.policy,
            city_dir: &city_dir,
            city: Some(&city),
            vocabulary_file: &c.vocabulary,
            analyst_atoms: Some(c.data_dir.join(crate::cmd_protect::ATOMS_FILE))
                .filter(|p| p.exists())
                .as_deref(),
            institutions: Some(c.data_dir.join(OWN_INSTITUTIONS))
                .filter(|p| p.exists())
                .as_deref(),
        },
        comment,
    )?;
    Ok(Published::New(Box::new((m, previous))))
}

/// What changed in one measure and year against the previous snapshot.
#[derive(serde::Serialize)]
struct Change {
    measure: String,
    year: u16,
    values_changed: usize,
    newly_hidden: usize,
    /// Of the newly hidden, those hidden because the change itself was a small count.
    hidden_for_a_small_change: usize,
    newly_shown: usize,
    new_cells: usize,
}

/// What changed against the previous snapshot, per measure and year.
fn changes(
    before: &kmapa_protect::output::ProtectedTier,
    after: &kmapa_protect::output::ProtectedTier,
) -> Vec<Change> {
    use kmapa_protect::CellStatus;
    use kmapa_protect::output::Counted;
    use std::collections::{BTreeMap, HashMap};
    let old: HashMap<_, _> = before
        .cells
        .iter()
        .map(|c| {
            (
                (c.layer, &c.unit, &c.measure, &c.group, c.counted, c.year),
                c,
            )
        })
        .collect();
    // (measure, persons or households, year) -> [values changed, newly hidden, newly
    // shown, hidden for a small change, new cells]
    let mut by: BTreeMap<(&str, Counted, u16), [usize; 5]> = BTreeMap::new();
    for c in &after.cells {
        let e = by
            .entry((c.measure.as_str(), c.counted, c.year))
            .or_default();
        match old.get(&(c.layer, &c.unit, &c.measure, &c.group, c.counted, c.year)) {
            None => e[4] += 1,
            Some(o) => {
                if o.value.is_some() && c.value.is_some() && o.value != c.value {
                    e[0] += 1;
                }
                if !o.status.is_hidden() && c.status.is_hidden() {
                    e[1] += 1;
                }
                if o.status.is_hidden() && !c.status.is_hidden() {
                    e[2] += 1;
                }
            }
        }
        if c.status == CellStatus::DifferenceSuppressed {
            e[3] += 1;
        }
    }
    by.into_iter()
        .filter(|(_, e)| e.iter().any(|&n| n > 0))
        .map(|((measure, counted, year), e)| Change {
            measure: match counted {
                Counted::Persons => measure.to_string(),
                Counted::Households => format!("{measure} (households)"),
            },
            year,
            values_changed: e[0],
            newly_hidden: e[1],
            hidden_for_a_small_change: e[3],
            newly_shown: e[2],
            new_cells: e[4],
        })
        .collect()
}

fn print_changes(changes: &[Change], number: u32) {
    if changes.is_empty() {
        println!("against snapshot {number}: nothing changed");
        return;
    }
    println!(
        "against snapshot {number} (the data changed: new, late or withdrawn batches, or another policy):"
    );
    for c in changes {
        println!(
            "  {} {}: {} values changed, {} newly hidden ({} because the change itself was a small count), {} newly shown, {} new cells",
            c.measure,
            c.year,
            c.values_changed,
            c.newly_hidden,
            c.hidden_for_a_small_change,
            c.newly_shown,
            c.new_cells
        );
    }
}

/// Refuses to serve a snapshot published under another policy than `policy_file`.
fn check_policy(snap: &Snapshot, policy_file: &std::path::Path) -> anyhow::Result<()> {
    let wanted = crate::cmd_protect::load_policy(policy_file)?;
    let frozen = crate::cmd_protect::load_policy(&snap.file(snapshot::POLICY))?;
    anyhow::ensure!(
        wanted == frozen,
        "{}: policy {:?} is not the one snapshot {} was published under ({:?}): run \
         `kmapa protect --policy {}` and `kmapa publish --policy {}` first, or serve without --policy",
        policy_file.display(),
        wanted.version,
        snap.manifest.number,
        frozen.version,
        policy_file.display(),
        policy_file.display()
    );
    Ok(())
}

/// The analyst tier of the snapshot: the per-atom counts and cell keys `kmapa protect`
/// made from the snapshot's batches (never a batch ingested after it; never a record),
/// with the queries its audit withheld, under its policy.
fn analyst(snap: &Snapshot) -> anyhow::Result<std::sync::Arc<dyn kmapa_serve::app::Analyst>> {
    let policy = crate::cmd_protect::load_policy(&snap.file(snapshot::POLICY))?;
    let again = "run `kmapa protect` and `kmapa publish` again, or serve with --no-analyst";
    let protection = snap.tier.analyst.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: this snapshot was published before the analyst tier was audited with the public one: {again}",
            snap.dir.display()
        )
    })?;
    let published = snap
        .manifest
        .files
        .get(snapshot::ANALYST_ATOMS)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: this snapshot has no {}: {again}",
                snap.dir.display(),
                snapshot::ANALYST_ATOMS
            )
        })?;
    anyhow::ensure!(
        *published == protection.atoms_sha256,
        "{}: {} is not the one the tier was protected with: {again}",
        snap.dir.display(),
        snapshot::ANALYST_ATOMS
    );
    let atoms = kmapa_cube::atoms::AnalystAtoms::read(&snap.file(snapshot::ANALYST_ATOMS))?;
    Ok(std::sync::Arc::new(kmapa_cube::analyst::CubeAnalyst::new(
        atoms,
        policy.analyst,
        &protection.withheld,
    )))
}

pub fn run_serve(a: &ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let settings = a.settings()?;
    let snap = Snapshot::load(&settings.data_dir, None)?;
    if let Some(p) = &settings.policy {
        check_policy(&snap, p)?;
    }
    // The analyst tier of each snapshot served (checked now, before serving).
    let analyst: Option<AnalystOf> = if settings.no_analyst {
        None
    } else {
        analyst(&snap)?;
        Some(std::sync::Arc::new(|s: &Snapshot| Ok(Some(analyst(s)?))))
    };
    // Batches for the admin panel: ingest with the vocabulary the snapshot was made with.
    let batches: std::sync::Arc<dyn kmapa_serve::admin_api::Batches> =
        std::sync::Arc::new(StoreBatches {
            data_dir: settings.data_dir.clone(),
            vocabulary: snap.file(kmapa_serve::snapshot::VOCABULARY),
            limit: a.upload_limit_mb.unwrap_or(2048).saturating_mul(1 << 20),
        });
    let vocabulary = snap.file(kmapa_serve::snapshot::VOCABULARY);
    let publishing = std::sync::Arc::new(StorePublishing {
        data_dir: settings.data_dir.clone(),
        policy: settings.policy.clone(),
        busy: std::sync::Mutex::new(()),
    });
    kmapa_serve::run(
        &settings.options,
        snap,
        kmapa_serve::Extras {
            analyst,
            batches: Some(batches),
            publishing: Some(publishing),
            directory: Some(std::sync::Arc::new(StoreDirectory {
                data_dir: settings.data_dir.clone(),
                vocabulary,
                busy: std::sync::Mutex::new(()),
            })),
        },
    )
}

/// The admin panel's institutions directory: `<data-dir>/institutions.csv`, started
/// from the city's file; every change is checked by the data contract (as the city's
/// file is: columns, codes, districts, a position inside the city) before it replaces
/// the file, whole. Retired institutions are kept beside it, with the reason.
struct StoreDirectory {
    data_dir: PathBuf,
    vocabulary: PathBuf,
    busy: std::sync::Mutex<()>,
}

const RETIRED_INSTITUTIONS: &str = "institutions-retired.csv";

impl StoreDirectory {
    fn city_dir(&self) -> Result<PathBuf, String> {
        crate::city::resolve(&self.data_dir, None)
            .map(|r| r.dir)
            .map_err(|e| format!("{e:#}"))
    }

    /// The directory now: the data directory's file, or else the city's.
    fn read(&self) -> Result<(csv::StringRecord, Vec<csv::StringRecord>), String> {
        let own = self.data_dir.join(OWN_INSTITUTIONS);
        let path = if own.exists() {
            own
        } else {
            self.city_dir()?.join(kmapa_geo::city::INSTITUTIONS_FILE)
        };
        if !path.exists() {
            let mut header = csv::StringRecord::new();
            for c in kmapa_model::institutions::COLUMNS
                .iter()
                .chain(&kmapa_model::institutions::OPTIONAL_COLUMNS)
            {
                header.push_field(c);
            }
            return Ok((header, Vec::new()));
        }
        let fail = |e: csv::Error| format!("{}: {e}", path.display());
        let mut r = csv::Reader::from_path(&path).map_err(fail)?;
        let header = r.headers().map_err(fail)?.clone();
        let rows = r.records().collect::<Result<Vec<_>, _>>().map_err(fail)?;
        Ok((header, rows))
    }

    /// Checks the whole directory by the data contract, then writes it.
    fn write(&self, header: &csv::StringRecord, rows: &[csv::StringRecord]) -> Result<(), String> {
        let path = self.data_dir.join(OWN_INSTITUTIONS);
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header).map_err(|e| e.to_string())?;
        for r in rows {
            w.write_record(r).map_err(|e| e.to_string())?;
        }
        let bytes = w.into_inner().map_err(|e| e.to_string())?;
        let vocabulary =
            kmapa_model::Vocabulary::read(&self.vocabulary).map_err(|e| e.to_string())?;
        let city =
            kmapa_geo::City::load(&self.city_dir()?, &vocabulary).map_err(|e| e.to_string())?;
        let table = kmapa_model::table::Table::parse(&path, &bytes).map_err(|e| e.to_string())?;
        let list = kmapa_model::institutions::from_table(&table, &vocabulary, &city.layer.codes())
            .map_err(|e| e.to_string())?;
        for (i, inst) in list.iter().enumerate() {
            if city.index.locate(inst.lon, inst.lat).is_none() {
                return Err(format!(
                    "{}: line {}, column lat/lon, value {}, {}: the institution lies outside the city: check the position (latitude, longitude, WGS84)",
                    path.display(),
                    i + 2,
                    inst.lat,
                    inst.lon
                ));
            }
        }
        kmapa_model::fsutil::write_atomically(&path, |f| std::io::Write::write_all(f, &bytes))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn record_json(header: &csv::StringRecord, row: &csv::StringRecord) -> serde_json::Value {
    serde_json::Value::Object(
        header
            .iter()
            .zip(row.iter())
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
    )
}

impl kmapa_serve::admin_api::Directory for StoreDirectory {
    fn geocode(&self, address: &str) -> Result<Result<(f64, f64), String>, String> {
        let vocabulary =
            kmapa_model::Vocabulary::read(&self.vocabulary).map_err(|e| e.to_string())?;
        let city =
            kmapa_geo::City::load(&self.city_dir()?, &vocabulary).map_err(|e| e.to_string())?;
        let Some(points) = city.addresses.as_ref().filter(|p| !p.is_empty()) else {
            return Ok(Err(
                "the city has no address points (addresses.csv; `kmapa city addresses --prg`): pick the position on the map".into(),
            ));
        };
        // As addresses are written in the directory ("ul. Prosta 63, 50-324"): the street
        // and number before the postcode.
        let street = address.split(',').next().unwrap_or(address);
        Ok(kmapa_geo::geocode::Geocoder::new(points)
            .geocode(street)
            .map_err(|e| format!("{address:?}: {e}")))
    }

    fn list(&self) -> Result<Vec<serde_json::Value>, String> {
        let (header, rows) = self.read()?;
        Ok(rows.iter().map(|r| record_json(&header, r)).collect())
    }

    fn csv(&self) -> Result<String, String> {
        let (header, rows) = self.read()?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header).map_err(|e| e.to_string())?;
        for r in &rows {
            w.write_record(r).map_err(|e| e.to_string())?;
        }
        String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    }

    fn save(
        &self,
        id: Option<&str>,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, String> {
        let _one = self.busy.lock().map_err(|e| e.to_string())?;
        let (header, mut rows) = self.read()?;
        let column = |name: &str| header.iter().position(|h| h == name);
        let id_col = column("id").ok_or("the institutions file has no id column")?;
        for name in fields.keys() {
            if column(name).is_none() {
                return Err(format!(
                    "{name:?} is not a column of institutions.csv (the columns: {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let at = match id {
            Some(id) => match rows.iter().position(|r| r.get(id_col) == Some(id)) {
                Some(i) => i,
                None => return Ok(None),
            },
            None => {
                // A new institution: an id of the file's pattern unless one is given.
                let next = (1..)
                    .map(|n| format!("INST-{n:03}"))
                    .find(|c| rows.iter().all(|r| r.get(id_col) != Some(c.as_str())))
                    .expect("a free id");
                let mut row: Vec<String> = vec![String::new(); header.len()];
                row[id_col] = next;
                if let Some(s) = column("synthetic") {
                    row[s] = "false".into();
                }
                rows.push(csv::StringRecord::from(row));
                rows.len() - 1
            }
        };
        let mut row: Vec<String> = rows[at].iter().map(str::to_string).collect();
        row.resize(header.len(), String::new());
        for (name, value) in fields {
            if id.is_some() && name == "id" {
                continue; // an institution keeps its id
            }
            let text = match value {
                serde_json::Value::String(s) => s.trim().to_string(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(list) => list
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            };
            row[column(name).expect("checked above")] = text;
        }
        rows[at] = csv::StringRecord::from(row);
        self.write(&header, &rows)?;
        Ok(Some(record_json(&header, &rows[at])))
    }

    fn retire(&self, id: &str, reason: &str) -> Result<Option<serde_json::Value>, String> {
        let _one = self.busy.lock().map_err(|e| e.to_string())?;
        let (header, mut rows) = self.read()?;
        let id_col = header
            .iter()
            .position(|h| h == "id")
            .ok_or("no id column")?;
        let Some(at) = rows.iter().position(|r| r.get(id_col) == Some(id)) else {
            return Ok(None);
        };
        let gone = rows.remove(at);
        let retired = self.data_dir.join(RETIRED_INSTITUTIONS);
        let fresh = !retired.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&retired)
            .map_err(|e| format!("{}: {e}", retired.display()))?;
        let mut w = csv::Writer::from_writer(file);
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if fresh {
            let mut h = header.clone();
            h.push_field("retired_at");
            h.push_field("retired_because");
            w.write_record(&h).map_err(|e| e.to_string())?;
        }
        let mut r = gone.clone();
        r.push_field(&when);
        r.push_field(reason);
        w.write_record(&r).map_err(|e| e.to_string())?;
        w.flush().map_err(|e| e.to_string())?;
        self.write(&header, &rows)?;
        Ok(Some(record_json(&header, &gone)))
    }
}

/// The admin panel's preview, publish and rollback, done on the data directory as
/// `kmapa protect` and `kmapa publish` do (one at a time).
struct StorePublishing {
    data_dir: PathBuf,
    /// The policy `kmapa serve --policy` names; otherwise the latest snapshot's.
    policy: Option<PathBuf>,
    busy: std::sync::Mutex<()>,
}

impl StorePublishing {
    /// Settings as for `kmapa protect`: the latest snapshot's policy (or the one served
    /// with) and vocabulary, the data directory's city.
    fn common(&self) -> Result<(crate::cmd_protect::Common, Snapshot), String> {
        let latest = Snapshot::load(&self.data_dir, None).map_err(|e| e.to_string())?;
        Ok((
            crate::cmd_protect::Common {
                data_dir: self.data_dir.clone(),
                policy: self
                    .policy
                    .clone()
                    .unwrap_or_else(|| latest.file(snapshot::POLICY)),
                city: None,
                vocabulary: latest.file(snapshot::VOCABULARY),
            },
            latest,
        ))
    }
}

fn manifest_json(m: &snapshot::Manifest) -> serde_json::Value {
    serde_json::json!({
        "number": m.number, "published_at": m.published_at, "policy_version": m.policy_version,
        "years": m.years, "hidden_cells": m.hidden_cells, "comment": m.comment, "copy_of": m.copy_of,
    })
}

impl kmapa_serve::admin_api::Publishing for StorePublishing {
    fn snapshots(&self) -> Result<Vec<serde_json::Value>, String> {
        let mut out = Vec::new();
        for n in snapshot::list(&self.data_dir).into_iter().rev() {
            let path = snapshot::dir(&self.data_dir, n).join(snapshot::MANIFEST);
            let m: snapshot::Manifest = serde_json::from_slice(
                &std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(manifest_json(&m));
        }
        Ok(out)
    }

    fn preview(&self) -> Result<serde_json::Value, String> {
        let _one = self.busy.lock().map_err(|e| e.to_string())?;
        let (common, latest) = self.common()?;
        crate::cmd_protect::run_protect(&crate::cmd_protect::ProtectArgs {
            common,
            json: false,
            quiet: true,
            explain: None,
            joint_measures: false,
        })
        .map_err(|e| format!("{e:#}"))?;
        let tier = read_protected(&self.data_dir).map_err(|e| format!("{e:#}"))?;
        let audit_path = self.data_dir.join(AUDIT_FILE);
        let audit: kmapa_protect::output::TierAudit = serde_json::from_slice(
            &std::fs::read(&audit_path).map_err(|e| format!("{}: {e}", audit_path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", audit_path.display()))?;
        Ok(serde_json::json!({
            "policy_version": tier.policy_version,
            "years": tier.summary.years,
            "layers": tier.summary.layers,
            "audit": { "passed": audit.passed(), "hidden_cells": audit.hidden_cells,
                       "failures": audit.failures },
            "against": latest.manifest.number,
            "same_as_latest": latest.tier == tier && same_institutions(&self.data_dir, &latest),
            "institutions_changed": !same_institutions(&self.data_dir, &latest),
            "changes": changes(&latest.tier, &tier),
        }))
    }

    fn preview_districts(
        &self,
        measure: &str,
        year: u16,
    ) -> Result<Option<serde_json::Value>, String> {
        if !self.data_dir.join(PROTECTED_FILE).exists() {
            return Ok(None);
        }
        let tier = read_protected(&self.data_dir).map_err(|e| format!("{e:#}"))?;
        let latest = Snapshot::load(&self.data_dir, None).map_err(|e| e.to_string())?;
        let wanted = |c: &&kmapa_protect::output::PublishedCell| {
            c.layer == kmapa_protect::output::LayerKind::Districts
                && c.measure == measure
                && c.year == year
                && c.group == "all"
                && c.counted.is_persons()
        };
        let before: std::collections::BTreeMap<&str, bool> = latest
            .tier
            .cells
            .iter()
            .filter(wanted)
            .map(|c| (c.unit.as_str(), c.status.is_hidden()))
            .collect();
        let units: Vec<serde_json::Value> = tier
            .cells
            .iter()
            .filter(wanted)
            .map(|c| {
                let hidden = c.status.is_hidden();
                serde_json::json!({
                    "unit": c.unit, "value": c.value, "hidden": hidden,
                    "newly_hidden": hidden && before.get(c.unit.as_str()) == Some(&false),
                })
            })
            .collect();
        Ok(Some(serde_json::json!({
            "category": measure, "year": year, "against": latest.manifest.number, "units": units,
        })))
    }

    fn publish(&self, comment: &str) -> Result<Option<serde_json::Value>, String> {
        let _one = self.busy.lock().map_err(|e| e.to_string())?;
        let (common, _) = self.common()?;
        if !self.data_dir.join(PROTECTED_FILE).exists() {
            return Ok(None);
        }
        match publish_tier(&common, false, Some(comment)).map_err(|e| format!("{e:#}"))? {
            Published::Already(_) => Ok(None),
            Published::New(new) => Ok(Some(manifest_json(&new.0))),
        }
    }

    fn rollback(&self, number: u32, comment: &str) -> Result<Option<serde_json::Value>, String> {
        let _one = self.busy.lock().map_err(|e| e.to_string())?;
        Ok(snapshot::republish(&self.data_dir, number, Some(comment))
            .map_err(|e| e.to_string())?
            .as_ref()
            .map(manifest_json))
    }
}

/// The admin panel's batches, done on the data directory's store (the HTTP crate
/// hands over an upload's path and never reads a record).
struct StoreBatches {
    data_dir: PathBuf,
    vocabulary: PathBuf,
    limit: u64,
}

/// Rejected rows shown to an administrator: line, column and reason, and the value
/// only where it cannot be an identifier.
const SHOWN_REJECTS: usize = 50;

fn shown_rejects(path: &std::path::Path) -> Vec<serde_json::Value> {
    let Ok(mut r) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    r.records()
        .filter_map(Result::ok)
        .take(SHOWN_REJECTS)
        .map(|rec| {
            let (line, column, value, reason) = (&rec[0], &rec[1], &rec[2], &rec[3]);
            let identifier = ["person_id", "household_id", "pesel", "id"].contains(&column)
                || value.bytes().filter(u8::is_ascii_digit).count() >= 9;
            serde_json::json!({
                "line": line.parse::<u64>().ok(), "column": column, "reason": reason,
                "value": if identifier { None } else { Some(value) },
            })
        })
        .collect()
}

impl kmapa_serve::admin_api::Batches for StoreBatches {
    fn list(&self) -> Result<Vec<serde_json::Value>, String> {
        if !self.data_dir.join("catalog.sqlite").exists() {
            return Ok(Vec::new());
        }
        let store = kmapa_ingest::Store::open(&self.data_dir).map_err(|e| e.to_string())?;
        let mut list = store.list().map_err(|e| e.to_string())?;
        list.reverse();
        Ok(list
            .into_iter()
            .map(|b| serde_json::to_value(b).unwrap_or_default())
            .collect())
    }

    fn set_withdrawn(
        &self,
        id: i64,
        withdraw: bool,
        reason: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        let mut store =
            kmapa_ingest::Store::open_for_writing(&self.data_dir).map_err(|e| e.to_string())?;
        if !store
            .list()
            .map_err(|e| e.to_string())?
            .iter()
            .any(|b| b.id == id)
        {
            return Ok(None);
        }
        let b = if withdraw {
            store.withdraw(id, reason)
        } else {
            store.restore(id, reason)
        }
        .map_err(|e| e.to_string())?;
        Ok(Some(serde_json::to_value(b).unwrap_or_default()))
    }

    fn ingest(&self, path: &std::path::Path, name: &str) -> Result<serde_json::Value, String> {
        let run = || -> anyhow::Result<serde_json::Value> {
            // The upload, renamed to a safe form of its name (the catalogue keeps it) in
            // a directory of its own: no part of the name reaches a path but this.
            let safe: String = name
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or("upload")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .take(100)
                .collect::<String>()
                .trim_start_matches('.')
                .to_string();
            let safe = if safe.is_empty() {
                "upload.csv".to_string()
            } else {
                safe
            };
            let dir = path.with_extension("d");
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(&safe);
            std::fs::rename(path, &file)?;
            let result = (|| {
                let vocabulary = kmapa_model::Vocabulary::read(&self.vocabulary)?;
                let resolved = crate::city::resolve(&self.data_dir, None)?;
                let city = kmapa_geo::City::load(&resolved.dir, &vocabulary)?;
                let ctx = kmapa_ingest::IngestContext::new(&vocabulary, &city);
                let opts = kmapa_ingest::IngestOptions::default();
                let mut store = kmapa_ingest::Store::open_for_writing(&self.data_dir)?;
                let summary =
                    kmapa_ingest::ingest_file(&mut store, &file, &ctx, &opts, &|_, _| {})?;
                if summary.rows_accepted > 0 {
                    resolved.bind_with(&store, &self.data_dir, true)?;
                }
                let rejects = shown_rejects(
                    &store
                        .record_file(&summary.batch)
                        .with_file_name(kmapa_ingest::store::REJECTS_FILE),
                );
                let mut v = serde_json::to_value(&summary)?;
                v["file"] = serde_json::Value::String(safe.clone());
                v["rejects"] = serde_json::Value::Array(rejects);
                v["rejects_shown_at_most"] = SHOWN_REJECTS.into();
                Ok(v)
            })();
            let _ = std::fs::remove_dir_all(&dir);
            result
        };
        run().map_err(|e| format!("{e:#}"))
    }

    fn upload_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    fn upload_limit(&self) -> u64 {
        self.limit
    }
}

#[derive(Args)]
pub struct UsersArgs {
    /// Data directory (where users.sqlite lives).
    #[arg(long, default_value = "kmapa-data", global = true)]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub action: UsersAction,
}

#[derive(clap::Subcommand)]
pub enum UsersAction {
    /// Add a user and print their token (shown once; only its hash is stored).
    Add {
        name: String,
        /// public, analyst, admin, or metrics (reads /metrics only, for Prometheus).
        #[arg(long, default_value = "analyst")]
        role: String,
    },
    /// Remove a user (their token stops working at once).
    Remove { name: String },
    /// List users and roles (never tokens).
    List,
}

pub fn run_users(a: &UsersArgs) -> anyhow::Result<()> {
    let users = kmapa_serve::users::Users::open(&a.data_dir)?;
    match &a.action {
        UsersAction::Add { name, role } => {
            let r = kmapa_serve::users::Role::parse(role).ok_or_else(|| {
                anyhow::anyhow!("--role {role:?}: use public, analyst, admin or metrics")
            })?;
            let token = users.add(name, r)?;
            users.log("cli", "add user", &format!("{name} ({})", r.code()), "done")?;
            println!(
                "added {name} ({}). Token, shown only now:\n{token}",
                r.code()
            );
        }
        UsersAction::Remove { name } => {
            let removed = users.remove(name)?;
            users.log(
                "cli",
                "revoke user",
                name,
                if removed { "done" } else { "no such user" },
            )?;
            anyhow::ensure!(removed, "no user named {name:?}");
            println!("removed {name}");
        }
        UsersAction::List => {
            for (name, role, created) in users.list()? {
                println!("{name}\t{role}\t{created}");
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Data directory (the embedded store, with its snapshots).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// Snapshot to export (default: the latest).
    #[arg(long)]
    pub snapshot: Option<u32>,
    /// Directory to write (must not exist, or be empty).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_export(a: &ExportArgs) -> anyhow::Result<()> {
    let snap = Snapshot::load(&a.data_dir, a.snapshot)?;
    let served = kmapa_serve::data::Served::from_snapshot(&snap)?;
    let files = kmapa_serve::export::export(&served, &a.out)?;
    println!(
        "exported snapshot {} ({} files) to {}: serve it with any static web server",
        snap.manifest.number,
        files.len(),
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_settings_come_from_flags_then_the_config_file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kmapa.toml");
        std::fs::write(
            &cfg,
            "data_dir = \"/srv/kmapa\"\naddress = \"0.0.0.0:9000\"\ncors_origins = [\"https://www.wroclaw.pl\"]\nrate_limit = 5\nno_analyst = true\nbasemap_style = \"https://tiles.example.org/style.json\"\npublic_url = \"https://mapa.wroclaw.pl/kmapa\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
        )
        .unwrap();
        let from_file = ServeArgs {
            config: Some(cfg.clone()),
            ..Default::default()
        }
        .settings()
        .unwrap();
        assert_eq!(from_file.data_dir, PathBuf::from("/srv/kmapa"));
        assert_eq!(from_file.options.address, "0.0.0.0:9000");
        assert_eq!(from_file.options.cors_origins, ["https://www.wroclaw.pl"]);
        assert_eq!(from_file.options.rate_limit, 5);
        assert!(from_file.no_analyst);
        assert_eq!(
            from_file.options.basemap_style.as_deref(),
            Some("https://tiles.example.org/style.json")
        );
        assert_eq!(
            from_file.options.public_url.as_deref(),
            Some("https://mapa.wroclaw.pl/kmapa")
        );
        assert_eq!(
            from_file.options.trusted_proxies,
            ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        let bad = ServeArgs {
            public_url: Some("mapa.wroclaw.pl".into()),
            ..Default::default()
        };
        assert!(
            bad.settings().is_err(),
            "a public URL without a scheme is refused"
        );
        // Flags win over the file.
        let flags = ServeArgs {
            config: Some(cfg.clone()),
            address: Some("127.0.0.1:8081".into()),
            rate_limit: Some(0),
            ..Default::default()
        }
        .settings()
        .unwrap();
        assert_eq!(
            (flags.options.address.as_str(), flags.options.rate_limit),
            ("127.0.0.1:8081", 0)
        );
        assert_eq!(flags.data_dir, PathBuf::from("/srv/kmapa"));
        // Defaults without either.
        let none = ServeArgs::default().settings().unwrap();
        assert_eq!(none.options.max_in_flight, 16);
        assert_eq!(
            (
                none.data_dir,
                none.options.address,
                none.options.rate_limit,
                none.no_analyst
            ),
            (
                PathBuf::from("kmapa-data"),
                "127.0.0.1:8080".into(),
                0,
                false
            )
        );
        assert!(none.options.basemap_style.is_none());
        // A misspelt setting is refused, naming the file and the known ones.
        std::fs::write(&cfg, "adress = \"0.0.0.0:1\"\n").unwrap();
        let e = ServeArgs {
            config: Some(cfg.clone()),
            ..Default::default()
        }
        .settings()
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("kmapa.toml") && e.contains("adress") && e.contains("known settings"),
            "{e}"
        );
    }
}

#[derive(Args)]
pub struct InstitutionsArgs {
    /// Data directory (bound to its city).
    #[arg(long, default_value = "kmapa-data", global = true)]
    pub data_dir: PathBuf,
    /// The vocabulary the problems served are checked against.
    #[arg(long, default_value = "data/categories.csv", global = true)]
    pub vocabulary: PathBuf,
    #[command(subcommand)]
    pub action: InstitutionsAction,
}

#[derive(clap::Subcommand)]
pub enum InstitutionsAction {
    /// List the institutions the next publish will hold (the data directory's own
    /// directory, or the city's file until it has one).
    List,
    /// Write the directory as CSV to FILE (`-`: standard output).
    Export { file: PathBuf },
    /// Replace the directory by FILE, checked whole by the data contract first.
    Import { file: PathBuf },
    /// Retire an institution (kept with the reason in institutions-retired.csv).
    Retire {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

/// `kmapa institutions`: the admin panel's institutions directory from the command line.
pub fn run_institutions(a: &InstitutionsArgs) -> anyhow::Result<()> {
    use kmapa_serve::admin_api::Directory;
    let d = StoreDirectory {
        data_dir: a.data_dir.clone(),
        vocabulary: a.vocabulary.clone(),
        busy: std::sync::Mutex::new(()),
    };
    let users = kmapa_serve::users::Users::open(&a.data_dir)?;
    let fail = |e: String| anyhow::anyhow!(e);
    match &a.action {
        InstitutionsAction::List => {
            for i in d.list().map_err(fail)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    i["id"].as_str().unwrap_or(""),
                    i["type"].as_str().unwrap_or(""),
                    i["name"].as_str().unwrap_or(""),
                    i["address"].as_str().unwrap_or("")
                );
            }
        }
        InstitutionsAction::Export { file } => {
            let csv = d.csv().map_err(fail)?;
            if file.as_os_str() == "-" {
                print!("{csv}");
            } else {
                kmapa_model::fsutil::write_atomically(file, |f| {
                    std::io::Write::write_all(f, csv.as_bytes())
                })
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            }
        }
        InstitutionsAction::Import { file } => {
            let fail_csv = |e: csv::Error| anyhow::anyhow!("{}: {e}", file.display());
            let mut r = csv::Reader::from_path(file).map_err(fail_csv)?;
            let header = r.headers().map_err(fail_csv)?.clone();
            let rows = r
                .records()
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail_csv)?;
            let name = file.display().to_string();
            if let Err(e) = d.write(&header, &rows) {
                users.log(
                    "cli",
                    "import institutions",
                    &name,
                    "refused by the data contract",
                )?;
                anyhow::bail!(e);
            }
            users.log("cli", "import institutions", &name, "done")?;
            println!(
                "{} institutions kept in {} (published with the next snapshot)",
                rows.len(),
                a.data_dir.join(OWN_INSTITUTIONS).display()
            );
        }
        InstitutionsAction::Retire { id, reason } => {
            match d.retire(id, reason).map_err(fail)? {
                Some(_) => users.log(
                    "cli",
                    "retire institution",
                    &format!("{id}: {reason}"),
                    "done",
                )?,
                None => {
                    users.log("cli", "retire institution", id, "no such institution")?;
                    anyhow::bail!("no institution {id:?} in the directory");
                }
            }
            println!("{id} retired (published with the next snapshot)");
        }
    }
    Ok(())
}

//! A data directory is bound to one city: the first ingest that accepts a row (or
//! `kmapa init`) records it in the store, by the fingerprint of its files; every later
//! command uses it without `--city`, and refuses another city with a message naming
//! both. No city is ever assumed: records of one city counted in another city's
//! districts would give wrong numbers without any error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kmapa_geo::city::CityId;
use kmapa_ingest::store::Store;

/// The demo city (`kmapa demo`).
pub const DEMO_CITY: &str = "data/wroclaw";

/// The city directory to use with `data_dir`, and the binding still to record (for a
/// data directory bound to no city yet).
pub struct Resolved {
    pub dir: PathBuf,
    pub id: CityId,
    pub unbound: bool,
}

impl Resolved {
    /// Records the binding if the data directory had none.
    pub fn bind_if_new(&self, data_dir: &Path, quiet: bool) -> anyhow::Result<()> {
        if !self.unbound {
            return Ok(());
        }
        self.bind_with(&Store::open_for_writing(data_dir)?, data_dir, quiet)
    }

    /// As [`Resolved::bind_if_new`], through a store already open for writing.
    pub fn bind_with(&self, store: &Store, data_dir: &Path, quiet: bool) -> anyhow::Result<()> {
        if !self.unbound {
            return Ok(());
        }
        store.bind_city(&absolute(&self.dir), &self.id)?;
        if !quiet {
            eprintln!(
                "{}: bound to the city in {}, {}; later commands use it without --city",
                data_dir.display(),
                self.dir.display(),
                self.id
            );
        }
        Ok(())
    }
}

fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The city of `data_dir`: the one it is bound to (checked against `given`, and
/// against its files as they are now), or, for a data directory bound to none yet,
/// `given` (which must then be given: no city is assumed).
pub fn resolve(data_dir: &Path, given: Option<&Path>) -> anyhow::Result<Resolved> {
    let bound = if data_dir.join("catalog.sqlite").exists() {
        Store::open(data_dir)?.bound_city()?
    } else {
        None
    };
    match (bound, given) {
        (Some((path, id)), Some(g)) if absolute(g) != path => {
            let now = CityId::of(g)?;
            anyhow::ensure!(
                now.fingerprint == id.fingerprint,
                "{}: this data directory holds the data of the city {id} (from {}); --city {} is another city, {now}. \
                 Leave --city out (the data directory remembers its city), or use another --data-dir for {}",
                data_dir.display(),
                path.display(),
                g.display(),
                now.name
            );
            Ok(Resolved {
                dir: g.to_path_buf(),
                id,
                unbound: false,
            })
        }
        // Bound, and given the same directory or none: its files must be as bound.
        (Some((path, id)), _) => {
            let now = CityId::of(&path).with_context(|| {
                format!(
                    "{}: the city this data directory is bound to ({id}) cannot be read at {} any more: pass --city DIR with the same files",
                    data_dir.display(),
                    path.display()
                )
            })?;
            anyhow::ensure!(
                now.fingerprint == id.fingerprint,
                "{}: the city files changed since {} was bound to them (then {id}, now {now}). If that is intended \
                 (new population figures, corrected boundaries), bind again with `kmapa init --city {} --data-dir {} --rebind`, \
                 then protect and publish",
                path.display(),
                data_dir.display(),
                path.display(),
                data_dir.display()
            );
            Ok(Resolved {
                dir: path,
                id,
                unbound: false,
            })
        }
        (None, Some(g)) => {
            // Binding accepts the city: its boundaries must be usable.
            let layer = kmapa_geo::districts::DistrictLayer::read(
                &g.join(kmapa_geo::city::DISTRICTS_FILE),
            )?;
            crate::cmd_validate::geometry(&layer, false)?;
            Ok(Resolved {
                dir: g.to_path_buf(),
                id: CityId::of(g)?,
                unbound: true,
            })
        }
        (None, None) => anyhow::bail!(
            "{}: this data directory is bound to no city yet: pass --city DIR (the directory with the city's \
             districts.geojson; the demo city is --city {DEMO_CITY}). It is remembered: later commands need no --city",
            data_dir.display()
        ),
    }
}

#[derive(Args)]
pub struct InitArgs {
    /// The city directory (districts.geojson, population.csv, addresses.csv,
    /// institutions.csv), e.g. data/wroclaw or one made with `kmapa gen-city`.
    #[arg(long)]
    pub city: PathBuf,
    /// Data directory to bind to it (made if absent).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// Bind again to changed files of the city (new population figures, corrected
    /// boundaries); never to another city's.
    #[arg(long)]
    pub rebind: bool,
}

/// `kmapa init`: binds a data directory to a city.
pub fn run_init(a: &InitArgs) -> anyhow::Result<()> {
    let id = CityId::of(&a.city)?;
    crate::cmd_validate::geometry(
        &kmapa_geo::districts::DistrictLayer::read(&a.city.join(kmapa_geo::city::DISTRICTS_FILE))?,
        true,
    )?;
    let store = Store::open_for_writing(&a.data_dir)?;
    if let Some((path, bound)) = store.bound_city()? {
        if bound.fingerprint == id.fingerprint {
            println!("{}: already bound to this city, {id}", a.data_dir.display());
            return Ok(());
        }
        anyhow::ensure!(
            a.rebind && bound.name == id.name,
            "{}: bound to the city {bound} (from {}); {} is {id}. {}",
            a.data_dir.display(),
            path.display(),
            a.city.display(),
            if a.rebind {
                "--rebind takes changed files of the same city (same directory name), never another city's: use another --data-dir"
            } else {
                "Use another --data-dir for another city; for changed files of the same city, add --rebind"
            }
        );
    }
    store.bind_city(&absolute(&a.city), &id)?;
    println!(
        "{}: bound to the city in {}, {id}",
        a.data_dir.display(),
        a.city.display()
    );
    Ok(())
}

//! The embedded store: a data directory holding one immutable batch per ingested file
//! (records as Parquet, rejects as CSV) and a SQLite catalogue of the batches.
//!
//! ```text
//! DATA/catalog.sqlite            batches: checksum, file, source, time, counts, status;
//!                                the city the directory is bound to
//! DATA/batches/<checksum16>/     records.parquet, rejects.csv
//! DATA/.lock                     one writer at a time
//! ```
//!
//! A batch becomes visible only when its catalogue row is committed, after its
//! directory is complete, synced and renamed into place. Anything else under
//! `batches/` (a `.partial-*` directory, or a directory without a catalogue row) is
//! debris of an interrupted ingest and is removed when the store is next opened for
//! writing. So a crash or `kill -9` at any point leaves no partial batch visible.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::IngestError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    checksum TEXT NOT NULL UNIQUE,
    dir TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sources TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_accepted INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    records INTEGER NOT NULL,
    synthetic INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    h3_resolution INTEGER NOT NULL,
    top_reasons TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    withdrawn_at TEXT,
    withdraw_reason TEXT,
    kmapa_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS city (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    path TEXT NOT NULL,
    identity TEXT NOT NULL,
    bound_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// A batch as the catalogue records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchInfo {
    pub id: i64,
    pub checksum: String,
    pub dir: String,
    pub file_name: String,
    pub sources: String,
    pub ingested_at: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub records: u64,
    pub synthetic: bool,
    pub encoding: String,
    pub h3_resolution: u8,
    pub top_reasons: String,
    pub status: String,
    pub withdrawn_at: Option<String>,
    pub withdraw_reason: Option<String>,
}

/// What a new batch records in the catalogue.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub checksum: String,
    pub file_name: String,
    pub sources: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub records: u64,
    pub synthetic: bool,
    pub encoding: String,
    pub h3_resolution: u8,
    pub top_reasons: String,
}

/// A change of a batch's status.
#[derive(Clone, Copy)]
enum Change {
    Withdraw,
    Restore,
}

pub struct Store {
    root: PathBuf,
    db: Connection,
    _lock: Option<File>,
}

pub const RECORDS_FILE: &str = "records.parquet";
pub const REJECTS_FILE: &str = "rejects.csv";

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn store_err(root: &Path, message: impl Into<String>) -> IngestError {
    IngestError::Store {
        path: root.display().to_string(),
        message: message.into(),
    }
}

impl Store {
    /// Opens (creating if needed) a store for writing: takes the lock and clears debris.
    pub fn open_for_writing(root: &Path) -> Result<Self, IngestError> {
        fs::create_dir_all(root.join("batches"))
            .map_err(|e| store_err(root, format!("cannot create: {e}")))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(".lock"))
            .map_err(|e| store_err(root, format!("cannot open the lock file: {e}")))?;
        lock.try_lock().map_err(|_| {
            store_err(
                root,
                "another kmapa process is writing to this data directory; wait for it to finish",
            )
        })?;
        let store = Self::connect(root, Some(lock))?;
        store.clear_debris()?;
        Ok(store)
    }

    /// Opens an existing store for reading.
    pub fn open(root: &Path) -> Result<Self, IngestError> {
        if !root.join("catalog.sqlite").exists() {
            return Err(store_err(
                root,
                "no catalogue here: ingest a file first (kmapa ingest FILE)",
            ));
        }
        Self::connect(root, None)
    }

    fn connect(root: &Path, lock: Option<File>) -> Result<Self, IngestError> {
        let db = Connection::open(root.join("catalog.sqlite"))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(SCHEMA)?;
        Ok(Self {
            root: root.to_path_buf(),
            db,
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The city this data directory is bound to: its directory as given when bound,
    /// and its identity then.
    pub fn bound_city(&self) -> Result<Option<(PathBuf, kmapa_geo::city::CityId)>, IngestError> {
        let row: Option<(String, String)> = self
            .db
            .query_row("SELECT path, identity FROM city WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(path, identity)| {
            serde_json::from_str(&identity)
                .map(|id| (PathBuf::from(path), id))
                .map_err(|e| store_err(&self.root, format!("the recorded city is unreadable: {e}")))
        })
        .transpose()
    }

    /// Binds this data directory to a city (replacing any earlier binding).
    pub fn bind_city(&self, dir: &Path, id: &kmapa_geo::city::CityId) -> Result<(), IngestError> {
        let identity = serde_json::to_string(id).expect("plain data");
        self.db.execute(
            "INSERT OR REPLACE INTO city (id, path, identity, bound_at) VALUES (1, ?1, ?2, ?3)",
            params![dir.display().to_string(), identity, now()],
        )?;
        Ok(())
    }

    /// Removes whatever an interrupted ingest left under `batches/`.
    fn clear_debris(&self) -> Result<(), IngestError> {
        let known: std::collections::HashSet<String> = self
            .db
            .prepare("SELECT dir FROM batches")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        for entry in fs::read_dir(self.root.join("batches"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// The batch with this checksum, if any.
    pub fn find(&self, checksum: &str) -> Result<Option<BatchInfo>, IngestError> {
        Ok(self
            .db
            .query_row(
                &format!("{SELECT} WHERE checksum = ?1"),
                [checksum],
                row_to_info,
            )
            .optional()?)
    }

    pub fn list(&self) -> Result<Vec<BatchInfo>, IngestError> {
        let mut stmt = self.db.prepare(&format!("{SELECT} ORDER BY id"))?;
        let rows = stmt.query_map([], row_to_info)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A fresh hidden directory to write a batch into.
    pub fn partial_dir(&self) -> Result<PathBuf, IngestError> {
        let dir = self.root.join("batches").join(format!(
            ".partial-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Makes a batch visible: syncs its files, renames the directory into place and
    /// commits the catalogue row.
    pub fn commit(&mut self, partial: &Path, batch: &NewBatch) -> Result<BatchInfo, IngestError> {
        for entry in fs::read_dir(partial)? {
            File::open(entry?.path())?.sync_all()?;
        }
        let dir_name = batch.checksum[..16].to_string();
        let target = self.root.join("batches").join(&dir_name);
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        fs::rename(partial, &target)?;
        File::open(self.root.join("batches"))?.sync_all()?;
        let tx = self.db.transaction()?;
        tx.execute(
            "INSERT INTO batches (checksum, dir, file_name, sources, ingested_at, rows_read, rows_accepted,
                rows_rejected, records, synthetic, encoding, h3_resolution, top_reasons, kmapa_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                batch.checksum,
                dir_name,
                batch.file_name,
                batch.sources,
                now(),
                batch.rows_read as i64,
                batch.rows_accepted as i64,
                batch.rows_rejected as i64,
                batch.records as i64,
                batch.synthetic,
                batch.encoding,
                batch.h3_resolution,
                batch.top_reasons,
                env!("CARGO_PKG_VERSION"),
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO events (batch_id, at, event, detail) VALUES (?1, ?2, 'ingested', ?3)",
            params![id, now(), batch.file_name],
        )?;
        tx.commit()?;
        self.find(&batch.checksum)?
            .ok_or_else(|| store_err(&self.root, "batch vanished after commit"))
    }

    /// Withdraws a batch: it stays on disk and in the catalogue, marked withdrawn with
    /// the time and the reason, and is no longer used.
    pub fn withdraw(&mut self, id: i64, reason: &str) -> Result<BatchInfo, IngestError> {
        self.change_status(id, reason, Change::Withdraw)
    }

    /// Restores a withdrawn batch (withdrawn by mistake): it is used again; the
    /// withdrawal and the restoration stay in its history.
    pub fn restore(&mut self, id: i64, reason: &str) -> Result<BatchInfo, IngestError> {
        self.change_status(id, reason, Change::Restore)
    }

    /// Withdraws or restores a batch in one transaction, with an event recording why.
    fn change_status(
        &mut self,
        id: i64,
        reason: &str,
        change: Change,
    ) -> Result<BatchInfo, IngestError> {
        let (verb, event) = match change {
            Change::Withdraw => ("withdrawing", "withdrawn"),
            Change::Restore => ("restoring", "restored"),
        };
        if reason.trim().is_empty() {
            return Err(store_err(
                &self.root,
                format!("give a reason for {verb} (--reason)"),
            ));
        }
        let tx = self.db.transaction()?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM batches WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let refusal = match (status.as_deref(), change) {
            (None, _) => Some(format!("there is no batch {id} (see kmapa batches)")),
            (Some("withdrawn"), Change::Withdraw) => {
                Some(format!("batch {id} is already withdrawn"))
            }
            (Some("withdrawn"), Change::Restore) | (Some(_), Change::Withdraw) => None,
            (Some(other), Change::Restore) => Some(format!(
                "batch {id} is {other}, not withdrawn: nothing to restore"
            )),
        };
        if let Some(message) = refusal {
            return Err(store_err(&self.root, message));
        }
        let at = now();
        match change {
            Change::Withdraw => tx.execute(
                "UPDATE batches SET status = 'withdrawn', withdrawn_at = ?2, withdraw_reason = ?3 WHERE id = ?1",
                params![id, at, reason],
            )?,
            Change::Restore => tx.execute(
                "UPDATE batches SET status = 'active', withdrawn_at = NULL, withdraw_reason = NULL WHERE id = ?1",
                params![id],
            )?,
        };
        tx.execute(
            "INSERT INTO events (batch_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, at, event, reason],
        )?;
        tx.commit()?;
        self.list()?
            .into_iter()
            .find(|b| b.id == id)
            .ok_or_else(|| store_err(&self.root, "batch vanished"))
    }

    /// The records file of a batch (also of a withdrawn one: withdrawal keeps it).
    pub fn record_file(&self, batch: &BatchInfo) -> PathBuf {
        self.root
            .join("batches")
            .join(&batch.dir)
            .join(RECORDS_FILE)
    }

    /// Checksums of the active batches, in catalogue order.
    pub fn active_checksums(&self) -> Result<Vec<String>, IngestError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|b| b.status == "active")
            .map(|b| b.checksum)
            .collect())
    }

    /// Paths of the records of every active batch.
    pub fn active_record_files(&self) -> Result<Vec<PathBuf>, IngestError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|b| b.status == "active")
            .map(|b| self.root.join("batches").join(b.dir).join(RECORDS_FILE))
            .collect())
    }
}

const SELECT: &str =
    "SELECT id, checksum, dir, file_name, sources, ingested_at, rows_read, rows_accepted,
    rows_rejected, records, synthetic, encoding, h3_resolution, top_reasons, status, withdrawn_at,
    withdraw_reason FROM batches";

fn row_to_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchInfo> {
    Ok(BatchInfo {
        id: r.get(0)?,
        checksum: r.get(1)?,
        dir: r.get(2)?,
        file_name: r.get(3)?,
        sources: r.get(4)?,
        ingested_at: r.get(5)?,
        rows_read: r.get::<_, i64>(6)? as u64,
        rows_accepted: r.get::<_, i64>(7)? as u64,
        rows_rejected: r.get::<_, i64>(8)? as u64,
        records: r.get::<_, i64>(9)? as u64,
        synthetic: r.get(10)?,
        encoding: r.get(11)?,
        h3_resolution: r.get(12)?,
        top_reasons: r.get(13)?,
        status: r.get(14)?,
        withdrawn_at: r.get(15)?,
        withdraw_reason: r.get(16)?,
    })
}

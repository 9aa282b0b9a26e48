//! Users of the analyst tier: bearer tokens, stored hashed (SHA-256) in
//! `<data-dir>/users.sqlite`. A token is shown once, when the user is added.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

pub const USERS_FILE: &str = "users.sqlite";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Signed in, but sees only what the public sees.
    Public,
    /// The analyst tier: perturbed counts at finer resolutions and by breakdown.
    Analyst,
    Admin,
    /// Reads `/metrics` only (a Prometheus scraper).
    Metrics,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
            Role::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "public" => Some(Role::Public),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            "metrics" => Some(Role::Metrics),
            _ => None,
        }
    }

    /// May read the analyst tier.
    pub fn is_analyst(self) -> bool {
        matches!(self, Role::Analyst | Role::Admin)
    }

    /// May read `/metrics` (request counts per route, cache hits).
    pub fn reads_metrics(self) -> bool {
        matches!(self, Role::Metrics | Role::Admin)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("{0}: {1}")]
    Db(String, rusqlite::Error),
    #[error("a user named {0:?} exists already: remove them first or choose another name")]
    Exists(String),
    #[error("user names are 1–64 letters, digits, '.', '-', '_' or '@'; got {0:?}")]
    BadName(String),
}

/// One entry of the administrative log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub result: String,
}

pub struct Users {
    path: String,
    conn: Mutex<Connection>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Users {
    pub fn open(data_dir: &Path) -> Result<Self, UsersError> {
        let path = data_dir.join(USERS_FILE);
        let p = path.display().to_string();
        std::fs::create_dir_all(data_dir).ok();
        let conn = Connection::open(&path).map_err(|e| UsersError::Db(p.clone(), e))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                token_sha256 TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
            );
            CREATE TABLE IF NOT EXISTS admin_log (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                result TEXT NOT NULL
            );",
        )
        .map_err(|e| UsersError::Db(p.clone(), e))?;
        Ok(Users {
            path: p,
            conn: Mutex::new(conn),
        })
    }

    /// Adds a user and returns their token (shown once; only its hash is kept).
    pub fn add(&self, name: &str, role: Role) -> Result<String, UsersError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "._-@".contains(c));
        if !ok {
            return Err(UsersError::BadName(name.to_string()));
        }
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let token = format!("kmapa_{}", hex::encode(bytes));
        let conn = self.conn.lock().expect("users lock");
        let exists: Option<String> = conn
            .query_row("SELECT name FROM users WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        if exists.is_some() {
            return Err(UsersError::Exists(name.to_string()));
        }
        conn.execute(
            "INSERT INTO users (name, role, token_sha256) VALUES (?1, ?2, ?3)",
            params![name, role.code(), hash(&token)],
        )
        .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        Ok(token)
    }

    pub fn remove(&self, name: &str) -> Result<bool, UsersError> {
        let conn = self.conn.lock().expect("users lock");
        let n = conn
            .execute("DELETE FROM users WHERE name = ?1", [name])
            .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        Ok(n > 0)
    }

    /// (name, role, created at), by name.
    pub fn list(&self) -> Result<Vec<(String, String, String)>, UsersError> {
        let conn = self.conn.lock().expect("users lock");
        let mut st = conn
            .prepare("SELECT name, role, created_at FROM users ORDER BY name")
            .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| UsersError::Db(self.path.clone(), e))
    }

    /// The name and role of the holder of `token`, if it is one.
    pub fn user_of(&self, token: &str) -> Option<(String, Role)> {
        let conn = self.conn.lock().expect("users lock");
        conn.query_row(
            "SELECT name, role FROM users WHERE token_sha256 = ?1",
            [hash(token)],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .ok()
        .flatten()
        .and_then(|(n, r)| Some((n, Role::parse(&r)?)))
    }

    /// Records an administrative action: who (a user's name, or `cli` for the command
    /// line), what, on what, and how it ended.
    pub fn log(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        result: &str,
    ) -> Result<(), UsersError> {
        let conn = self.conn.lock().expect("users lock");
        conn.execute(
            "INSERT INTO admin_log (actor, action, target, result) VALUES (?1, ?2, ?3, ?4)",
            params![actor, action, target, result],
        )
        .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        Ok(())
    }

    /// The administrative log, newest first, at most `limit` entries.
    pub fn log_entries(&self, limit: usize) -> Result<Vec<LogEntry>, UsersError> {
        let conn = self.conn.lock().expect("users lock");
        let mut st = conn
            .prepare(
                "SELECT at, actor, action, target, result FROM admin_log ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        let rows = st
            .query_map([limit as i64], |r| {
                Ok(LogEntry {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    result: r.get(4)?,
                })
            })
            .map_err(|e| UsersError::Db(self.path.clone(), e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| UsersError::Db(self.path.clone(), e))
    }

    /// The role of the holder of `token`, if it is one.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let conn = self.conn.lock().expect("users lock");
        conn.query_row(
            "SELECT role FROM users WHERE token_sha256 = ?1",
            [hash(token)],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .ok()
        .flatten()
        .and_then(|r| Role::parse(&r))
    }
}

//! The administrators' API (`/admin/api/…`), which the admin panel (`/admin`) is a
//! client of: users (list, add with a token shown once, revoke) and the log of every
//! administrative action (who, when, what, on what, result), also as CSV. Every route
//! needs a bearer token of the `admin` role: 401 without a valid one, 403 for any other
//! role. Bearer tokens only, never cookies, so a page elsewhere cannot act in an
//! administrator's name (no CSRF). Answers are never cached.
//!
//! Batches (upload, withdraw, restore) are done by the store's owner through the
//! [`Batches`] trait: this crate streams an upload to disk and hands over its path, it
//! never reads a record.

use std::io::Write;
use std::path::{Path, PathBuf};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::http::{AppState, Problem, query};
use crate::users::{Role, UsersError};

/// The administrator behind the request: their name.
fn admin(req: &HttpRequest, state: &AppState) -> Result<String, Problem> {
    let token = crate::http::bearer(req).ok_or_else(|| {
            Problem::unauthorized(
                "the admin API needs an administrator's bearer token (Authorization: Bearer …); one is issued with `kmapa users add NAME --role admin`",
            )
        })?;
    let (name, role) = state
        .users
        .as_ref()
        .and_then(|u| u.user_of(token))
        .ok_or_else(|| Problem::unauthorized("this token is not valid (revoked, or mistyped)"))?;
    if role != Role::Admin {
        return Err(Problem::forbidden(format!(
            "the admin API is for administrators; this token has the {} role",
            role.code()
        )));
    }
    Ok(name)
}

fn users(state: &AppState) -> Result<&crate::users::Users, Problem> {
    state
        .users
        .as_ref()
        .ok_or_else(|| Problem::internal("the server runs without a users database"))
}

fn db(e: UsersError) -> Problem {
    match e {
        UsersError::Exists(_) => Problem::conflict(e.to_string()),
        UsersError::BadName(_) => Problem::bad_request(e.to_string()),
        UsersError::Db(..) => Problem::internal(e.to_string()),
    }
}

/// A JSON body, read only after the token was checked (so a stranger learns nothing
/// about what the route expects), of at most 4 KiB.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], example: &str) -> Result<T, Problem> {
    if body.len() > 4096 {
        return Err(Problem {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            title: "Content too large",
            detail: "the admin API takes JSON bodies of at most 4 KiB".into(),
        });
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body must be JSON such as {example}: {e}")))
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /admin/api/users`: every user (name, role, since when); never a token.
#[utoipa::path(get, path = "/admin/api/users", tag = "admin",
    responses((status = 200, description = "Users"), (status = 400, description = "Invalid parameters"), (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator")),
    security(("bearer" = [])))]
pub async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    admin(&req, &state)?;
    let list: Vec<_> = users(&state)?
        .list()
        .map_err(db)?
        .into_iter()
        .map(|(name, role, created_at)| json!({"name": name, "role": role, "created_at": created_at}))
        .collect();
    Ok(no_store(HttpResponse::Ok().json(json!({ "users": list }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: String,
}

/// `POST /admin/api/users` with `{"name": …, "role": …}`: adds a user and answers
/// their token, shown this once (only its hash is kept).
#[utoipa::path(post, path = "/admin/api/users", tag = "admin",
    responses((status = 201, description = "Added; the token, shown once"), (status = 400, description = "Invalid name or role"),
              (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator"), (status = 409, description = "The name is taken")),
    security(("bearer" = [])))]
pub async fn add_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let body: NewUser = json_body(&body, r#"{"name": "ana", "role": "analyst"}"#)?;
    let u = users(&state)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        Problem::bad_request(format!(
            "role {:?}: use public, analyst, admin or metrics",
            body.role
        ))
    })?;
    let target = format!("{} ({})", body.name, role.code());
    match u.add(&body.name, role) {
        Ok(token) => {
            u.log(&actor, "add user", &target, "done").map_err(db)?;
            Ok(no_store(HttpResponse::Created().json(
                json!({"name": body.name, "role": role.code(), "token": token}),
            )))
        }
        Err(e) => {
            u.log(&actor, "add user", &target, &format!("refused: {e}"))
                .map_err(db)?;
            Err(db(e))
        }
    }
}

/// `DELETE /admin/api/users/{name}`: revokes a user's token. An administrator cannot
/// revoke their own (another one can), so the panel never locks everyone out.
#[utoipa::path(delete, path = "/admin/api/users/{name}", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    responses((status = 204, description = "Revoked"), (status = 400, description = "Invalid parameters"), (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator"),
              (status = 404, description = "No such user"), (status = 409, description = "One's own token")),
    security(("bearer" = [])))]
pub async fn revoke_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let u = users(&state)?;
    if *name == actor {
        u.log(&actor, "revoke user", &name, "refused: one's own token")
            .map_err(db)?;
        return Err(Problem::conflict(
            "you cannot revoke your own token: another administrator can",
        ));
    }
    let removed = u.remove(&name).map_err(db)?;
    u.log(
        &actor,
        "revoke user",
        &name,
        if removed { "done" } else { "no such user" },
    )
    .map_err(db)?;
    if !removed {
        return Err(Problem::not_found(format!(
            "no user named {:?}",
            name.as_str()
        )));
    }
    Ok(no_store(HttpResponse::NoContent().finish()))
}

/// `GET /admin/api/log?format=json|csv&limit=`: the administrative log, newest first.
#[utoipa::path(get, path = "/admin/api/log", tag = "admin",
    params(("format" = Option<String>, Query, description = "json (default) or csv"),
           ("limit" = Option<usize>, Query, description = "At most this many entries (default 1000, at most 100000)")),
    responses((status = 200, description = "Who did what, when, on what, with what result"), (status = 400, description = "Invalid parameters"), (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator")),
    security(("bearer" = [])))]
pub async fn admin_log(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["format", "limit"])?;
    admin(&req, &state)?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=100_000).contains(l))
            .ok_or_else(|| {
                Problem::bad_request(format!("limit={l:?}: a number from 1 to 100000"))
            })?,
        None => 1000,
    };
    let entries = users(&state)?.log_entries(limit).map_err(db)?;
    match q.get("format").map(String::as_str) {
        None | Some("json") => Ok(no_store(
            HttpResponse::Ok().json(json!({ "entries": entries })),
        )),
        Some("csv") => {
            let field = |s: &str| {
                if s.contains([',', '"', '\n']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_string()
                }
            };
            let mut out = String::from("at,actor,action,target,result\n");
            for e in &entries {
                out.push_str(
                    &[&e.at, &e.actor, &e.action, &e.target, &e.result]
                        .map(|s| field(s))
                        .join(","),
                );
                out.push('\n');
            }
            Ok(no_store(
                HttpResponse::Ok()
                    .content_type("text/csv; charset=utf-8")
                    .insert_header((
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"kmapa-admin-log.csv\"",
                    ))
                    .body(out),
            ))
        }
        Some(f) => Err(Problem::bad_request(format!(
            "format={f:?}: use json or csv"
        ))),
    }
}

/// What the admin panel does with batches, implemented by the owner of the store (the
/// `kmapa` binary): this crate never reads a record.
pub trait Batches: Send + Sync {
    /// Every batch, newest first, as JSON objects.
    fn list(&self) -> Result<Vec<serde_json::Value>, String>;
    /// Withdraws (`withdraw`) or restores a batch, with a reason; `Ok(None)`: no such batch.
    fn set_withdrawn(
        &self,
        id: i64,
        withdraw: bool,
        reason: &str,
    ) -> Result<Option<serde_json::Value>, String>;
    /// Ingests the file at `path` (an upload named `name` by its sender): the summary,
    /// with the first rejected rows (line, column, reason; never a refused identifier).
    fn ingest(&self, path: &Path, name: &str) -> Result<serde_json::Value, String>;
    /// Where uploads are written while they arrive (inside the data directory).
    fn upload_dir(&self) -> PathBuf;
    /// The largest upload taken, bytes.
    fn upload_limit(&self) -> u64;
}

fn batches(state: &AppState) -> Result<std::sync::Arc<dyn Batches>, Problem> {
    offered(
        &state.batches,
        "this server does not manage batches (run `kmapa serve` on the data directory)",
    )
}

/// `GET /admin/api/batches`: every ingested batch with its summary and status.
#[utoipa::path(get, path = "/admin/api/batches", tag = "admin",
    responses((status = 200, description = "Batches"), (status = 400, description = "Invalid parameters"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn list_batches(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    admin(&req, &state)?;
    let b = batches(&state)?;
    let list = blocking(move || b.list()).await?;
    Ok(no_store(
        HttpResponse::Ok().json(json!({ "batches": list })),
    ))
}

/// The kind an upload's name says: `csv` or `parquet` (415 otherwise).
fn kind_by_name(name: &str) -> Result<&'static str, Problem> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".parquet") {
        Ok("parquet")
    } else if lower.ends_with(".csv") || lower.ends_with(".txt") {
        Ok("csv")
    } else {
        Err(Problem {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            title: "Unsupported file type",
            detail: format!("{name:?}: upload a pseudonymised OPS or PUP file as .csv or .parquet"),
        })
    }
}

/// The kind of an upload from its name and first bytes: `csv` or `parquet`.
fn upload_kind(name: &str, head: &[u8]) -> Result<&'static str, Problem> {
    let lower = name.to_ascii_lowercase();
    kind_by_name(name)?;
    if lower.ends_with(".parquet") {
        if head.starts_with(b"PAR1") {
            return Ok("parquet");
        }
        return Err(Problem::bad_request(format!(
            "{name:?} is named .parquet but is not a Parquet file"
        )));
    }
    if lower.ends_with(".csv") || lower.ends_with(".txt") {
        if head.iter().take(4096).any(|&b| b == 0) {
            return Err(Problem::bad_request(format!(
                "{name:?} is named .csv but holds binary data"
            )));
        }
        return Ok("csv");
    }
    kind_by_name(name)
}

/// `POST /admin/api/batches?name=FILE`: the body is the file (already pseudonymised),
/// streamed to disk under a name of kmapa's choosing (never the sender's), refused
/// past the size limit, then ingested: the summary and the first rejected rows.
#[utoipa::path(post, path = "/admin/api/batches", tag = "admin",
    params(("name" = String, Query, description = "The file's name (its extension says CSV or Parquet; never used as a path)")),
    responses((status = 201, description = "Ingested: the summary and the first rejects"), (status = 400, description = "Invalid file or parameters"),
              (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator"), (status = 413, description = "Over the size limit"),
              (status = 415, description = "Not CSV or Parquet"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn upload_batch(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut body: web::Payload,
) -> Result<HttpResponse, Problem> {
    use futures_util::StreamExt;
    let q = query(&req, &["name"])?;
    let actor = admin(&req, &state)?;
    let b = batches(&state)?;
    let name = q
        .get("name")
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| Problem::bad_request("give name=FILE.csv or name=FILE.parquet"))?
        .clone();
    let limit = b.upload_limit();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || Problem {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        title: "Content too large",
        detail: format!("uploads are limited to {limit} bytes (kmapa serve --upload-limit)"),
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Checked before reading the rest: the extension, then the first bytes.
    kind_by_name(&name)?;
    let dir = b.upload_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Problem::internal(e.to_string()))?;
    let mut rnd = [0u8; 12];
    rand::fill(&mut rnd);
    let path = dir.join(format!("upload-{}.part", hex::encode(rnd)));
    let result = async {
        let mut file =
            std::fs::File::create(&path).map_err(|e| Problem::internal(e.to_string()))?;
        let mut written = 0u64;
        let mut head = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| Problem::bad_request(format!("the upload broke off: {e}")))?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(too_large());
            }
            if head.len() < 4096 {
                head.extend_from_slice(&chunk[..chunk.len().min(4096 - head.len())]);
                if head.len() >= 4 {
                    upload_kind(&name, &head)?;
                }
            }
            file.write_all(&chunk)
                .map_err(|e| Problem::internal(e.to_string()))?;
        }
        if written == 0 {
            return Err(Problem::bad_request("the upload is empty"));
        }
        upload_kind(&name, &head)?;
        file.sync_all()
            .map_err(|e| Problem::internal(e.to_string()))?;
        let (b2, p2, n2) = (b.clone(), path.clone(), name.clone());
        web::block(move || b2.ingest(&p2, &n2))
            .await
            .map_err(|e| Problem::internal(e.to_string()))?
            .map_err(Problem::bad_request)
    }
    .await;
    let _ = std::fs::remove_file(&path);
    let u = users(&state)?;
    match result {
        Ok(summary) => {
            let outcome = format!(
                "done: {} rows read, {} accepted, {} rejected",
                summary["rows_read"], summary["rows_accepted"], summary["rows_rejected"]
            );
            u.log(&actor, "upload batch", &name, &outcome).map_err(db)?;
            Ok(no_store(HttpResponse::Created().json(summary)))
        }
        Err(p) => {
            u.log(
                &actor,
                "upload batch",
                &name,
                &format!("refused: {}", p.detail),
            )
            .map_err(db)?;
            Err(p)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    reason: String,
}

/// `POST /admin/api/batches/{id}/withdraw` or `/restore` with `{"reason": …}`.
#[utoipa::path(post, path = "/admin/api/batches/{id}/{action}", tag = "admin",
    params(("id" = i64, Path, description = "Batch id"), ("action" = String, Path, description = "withdraw or restore")),
    responses((status = 200, description = "The batch, as it is now"), (status = 400, description = "Invalid parameters or reason"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 404, description = "No such batch"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn batch_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let body: Reason = json_body(&body, r#"{"reason": "a late correction from the office"}"#)?;
    let b = batches(&state)?;
    let (id, action) = path.into_inner();
    let withdraw = match action.as_str() {
        "withdraw" => true,
        "restore" => false,
        other => {
            return Err(Problem::not_found(format!(
                "no action {other:?}: withdraw or restore"
            )));
        }
    };
    let id: i64 = id
        .parse()
        .map_err(|_| Problem::bad_request(format!("batch id {id:?} is not a number")))?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.len() > 500 {
        return Err(Problem::bad_request(
            "give a reason (1–500 characters): it is kept with the batch",
        ));
    }
    let r2 = reason.clone();
    let done = web::block(move || b.set_withdrawn(id, withdraw, &r2))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    let u = users(&state)?;
    let what = if withdraw {
        "withdraw batch"
    } else {
        "restore batch"
    };
    match done {
        Ok(Some(batch)) => {
            u.log(&actor, what, &format!("{id}: {reason}"), "done")
                .map_err(db)?;
            Ok(no_store(HttpResponse::Ok().json(batch)))
        }
        Ok(None) => {
            u.log(&actor, what, &id.to_string(), "no such batch")
                .map_err(db)?;
            Err(Problem::not_found(format!("no batch {id}")))
        }
        Err(e) => {
            u.log(&actor, what, &id.to_string(), &format!("refused: {e}"))
                .map_err(db)?;
            Err(Problem::bad_request(e))
        }
    }
}

/// What the admin panel does with the public tier, implemented by the owner of the
/// store (the `kmapa` binary): protect the store's batches into the next tier (written
/// beside the snapshots, published by nobody yet), publish it, or publish an earlier
/// snapshot again. Snapshots are only ever added: a rollback is a new snapshot with an
/// earlier one's files.
pub trait Publishing: Send + Sync {
    /// The snapshots published, newest first, as JSON objects.
    fn snapshots(&self) -> Result<Vec<serde_json::Value>, String>;
    /// Protects and audits the store's batches into the next tier; what it hides per
    /// layer, the audit's verdict and what changes against the latest snapshot.
    fn preview(&self) -> Result<serde_json::Value, String>;
    /// The previewed tier's district cells of one measure and year, as the public map
    /// would show them (value, or hidden), and which of them the latest snapshot showed.
    /// `Ok(None)`: nothing previewed.
    fn preview_districts(
        &self,
        measure: &str,
        year: u16,
    ) -> Result<Option<serde_json::Value>, String>;
    /// Publishes the previewed tier with a comment; `Ok(None)`: nothing previewed, or the
    /// latest snapshot already holds it.
    fn publish(&self, comment: &str) -> Result<Option<serde_json::Value>, String>;
    /// Publishes snapshot `number`'s files again as a new snapshot; `Ok(None)`: no such
    /// snapshot.
    fn rollback(&self, number: u32, comment: &str) -> Result<Option<serde_json::Value>, String>;
}

fn publishing(state: &AppState) -> Result<std::sync::Arc<dyn Publishing>, Problem> {
    offered(
        &state.publishing,
        "this server does not publish (run `kmapa serve` on the data directory)",
    )
}

/// `GET /admin/api/snapshots`: every published snapshot, newest first, and the one
/// served.
#[utoipa::path(get, path = "/admin/api/snapshots", tag = "admin",
    responses((status = 200, description = "Snapshots, newest first"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn list_snapshots(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    admin(&req, &state)?;
    let p = publishing(&state)?;
    let list = blocking(move || p.snapshots()).await?;
    Ok(no_store(HttpResponse::Ok().json(json!({
        "served": state.served.manifest.number,
        "snapshots": list,
    }))))
}

/// `POST /admin/api/preview`: protects and audits the store's batches into the next
/// tier (nothing public changes) and says what it would hide and change.
#[utoipa::path(post, path = "/admin/api/preview", tag = "admin",
    responses((status = 200, description = "The next tier: hidden per layer, audit verdict, changes"), (status = 400, description = "Protection refused"),
              (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let p = publishing(&state)?;
    let done = web::block(move || p.preview())
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    let u = users(&state)?;
    match done {
        Ok(v) => {
            u.log(&actor, "preview", "", "done").map_err(db)?;
            Ok(no_store(HttpResponse::Ok().json(v)))
        }
        Err(e) => {
            u.log(&actor, "preview", "", &format!("refused: {e}"))
                .map_err(db)?;
            Err(Problem::bad_request(e))
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    comment: String,
    /// For a rollback: the snapshot published again.
    #[serde(default)]
    snapshot: Option<u32>,
}

/// `POST /admin/api/publish` with `{"comment": …}` publishes the previewed tier;
/// `POST /admin/api/rollback` with `{"snapshot": N, "comment": …}` publishes snapshot
/// N's files again. Either way a new snapshot, served at once (the server reloads
/// between requests).
#[utoipa::path(post, path = "/admin/api/{action}", tag = "admin",
    params(("action" = String, Path, description = "publish or rollback")),
    responses((status = 200, description = "The snapshot published"), (status = 400, description = "Invalid body"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 404, description = "No such snapshot"),
              (status = 409, description = "Nothing previewed, or already published"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn publish(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let action = path.into_inner();
    let body: Publish = json_body(&body, r#"{"comment": "data for October", "snapshot": 3}"#)?;
    let comment = body.comment.trim().to_string();
    if comment.is_empty() || comment.len() > 500 {
        return Err(Problem::bad_request(
            "give a comment (1–500 characters): it is kept with the snapshot",
        ));
    }
    let p = publishing(&state)?;
    let c = comment.clone();
    let (what, done) = match (action.as_str(), body.snapshot) {
        ("publish", None) => (
            "publish".to_string(),
            web::block(move || p.publish(&c)).await,
        ),
        ("rollback", Some(n)) => (
            format!("roll back to snapshot {n}"),
            web::block(move || p.rollback(n, &c)).await,
        ),
        ("publish", Some(_)) => {
            return Err(Problem::bad_request(
                "publish takes only a comment; to publish an earlier snapshot again, POST /admin/api/rollback",
            ));
        }
        ("rollback", None) => {
            return Err(Problem::bad_request(
                "give the snapshot to roll back to: {\"snapshot\": N}",
            ));
        }
        (other, _) => {
            return Err(Problem::not_found(format!(
                "no action {other:?}: publish or rollback"
            )));
        }
    };
    let done = done.map_err(|e| Problem::internal(e.to_string()))?;
    let u = users(&state)?;
    match done {
        Ok(Some(snapshot)) => {
            u.log(&actor, &what, &comment, "done").map_err(db)?;
            state.reload();
            Ok(no_store(HttpResponse::Ok().json(snapshot)))
        }
        Ok(None) if action == "rollback" => {
            u.log(&actor, &what, &comment, "no such snapshot")
                .map_err(db)?;
            Err(Problem::not_found(format!(
                "no snapshot {}",
                body.snapshot.unwrap_or(0)
            )))
        }
        Ok(None) => {
            u.log(&actor, &what, &comment, "nothing to publish")
                .map_err(db)?;
            Err(Problem::conflict(
                "nothing to publish: preview the next tier first (it may already be the latest snapshot)",
            ))
        }
        Err(e) => {
            u.log(&actor, &what, &comment, &format!("refused: {e}"))
                .map_err(db)?;
            Err(Problem::bad_request(e))
        }
    }
}

/// The institutions directory as administrators keep it, implemented by the owner of
/// the store (the `kmapa` binary): the data directory's own `institutions.csv`,
/// started from the city's. Changes go public with the next publish.
pub trait Directory: Send + Sync {
    /// Every institution, as objects of the file's columns.
    fn list(&self) -> Result<Vec<serde_json::Value>, String>;
    /// The file as it is now (CSV, the data contract's columns).
    fn csv(&self) -> Result<String, String>;
    /// Adds an institution (`id` None) or changes one; the whole file is checked by
    /// the data contract before it is written. `Ok(None)`: no such institution.
    fn save(
        &self,
        id: Option<&str>,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, String>;
    /// Retires an institution (kept, with the reason, beside the file). `Ok(None)`: no
    /// such institution.
    fn retire(&self, id: &str, reason: &str) -> Result<Option<serde_json::Value>, String>;
    /// The position of an address among the city's address points: `Ok(Ok((lat, lon)))`,
    /// or `Ok(Err(why))` when it is not found (or the city has no address points).
    fn geocode(&self, address: &str) -> Result<Result<(f64, f64), String>, String>;
}

/// `GET /admin/api/geocode?address=…`: an address's position among the city's address
/// points (as ingest geocodes records), for placing an institution.
#[utoipa::path(get, path = "/admin/api/geocode", tag = "admin",
    params(("address" = String, Query, description = "Street and house number, e.g. ul. Oławska 1")),
    responses((status = 200, description = "lat and lon"), (status = 400, description = "No address given"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 404, description = "Not among the city's address points"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn geocode(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["address"])?;
    admin(&req, &state)?;
    let d = directory(&state)?;
    let address = q
        .get("address")
        .filter(|a| !a.trim().is_empty() && a.len() <= 300)
        .ok_or_else(|| Problem::bad_request("give address=STREET NUMBER (e.g. ul. Oławska 1)"))?
        .clone();
    match blocking(move || d.geocode(&address)).await? {
        Ok((lat, lon)) => Ok(no_store(
            HttpResponse::Ok().json(json!({ "lat": lat, "lon": lon })),
        )),
        Err(why) => Err(Problem::not_found(why)),
    }
}

fn directory(state: &AppState) -> Result<std::sync::Arc<dyn Directory>, Problem> {
    offered(
        &state.directory,
        "this server does not keep the institutions directory (run `kmapa serve` on the data directory)",
    )
}

/// `GET /admin/api/institutions` (`?format=csv`: the file): the institutions directory
/// as it will be published next.
#[utoipa::path(get, path = "/admin/api/institutions", tag = "admin",
    params(("format" = Option<String>, Query, description = "json (default) or csv")),
    responses((status = 200, description = "Institutions"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn list_institutions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["format"])?;
    admin(&req, &state)?;
    let d = directory(&state)?;
    match q.get("format").map(String::as_str) {
        None | Some("json") => {
            let list = blocking(move || d.list()).await?;
            Ok(no_store(
                HttpResponse::Ok().json(json!({ "institutions": list })),
            ))
        }
        Some("csv") => {
            let csv = blocking(move || d.csv()).await?;
            Ok(no_store(
                HttpResponse::Ok()
                    .content_type("text/csv; charset=utf-8")
                    .insert_header((
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"institutions.csv\"",
                    ))
                    .body(csv),
            ))
        }
        Some(f) => Err(Problem::bad_request(format!(
            "format={f:?}: use json or csv"
        ))),
    }
}

/// `POST /admin/api/institutions` adds an institution; `PUT /admin/api/institutions/{id}`
/// changes one (the body: the columns to set, e.g. `{"name": …, "lat": "51.1"}`).
#[utoipa::path(post, path = "/admin/api/institutions", tag = "admin",
    responses((status = 201, description = "The institution added"), (status = 400, description = "Refused by the data contract"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn add_institution(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    save_institution(req, state, None, body).await
}

#[utoipa::path(put, path = "/admin/api/institutions/{id}", tag = "admin",
    params(("id" = String, Path, description = "Institution id")),
    responses((status = 200, description = "The institution as it is now"), (status = 400, description = "Refused by the data contract"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 404, description = "No such institution"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn edit_institution(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    save_institution(req, state, Some(path.into_inner()), body).await
}

async fn save_institution(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let fields: serde_json::Map<String, serde_json::Value> = json_body(
        &body,
        r#"{"name": "Punkt Interwencji Kryzysowej", "lat": "51.11"}"#,
    )?;
    let d = directory(&state)?;
    let id2 = id.clone();
    let done = web::block(move || d.save(id2.as_deref(), &fields))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    let u = users(&state)?;
    let what = if id.is_some() {
        "edit institution"
    } else {
        "add institution"
    };
    let target = id.clone().unwrap_or_default();
    match done {
        Ok(Some(inst)) => {
            let name = inst["id"].as_str().unwrap_or(&target).to_string();
            u.log(&actor, what, &name, "done").map_err(db)?;
            Ok(no_store(if id.is_some() {
                HttpResponse::Ok().json(inst)
            } else {
                HttpResponse::Created().json(inst)
            }))
        }
        Ok(None) => {
            u.log(&actor, what, &target, "no such institution")
                .map_err(db)?;
            Err(Problem::not_found(format!("no institution {target:?}")))
        }
        Err(e) => {
            u.log(&actor, what, &target, "refused by the data contract")
                .map_err(db)?;
            Err(Problem::bad_request(e))
        }
    }
}

/// `POST /admin/api/institutions/{id}/retire` with `{"reason": …}`.
#[utoipa::path(post, path = "/admin/api/institutions/{id}/retire", tag = "admin",
    params(("id" = String, Path, description = "Institution id")),
    responses((status = 200, description = "The institution retired"), (status = 400, description = "Invalid reason"), (status = 401, description = "No valid token"),
              (status = 403, description = "Not an administrator"), (status = 404, description = "No such institution"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn retire_institution(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
    let body: Reason = json_body(&body, r#"{"reason": "closed at the end of the year"}"#)?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.len() > 500 {
        return Err(Problem::bad_request(
            "give a reason (1–500 characters): it is kept with the retired institution",
        ));
    }
    let d = directory(&state)?;
    let id = path.into_inner();
    let (i2, r2) = (id.clone(), reason.clone());
    let done = web::block(move || d.retire(&i2, &r2))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?;
    let u = users(&state)?;
    match done {
        Ok(Some(inst)) => {
            u.log(
                &actor,
                "retire institution",
                &format!("{id}: {reason}"),
                "done",
            )
            .map_err(db)?;
            Ok(no_store(HttpResponse::Ok().json(inst)))
        }
        Ok(None) => {
            u.log(&actor, "retire institution", &id, "no such institution")
                .map_err(db)?;
            Err(Problem::not_found(format!("no institution {id:?}")))
        }
        Err(e) => Err(Problem::internal(e)),
    }
}

/// `GET /admin/api/preview/districts?category=&year=`: the previewed tier's districts of
/// one measure and year, for the panel's map of what would be hidden.
#[utoipa::path(get, path = "/admin/api/preview/districts", tag = "admin",
    params(("category" = String, Query, description = "Measure code"), ("year" = u16, Query, description = "Year")),
    responses((status = 200, description = "Districts: value or hidden, and hidden newly"), (status = 400, description = "Invalid parameters"),
              (status = 401, description = "No valid token"), (status = 403, description = "Not an administrator"),
              (status = 404, description = "Nothing previewed"), (status = 503, description = "Not offered by this server")),
    security(("bearer" = [])))]
pub async fn preview_districts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let q = query(&req, &["category", "year"])?;
    admin(&req, &state)?;
    let p = publishing(&state)?;
    let measure = q
        .get("category")
        .filter(|c| !c.is_empty() && c.len() <= 64)
        .ok_or_else(|| Problem::bad_request("give category=CODE and year=YYYY"))?
        .clone();
    let year: u16 = q
        .get("year")
        .and_then(|y| y.parse().ok())
        .ok_or_else(|| Problem::bad_request("give year=YYYY (a year the policy publishes)"))?;
    match blocking(move || p.preview_districts(&measure, year)).await? {
        Some(v) => Ok(no_store(HttpResponse::Ok().json(v))),
        None => Err(Problem::not_found(
            "nothing previewed: POST /admin/api/preview first",
        )),
    }
}

/// Runs `f` on the blocking pool; its error, or the pool's, as a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Problem> {
    web::block(f)
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
        .map_err(Problem::internal)
}

/// What the store's owner handed the server, or 503 saying so.
fn offered<T: ?Sized>(
    part: &Option<std::sync::Arc<T>>,
    detail: &str,
) -> Result<std::sync::Arc<T>, Problem> {
    part.clone().ok_or_else(|| Problem {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Not offered",
        detail: detail.into(),
    })
}

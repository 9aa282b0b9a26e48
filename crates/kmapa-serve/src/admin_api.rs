//! The administrators' API (`/admin/api/…`), which the admin panel (`/admin`) is a
//! client of: users (list, add with a token shown once, revoke) and the log of every
//! administrative action (who, when, what, on what, result), also as CSV. Every route
//! needs a bearer token of the `admin` role: 401 without a valid one, 403 for any other
//! role. Bearer tokens only, never cookies, so a page elsewhere cannot act in an
//! administrator's name (no CSRF). Answers are never cached.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::http::{AppState, Problem, query};
use crate::users::{Role, UsersError};

/// The administrator behind the request: their name.
fn admin(req: &HttpRequest, state: &AppState) -> Result<String, Problem> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
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
        UsersError::Exists(_) => Problem {
            status: StatusCode::CONFLICT,
            title: "Conflict",
            detail: e.to_string(),
        },
        UsersError::BadName(_) => Problem::bad_request(e.to_string()),
        UsersError::Db(..) => Problem::internal(e.to_string()),
    }
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
    body: web::Json<NewUser>,
) -> Result<HttpResponse, Problem> {
    query(&req, &[])?;
    let actor = admin(&req, &state)?;
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
        return Err(Problem {
            status: StatusCode::CONFLICT,
            title: "Conflict",
            detail: "you cannot revoke your own token: another administrator can".into(),
        });
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

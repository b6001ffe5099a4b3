//! The routes, the rules a todo keeps, and the answers a client gets when a request breaks
//! one. The routes and their answers are listed in the example's docs (`main.rs`).

use roadie::header::{self, HeaderValue};
use roadie::prelude::*;
use roadie::{ETag, Rejection};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::conn::{Conn, DbError};

/// A todo, as stored and as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Todo {
    pub(crate) id: i64,
    pub(crate) title: String,
    pub(crate) done: bool,
}

/// The body of `POST /todos`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewTodo {
    title: String,
}

/// The body of `PUT /todos/{id}`: what to change; a field left out keeps its value.
#[derive(Debug, Deserialize)]
pub(crate) struct Changes {
    title: Option<String>,
    done: Option<bool>,
}

/// A title that keeps the rule: 1 to [`Title::MAX_CHARS`] characters, without leading or
/// trailing whitespace. The only way to make one is [`Title::parse`], which `POST` and `PUT`
/// both call, so that both answer a bad title alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Title(String);

impl Title {
    /// The longest title, in characters (Unicode scalar values), counted after trimming.
    pub(crate) const MAX_CHARS: usize = 500;

    /// Trims `raw` and checks its length; a bad title is `422` naming the field `title`.
    /// The answer never echoes the title back.
    pub(crate) fn parse(raw: &str) -> Result<Self, Rejection> {
        let title = raw.trim();
        let chars = title.chars().count();
        let problem = if chars == 0 {
            "`title` must not be empty".to_owned()
        } else if chars > Self::MAX_CHARS {
            format!(
                "`title` must be at most {} characters long, not {chars}",
                Self::MAX_CHARS
            )
        } else {
            return Ok(Self(title.to_owned()));
        };
        Err(Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, problem).with_parameter("title"))
    }
}

/// Which todos `GET /todos` lists: at most `limit`, those with an id above `after`, oldest
/// first. Paging by the last id seen (rather than by a page number) keeps each page one
/// indexed range scan, and a todo created or deleted meanwhile never shifts a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    limit: u32,
    after: i64,
}

impl Page {
    /// How many todos a page holds when the query does not say.
    pub(crate) const DEFAULT_LIMIT: u32 = 50;
    /// The most a page may hold; a larger `limit` is refused, not shortened silently.
    pub(crate) const MAX_LIMIT: u32 = 100;

    /// Reads `limit` and `after` from the query's pairs. Other parameters are ignored; of a
    /// parameter given twice, the last counts. A bad value is `400` naming its parameter.
    pub(crate) fn from_query(pairs: &[(String, String)]) -> Result<Self, Rejection> {
        let mut page = Self {
            limit: Self::DEFAULT_LIMIT,
            after: 0,
        };
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => {
                    page.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=Self::MAX_LIMIT).contains(limit))
                        .ok_or_else(|| {
                            Rejection::bad_request(format!(
                                "`limit` must be a whole number from 1 to {}",
                                Self::MAX_LIMIT
                            ))
                            .with_parameter("limit")
                        })?;
                }
                "after" => {
                    page.after = value.parse().map_err(|_| {
                        Rejection::bad_request("`after` must be the id of a todo, a whole number")
                            .with_parameter("after")
                    })?;
                }
                _ => {}
            }
        }
        Ok(page)
    }

    /// The `Link` header that points at the page after this one, whose last todo has the id
    /// `last`.
    fn next(self, last: i64) -> String {
        format!("</todos?limit={}&after={last}>; rel=\"next\"", self.limit)
    }
}

/// What a route answers instead of a todo.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// A parameter or a field broke a rule: `400` or `422`, naming it.
    Rejected(Rejection),
    /// There is no todo with this id: `404`.
    NotFound(i64),
    /// The database gave no answer: `503` with `Retry-After` when it stayed locked past the
    /// busy timeout, `500` when it failed.
    Database(DbError),
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        Self::Database(error)
    }
}

/// The answers are JSON `{"error": "..."}` (and `"parameter"` for a rejection), the shape of
/// roadie's own errors. The database's answers are written here rather than left to roadie,
/// which sends only the status's name for a 5xx: a client of this service should read that
/// the database was busy, and when to try again.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message): (_, String) = match self {
            Self::Rejected(rejection) => return rejection.into_response(),
            Self::NotFound(id) => (StatusCode::NOT_FOUND, format!("there is no todo {id}")),
            Self::Database(error @ DbError::Busy(_)) => {
                tracing::warn!(%error, "answering 503");
                let message = "the database is busy; try again in a moment";
                (StatusCode::SERVICE_UNAVAILABLE, message.into())
            }
            Self::Database(error @ DbError::Abandoned) => {
                // Its request is gone: nobody reads this answer.
                tracing::debug!(%error);
                (StatusCode::SERVICE_UNAVAILABLE, "the request ended".into())
            }
            Self::Database(error) => {
                tracing::error!(%error, "answering 500");
                let message = "the database failed";
                (StatusCode::INTERNAL_SERVER_ERROR, message.into())
            }
        };
        let body = Json(serde_json::json!({ "error": message }));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            (status, [(header::RETRY_AFTER, "1")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

fn todo(row: &rusqlite::Row<'_>) -> rusqlite::Result<Todo> {
    Ok(Todo {
        id: row.get(0)?,
        title: row.get(1)?,
        done: row.get(2)?,
    })
}

fn find(connection: &Connection, id: i64) -> rusqlite::Result<Option<Todo>> {
    connection
        .prepare_cached("SELECT id, title, done FROM todos WHERE id = ?1")?
        .query_row([id], todo)
        .optional()
}

/// `GET /todos?limit=50&after=0`: one page, with a `Link` to the next when there is one.
///
/// The query is read as pairs of strings, which cannot fail to parse, so that a bad value is
/// answered by [`Page::from_query`], naming `limit` or `after`, rather than by the `Query`
/// extractor's rejection of a whole struct.
#[get("/todos")]
pub(crate) async fn list(
    Query(query): Query<Vec<(String, String)>>,
    conn: Dep<Conn>,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query)?;
    // One row more than the page holds tells whether a next page exists.
    let mut todos = conn
        .run(move |c| {
            c.prepare_cached(
                "SELECT id, title, done FROM todos WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![page.after, page.limit + 1], todo)?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    let more = todos.len() > page.limit as usize;
    todos.truncate(page.limit as usize);
    let next = match todos.last() {
        Some(last) if more => Some(page.next(last.id)),
        _ => None,
    };
    let mut response = Json(todos).into_response();
    if let Some(next) = next {
        let next = HeaderValue::try_from(next).expect("a link of ASCII digits is a header value");
        response.headers_mut().insert(header::LINK, next);
    }
    Ok(response)
}

/// `POST /todos`: `201` with the new todo, and its `ETag` (`"v1"`).
#[post("/todos")]
pub(crate) async fn create(
    conn: Dep<Conn>,
    Json(new): Json<NewTodo>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, &'static str); 1],
        Json<Todo>,
    ),
    ApiError,
> {
    let Title(title) = Title::parse(&new.title)?;
    let todo = conn
        .run(move |c| {
            c.prepare_cached("INSERT INTO todos (title) VALUES (?1) RETURNING id, title, done")?
                .query_row([title], todo)
        })
        .await?;
    // Every todo starts at version 1.
    Ok((StatusCode::CREATED, [(header::ETAG, "\"v1\"")], Json(todo)))
}

/// The ETag of a todo: its version, which every change raises (`"v3"`). A todo that does not
/// exist is `404` here, before any precondition is evaluated (RFC 9110 §13.2.1: a failure
/// found before the method's work takes precedence). It runs before `read`, `update` and
/// `remove`, on the connection they use.
pub(crate) async fn version_etag(
    Path(id): Path<i64>,
    conn: Dep<Conn>,
) -> Result<Option<ETag>, ApiError> {
    let version = conn
        .run(move |c| {
            c.prepare_cached("SELECT version FROM todos WHERE id = ?1")?
                .query_row([id], |row| row.get::<_, i64>(0))
                .optional()
        })
        .await?;
    match version {
        Some(version) => Ok(Some(etag(version))),
        None => Err(ApiError::NotFound(id)),
    }
}

fn etag(version: i64) -> ETag {
    ETag::from_version(version.try_into().unwrap_or_default())
}

/// The version an `If-Match` names (`"v3"`), or `None` for `*` (any version).
fn expected_version(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(header::IF_MATCH)?.to_str().ok()?;
    value
        .trim()
        .parse::<ETag>()
        .ok()?
        .tag()
        .strip_prefix('v')?
        .parse()
        .ok()
}

/// `PUT` and `DELETE` change a todo only against the version the client read: without
/// `If-Match` they are `428 Precondition Required` (RFC 6585), so that no client overwrites a
/// change it never saw. `If-Match: *` says the client means to, whatever the version.
pub(crate) async fn require_if_match(request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::IF_MATCH) {
        return next.run(request).await;
    }
    Rejection::new(
        StatusCode::PRECONDITION_REQUIRED,
        "send `If-Match` with the todo's ETag (from `GET /todos/{id}`), or `If-Match: *`",
    )
    .with_parameter("If-Match")
    .into_response()
}

/// The answer when the todo changed between the precondition and the write (another request
/// won the race): `412`, as if the precondition had failed.
fn changed_meanwhile() -> ApiError {
    ApiError::Rejected(
        Rejection::new(
            StatusCode::PRECONDITION_FAILED,
            "the todo changed since the version in `If-Match`; read it again",
        )
        .with_parameter("If-Match"),
    )
}

/// `GET /todos/{id}`: the todo, with its `ETag`; `304` when `If-None-Match` names it.
#[get("/todos/{id}", etag = version_etag)]
pub(crate) async fn read(Path(id): Path<i64>, conn: Dep<Conn>) -> Result<Json<Todo>, ApiError> {
    conn.run(move |c| find(c, id))
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound(id))
}

/// `PUT /todos/{id}` with `If-Match`: `200` with the todo as changed and its new `ETag`; `412`
/// if the todo changed since that version. The version is checked again in the `UPDATE`
/// itself, so that two writes racing with one `If-Match` cannot both win.
#[put("/todos/{id}", etag = version_etag)]
pub(crate) async fn update(
    Path(id): Path<i64>,
    conn: Dep<Conn>,
    headers: HeaderMap,
    Json(changes): Json<Changes>,
) -> Result<Response, ApiError> {
    let title = changes.title.as_deref().map(Title::parse).transpose()?;
    let done = changes.done;
    let expected = expected_version(&headers);
    let changed = conn
        .run(move |c| {
            c.prepare_cached(
                "UPDATE todos SET title = COALESCE(?2, title), done = COALESCE(?3, done),
                     version = version + 1
                 WHERE id = ?1 AND (?4 IS NULL OR version = ?4)
                 RETURNING id, title, done, version",
            )?
            .query_row(
                params![id, title.map(|Title(title)| title), done, expected],
                |row| Ok((todo(row)?, row.get::<_, i64>(3)?)),
            )
            .optional()
        })
        .await?;
    let (todo, version) = changed.ok_or_else(changed_meanwhile)?;
    let mut response = Json(todo).into_response();
    let etag = HeaderValue::try_from(etag(version).to_string()).expect("an ETag is a header value");
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// `DELETE /todos/{id}` with `If-Match`: `204`; `412` if the todo changed since that version.
#[delete("/todos/{id}", etag = version_etag)]
pub(crate) async fn remove(
    Path(id): Path<i64>,
    conn: Dep<Conn>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = expected_version(&headers);
    match conn
        .run(move |c| {
            c.execute(
                "DELETE FROM todos WHERE id = ?1 AND (?2 IS NULL OR version = ?2)",
                params![id, expected],
            )
        })
        .await?
    {
        0 => Err(changed_meanwhile()),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

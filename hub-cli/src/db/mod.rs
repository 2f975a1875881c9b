//! Storage: one small abstraction over SQLite (the default, a file) and
//! PostgreSQL (a shared server), with one set of SQL for both.
//!
//! SQL is written with `?` placeholders; for PostgreSQL they are rewritten to
//! `$1, $2, ...`. Values are only 64-bit integers, text and NULL: amounts are
//! decimal text of base units, never floats.

mod migrations;

pub(crate) use migrations::{check_version, migrate, SCHEMA_VERSION};

use std::{collections::HashMap, fmt};
use thiserror::Error;

/// A storage failure.
#[derive(Debug, Error)]
pub(crate) enum DbError {
    /// A unique constraint refused a row.
    #[error("{0}")]
    Unique(String),
    /// The database could not be opened.
    #[error("cannot open database {url}: {message}")]
    Open {
        /// The redacted URL or path.
        url: String,
        /// Why.
        message: String,
    },
    /// The schema is not the one this program uses.
    #[error("{0}")]
    Schema(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}

/// A value bound to or read from SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Builds a `&[Value]` from a list of expressions.
macro_rules! params {
    () => { &[] as &[$crate::db::Value] };
    ($($v:expr),+ $(,)?) => { &[$($crate::db::Value::from($v)),+] as &[$crate::db::Value] };
}
pub(crate) use params;

/// One result row.
#[derive(Debug, Clone)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    /// A row of these values.
    pub(crate) fn from_values(values: Vec<Value>) -> Self {
        Self(values)
    }

    /// The values.
    pub(crate) fn values(&self) -> &[Value] {
        &self.0
    }

    fn get(&self, i: usize) -> Result<&Value, DbError> {
        self.0
            .get(i)
            .ok_or_else(|| DbError::Other(format!("column {i} missing")))
    }

    /// An integer column.
    pub(crate) fn int(&self, i: usize) -> Result<i64, DbError> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(DbError::Other(format!(
                "column {i}: expected integer, found {other:?}"
            ))),
        }
    }

    /// A nullable integer column.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A text column.
    pub(crate) fn text(&self, i: usize) -> Result<String, DbError> {
        match self.get(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(DbError::Other(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }

    /// A nullable text column.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// Which server a database lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// An open database connection.
pub(crate) enum Db {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL.
    Postgres(Box<Pg>),
}

/// Prepared statements a PostgreSQL connection keeps at most. Statements
/// with lists (`IN (?, ?, …)`, multi-row `VALUES`) have a text per length,
/// so a service connection that lives for months would otherwise keep
/// every length it ever saw, on the client and on the server.
const MAX_PREPARED: usize = 256;

/// A PostgreSQL connection with its prepared statements.
pub(crate) struct Pg {
    client: postgres::Client,
    /// Statements by SQL text (placeholders rewritten), each prepared once
    /// per connection, like SQLite's `prepare_cached`: a bulk change of
    /// thousands of rows then costs one round trip per statement, not two.
    /// With the round each was last used: beyond [`MAX_PREPARED`], the
    /// least recently used is dropped (which closes it on the server).
    prepared: HashMap<String, (postgres::Statement, u64)>,
    /// Statements asked for so far: the clock of `prepared`.
    uses: u64,
}

impl Pg {
    /// The prepared statement for `sql` (with `?` placeholders).
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        let sql = pg_sql(sql);
        self.uses += 1;
        if let Some((s, used)) = self.prepared.get_mut(&sql) {
            *used = self.uses;
            return Ok(s.clone());
        }
        let s = self.client.prepare(&sql).map_err(pg_err)?;
        if self.prepared.len() >= MAX_PREPARED {
            let oldest = self
                .prepared
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.prepared.remove(&k);
            }
        }
        self.prepared.insert(sql, (s.clone(), self.uses));
        Ok(s)
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Db({:?})", self.backend())
    }
}

/// The URL with its password (if it has one) replaced by `***` and its
/// query (which may hold one) dropped, fit to print.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let tail = tail.split('?').next().unwrap_or_default();
            match authority.rsplit_once('@') {
                Some((user, host)) => match user.split_once(':') {
                    Some((name, _password)) => format!("{scheme}://{name}:***@{host}{tail}"),
                    None => format!("{scheme}://{user}@{host}{tail}"),
                },
                None => format!("{scheme}://{authority}{tail}"),
            }
        }
        None => url.to_owned(),
    }
}

/// The database name of a PostgreSQL URL, for the `createdb` advice.
fn pg_database(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let name = path.split('?').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Why a PostgreSQL connection failed, named, with what to do.
fn pg_open_error(url: &str, e: &postgres::Error) -> DbError {
    use postgres::error::SqlState;
    let shown = redact_url(url);
    let message = if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_CATALOG_NAME {
            let name = pg_database(url).unwrap_or_else(|| "DATABASE".to_owned());
            format!(
                "the database does not exist ({}): create it first, e.g. `createdb -h HOST -U USER {name}`, \
                 then run `hub-cli migrate`",
                db.message()
            )
        } else if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            format!(
                "authentication failed ({}): check the user name and password in the URL, \
                 and that the server's pg_hba.conf lets this user in",
                db.message()
            )
        } else {
            format!(
                "the server refused the connection: {} ({})",
                db.message(),
                code.code()
            )
        }
    } else {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        if detail.to_ascii_lowercase().contains("refused") {
            format!(
                "connection refused ({detail}): is PostgreSQL running and listening on that host and port?"
            )
        } else {
            format!("cannot connect: {detail}")
        }
    };
    DbError::Open {
        url: shown,
        message,
    }
}

/// Waits for another connection's write lock: 1 ms at a time, for about
/// 30 s in all. (SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25,
/// then 50 and 100 ms at a time: a writer queued behind commits of a few
/// milliseconds each, the service's API behind its callback dispatcher,
/// slept for tens of milliseconds after the lock was free.)
fn sqlite_busy(attempts: i32) -> bool {
    if attempts >= 30_000 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    true
}

fn sqlite_err(e: rusqlite::Error) -> DbError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return DbError::Unique(msg.clone().unwrap_or_else(|| e.to_string()));
        }
    }
    DbError::Other(e.to_string())
}

fn pg_err(e: postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        if db.code() == &postgres::error::SqlState::UNIQUE_VIOLATION {
            return DbError::Unique(db.message().to_owned());
        }
        return DbError::Other(db.message().to_owned());
    }
    DbError::Other(e.to_string())
}

/// Rewrites `?` placeholders to `$1, $2, ...`.
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(match self {
            Self::Null => ToSqlOutput::Owned(V::Null),
            Self::Int(v) => ToSqlOutput::Owned(V::Integer(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(v.as_bytes())),
        })
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Self::Int(v) => v.to_sql(ty, out),
            Self::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_row(row: &postgres::Row) -> Result<Row, DbError> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map(Value::from)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| Value::from(v.map(i64::from)))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map(|v| Value::from(v.map(i64::from)))
        } else {
            row.try_get::<_, Option<String>>(i).map(Value::from)
        };
        values.push(v.map_err(pg_err)?);
    }
    Ok(Row(values))
}

impl Db {
    /// Opens `url`: a `postgres://` or `postgresql://` URL, or a SQLite file
    /// path (optionally `sqlite://PATH`).
    ///
    /// A SQLite file that does not exist is created only when `create` is
    /// set (by `migrate`); otherwise the error says to run `migrate`.
    pub(crate) fn open(url: &str, create: bool) -> Result<Self, DbError> {
        let open_err = |message: String| DbError::Open {
            url: redact_url(url),
            message,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut client = postgres::Client::connect(url, postgres::NoTls)
                .map_err(|e| pg_open_error(url, &e))?;
            // The server's JIT compiles any statement its planner costs
            // high: the dispatcher's claim (correlated subqueries over the
            // outbox) spent about 170 ms compiling for 3 ms of work, at
            // every round. Nothing the hub runs is long enough to gain.
            client
                .batch_execute("SET jit = off")
                .map_err(|e| pg_open_error(url, &e))?;
            return Ok(Self::Postgres(Box::new(Pg {
                client,
                prepared: HashMap::new(),
                uses: 0,
            })));
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if !create && !std::path::Path::new(path).exists() {
            return Err(DbError::Schema(format!(
                "database {path} does not exist: create it with `hub-cli migrate` \
                 (or point --db / HUB_DATABASE_URL at the hub's database)"
            )));
        }
        if create && !std::path::Path::new(path).exists() {
            // The hub's database holds who is paid what: readable by its
            // owner only. SQLite gives its -wal and -shm files the same mode.
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| open_err(e.to_string()))?;
        }
        let conn = rusqlite::Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_handler(Some(sqlite_busy))
            .map_err(|e| open_err(e.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;")
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self::Sqlite(conn))
    }

    /// Which backend this is.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs statements without parameters (DDL, transaction control).
    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Self::Sqlite(c) => c.execute_batch(sql).map_err(sqlite_err),
            Self::Postgres(c) => {
                // Anything but transaction control may change the schema:
                // prepare again afterwards.
                if !matches!(sql, "BEGIN" | "COMMIT" | "ROLLBACK") {
                    c.prepared.clear();
                }
                c.client.batch_execute(sql).map_err(pg_err)
            }
        }
    }

    /// Runs one statement; returns the number of rows changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Self::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(sqlite_err)?;
                let n = stmt
                    .execute(rusqlite::params_from_iter(params.iter()))
                    .map_err(sqlite_err)?;
                Ok(n as u64)
            }
            Self::Postgres(c) => {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let stmt = c.statement(sql)?;
                c.client.execute(&stmt, &refs).map_err(pg_err)
            }
        }
    }

    /// Runs a query and returns every row.
    pub(crate) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Self::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(sqlite_err)?;
                let n = stmt.column_count();
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params.iter()))
                    .map_err(sqlite_err)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(sqlite_err)? {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        values.push(match row.get_ref(i).map_err(sqlite_err)? {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(v) => Value::Int(v),
                            ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            ValueRef::Real(_) | ValueRef::Blob(_) => {
                                return Err(DbError::Other(format!(
                                    "column {i} holds a value of an unexpected type"
                                )))
                            }
                        });
                    }
                    out.push(Row(values));
                }
                Ok(out)
            }
            Self::Postgres(c) => {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let stmt = c.statement(sql)?;
                let rows = c.client.query(&stmt, &refs).map_err(pg_err)?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// Runs a query expected to return at most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query expected to return exactly one row.
    pub(crate) fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, DbError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| DbError::Other(format!("no row returned by {sql}")))
    }

    /// Runs `f` inside one database transaction: committed if `f` returns
    /// `Ok`, rolled back otherwise. SQLite takes the write lock at the start
    /// (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing.
    pub(crate) fn transaction<T, E: From<DbError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.batch_execute(begin)?;
        match f(self) {
            Ok(v) => {
                self.batch_execute("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // The original error matters more than a failed rollback.
                let _ = self.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_connection_keeps_a_bounded_set_of_statements() {
        let dir = tempfile::tempdir().unwrap();
        let test = coldsign_e2e::TestDb::new(coldsign_e2e::Backend::Postgres, dir.path());
        let mut db = Db::open(&test.url, true).unwrap();
        let hot = "SELECT CAST(? AS BIGINT) + 1";
        for n in 0..(MAX_PREPARED as i64 + 100) {
            // A statement text per length, as `IN (?, ?, …)` lists make.
            let sql = format!("SELECT CAST(? AS BIGINT) + {n}");
            assert_eq!(
                db.query_one(&sql, params![1i64]).unwrap().int(0).unwrap(),
                n + 1
            );
            assert_eq!(
                db.query_one(hot, params![n]).unwrap().int(0).unwrap(),
                n + 1
            );
        }
        let Db::Postgres(pg) = &db else {
            panic!("not PostgreSQL");
        };
        assert_eq!(pg.prepared.len(), MAX_PREPARED);
        // The statement used all along stayed; the oldest ones went.
        assert!(pg.prepared.contains_key(&pg_sql(hot)));
        assert!(!pg
            .prepared
            .contains_key(&pg_sql("SELECT CAST(? AS BIGINT) + 0")));
    }

    #[test]
    fn rewrites_placeholders() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ? AND c = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $2"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://hub:secret@db.example:5432/hub?sslmode=require"),
            "postgres://hub:***@db.example:5432/hub"
        );
        assert_eq!(redact_url("hub.db"), "hub.db");
        // Only what is there is redacted.
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/test"),
            "postgres://127.0.0.1/test"
        );
        assert_eq!(
            pg_database("postgres://u@h:1/hub?x=1").as_deref(),
            Some("hub")
        );
    }
}

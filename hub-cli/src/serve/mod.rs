//! `hub-cli serve`: the hub as a service. One process serves the API for
//! the front system (`api`), follows every open batch (`supervisor`) and
//! delivers callbacks (`callbacks`), on the same database as the CLI.
//!
//! The storage layer is synchronous; the service runs it on tokio's
//! blocking threads (`pool`). SIGTERM or Ctrl-C stops taking requests,
//! lets the current ones and the current rounds finish, and exits. A
//! kill -9 loses nothing: every state change and its outbox row are one
//! database transaction, and undelivered callbacks are sent after the
//! restart.
//!
//! Several processes may share one PostgreSQL database (advisory locks per
//! batch, leases on callback events). A SQLite file serves one process: a
//! second `serve` on it refuses to start.

mod api;
pub(crate) mod auth;
pub(crate) mod callbacks;
mod metrics;
mod pool;
mod scanner;
mod supervisor;

use crate::{
    db::{Backend, Db},
    error::{ErrorKind, HubError, OperationError, Result},
};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// Why `hub-cli serve` could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// The SQLite database's lock file cannot be opened or locked.
    #[error(
        "cannot {action} {lock_path}: {source}; `hub-cli serve` needs to create and lock it next to the \
         SQLite database (check the directory's permissions)"
    )]
    LockFile {
        action: &'static str,
        lock_path: String,
        source: std::io::Error,
    },
    /// Another `serve` holds the SQLite database.
    #[error(
        "another `hub-cli serve` already runs on the SQLite database {path} (it holds {lock_path}): \
         a SQLite hub serves one process; stop the other one, or share a PostgreSQL database between several"
    )]
    AlreadyServing { path: String, lock_path: String },
    /// The listening address cannot be bound.
    #[error(
        "cannot listen on {addr}: {source}; is another process listening there? give another --listen"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The async runtime or the server itself failed (`what`).
    #[error("{what}: {source}")]
    Runtime {
        what: &'static str,
        source: std::io::Error,
    },
}

crate::error::operation_error!(ServeError);

impl OperationError for ServeError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::LockFile { .. } => ErrorKind::Input,
            Self::AlreadyServing { .. } => ErrorKind::Conflict,
            Self::Listen { .. } => ErrorKind::Usage,
            Self::Runtime { .. } => ErrorKind::Internal,
        }
    }
}

/// The OpenAPI document, also committed as `docs/openapi.json`.
pub(crate) const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// How the service runs.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// The database.
    pub(crate) db_url: String,
    /// Operator name of the supervisor's changes.
    pub(crate) operator: String,
    /// Time between supervisor rounds.
    pub(crate) supervisor_interval: Duration,
    /// Attempts before a callback event is dead.
    pub(crate) callback_attempts: u32,
    /// Largest request body, in bytes.
    pub(crate) max_body: usize,
}

/// What the handlers and background tasks share.
#[derive(Debug)]
pub(crate) struct State {
    pool: Arc<pool::Pool>,
    db_url: String,
    operator: String,
    callback_attempts: i64,
    metrics: metrics::Metrics,
}

/// Holds a SQLite database for this process only; `None` on PostgreSQL.
fn sqlite_guard(url: &str) -> Result<Option<std::fs::File>> {
    let db = Db::open(url, false)?;
    if db.backend() != Backend::Sqlite {
        return Ok(None);
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let lock_path = format!("{path}.serve-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ServeError::LockFile {
            action: "open",
            lock_path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::AlreadyServing {
            path: path.to_owned(),
            lock_path,
        }
        .into()),
        Err(std::fs::TryLockError::Error(source)) => Err(ServeError::LockFile {
            action: "lock",
            lock_path,
            source,
        }
        .into()),
    }
}

/// Runs the service until SIGTERM or Ctrl-C.
pub(crate) fn run(opts: Options) -> Result<()> {
    let _guard = sqlite_guard(&opts.db_url)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Runtime {
            what: "cannot start the runtime",
            source,
        })?;
    runtime.block_on(serve(opts))
}

async fn serve(opts: Options) -> Result<()> {
    let state = Arc::new(State {
        pool: pool::Pool::new(&opts.db_url, 16),
        db_url: opts.db_url.clone(),
        operator: opts.operator.clone(),
        callback_attempts: i64::from(opts.callback_attempts.max(1)),
        metrics: metrics::Metrics::default(),
    });
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Runtime {
            what: "cannot read the listening address",
            source,
        })?;
    tracing::info!("coldsign hub serving on http://{local}");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let supervisor = tokio::spawn(supervise(
        Arc::clone(&state),
        opts.supervisor_interval,
        stop_rx.clone(),
    ));
    let dispatcher = tokio::spawn(dispatch(Arc::clone(&state), stop_rx.clone()));
    let follower = tokio::spawn(follow(
        Arc::clone(&state),
        opts.supervisor_interval,
        stop_rx.clone(),
    ));
    let app = api::router(Arc::clone(&state)).layer(
        tower::ServiceBuilder::new()
            // axum's own limit for buffered bodies (2 MB by default) would
            // refuse a signed file or 10,000 orders long before --max-body-mib.
            .layer(axum::extract::DefaultBodyLimit::max(opts.max_body))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(opts.max_body))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(120),
            )),
    );
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new requests; finishing the current ones");
        let _ = stop_tx.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Runtime {
            what: "the server failed",
            source,
        })?;
    let _ = supervisor.await;
    let _ = dispatcher.await;
    let _ = follower.await;
    // The synchronous PostgreSQL client runs its own runtime: its
    // connections are closed on a blocking thread, not inside this one.
    let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Waits `d`, or less if the service is stopping; `true` when stopping.
async fn pause(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Closes a connection on a blocking thread (see the end of `serve`).
async fn close(db: Option<Db>) {
    if let Some(db) = db {
        let _ = tokio::task::spawn_blocking(move || drop(db)).await;
    }
}

async fn supervise(
    state: Arc<State>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut db: Option<Db> = None;
    loop {
        let s = Arc::clone(&state);
        let conn = db.take();
        let url = state.db_url.clone();
        let next = tokio::task::spawn_blocking(move || {
            let conn = match conn {
                Some(c) => c,
                None => Db::open(&url, false)?,
            };
            Ok::<_, HubError>(supervisor::round(&s, conn))
        })
        .await;
        match next {
            Ok(Ok(conn)) => db = Some(conn),
            Ok(Err(e)) => tracing::warn!("supervisor: cannot open the database: {e}"),
            Err(e) => tracing::warn!("supervisor: round failed: {e}"),
        }
        if pause(every, &mut stop).await {
            close(db).await;
            return;
        }
    }
}

/// The chain followers: one round per chain whose follower lock this
/// process holds (every chain, on SQLite), then a pause unless a chain had
/// more blocks to read.
async fn follow(state: Arc<State>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut db: Option<Db> = None;
    let mut held: std::collections::HashSet<i64> = std::collections::HashSet::new();
    loop {
        let conn = db.take();
        let url = state.db_url.clone();
        let mut h = std::mem::take(&mut held);
        let next = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(c) => c,
                None => {
                    h.clear(); // a new connection holds no lock
                    Db::open(&url, false)?
                }
            };
            let mut busy = false;
            for (order, n, receipt, seen) in crate::store::service::payout_disagreements(&mut conn)?
            {
                tracing::error!(
                    order = %order,
                    "ALERT: the receipt of order {order}'s payout is in block {n} ({receipt}), \
                     but the chain follower saw {seen} at that height: check both nodes"
                );
            }
            for chain in crate::model::Chain::all(&mut conn)? {
                if !h.contains(&chain.id) {
                    if !scanner::try_lock(&mut conn, chain.id)? {
                        continue; // another process follows this chain
                    }
                    h.insert(chain.id);
                }
                match scanner::round(&mut conn, &chain) {
                    Ok(n) => busy |= n > 0,
                    Err(e) => tracing::warn!(chain = %chain.name, "follower: {e}"),
                }
            }
            Ok::<_, HubError>((conn, h, busy))
        })
        .await;
        let mut busy = false;
        match next {
            Ok(Ok((conn, h, b))) => {
                db = Some(conn);
                held = h;
                busy = b;
            }
            Ok(Err(e)) => tracing::warn!("follower: {e}"),
            Err(e) => tracing::warn!("follower: round failed: {e}"),
        }
        let wait = if busy { Duration::ZERO } else { every };
        if pause(wait, &mut stop).await {
            close(db).await;
            return;
        }
    }
}

async fn dispatch(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build();
    let mut db: Option<Db> = None;
    loop {
        let s = Arc::clone(&state);
        let a = agent.clone();
        let conn = db.take();
        let url = state.db_url.clone();
        let next = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(c) => c,
                None => callbacks::connect(&url)?,
            };
            let n = callbacks::round(&s, &mut conn, &a);
            Ok::<_, HubError>((conn, n))
        })
        .await;
        let mut attempted = 0;
        match next {
            Ok(Ok((conn, Ok(n)))) => {
                attempted = n;
                db = Some(conn);
            }
            Ok(Ok((_, Err(e)))) => tracing::warn!("callbacks: {e}"),
            Ok(Err(e)) => tracing::warn!("callbacks: cannot open the database: {e}"),
            Err(e) => tracing::warn!("callbacks: round failed: {e}"),
        }
        if pause(callbacks::pause_after(attempted), &mut stop).await {
            close(db).await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_serve_error_has_its_kind_and_says_what_to_do() {
        let io = || std::io::Error::other("denied");
        crate::error::testing::check_errors([
            (
                ServeError::LockFile {
                    action: "lock",
                    lock_path: "hub.db.serve-lock".into(),
                    source: io(),
                },
                ErrorKind::Input,
                "check the directory's permissions",
            ),
            (
                ServeError::AlreadyServing {
                    path: "hub.db".into(),
                    lock_path: "hub.db.serve-lock".into(),
                },
                ErrorKind::Conflict,
                "stop the other one",
            ),
            (
                ServeError::Listen {
                    addr: "127.0.0.1:8080".parse().unwrap_or_else(|_| unreachable!()),
                    source: io(),
                },
                ErrorKind::Usage,
                "give another --listen",
            ),
            (
                ServeError::Runtime {
                    what: "the server failed",
                    source: io(),
                },
                ErrorKind::Internal,
                "the server failed: denied",
            ),
        ]);
    }
}

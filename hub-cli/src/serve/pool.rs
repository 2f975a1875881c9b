//! A small pool of database connections for the service. The storage layer
//! is synchronous (rusqlite, postgres), so every use runs on tokio's
//! blocking threads; idle connections are kept for the next request.

use crate::{
    db::Db,
    error::{HubError, Result},
};
use std::sync::{Arc, Mutex};

/// Connections to one database.
#[derive(Debug)]
pub(crate) struct Pool {
    url: String,
    idle: Mutex<Vec<Db>>,
    max_idle: usize,
}

impl Pool {
    /// A pool for `url`, keeping at most `max_idle` idle connections.
    pub(crate) fn new(url: &str, max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    fn take(&self) -> Result<Db> {
        if let Some(db) = self.idle.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(db);
        }
        Ok(Db::open(&self.url, false)?)
    }

    fn give(&self, db: Db) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(db);
            }
        }
    }

    /// Runs `f` with a connection on a blocking thread. A connection whose
    /// work failed with a database error is dropped rather than reused.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut db = pool.take()?;
            let out = f(&mut db);
            if !matches!(out, Err(HubError::Db(_))) {
                pool.give(db);
            }
            out
        })
        .await
        .map_err(|e| HubError::Internal(format!("a database task failed: {e}")))?
    }
}

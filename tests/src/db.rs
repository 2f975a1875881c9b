//! A fresh hub database per test: a SQLite file, or a PostgreSQL database
//! created on the server at `COLDSIGN_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped afterwards.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

/// The storage a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's directory.
    Sqlite,
    /// A fresh PostgreSQL database, dropped afterwards.
    Postgres,
}

fn pg_admin_url() -> String {
    std::env::var("COLDSIGN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A test's database.
pub struct TestDb {
    /// What `--db` gets.
    pub url: String,
    pg_name: Option<String>,
}

impl TestDb {
    /// A fresh database: `hub.db` in `dir` for SQLite, a new uniquely named
    /// database for PostgreSQL (dropped again on drop).
    pub fn new(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: dir.join("hub.db").display().to_string(),
                pg_name: None,
            },
            Backend::Postgres => {
                static N: AtomicU64 = AtomicU64::new(0);
                let name = format!(
                    "hub_test_{}_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos())
                        .unwrap_or_default()
                );
                let mut admin = postgres::Client::connect(&pg_admin_url(), postgres::NoTls)
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL at {} is needed by the postgres tests: {e}",
                            pg_admin_url()
                        )
                    });
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                let base = pg_admin_url();
                let prefix = &base[..base.rfind('/').expect("url has a database")];
                Self {
                    url: format!("{prefix}/{name}"),
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl TestDb {
    /// Runs SQL directly on the database (tests use it to simulate a crash
    /// half-way through a command).
    pub fn execute(&self, sql: &str) {
        if self.pg_name.is_some() {
            postgres::Client::connect(&self.url, postgres::NoTls)
                .expect("connect")
                .batch_execute(sql)
                .expect("sql");
        } else {
            rusqlite::Connection::open(&self.url)
                .expect("open")
                .execute_batch(sql)
                .expect("sql");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = postgres::Client::connect(&pg_admin_url(), postgres::NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

//! Versioned schema migrations, applied by `hub-cli migrate` and checked at
//! start-up of every other command.

use super::{params, Backend, Db, DbError};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "item states index",
        sql: include_str!("migrations/0002_item_states_index.sql"),
    },
    Migration {
        version: 3,
        name: "exactly once",
        sql: include_str!("migrations/0003_exactly_once.sql"),
    },
    Migration {
        version: 4,
        name: "order hold",
        sql: include_str!("migrations/0004_order_hold.sql"),
    },
    Migration {
        version: 6,
        name: "service: tenants, api keys, callbacks, outbox",
        sql: include_str!("migrations/0006_service.sql"),
    },
    Migration {
        version: 7,
        name: "deposits",
        sql: include_str!("migrations/0007_deposits.sql"),
    },
];

/// The schema version this program reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = 7;

fn render(sql: &str, backend: Backend) -> String {
    let (id, int) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "BIGINT"),
    };
    sql.replace("{ID}", id).replace("{INT}", int)
}

fn ensure_table(db: &mut Db) -> Result<(), DbError> {
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )
}

fn current_version(db: &mut Db) -> Result<Option<i64>, DbError> {
    let exists = match db.backend() {
        Backend::Sqlite => db.query_opt(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            params![],
        )?,
        Backend::Postgres => db.query_opt(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
            params![],
        )?,
    };
    if exists.is_none() {
        return Ok(None);
    }
    let row = db.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        params![],
    )?;
    Ok(Some(row.int(0)?))
}

/// Applies every migration not yet applied, each in its own transaction.
/// Returns the versions applied. Refuses a database newer than the program.
pub(crate) fn migrate(db: &mut Db) -> Result<Vec<i64>, DbError> {
    ensure_table(db)?;
    let current = current_version(db)?.unwrap_or(0);
    refuse_newer(current)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let sql = render(m.sql, db.backend());
        db.transaction(|db| {
            // Re-check inside the transaction: another process may have
            // applied it meanwhile.
            let done = db.query_opt(
                "SELECT version FROM schema_migrations WHERE version = ?",
                params![m.version],
            )?;
            if done.is_some() {
                return Ok::<_, DbError>(());
            }
            db.batch_execute(&sql)?;
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                params![m.version, m.name, crate::clock::now_rfc3339()],
            )?;
            applied.push(m.version);
            Ok(())
        })?;
    }
    Ok(applied)
}

fn refuse_newer(version: i64) -> Result<(), DbError> {
    if version > SCHEMA_VERSION {
        return Err(DbError::Schema(format!(
            "the database has schema version {version}, newer than this hub-cli \
             (which knows up to version {SCHEMA_VERSION}): upgrade hub-cli; \
             do not use an older one on this database"
        )));
    }
    Ok(())
}

/// Checks at start-up that the schema is exactly the one this program uses.
pub(crate) fn check_version(db: &mut Db) -> Result<(), DbError> {
    match current_version(db)? {
        None | Some(0) => Err(DbError::Schema(
            "the database is not initialised: run `hub-cli migrate` first".to_owned(),
        )),
        Some(v) if v < SCHEMA_VERSION => Err(DbError::Schema(format!(
            "the database has schema version {v}, this hub-cli needs {SCHEMA_VERSION}: \
             run `hub-cli migrate`"
        ))),
        Some(v) => refuse_newer(v),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn migrates_sqlite_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let mut db = Db::open(path.to_str().unwrap(), true).unwrap();
        assert!(check_version(&mut db).is_err());
        assert_eq!(migrate(&mut db).unwrap(), vec![1, 2, 3, 4, 6, 7]);
        assert_eq!(migrate(&mut db).unwrap(), Vec::<i64>::new());
        check_version(&mut db).unwrap();
        db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')",
            params![],
        )
        .unwrap();
        let err = check_version(&mut db).unwrap_err().to_string();
        assert!(err.contains("newer than this hub-cli"), "{err}");
        assert!(migrate(&mut db).is_err());
    }

    #[test]
    fn one_unfinished_batch_per_chain_is_a_constraint() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path().join("hub.db").to_str().unwrap(), true).unwrap();
        migrate(&mut db).unwrap();
        db.execute(
            "INSERT INTO chains (name, chain_id, rpc_url, confirmations, native_symbol,
             native_decimals, base_fee_multiplier_pct, priority_fee_multiplier_pct,
             gas_margin_pct, created_at) VALUES ('c', 1, 'u', 1, 'ETH', 18, 200, 100, 120, 'x')",
            params![],
        )
        .unwrap();
        let insert =
            "INSERT INTO batches (chain, state, created_at, updated_at) VALUES (1, ?, 'x', 'x')";
        db.execute(insert, params!["NEW"]).unwrap();
        assert!(matches!(
            db.execute(insert, params!["BLOCKED"]),
            Err(DbError::Unique(_))
        ));
        db.execute(insert, params!["CLOSED"]).unwrap();
        db.execute(insert, params!["CANCELLED"]).unwrap();
    }
}

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
        version: 5,
        name: "address wallets",
        sql: include_str!("migrations/0005_address_wallets.sql"),
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
    Migration {
        version: 8,
        name: "outbox claim indexes",
        sql: include_str!("migrations/0008_outbox_claim_indexes.sql"),
    },
];

/// The schema version this program reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = 8;

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
    )?;
    // The checksum column came after the table: add it where it is missing.
    let has = match db.backend() {
        Backend::Sqlite => db
            .query_opt(
                "SELECT 1 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
                params![],
            )?
            .is_some(),
        Backend::Postgres => db
            .query_opt(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = 'schema_migrations' AND column_name = 'checksum'",
                params![],
            )?
            .is_some(),
    };
    if !has {
        db.batch_execute("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT")?;
    }
    Ok(())
}

/// The checksum of a migration's SQL as written: keccak-256 of its text.
fn checksum(m: &Migration) -> String {
    coldsign_core::keccak256(m.sql.as_bytes()).to_string()
}

/// Refuses a database whose applied migrations are not the ones this
/// program carries (a migration file edited after it was applied); records
/// the checksums of migrations applied before checksums were kept.
fn check_checksums(db: &mut Db) -> Result<(), DbError> {
    let applied = db.query(
        "SELECT version, checksum FROM schema_migrations ORDER BY version",
        params![],
    )?;
    for r in &applied {
        let version = r.int(0)?;
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == version) else {
            continue;
        };
        match r.opt_text(1)? {
            Some(stored) if stored != checksum(m) => {
                return Err(DbError::Schema(format!(
                    "migration {version} ({}) applied to this database differs from the one this hub-cli carries \
                     (checksum {stored}, expected {}): the migration was edited after it was applied; \
                     use the hub-cli build that applied it, or restore the migration file",
                    m.name,
                    checksum(m)
                )))
            }
            Some(_) => {}
            None => {
                db.execute(
                    "UPDATE schema_migrations SET checksum = ? WHERE version = ?",
                    params![checksum(m), version],
                )?;
            }
        }
    }
    Ok(())
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

/// The versions recorded in `schema_migrations` (the table must exist).
fn applied_versions(db: &mut Db) -> Result<std::collections::BTreeSet<i64>, DbError> {
    db.query("SELECT version FROM schema_migrations", params![])?
        .iter()
        .map(|r| r.int(0))
        .collect()
}

/// Applies every migration not yet applied, in version order, each in its
/// own transaction: also one whose number is below the database's highest
/// (the numbers were given out to work done side by side, so version 5 can
/// land after 6). Returns the versions applied. Refuses a database newer
/// than the program.
pub(crate) fn migrate(db: &mut Db) -> Result<Vec<i64>, DbError> {
    ensure_table(db)?;
    let current = current_version(db)?.unwrap_or(0);
    refuse_newer(current)?;
    check_checksums(db)?;
    let done = applied_versions(db)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
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
                "INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)",
                params![m.version, m.name, crate::clock::now_rfc3339(), checksum(m)],
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

/// Checks at start-up that the schema is exactly the one this program uses:
/// every one of its migrations applied, none newer.
pub(crate) fn check_version(db: &mut Db) -> Result<(), DbError> {
    match current_version(db)? {
        None | Some(0) => Err(DbError::Schema(
            "the database is not initialised: run `hub-cli migrate` first".to_owned(),
        )),
        Some(v) if v < SCHEMA_VERSION => Err(DbError::Schema(format!(
            "the database has schema version {v}, this hub-cli needs {SCHEMA_VERSION}: \
             run `hub-cli migrate`"
        ))),
        Some(v) => {
            refuse_newer(v)?;
            check_checksums(db)?;
            let done = applied_versions(db)?;
            let missing: Vec<String> = MIGRATIONS
                .iter()
                .filter(|m| !done.contains(&m.version))
                .map(|m| format!("{} ({})", m.version, m.name))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(DbError::Schema(format!(
                    "the database lacks schema migration {}: run `hub-cli migrate`",
                    missing.join(", ")
                )))
            }
        }
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
        assert_eq!(migrate(&mut db).unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(migrate(&mut db).unwrap(), Vec::<i64>::new());
        check_version(&mut db).unwrap();
        // An applied migration whose file was edited afterwards is refused.
        db.execute(
            "UPDATE schema_migrations SET checksum = '0xbeef' WHERE version = 2",
            params![],
        )
        .unwrap();
        let err = check_version(&mut db).unwrap_err().to_string();
        assert!(err.contains("was edited after it was applied"), "{err}");
        db.execute(
            "UPDATE schema_migrations SET checksum = NULL WHERE version = 2",
            params![],
        )
        .unwrap();
        check_version(&mut db).unwrap(); // recorded again, as before checksums
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
    fn a_migration_numbered_below_the_highest_is_still_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path().join("hub.db").to_str().unwrap(), true).unwrap();
        migrate(&mut db).unwrap();
        // A database migrated by a build that had version 6 but not 5.
        db.execute("DELETE FROM schema_migrations WHERE version = 5", params![])
            .unwrap();
        db.batch_execute("ALTER TABLE addresses DROP COLUMN wallet_fingerprint")
            .unwrap();
        let err = check_version(&mut db).unwrap_err().to_string();
        assert!(err.contains("lacks schema migration 5"), "{err}");
        assert_eq!(migrate(&mut db).unwrap(), vec![5]);
        check_version(&mut db).unwrap();
        db.query("SELECT wallet_fingerprint FROM addresses", params![])
            .unwrap();
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

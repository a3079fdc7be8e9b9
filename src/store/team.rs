//! Team projects on a PostgreSQL server: connecting (with errors a user can act on), creating
//! a project's schema, migrating it, listing the projects of a database, advisory locks.

use std::cell::RefCell;
use std::path::Path;

use super::db::{Db, Exec, PgConn};
use super::location::{Location, TeamUrl};
use super::{init_project, Result, Store, StoreError, PG_MIGRATIONS, SCHEMA_VERSION};
use crate::domain::TaskKind;

/// `"name"` with quotes doubled: a safe SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn connect_error(url: &TeamUrl, e: postgres::Error) -> StoreError {
    let server = url.server();
    if let Some(db) = e.as_db_error() {
        return match db.code().code() {
            "28P01" | "28000" => StoreError::LoginRefused {
                server,
                reason: format!(
                    "{} (check the user and the password: URL, PGPASSWORD or ~/.pgpass)",
                    db.message()
                ),
            },
            "3D000" => StoreError::NoSuchTeamProject(format!(
                "database {:?} does not exist on {}:{} (the lead creates it: `createdb {}`; see README, Team projects)",
                url.dbname, url.host, url.port, url.dbname
            )),
            _ => StoreError::Postgres(e),
        };
    }
    let text = e.to_string();
    let reason = std::error::Error::source(&e)
        .map(|s| s.to_string())
        .unwrap_or(text.clone());
    if text.contains("password missing") || reason.contains("password missing") {
        return StoreError::LoginRefused {
            server,
            reason: "the server asks for a password: put it in PGPASSWORD, ~/.pgpass or the URL"
                .into(),
        };
    }
    StoreError::Unreachable { server, reason }
}

/// A fresh connection to the URL's database (no project schema selected yet).
pub fn connect(url: &TeamUrl) -> Result<postgres::Client> {
    let config = url.config();
    let r = match super::tls::connector(url.ssl, url.sslrootcert.as_deref())? {
        Some(tls) => config.connect(tls),
        None => config.connect(postgres::NoTls),
    };
    r.map_err(|e| connect_error(url, e))
}

fn with_server(url: &TeamUrl, e: StoreError) -> StoreError {
    match e {
        StoreError::Unreachable { server, reason } if server == super::CONNECTION_BROKE => {
            StoreError::Unreachable {
                server: url.server(),
                reason,
            }
        }
        e => e,
    }
}

/// Names of the yuxuan projects in the URL's database.
pub fn list_projects(url: &TeamUrl) -> Result<Vec<String>> {
    let mut c = connect(url)?;
    list_on(&mut c)
}

fn list_on(c: &mut postgres::Client) -> Result<Vec<String>> {
    let rows = c.query(
        "SELECT substr(nspname, 8) FROM pg_namespace WHERE nspname LIKE 'yuxuan\\_%' ORDER BY 1",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        // Pushes in progress (or interrupted) are not projects yet.
        .filter(|n| !n.contains(super::location::STAGING_MARK))
        .collect())
}

/// Whether the URL's project exists on its server.
pub fn project_exists(url: &TeamUrl) -> Result<bool> {
    let mut c = connect(url)?;
    schema_exists(&mut c, &url.schema())
}

fn schema_exists(c: &mut postgres::Client, schema: &str) -> Result<bool> {
    Ok(c.query_one(
        "SELECT EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        &[&schema],
    )?
    .get(0))
}

pub(super) fn create(url: TeamUrl, path: &Path, name: &str, kind: TaskKind) -> Result<Store> {
    let mut store = create_empty(url.clone(), path)?;
    let r = store.db.write(|tx| init_project(tx, name, kind));
    if let Err(e) = r {
        // Leave nothing half-made behind.
        drop(store);
        let _ = drop_project(&url);
        return Err(with_server(&url, e));
    }
    Ok(store)
}

/// A new project schema with the tables and no rows.
pub(super) fn create_empty(url: TeamUrl, path: &Path) -> Result<Store> {
    let mut client = connect(&url)?;
    let schema = url.schema();
    let q = quote_ident(&schema);
    {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema])?;
        let exists: bool = tx
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )?
            .get(0);
        if exists {
            return Err(StoreError::TeamProjectExists(url.display()));
        }
        tx.batch_execute(&format!(
            "CREATE SCHEMA {q}; SET LOCAL search_path TO {q};
             CREATE TABLE yuxuan_schema (version BIGINT NOT NULL); INSERT INTO yuxuan_schema VALUES (0);"
        ))
        .map_err(|e| match e.as_db_error() {
            Some(d) if d.code().code() == "42501" => StoreError::LoginRefused {
                server: url.server(),
                reason: format!(
                    "{} (creating a team project needs CREATE on database {:?}: `GRANT CREATE ON DATABASE {} TO {}`)",
                    d.message(),
                    url.dbname,
                    url.dbname,
                    url.user
                ),
            },
            _ => e.into(),
        })?;
        for (i, (mname, sql)) in PG_MIGRATIONS.iter().enumerate() {
            tx.batch_execute(sql).map_err(|e| StoreError::Migration {
                name: mname.to_string(),
                reason: e.to_string(),
            })?;
            tx.execute("UPDATE yuxuan_schema SET version = $1", &[&(i as i64 + 1)])?;
        }
        tx.commit()?;
    }
    client.batch_execute(&format!("SET search_path TO {q}"))?;
    Ok(Store {
        db: Db::Pg(Box::new(RefCell::new(PgConn::new(client)))),
        location: Location::Team(url.clone()),
        path: path.to_path_buf(),
        gold_seen: Default::default(),
    })
}

/// Idle connections of this process, by URL: opening a team project again (a background job,
/// a second screen) reuses one instead of logging in again (a few ms, and its prepared
/// statements). A small pool: at most this many idle connections are kept.
const POOL_IDLE_MAX: usize = 4;

static POOL: std::sync::Mutex<Vec<(String, PgConn)>> = std::sync::Mutex::new(Vec::new());

fn pooled(url: &TeamUrl) -> Option<PgConn> {
    let mut pool = POOL.lock().ok()?;
    while let Some(i) = pool.iter().position(|(u, _)| *u == url.raw) {
        let (_, c) = pool.swap_remove(i);
        if c.is_open() {
            return Some(c);
        }
    }
    None
}

/// Keep a connection of a dropped store for the next open of the same URL.
pub(super) fn give_back(url: &TeamUrl, conn: PgConn) {
    if !conn.is_open() {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        if pool.len() >= POOL_IDLE_MAX {
            pool.remove(0);
        }
        pool.push((url.raw.clone(), conn));
    }
}

pub(super) fn open(url: TeamUrl, path: &Path) -> Result<Store> {
    if let Some(conn) = pooled(&url) {
        let store = Store {
            db: Db::Pg(Box::new(RefCell::new(conn))),
            location: Location::Team(url.clone()),
            path: path.to_path_buf(),
            gold_seen: Default::default(),
        };
        // Alive, and still a schema this binary reads (another client may have migrated it).
        match store
            .db
            .one::<i64>("SELECT version FROM yuxuan_schema", &[])
        {
            Ok(v) if v == SCHEMA_VERSION => return Ok(store),
            _ => {}
        }
    }
    let mut client = connect(&url)?;
    let schema = url.schema();
    if !schema_exists(&mut client, &schema).map_err(|e| with_server(&url, e))? {
        let others = list_on(&mut client).unwrap_or_default();
        let there = if others.is_empty() {
            "the database has no projects yet".to_string()
        } else {
            format!("projects there: {}", others.join(", "))
        };
        return Err(StoreError::NoSuchTeamProject(format!(
            "no project {:?} on {} ({there}); create it with `yuxuan new URL` or `yuxuan push FILE URL`",
            url.project,
            url.server()
        )));
    }
    let q = quote_ident(&schema);
    client.batch_execute(&format!("SET search_path TO {q}"))?;
    let has_version: bool = client
        .query_one("SELECT to_regclass('yuxuan_schema') IS NOT NULL", &[])?
        .get(0);
    if !has_version {
        return Err(StoreError::NotAProject(std::path::PathBuf::from(
            url.display(),
        )));
    }
    let mut store = Store {
        db: Db::Pg(Box::new(RefCell::new(PgConn::new(client)))),
        location: Location::Team(url.clone()),
        path: path.to_path_buf(),
        gold_seen: Default::default(),
    };
    store.migrate().map_err(|e| with_server(&url, e))?;
    Ok(store)
}

/// Bring a team project's schema to this binary's version (one transaction, serialized with
/// other clients migrating the same project by an advisory lock).
pub(super) fn migrate(store: &mut Store) -> Result<()> {
    store.db.write(|tx| {
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()))",
            &[],
        )?;
        let found: i64 = tx.one("SELECT version FROM yuxuan_schema", &[])?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: std::path::PathBuf::from(store_display(tx)?),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, (name, sql)) in PG_MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            if version <= found {
                continue;
            }
            tx.batch(sql).map_err(|e| StoreError::Migration {
                name: name.to_string(),
                reason: match &e {
                    StoreError::Postgres(p)
                        if p.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
                    {
                        format!("{e}: this project needs an upgrade that only its owner can run (ask them to open it once with this yuxuan)")
                    }
                    _ => e.to_string(),
                },
            })?;
            tx.execute("UPDATE yuxuan_schema SET version = ?1", &[&version])?;
        }
        if found < SCHEMA_VERSION {
            let schema: String = tx.one("SELECT current_schema()", &[])?;
            pin_functions(tx, &schema)?;
            // Members keep their rights over what the migration added.
            super::roles::regrant(tx, &schema)?;
        }
        Ok(())
    })?;
    if let Db::Pg(c) = &store.db {
        c.borrow_mut().clear_statements();
    }
    Ok(())
}

/// The project's server functions, by signature.
const FUNCTIONS: &[&str] = &[
    "yuxuan_decisions_append_only()",
    "yuxuan_refresh_label()",
    "yuxuan_is_gold(bigint, bigint)",
    "yuxuan_gold_items(bigint)",
    "yuxuan_gold_open(bigint, text)",
];

/// Pin the search path of the project's functions to its schema (some run with the owner's
/// rights: a caller's search path must not choose the tables they see). Done after every
/// migration and after a push renames the staging schema into place.
pub(crate) fn pin_functions(db: &impl Exec, schema: &str) -> Result<()> {
    let q = quote_ident(schema);
    for f in FUNCTIONS {
        db.execute(
            &format!("ALTER FUNCTION {q}.{f} SET search_path = {q}, pg_temp"),
            &[],
        )?;
    }
    Ok(())
}

fn store_display(tx: &super::Tx<'_>) -> Result<String> {
    let s: String = tx.one("SELECT current_schema()", &[])?;
    Ok(format!(
        "team project {}",
        s.strip_prefix("yuxuan_").unwrap_or(&s)
    ))
}

/// Remove a team project and everything in it (tests, and `yuxuan team drop`).
pub fn drop_project(url: &TeamUrl) -> Result<bool> {
    let mut c = connect(url)?;
    let schema = url.schema();
    if !schema_exists(&mut c, &schema)? {
        return Ok(false);
    }
    c.batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(&schema)))?;
    Ok(true)
}

/// How long [`Store::try_team_lock`] waits for a lock another client holds.
pub const TEAM_LOCK_GRACE_S: u32 = 3;

/// A session-level advisory lock on a team project, held while the guard lives (on its own
/// connection, so it ends with the process however that ends).
pub struct TeamLock {
    _client: postgres::Client,
}

impl Store {
    /// Take the project's lock named `what` (e.g. training a label set); `None` when another
    /// client holds it for longer than [`TEAM_LOCK_GRACE_S`]. The grace covers a holder that
    /// was just killed: the server releases its lock only once it has noticed the closed
    /// connection. Project files: always granted (SQLite serializes writers and training's
    /// crash recovery is per process).
    pub fn try_team_lock(&self, what: &str) -> Result<Option<Option<TeamLock>>> {
        let Location::Team(url) = &self.location else {
            return Ok(Some(None));
        };
        let mut c = connect(url)?;
        let key = format!("{}:{what}", url.schema());
        let got: bool = c
            .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key])?
            .get(0);
        if got {
            return Ok(Some(Some(TeamLock { _client: c })));
        }
        c.batch_execute(&format!("SET lock_timeout = '{TEAM_LOCK_GRACE_S}s'"))?;
        match c.execute("SELECT pg_advisory_lock(hashtext($1))", &[&key]) {
            Ok(_) => {
                c.batch_execute("SET lock_timeout = 0")?;
                Ok(Some(Some(TeamLock { _client: c })))
            }
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The database's clock in milliseconds since the Unix epoch (leases use one clock for
    /// every workstation).
    pub fn server_now_ms(&self) -> Result<i64> {
        match self.db.backend() {
            super::Backend::Postgres => self.db.one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            ),
            super::Backend::Sqlite => Ok(chrono::Utc::now().timestamp_millis()),
        }
    }
}

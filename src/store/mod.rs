//! The project store: the only place with SQL. A project is one SQLite file (one person, the
//! default) or one schema of a PostgreSQL database (a team project, `postgres://…?project=`);
//! both are behind this one API (`db.rs` holds the two backends' glue, `location.rs` the URL).
//!
//! Opening applies the numbered migrations of its backend (`migrations/sqlite/`,
//! `migrations/postgres/`, embedded in the binary, the same version numbers) in order, inside
//! one transaction, and records the version (`PRAGMA user_version`; the `yuxuan_schema` table).
//! A project whose schema is newer than this binary is refused. SQLite connections run in WAL
//! mode with `foreign_keys=ON`, `synchronous=FULL` (a decision acknowledged as saved survives a
//! power cut) and a busy timeout, so several processes can work on one project; PostgreSQL
//! commits are durable when acknowledged (the server's `synchronous_commit`).
//!
//! Submodules own the queries of one concern each.

pub mod boxes;
pub mod crawl;
pub mod db;
pub mod decisions;
pub mod embeddings;
pub mod exchange;
pub mod files;
pub mod forms;
pub mod images;
pub mod items;
pub mod labels;
pub mod leases;
pub mod location;
pub mod models;
pub mod outbox;
pub mod predictions;
pub mod probe;
pub mod quality;
pub mod queue;
pub mod recovery;
pub mod review;
pub mod roles;
pub mod suspects;
pub mod team;
pub mod tls;
pub mod training;
pub mod transfer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use db::Backend;
pub(crate) use db::{Db, Exec, Tx};
pub use location::{Location, TeamUrl};

use crate::domain::{ProjectInfo, TaskKind};

/// Embedded migrations of project files, in order. Index + 1 is the schema version.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        "0002_embeddings",
        include_str!("../../migrations/sqlite/0002_embeddings.sql"),
    ),
    (
        "0003_team",
        include_str!("../../migrations/sqlite/0003_team.sql"),
    ),
    (
        "0004_quality",
        include_str!("../../migrations/sqlite/0004_quality.sql"),
    ),
    (
        "0005_suspects",
        include_str!("../../migrations/sqlite/0005_suspects.sql"),
    ),
    (
        "0006_crawl",
        include_str!("../../migrations/sqlite/0006_crawl.sql"),
    ),
    (
        "0007_queue_indexes",
        include_str!("../../migrations/sqlite/0007_queue_indexes.sql"),
    ),
    (
        "0008_objects",
        include_str!("../../migrations/sqlite/0008_objects.sql"),
    ),
];

/// Embedded migrations of team projects: the same versions, PostgreSQL's dialect.
pub const PG_MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_embeddings",
        include_str!("../../migrations/postgres/0002_embeddings.sql"),
    ),
    (
        "0003_team",
        include_str!("../../migrations/postgres/0003_team.sql"),
    ),
    (
        "0004_quality",
        include_str!("../../migrations/postgres/0004_quality.sql"),
    ),
    (
        "0005_suspects",
        include_str!("../../migrations/postgres/0005_suspects.sql"),
    ),
    (
        "0006_crawl",
        include_str!("../../migrations/postgres/0006_crawl.sql"),
    ),
    (
        "0007_queue_indexes",
        include_str!("../../migrations/postgres/0007_queue_indexes.sql"),
    ),
    (
        "0008_objects",
        include_str!("../../migrations/postgres/0008_objects.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The `server` of an `Unreachable` error raised on an open connection (the caller that knows
/// the URL names the server instead).
pub(crate) const CONNECTION_BROKE: &str = "(the open connection broke)";

/// How long a writer waits for another process's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the store, with what the user can do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("project file {0} does not exist (create it with `yuxuan new`)")]
    NotFound(PathBuf),
    #[error("project file {0} already exists")]
    AlreadyExists(PathBuf),
    #[error(
        "project {path} has schema version {found}, newer than this yuxuan supports ({supported}); \
         upgrade yuxuan to open it"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{0} is not a yuxuan project (no project row)")]
    NotAProject(PathBuf),
    #[error("invalid project location {0}")]
    BadLocation(String),
    #[error("{0}")]
    NoSuchTeamProject(String),
    #[error("team project {0} already exists")]
    TeamProjectExists(String),
    #[error("cannot reach the team server {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("the team server {server} refused the login: {reason}")]
    LoginRefused { server: String, reason: String },
    #[error("migration {name} failed: {reason}")]
    Migration { name: String, reason: String },
    #[error("the project database is full (disk full or size limit reached); nothing already saved was lost")]
    Full(#[source] rusqlite::Error),
    #[error("the project file is read-only; open a writable copy to make changes")]
    ReadOnly(#[source] rusqlite::Error),
    #[error("the project is locked by another process for longer than {0:?}")]
    Busy(Duration, #[source] rusqlite::Error),
    #[error("unknown label {label:?} in label set {set:?}")]
    UnknownLabel { set: String, label: String },
    #[error("unknown label set {0:?}")]
    UnknownLabelSet(String),
    #[error("no item with id {0}")]
    UnknownItem(i64),
    #[error("nothing to {0}")]
    NothingTo(&'static str),
    #[error("invalid data in the project: {0}")]
    Invalid(String),
    #[error("the query returned no row")]
    NoRows,
    #[error("{0}")]
    Conflict(String),
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("team server error: {0}")]
    Postgres(#[source] postgres::Error),
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the server (or the connection to it) is gone: the app keeps working offline.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Postgres(e) => {
                e.is_closed()
                    || e.as_db_error().is_some_and(|d| {
                        let c = d.code().code();
                        // admin/crash shutdown, cannot connect now, connection exceptions
                        matches!(c, "57P01" | "57P02" | "57P03") || c.starts_with("08")
                    })
            }
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
            return StoreError::NoRows;
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full(e),
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(e),
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StoreError::Busy(BUSY_TIMEOUT, e)
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if e.as_db_error().is_none() && (e.is_closed() || std::error::Error::source(&e).is_some()) {
            let reason = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            return StoreError::Unreachable {
                server: CONNECTION_BROKE.into(),
                reason,
            };
        }
        StoreError::Postgres(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open project.
pub struct Store {
    db: Db,
    location: Location,
    /// The location as given: the file path, or the team URL (what `reopen` uses).
    path: PathBuf,
    /// When this connection last looked whether a label set has gold items (`quality`).
    gold_seen: std::cell::Cell<Option<(std::time::Instant, i64, bool)>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let (Db::Pg(_), Location::Team(url)) = (&self.db, &self.location) {
            let url = url.clone();
            if let Db::Pg(c) = std::mem::replace(&mut self.db, Db::Closed) {
                team::give_back(&url, c.into_inner());
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location.display())
            .finish()
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Insert the project row and the default label sets of its kind.
fn init_project(tx: &Tx<'_>, name: &str, kind: TaskKind) -> Result<()> {
    tx.execute(
        "INSERT INTO project (id, name, kind, created_at) VALUES (1, ?1, ?2, ?3)",
        &[&name, &kind.as_str(), &now()],
    )?;
    for (set, target) in crate::kinds::spec(kind).label_sets {
        tx.execute(
            "INSERT INTO label_sets (name, target) VALUES (?1, ?2)",
            &[set, &target.as_str()],
        )?;
    }
    Ok(())
}

impl Store {
    /// Create a project of `kind` as its task-kind row says: what the user gave is checked
    /// first (nothing is created when it is wrong), then the project, its labels and settings.
    pub fn create_project(
        path: &Path,
        name: &str,
        kind: TaskKind,
        new: &crate::kinds::NewProject,
    ) -> Result<Store> {
        let start = (crate::kinds::spec(kind).new_project)(new).map_err(StoreError::Invalid)?;
        let mut store = Store::create(path, name, kind)?;
        for (set, labels) in &start.labels {
            if !labels.is_empty() {
                store.add_labels(set, labels)?;
            }
        }
        for (key, value) in start.settings {
            store.set_setting(key, value)?;
        }
        Ok(store)
    }

    /// Create a new project (a file, or a team project on a server) with the default label
    /// sets of its kind.
    pub fn create(path: &Path, name: &str, kind: TaskKind) -> Result<Store> {
        match Location::parse(path)? {
            Location::Team(url) => team::create(url, path, name, kind),
            Location::File(_) => {
                let mut store = Store::new_file(path)?;
                store.db.write(|tx| init_project(tx, name, kind))?;
                Ok(store)
            }
        }
    }

    /// Open an existing project (a file path or a team URL), migrating it to the current schema.
    pub fn open(path: &Path) -> Result<Store> {
        let location = Location::parse(path)?;
        let store = match location {
            Location::Team(url) => team::open(url, path)?,
            Location::File(_) => {
                if !path.exists() {
                    return Err(StoreError::NotFound(path.to_path_buf()));
                }
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .or_else(|_| Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY))?;
                Store::on_sqlite(conn, path)?
            }
        };
        store.project().map_err(|e| match e {
            StoreError::NoRows => StoreError::NotAProject(PathBuf::from(store.location.display())),
            e => e,
        })?;
        // Training runs of a process that is gone become "interrupted" (a read-only file keeps them).
        let _ = store.recover_interrupted_runs();
        Ok(store)
    }

    /// A new project file with the schema and no rows.
    fn new_file(path: &Path) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        Store::on_sqlite(Connection::open(path)?, path)
    }

    /// A store on an open SQLite connection: configured and migrated.
    fn on_sqlite(conn: Connection, path: &Path) -> Result<Store> {
        let mut store = Store {
            db: Db::Sqlite(conn),
            location: Location::File(path.to_path_buf()),
            path: path.to_path_buf(),
            gold_seen: Default::default(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Open a second connection to the same project (for a background job's thread).
    pub fn reopen(&self) -> Result<Store> {
        Store::open(&self.path)
    }

    fn configure(&mut self) -> Result<()> {
        let Db::Sqlite(conn) = &self.db else {
            return Ok(());
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode returns a row; a read-only file keeps its mode.
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap_or_else(|_| "unchanged".into());
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
        Ok(())
    }

    /// Schema version recorded in the project.
    pub fn schema_version(&self) -> Result<i64> {
        match &self.db {
            Db::Sqlite(c) => Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?),
            Db::Pg(_) | Db::Closed => self.db.one("SELECT version FROM yuxuan_schema", &[]),
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: PathBuf::from(self.location.display()),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let Db::Sqlite(conn) = &mut self.db else {
            return team::migrate(self);
        };
        // Some migrations rebuild a table (SQLite cannot alter a CHECK constraint): foreign
        // keys are off while they run and checked before the commit, as SQLite prescribes.
        conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        let r = Self::migrate_sqlite(conn);
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        r
    }

    fn migrate_sqlite(conn: &mut Connection) -> Result<()> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            if version <= found {
                continue;
            }
            tx.execute_batch(sql)
                .map_err(|source| StoreError::Migration {
                    name: name.to_string(),
                    reason: source.to_string(),
                })?;
            tx.pragma_update(None, "user_version", version)?;
        }
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(StoreError::Migration {
                name: "foreign key check".into(),
                reason: format!("table {table} has rows whose references are gone"),
            });
        }
        tx.commit()?;
        Ok(())
    }

    /// The location as given (a file path, or the team URL as a path-like string).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Which engine this project is on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Whether this is a team project (on a server).
    pub fn is_team(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// The connection, for the store's submodules.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub fn project(&self) -> Result<ProjectInfo> {
        let (name, kind, created_at, settings): (String, String, String, String) =
            self.db.query_row(
                "SELECT name, kind, created_at, settings_json FROM project WHERE id = 1",
                &[],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
        let kind = TaskKind::parse(&kind)
            .ok_or_else(|| StoreError::Invalid(format!("task kind {kind:?}")))?;
        let settings = serde_json::from_str(&settings).unwrap_or_default();
        Ok(ProjectInfo {
            name,
            kind,
            created_at,
            settings,
        })
    }

    /// Read one project setting (JSON value) by key.
    pub fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.project()?.settings.get(key).cloned())
    }

    /// Set one project setting (JSON value).
    pub fn set_setting(&self, key: &str, value: serde_json::Value) -> Result<()> {
        let mut settings = self.project()?.settings;
        settings.insert(key.to_string(), value);
        self.db.execute(
            "UPDATE project SET settings_json = ?1 WHERE id = 1",
            &[&serde_json::to_string(&settings).expect("json map serializes")],
        )?;
        Ok(())
    }

    /// `PRAGMA integrity_check` result ("ok" when healthy; team projects: the server's job).
    pub fn integrity_check(&self) -> Result<String> {
        match &self.db {
            Db::Sqlite(c) => Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?),
            Db::Pg(_) | Db::Closed => Ok("ok".into()),
        }
    }

    /// Limit the file's size in pages (for tests that simulate a full disk).
    pub fn set_max_page_count(&self, pages: i64) -> Result<i64> {
        match &self.db {
            Db::Sqlite(c) => Ok(c.query_row(
                &format!("PRAGMA max_page_count = {pages}"),
                [],
                |r| r.get(0),
            )?),
            Db::Pg(_) | Db::Closed => Err(StoreError::Invalid(
                "page limits apply to project files only".into(),
            )),
        }
    }

    /// The SQLite library version linked in.
    pub fn sqlite_version() -> &'static str {
        rusqlite::version()
    }

    /// Run `f` in one write transaction (see [`Db::write`]).
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.write(f)
    }
}

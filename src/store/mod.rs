//! The project store: the only place with SQL. One project = one SQLite file.
//!
//! Opening applies the numbered migrations in `migrations/` (embedded in the binary) in order,
//! inside one transaction, and records the version in `PRAGMA user_version`. A file whose
//! schema is newer than this binary is refused. Connections run in WAL mode with
//! `foreign_keys=ON`, `synchronous=FULL` (a decision acknowledged as saved survives a power
//! cut) and a busy timeout, so several processes can work on one project.
//!
//! Submodules own the queries of one concern each.

pub mod decisions;
pub mod embeddings;
pub mod exchange;
pub mod forms;
pub mod images;
pub mod items;
pub mod labels;
pub mod models;
pub mod predictions;
pub mod probe;
pub mod queue;
pub mod recovery;
pub mod review;
pub mod training;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::domain::{ProjectInfo, TaskKind};

/// Embedded migrations, in order. Index + 1 is the schema version they bring the file to.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_embeddings",
        include_str!("../../migrations/0002_embeddings.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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
    #[error("migration {name} failed")]
    Migration {
        name: String,
        #[source]
        source: rusqlite::Error,
    },
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
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
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

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open project.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Create a new project file with the default label sets of its kind.
    pub fn create(path: &Path, name: &str, kind: TaskKind) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        let conn = Connection::open(path)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        let tx = store.conn.transaction()?;
        tx.execute(
            "INSERT INTO project (id, name, kind, created_at) VALUES (1, ?1, ?2, ?3)",
            rusqlite::params![name, kind.as_str(), now()],
        )?;
        match kind {
            TaskKind::Image => {
                tx.execute(
                    "INSERT INTO label_sets (name, target) VALUES ('class', 'image')",
                    [],
                )?;
            }
            TaskKind::Form => {
                tx.execute(
                    "INSERT INTO label_sets (name, target) VALUES ('field_type', 'field'), ('industry', 'page')",
                    [],
                )?;
            }
        }
        tx.commit()?;
        Ok(store)
    }

    /// Open an existing project, migrating it to the current schema.
    pub fn open(path: &Path) -> Result<Store> {
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
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        store.project().map_err(|e| match e {
            StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows) => {
                StoreError::NotAProject(path.to_path_buf())
            }
            e => e,
        })?;
        // Training runs of a process that is gone become "interrupted" (a read-only file keeps them).
        let _ = store.recover_interrupted_runs();
        Ok(store)
    }

    /// Open a second connection to the same project (for a background job's thread).
    pub fn reopen(&self) -> Result<Store> {
        Store::open(&self.path)
    }

    fn configure(&mut self) -> Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode returns a row; a read-only file keeps its mode.
        let _: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap_or_else(|_| "unchanged".into());
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
        Ok(())
    }

    /// Schema version recorded in the file.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<()> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
                    source,
                })?;
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for the store's submodules.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn project(&self) -> Result<ProjectInfo> {
        let (name, kind, created_at, settings): (String, String, String, String) =
            self.conn.query_row(
                "SELECT name, kind, created_at, settings_json FROM project WHERE id = 1",
                [],
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
        self.conn.execute(
            "UPDATE project SET settings_json = ?1 WHERE id = 1",
            [serde_json::to_string(&settings).expect("json map serializes")],
        )?;
        Ok(())
    }

    /// `PRAGMA integrity_check` result ("ok" when healthy).
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Limit the file's size in pages (for tests that simulate a full disk).
    pub fn set_max_page_count(&self, pages: i64) -> Result<i64> {
        Ok(self
            .conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })?)
    }

    /// The SQLite library version linked in.
    pub fn sqlite_version() -> &'static str {
        rusqlite::version()
    }

    /// Run `f` in one IMMEDIATE transaction (taking the write lock up front avoids
    /// deadlock-style SQLITE_BUSY between two writers upgrading read locks).
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

//! Where an item's file and a model's weights are read from.
//!
//! A project file refers to the images and pages on disk (paths relative to the project's
//! folder, or absolute) and keeps model weights in `<project>.models/`. A team project keeps
//! the bytes of every item (deduplicated by content hash) and every model's weights
//! (checksummed) in the database, so each workstation sees the same files; reading one
//! materializes it once into the local cache (`$YUXUAN_CACHE/team/…`). A team project created
//! with `--reference-paths` stores only the paths, for teams with a shared mount.

use std::path::{Path, PathBuf};

use super::db::Exec;
use super::{Result, Store, StoreError};

/// Project setting: only paths are stored, the files stay on a shared mount.
pub const REFERENCE_PATHS: &str = "reference_paths";

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| io(path, e))?;
    tmp.persist(path).map_err(|e| io(path, e.error))?;
    Ok(())
}

use super::location::safe_component as sanitize;

impl Store {
    /// The folder relative paths of this project are resolved against (project files: the
    /// project's folder; team projects: this workstation's cache for the project).
    pub fn base_dir(&self) -> PathBuf {
        self.location.base_dir()
    }

    /// Where model files are written: `<project file>.models/`, or the team project's cache.
    pub fn models_dir(&self) -> PathBuf {
        self.location.models_dir()
    }

    /// A file under [`Store::base_dir`] as the relative path the project records (other
    /// files: absolute).
    pub fn relative_path(&self, file: &Path) -> String {
        file.strip_prefix(self.base_dir())
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned()
    }

    /// Whether item bytes live in the database (team projects without `--reference-paths`).
    pub fn keeps_file_bytes(&self) -> Result<bool> {
        if !self.is_team() {
            return Ok(false);
        }
        Ok(!matches!(
            self.setting(REFERENCE_PATHS)?,
            Some(serde_json::Value::Bool(true))
        ))
    }

    /// An item's source path as a path on this machine (relative paths against the project's
    /// folder).
    pub fn resolve_source(&self, source: &str) -> PathBuf {
        self.location.resolve_source(source)
    }

    /// A readable local file with the item's bytes: the source file itself, or (team projects
    /// keeping bytes) the cached copy of the stored bytes, fetched once.
    pub fn local_file(&self, source: &str, content_hash: Option<&str>) -> Result<PathBuf> {
        let keep = self.keeps_file_bytes()?;
        self.local_file_with(keep, source, content_hash)
    }

    /// [`Store::local_file`] with [`Store::keeps_file_bytes`] already known (lists of items).
    pub(crate) fn local_file_with(
        &self,
        keeps_bytes: bool,
        source: &str,
        content_hash: Option<&str>,
    ) -> Result<PathBuf> {
        let stored = match content_hash {
            Some(h) if keeps_bytes => h,
            // A project file uses the file on disk; a pulled snapshot whose file is not on this
            // machine falls back to the bytes it carries.
            Some(h) if !self.is_team() => {
                let p = self.resolve_source(source);
                if p.exists() || !self.has_item_file(h)? {
                    return Ok(p);
                }
                h
            }
            _ => return Ok(self.resolve_source(source)),
        };
        let ext = Path::new(source)
            .extension()
            .map(|e| format!(".{}", sanitize(&e.to_string_lossy())))
            .unwrap_or_default();
        let cached = crate::assets::cache_dir()
            .join("team-files")
            .join(stored.get(..2).unwrap_or("00"))
            .join(format!("{}{ext}", sanitize(stored)));
        if cached.exists() {
            return Ok(cached);
        }
        match self.item_file(stored)? {
            Some(bytes) => {
                write_atomic(&cached, &bytes)?;
                Ok(cached)
            }
            // Pushed without its file (it was missing on the pushing machine): the path.
            None => Ok(self.resolve_source(source)),
        }
    }

    /// Store an item's bytes under its content hash (kept once however many items share it).
    pub fn put_item_file(&self, content_hash: &str, bytes: &[u8]) -> Result<()> {
        self.db().execute(
            "INSERT INTO item_files (content_hash, bytes) VALUES (?1, ?2) ON CONFLICT (content_hash) DO NOTHING",
            &[&content_hash, &bytes],
        )?;
        Ok(())
    }

    /// The stored bytes of a content hash.
    pub fn item_file(&self, content_hash: &str) -> Result<Option<Vec<u8>>> {
        self.db().query_opt(
            "SELECT bytes FROM item_files WHERE content_hash = ?1",
            &[&content_hash],
            |r| r.get(0),
        )
    }

    /// Whether the bytes of a content hash are stored.
    pub fn has_item_file(&self, content_hash: &str) -> Result<bool> {
        self.db().one(
            "SELECT EXISTS(SELECT 1 FROM item_files WHERE content_hash = ?1)",
            &[&content_hash],
        )
    }

    /// The stored weights of a model: (checksum, bytes).
    pub fn model_file(&self, model_id: i64) -> Result<Option<(String, Vec<u8>)>> {
        self.db().query_opt(
            "SELECT sha256, bytes FROM model_files WHERE model_id = ?1",
            &[&model_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Store a model's weights (team projects; replaces earlier bytes of the same model).
    pub fn put_model_file(&self, model_id: i64, checksum: &str, bytes: &[u8]) -> Result<()> {
        self.db().execute(
            "INSERT INTO model_files (model_id, sha256, bytes) VALUES (?1, ?2, ?3)
             ON CONFLICT (model_id) DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes",
            &[&model_id, &checksum, &bytes],
        )?;
        Ok(())
    }

    /// A model's weights as a local file: the registered path (project files), or the cached
    /// copy of the stored weights, fetched and checked against the checksum once.
    pub fn model_weights_file(&self, model: &crate::domain::ModelInfo) -> Result<Option<PathBuf>> {
        let Some(rel) = model.weights_path.as_ref() else {
            return Ok(None);
        };
        let local = self.resolve_source(rel);
        if !self.is_team() {
            return Ok(Some(local));
        }
        let fresh = |p: &Path| -> bool {
            match (&model.weights_sha256, crate::assets::file_checksum(p)) {
                (Some(want), Ok(got)) => *want == got,
                (None, Ok(_)) => true,
                _ => false,
            }
        };
        if local.exists() && fresh(&local) {
            return Ok(Some(local));
        }
        let Some((sum, bytes)) = self.model_file(model.id)? else {
            return Ok(Some(local));
        };
        let got = blake3::hash(&bytes).to_hex().to_string();
        if got != sum {
            return Err(StoreError::Invalid(format!(
                "stored weights of model {} are damaged (checksum {got}, expected {sum})",
                model.id
            )));
        }
        write_atomic(&local, &bytes)?;
        Ok(Some(local))
    }
}

//! All-or-nothing output folders: an export writes into a hidden temp folder next to the
//! target (same file system, so the final rename is atomic) and renames it into place only
//! when everything was written. Dropping an uncommitted [`AtomicDir`] (error, cancel, panic)
//! deletes the temp folder, so a failed export never leaves a half dataset behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ExchangeError;

/// A folder being written; becomes `target` on [`AtomicDir::commit`].
#[derive(Debug)]
pub struct AtomicDir {
    target: PathBuf,
    tmp: Option<tempfile::TempDir>,
    overwrite: bool,
}

impl AtomicDir {
    /// Start writing `target`. Refused when `target` exists and is not an empty folder,
    /// unless `overwrite` (the old folder is then replaced at commit, not before).
    pub fn create(target: &Path, overwrite: bool) -> Result<AtomicDir, ExchangeError> {
        let name = target
            .file_name()
            .ok_or_else(|| {
                ExchangeError::BadOutput(target.to_path_buf(), "it has no folder name".into())
            })?
            .to_string_lossy()
            .into_owned();
        if target.exists() && !overwrite && !is_empty_dir(target) {
            return Err(ExchangeError::Exists(target.to_path_buf()));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| ExchangeError::io(&parent, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-"))
            .tempdir_in(&parent)
            .map_err(|e| ExchangeError::io(&parent, e))?;
        Ok(AtomicDir {
            target: target.to_path_buf(),
            tmp: Some(tmp),
            overwrite,
        })
    }

    /// The temp folder to write into.
    pub fn path(&self) -> &Path {
        self.tmp.as_ref().expect("not committed").path()
    }

    /// The final folder.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Create a file (and its parent folders) inside the temp folder, buffered.
    pub fn create_file(&self, rel: &Path) -> Result<Sink, ExchangeError> {
        let path = self.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| ExchangeError::io(p, e))?;
        }
        let f = File::create(&path).map_err(|e| ExchangeError::io(&path, e))?;
        Ok(Sink {
            w: BufWriter::with_capacity(1 << 16, f),
            path,
        })
    }

    /// Move the finished folder into place. An existing empty target folder (or, with
    /// `overwrite`, any existing target) is replaced.
    pub fn commit(mut self) -> Result<PathBuf, ExchangeError> {
        let tmp = self.tmp.take().expect("commit once");
        // Make the data durable before it becomes visible.
        sync_tree(tmp.path());
        let tmp_path = tmp.keep();
        let cleanup = |e: ExchangeError| {
            let _ = std::fs::remove_dir_all(&tmp_path);
            e
        };
        if self.target.exists() {
            if is_empty_dir(&self.target) {
                std::fs::remove_dir(&self.target)
                    .map_err(|e| cleanup(ExchangeError::io(&self.target, e)))?;
            } else if self.overwrite {
                let old = tmp_path.with_file_name(format!(
                    "{}.old",
                    tmp_path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ));
                std::fs::rename(&self.target, &old)
                    .map_err(|e| cleanup(ExchangeError::io(&self.target, e)))?;
                if let Err(e) = std::fs::rename(&tmp_path, &self.target) {
                    let _ = std::fs::rename(&old, &self.target);
                    return Err(cleanup(ExchangeError::io(&self.target, e)));
                }
                let _ = if old.is_dir() {
                    std::fs::remove_dir_all(&old)
                } else {
                    std::fs::remove_file(&old)
                };
                return Ok(self.target.clone());
            } else {
                return Err(cleanup(ExchangeError::Exists(self.target.clone())));
            }
        }
        std::fs::rename(&tmp_path, &self.target)
            .map_err(|e| cleanup(ExchangeError::io(&self.target, e)))?;
        if let Some(p) = self.target.parent() {
            if let Ok(d) = File::open(p) {
                let _ = d.sync_all();
            }
        }
        Ok(self.target.clone())
    }
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

fn sync_tree(p: &Path) {
    // Best effort: file contents were flushed by their writers; sync the folder entries.
    if let Ok(d) = File::open(p) {
        let _ = d.sync_all();
    }
}

/// A buffered output file that remembers its path for error messages.
#[derive(Debug)]
pub struct Sink {
    w: BufWriter<File>,
    path: PathBuf,
}

impl Sink {
    pub fn write_all(&mut self, b: &[u8]) -> Result<(), ExchangeError> {
        self.w
            .write_all(b)
            .map_err(|e| ExchangeError::io(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying writer (for `csv::Writer`); errors surface at [`Sink::finish`].
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.w
    }

    /// Flush without fsync (many small files; the folder is synced at commit).
    pub fn close(mut self) -> Result<(), ExchangeError> {
        self.w.flush().map_err(|e| ExchangeError::io(&self.path, e))
    }

    /// Flush and fsync.
    pub fn finish(mut self) -> Result<(), ExchangeError> {
        self.w
            .flush()
            .map_err(|e| ExchangeError::io(&self.path, e))?;
        self.w
            .get_ref()
            .sync_all()
            .map_err(|e| ExchangeError::io(&self.path, e))
    }
}

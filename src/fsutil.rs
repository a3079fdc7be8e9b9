//! Files that are never seen half-written: write a temp file next to the target (same folder,
//! so the rename is atomic; same extension, for writers that pick the format by extension),
//! fsync it, rename it into place, fsync the folder. A failed write removes the temp file.
//! Folders of many files (exports) use `exchange::atomic::AtomicDir`.

use std::io;
use std::path::{Path, PathBuf};

/// The temp path used for `path` (hidden, per process, same extension).
pub fn temp_path_for(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    dir.join(format!(".{stem}.tmp-{}{ext}", std::process::id()))
}

/// Write `path` atomically: `write` fills the temp path it is given; on success the temp file
/// is synced and renamed over `path`. Parent folders are created.
pub fn write_atomic<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> anyhow::Result<()>
where
    E: Into<anyhow::Error>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("creating folder {}: {e}", dir.display()))?;
    let tmp = temp_path_for(path);
    let result = (|| -> anyhow::Result<()> {
        write(&tmp).map_err(Into::into)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path).map_err(|e| {
            anyhow::anyhow!("renaming {} to {}: {e}", tmp.display(), path.display())
        })?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Write `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, |tmp| std::fs::write(tmp, bytes))
}

/// Copy `src` to `dst` atomically.
pub fn copy_atomic(src: &Path, dst: &Path) -> anyhow::Result<()> {
    write_atomic(dst, |tmp| {
        std::fs::copy(src, tmp)
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), format!("copying {}: {e}", src.display())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("m.safetensors");
        write_bytes_atomic(&p, b"one").unwrap();
        write_bytes_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let err = write_atomic(&p, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err::<(), _>(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"two", "the old file stays");
        assert_eq!(
            std::fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temp left"
        );
        assert!(temp_path_for(&p)
            .to_string_lossy()
            .ends_with(".safetensors"));
    }
}

//! Durable, atomic replacement of a file: the one way the runtime writes files (`.npy`,
//! `.npz`, checkpoints), so that a crash at any moment leaves either the old file or the new
//! one, never a mixture, and a file reported as written is on disk.
//!
//! The bytes go to a temporary file in the target's directory (`.<name>.tmp.<pid>.<n>`), which
//! is flushed to disk (`fsync`) and renamed over the target; then the directory is flushed, so
//! that the rename itself survives a power loss. On error the temporary file is removed and
//! the target is untouched. A process killed while writing leaves its temporary file behind
//! (never a damaged target); such files may be deleted.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Why [`write_durably`] failed.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// The path ends in `..` or a separator.
    NoFileName,
    /// Creating, writing or flushing the temporary file failed.
    Temporary(PathBuf, std::io::Error),
    /// Renaming the temporary file over the target failed.
    Rename(PathBuf, std::io::Error),
    /// The file is in place, but flushing its directory failed.
    Directory(PathBuf, std::io::Error),
}

impl WriteFailure {
    /// Whether the new file is in place (only its directory entry may not be on disk yet).
    pub(crate) fn written(&self) -> bool {
        matches!(self, WriteFailure::Directory(..))
    }
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteFailure::NoFileName => {
                write!(f, "the path names no file (it ends in `..` or a separator)")
            }
            WriteFailure::Temporary(tmp, e) => {
                write!(
                    f,
                    "writing the temporary file `{}` failed: {e}",
                    tmp.display()
                )
            }
            WriteFailure::Rename(tmp, e) => write!(
                f,
                "renaming the temporary file `{}` over it failed: {e}",
                tmp.display()
            ),
            WriteFailure::Directory(dir, e) => write!(
                f,
                "it was written, but flushing its directory `{}` to disk failed: {e}",
                dir.display()
            ),
        }
    }
}

/// Writes `bytes` to `path` as the [module documentation](self) says.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::result::Result<(), WriteFailure> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or(WriteFailure::NoFileName)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(WriteFailure::Temporary(tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(WriteFailure::Rename(tmp, e));
    }
    sync_dir(dir).map_err(|e| WriteFailure::Directory(dir.to_path_buf(), e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Writes `bytes` to `path` durably and atomically (see the [module documentation](self)).
/// Errors are [`Error::File`] naming the file and the step that failed.
///
/// ```
/// use vle_runtime::io::write_atomic;
/// let path = std::env::temp_dir().join(format!("vle-doc-io-atomic-{}.txt", std::process::id()));
/// write_atomic(&path, b"first")?;
/// write_atomic(&path, b"second")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"second");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vle_runtime::Error>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    write_durably(path, bytes).map_err(|e| Error::File {
        path: path.display().to_string(),
        problem: if e.written() {
            e.to_string()
        } else {
            format!("cannot write: {e}")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("vle-atomic-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary files");
        // A directory in the way: the rename fails, the directory and its content stay.
        let taken = dir.join("taken");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join("keep"), b"x").unwrap();
        let e = write_atomic(&taken, b"y").unwrap_err().to_string();
        assert!(e.contains("taken") && e.contains("renaming"), "{e}");
        assert_eq!(fs::read(taken.join("keep")).unwrap(), b"x");
        let e = write_atomic(dir.join("no/such/dir/f"), b"y").unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
        let e = write_atomic(dir.join(".."), b"y").unwrap_err();
        assert!(e.to_string().contains("names no file"), "{e}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary files");
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! Writing files so that nothing half-written ever becomes visible.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// Writes `path` through a temporary file in the same directory, flushed and synced,
/// then renamed over the target. A crash leaves either the old file or the new one,
/// never a partial one (the temporary name starts with `.` and ends in `.partial`).
pub fn write_atomically<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let (tmp, file) = create_partial(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    match write(&mut w) {
        Ok(()) => commit_partial(w, &tmp, path),
        Err(e) => {
            drop(w);
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates the hidden temporary file that will become `target`; for writers that
/// stream over many calls. Finish with [`commit_partial`].
pub fn create_partial(target: &Path) -> io::Result<(PathBuf, File)> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let file = File::create(&tmp)?;
    Ok((tmp, file))
}

/// Flushes and syncs the temporary file, then renames it over `target`.
/// On failure the temporary file is removed.
pub fn commit_partial<W>(w: BufWriter<W>, tmp: &Path, target: &Path) -> io::Result<()>
where
    W: io::Write + SyncAll,
{
    let result = (|| {
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync()?;
        fs::rename(tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Files (and wrappers of files) that can be synced to disk.
pub trait SyncAll {
    fn sync(&self) -> io::Result<()>;
}

impl SyncAll for File {
    fn sync(&self) -> io::Result<()> {
        self.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn failed_write_leaves_no_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let err = write_atomically(&target, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn successful_write_replaces_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        fs::write(&target, "old").unwrap();
        write_atomically(&target, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
    }
}

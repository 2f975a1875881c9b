//! File writing that survives crashes: temporary file, fsync, rename (or
//! hard link, to refuse overwriting), fsync of the directory.

use crate::error::{Result, SignerError};
use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`SignerError::OutputExists`].
    Refuse,
    /// Replace it atomically.
    Replace,
}

fn temp_path(dest: &Path) -> PathBuf {
    use rand_core::RngCore;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = rand_core::OsRng.next_u64();
    dest.with_file_name(format!(".{name}.tmp-{suffix:016x}"))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `dest` atomically with the given Unix `mode`: readers see
/// either the old file or the complete new one, never a partial write.
///
/// With [`Overwrite::Refuse`] an existing `dest` is never touched, even if it
/// appears between the check and the write (the final step is a hard link,
/// which fails if the name exists).
pub fn write_atomic(
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    overwrite: Overwrite,
    hint: &'static str,
) -> Result<()> {
    write_atomic_to(dest, mode, overwrite, hint, |f| f.write_all(bytes))
}

/// [`write_atomic`] for content produced by `write` (through a buffer), so a
/// large file never has to be held in memory whole.
pub fn write_atomic_with(
    dest: &Path,
    mode: u32,
    overwrite: Overwrite,
    hint: &'static str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    write_atomic_to(dest, mode, overwrite, hint, |f| {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, f);
        write(&mut buffered)?;
        buffered.flush()
    })
}

/// The atomic write, with `write` filling the new file.
fn write_atomic_to(
    dest: &Path,
    mode: u32,
    overwrite: Overwrite,
    hint: &'static str,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let exists = || SignerError::OutputExists {
        path: dest.to_owned(),
        hint,
    };
    if overwrite == Overwrite::Refuse && dest.symlink_metadata().is_ok() {
        return Err(exists());
    }
    let tmp = temp_path(dest);
    let ctx = |what: &str| format!("{what} {}", tmp.display());
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| SignerError::io(ctx("cannot create"), e))?;
        write(&mut f).map_err(|e| SignerError::io(ctx("cannot write"), e))?;
        f.sync_all()
            .map_err(|e| SignerError::io(ctx("cannot sync"), e))?;
        match overwrite {
            Overwrite::Replace => fs::rename(&tmp, dest)
                .map_err(|e| SignerError::io(format!("cannot rename onto {}", dest.display()), e)),
            Overwrite::Refuse => match fs::hard_link(&tmp, dest) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
                Err(e) => Err(SignerError::io(
                    format!("cannot create {}", dest.display()),
                    e,
                )),
            },
        }
    })();
    let _ = fs::remove_file(&tmp);
    result?;
    sync_dir(parent_dir(dest))
}

/// fsyncs a directory so a rename or link in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SignerError::io(format!("cannot sync directory {}", dir.display()), e))
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path)
        .map_err(|e| SignerError::io(format!("cannot read {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn refuses_to_overwrite_and_sets_mode() {
        let dir = std::env::temp_dir().join(format!("coldsign-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.json");
        let _ = fs::remove_file(&p);
        write_atomic(&p, b"one", 0o600, Overwrite::Refuse, "").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_atomic(&p, b"two", 0o600, Overwrite::Refuse, "").unwrap_err();
        assert!(matches!(err, SignerError::OutputExists { .. }));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"three", 0o600, Overwrite::Replace, "").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        write_atomic_with(&p, 0o600, Overwrite::Replace, "", |w| {
            w.write_all(b"fo")?;
            w.write_all(b"ur")
        })
        .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"four");
        let err = write_atomic_with(&p, 0o600, Overwrite::Replace, "", |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("refused"))
        })
        .unwrap_err();
        assert!(matches!(err, SignerError::Io { .. }));
        assert_eq!(
            fs::read(&p).unwrap(),
            b"four",
            "a failed write changes nothing"
        );
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}

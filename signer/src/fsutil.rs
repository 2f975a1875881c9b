//! Files: writes that survive crashes and work on the media operators use,
//! and reads that take only what they are meant to.
//!
//! **Writes** go to a temporary file beside the destination, are fsynced,
//! then moved into place, and the folder is fsynced. Without overwriting,
//! the move must fail if the name exists, even if it appeared a moment
//! ago: `renameat2(RENAME_NOREPLACE)` where the file system has it (ext4,
//! xfs, btrfs, tmpfs, and the kernel's vfat and exFAT drivers), else a hard
//! link (NFS), else, where neither works (FAT through FUSE, some network
//! file systems), the final name is first reserved with an exclusive
//! create (`O_EXCL`) and the temporary file renamed over that empty
//! placeholder. Only in that last case can a reader see an empty file for
//! a moment, and a crash at that moment leave it behind (empty, so never
//! taken for a signed file).
//!
//! **Reads** refuse anything that is not a regular file (a FIFO, a device
//! such as `/dev/zero`, a directory) before reading a byte, and files above
//! a size limit: [`MAX_BATCH_FILE_BYTES`] for batch files,
//! [`MAX_CONFIG_FILE_BYTES`] for a policy, [`MAX_SECRET_FILE_BYTES`] for a
//! password, passphrase or mnemonic file. Files are opened non-blocking, so
//! opening a FIFO never waits for a writer.

use crate::error::{Result, SignerError};
use std::{
    fs::{self, File, OpenOptions},
    io::{Read, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};
use zeroize::Zeroizing;

/// The largest unsigned or signed batch file read: 256 MiB. A 100,000-item
/// unsigned file (half ETH, half ERC-20, the benchmarks' batch) is 87 MB,
/// and its signed file 46 MB, so this leaves room for about 290,000 such
/// items, or longer items (access lists).
pub const MAX_BATCH_FILE_BYTES: u64 = 256 << 20;
/// The largest policy file read: 1 MiB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;
/// The largest password, passphrase or mnemonic file read: 64 KiB.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 << 10;

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
/// appears between the check and the write (see the module docs for how,
/// on every file system).
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
            Overwrite::Refuse => move_into_place(&tmp, dest).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    exists()
                } else {
                    SignerError::io(format!("cannot create {}", dest.display()), e)
                }
            }),
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

/// Whether an error says the file system cannot do this kind of rename or
/// link (rather than that the name exists, or a real I/O failure).
fn unsupported(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let Some(code) = e.raw_os_error() else {
        return false;
    };
    let errno = Errno::from_raw_os_error(code);
    [
        Errno::INVAL,
        Errno::NOSYS,
        Errno::OPNOTSUPP,
        Errno::PERM,
        Errno::MLINK,
        Errno::XDEV,
    ]
    .contains(&errno)
}

/// Moves the finished temporary file `tmp` to `dest`, failing with
/// [`std::io::ErrorKind::AlreadyExists`] if `dest` exists: see the module
/// docs for the three ways, tried in order.
fn move_into_place(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, tmp, CWD, dest, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        Err(e) => {
            let e = std::io::Error::from(e);
            if !unsupported(&e) {
                return Err(e);
            }
        }
    }
    match fs::hard_link(tmp, dest) {
        Ok(()) => return Ok(()),
        Err(e) if !unsupported(&e) => return Err(e),
        Err(_) => {}
    }
    // FAT through FUSE and the like: reserve the name, then replace the
    // empty placeholder.
    let placeholder = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)?;
    drop(placeholder);
    fs::rename(tmp, dest).inspect_err(|_| {
        let _ = fs::remove_file(dest);
    })
}

/// What a bounded read is for, named in its errors.
fn open_regular(path: &Path, what: &str, limit: u64) -> Result<(File, u64)> {
    let shown = || crate::term::path(path);
    let file = OpenOptions::new()
        .read(true)
        // Opening a FIFO for reading would wait for a writer.
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| SignerError::Usage(format!("cannot read the {what} {}: {e}", shown())))?;
    let meta = file
        .metadata()
        .map_err(|e| SignerError::Usage(format!("cannot read the {what} {}: {e}", shown())))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            use std::os::unix::fs::FileTypeExt;
            let t = meta.file_type();
            if t.is_fifo() {
                "a FIFO"
            } else if t.is_char_device() || t.is_block_device() {
                "a device"
            } else if t.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            }
        };
        return Err(SignerError::Usage(format!(
            "the {what} {} is {kind}, not a regular file: refusing to read it",
            shown()
        )));
    }
    if meta.len() > limit {
        return Err(SignerError::Usage(format!(
            "the {what} {} is {} bytes, above the limit of {} bytes ({} MiB): refusing to read it",
            shown(),
            meta.len(),
            limit,
            limit >> 20
        )));
    }
    Ok((file, meta.len()))
}

/// Reads `file` (of `len` bytes at open) into `buf`, at most `limit` bytes:
/// a file that grew past the limit while being read is refused.
fn read_capped(
    file: File,
    len: u64,
    limit: u64,
    buf: &mut Vec<u8>,
    path: &Path,
    what: &str,
) -> Result<()> {
    // Exactly the room the file needs (and one byte to see it grew), so a
    // secret is never copied by a growing buffer.
    buf.reserve_exact(usize::try_from(len).unwrap_or(0).saturating_add(1));
    file.take(limit + 1).read_to_end(buf).map_err(|e| {
        SignerError::Usage(format!(
            "cannot read the {what} {}: {e}",
            crate::term::path(path)
        ))
    })?;
    if buf.len() as u64 > limit {
        return Err(SignerError::Usage(format!(
            "the {what} {} grew above the limit of {limit} bytes while being read: refusing it",
            crate::term::path(path)
        )));
    }
    Ok(())
}

/// Reads a whole UTF-8 text file: a regular file of at most `limit` bytes
/// (else a usage error, before anything is read). `what` names it in
/// errors ("unsigned batch", "policy").
pub fn read_text_bounded(path: &Path, what: &str, limit: u64) -> Result<String> {
    let (file, len) = open_regular(path, what, limit)?;
    let mut buf = Vec::new();
    read_capped(file, len, limit, &mut buf, path, what)?;
    String::from_utf8(buf).map_err(|_| {
        SignerError::Usage(format!(
            "the {what} {} is not UTF-8 text",
            crate::term::path(path)
        ))
    })
}

/// Reads a whole secret text file (password, passphrase, mnemonic) into a
/// zeroizing buffer: a regular file of at most [`MAX_SECRET_FILE_BYTES`].
pub fn read_secret_text(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let (file, len) = open_regular(path, what, MAX_SECRET_FILE_BYTES)?;
    let mut buf = Zeroizing::new(Vec::new());
    read_capped(file, len, MAX_SECRET_FILE_BYTES, &mut buf, path, what)?;
    let bytes = std::mem::take(&mut *buf);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            // Wipe the bytes the error hands back.
            drop(Zeroizing::new(e.into_bytes()));
            Err(SignerError::Usage(format!(
                "the {what} {} is not UTF-8 text",
                crate::term::path(path)
            )))
        }
    }
}

/// Reads a whole policy or other small text file (at most
/// [`MAX_CONFIG_FILE_BYTES`]), naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    read_text_bounded(path, "file", MAX_CONFIG_FILE_BYTES)
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

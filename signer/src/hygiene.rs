//! Process hygiene for the commands that touch secrets: no core dumps, and
//! memory locked where the operating system allows.
//!
//! [`harden`] runs first in every such command, before a password is read:
//!
//! 1. `RLIMIT_CORE` to 0 (soft and hard: it cannot be raised again), so a
//!    crash (`SIGABRT`, `SIGSEGV`, a panic with `panic = "abort"`) writes no
//!    core file.
//! 2. `PR_SET_DUMPABLE` 0: no core dump even through a `core_pattern`
//!    pipe (systemd-coredump, apport), which ignores `RLIMIT_CORE`; other
//!    processes of the same user can no longer attach with ptrace or read
//!    `/proc/PID/mem`, and the files in `/proc/PID/` become root's.
//! 3. Memory locking. The workspace forbids `unsafe`, and locking one
//!    buffer (`mlock(ptr, len)`) has no safe wrapper in `rustix` or `nix`,
//!    so the whole process is locked: `mlockall(MCL_CURRENT | MCL_FUTURE |
//!    MCL_ONFAULT)` (every page, now and later, kept out of swap as soon as
//!    it is touched, without touching pages in advance). The soft
//!    `RLIMIT_MEMLOCK` is first raised to the hard one; the lock is taken
//!    only when that limit is unlimited (or the process may exceed it:
//!    root, `CAP_IPC_LOCK`), because with a finite limit a later allocation
//!    (the KDF's 256 MiB, a large batch) would fail and abort the signer.
//!    Otherwise the secrets are not locked, and a notice says so and how to
//!    allow it (`ulimit -l unlimited`, or `memlock` in
//!    `/etc/security/limits.conf`). Run the signer without swap, or with
//!    encrypted swap, in any case.
//!
//! Steps 1 and 2 failing is an error (the command does not run); step 3 is
//! done where possible.

use crate::error::{Result, SignerError};
use rustix::process::{Resource, Rlimit};

/// What [`harden`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardened {
    /// Whether all memory is locked (now and later).
    pub memory_locked: bool,
    /// Why it is not, when it is not.
    pub not_locked_because: Option<String>,
}

/// Turns core dumps off and locks memory where possible (see the module
/// docs). Errors only if core dumps cannot be turned off.
pub fn harden() -> Result<Hardened> {
    rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| {
        SignerError::Unexpected(format!(
            "cannot turn core dumps off (RLIMIT_CORE): {e}; refusing to handle secrets"
        ))
    })?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| {
            SignerError::Unexpected(format!(
                "cannot make the process non-dumpable (PR_SET_DUMPABLE): {e}; refusing to handle secrets"
            ))
        })?;
    Ok(lock_memory())
}

fn lock_memory() -> Hardened {
    use rustix::mm::{mlockall, MlockAllFlags};
    let limit = rustix::process::getrlimit(Resource::Memlock);
    // Raising the soft limit to the hard one needs no privilege.
    if limit.current != limit.maximum {
        let _ = rustix::process::setrlimit(
            Resource::Memlock,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
    let limit = rustix::process::getrlimit(Resource::Memlock);
    let unlimited = limit.current.is_none();
    if !unlimited && !may_exceed_memlock() {
        return Hardened {
            memory_locked: false,
            not_locked_because: Some(format!(
                "the locked-memory limit (RLIMIT_MEMLOCK) is {} KiB, less than the signer needs; allow it with `ulimit -l unlimited` or a memlock line in /etc/security/limits.conf",
                limit.current.unwrap_or(0) / 1024
            )),
        };
    }
    let flags = MlockAllFlags::CURRENT | MlockAllFlags::FUTURE;
    match mlockall(flags | MlockAllFlags::ONFAULT).or_else(|_| mlockall(flags)) {
        Ok(()) => Hardened {
            memory_locked: true,
            not_locked_because: None,
        },
        Err(e) => Hardened {
            memory_locked: false,
            not_locked_because: Some(format!("mlockall failed: {e}")),
        },
    }
}

/// Whether this process may lock more than `RLIMIT_MEMLOCK`: it holds
/// `CAP_IPC_LOCK` (bit 14 of the effective set in `/proc/self/status`).
fn may_exceed_memlock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

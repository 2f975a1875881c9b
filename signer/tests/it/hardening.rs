//! Fail closed without a policy, bounded inputs, process hygiene at the
//! prompt, and writes onto a real FAT file system.

use crate::util::*;
use std::{
    io::{BufRead, BufReader},
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn last_entry(env: &Env) -> serde_json::Value {
    let text = std::fs::read_to_string(env.audit_log()).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn sign_refuses_to_run_without_a_policy_unless_told_so() {
    let env = Env::new();
    env.init_dev();
    std::fs::remove_file(env.path("ks/policy.toml")).unwrap();
    let file = env.write_batch(&mixed_batch(71));
    let pw = env.password_file();
    let entries = || {
        std::fs::read_to_string(env.audit_log())
            .unwrap()
            .lines()
            .count()
    };
    let before = entries();
    let base = [
        "sign",
        file.to_str().unwrap(),
        "--yes",
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let out = env.run(&base);
    assert_exit(
        &out,
        2,
        "no policy: `signer sign` refuses to sign without one",
    );
    assert!(stderr(&out).contains("--no-policy"));
    assert!(!env.path("batch_71_20261121_signed.json").exists());
    assert_eq!(
        entries(),
        before,
        "refused before the password: nothing logged"
    );

    // Explicitly without one: signed, shown and recorded.
    let mut args = base.to_vec();
    args.push("--no-policy");
    let out = env.run(&args);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("!!! NO POLICY (--no-policy)"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains('\u{1b}'), "no colour on a pipe");
    let entry = last_entry(&env);
    assert_eq!(entry["result"], "signed");
    assert_eq!(entry["policy"], "none (--no-policy)");
    assert_ok(&env.run(&["audit", "verify", "--password-file", pw.to_str().unwrap()]));

    // An installed policy is never bypassed from the command line.
    std::fs::write(env.path("ks/policy.toml"), PERMISSIVE_POLICY).unwrap();
    let out = env.run(&args);
    assert_exit(&out, 2, "an installed policy is never bypassed");
    let p = env.write("env-policy.toml", PERMISSIVE_POLICY);
    let out = env
        .cmd()
        .args(&args)
        .env("SIGNER_POLICY", &p)
        .output()
        .unwrap();
    assert_exit(&out, 2, "$SIGNER_POLICY");
    let mut both = args.clone();
    both.extend(["--policy", p.to_str().unwrap()]);
    assert_exit(&env.run(&both), 2, "cannot be used with");

    // With a policy, the entry names its file and hash.
    let out = env.run(&[&base[..], &["--force"]].concat());
    assert_ok(&out);
    let policy = last_entry(&env)["policy"].as_str().unwrap().to_owned();
    assert!(policy.contains("ks/policy.toml (keccak256 0x"), "{policy}");
}

#[test]
fn no_policy_is_red_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `script` (util-linux) is missing: cannot run the signer on a terminal");
        return;
    }
    let env = Env::new();
    let file = env.write_batch(&mixed_batch(72));
    let cmd = format!(
        "{} inspect {} --no-policy",
        env!("CARGO_BIN_EXE_signer"),
        file.display()
    );
    // `script` gives the signer a pseudo-terminal as its standard output.
    let on_tty = |no_color: bool| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", env.dir.path())
            .env("SIGNER_KEYSTORE", env.keystore())
            .stdin(Stdio::null());
        if no_color {
            c.env("NO_COLOR", "1");
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    let text = on_tty(false);
    assert!(
        text.contains("\u{1b}[1;31m!!! NO POLICY (--no-policy)"),
        "no red banner on a terminal:\n{text}"
    );
    assert!(
        !on_tty(true).contains("\u{1b}[1;31m"),
        "NO_COLOR is honoured"
    );
}

/// Runs `args`, failing the test if it does not end within 20 s (a read of
/// a FIFO or of /dev/zero would never end).
fn run_bounded(env: &Env, args: &[&str]) -> std::process::Output {
    let mut child = env
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("signer {args:?} did not end: it read a file it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn inputs_that_are_not_regular_files_or_too_large_are_refused_before_reading() {
    let env = Env::new();
    env.init_dev();
    let fifo = env.path("fifo.json");
    mkfifo(&fifo);
    let dir = env.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let big = env.path("big_unsigned.json");
    // Sparse: 256 MiB + 1 byte without writing them.
    std::fs::File::create(&big)
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let good = env.write_batch(&mixed_batch(73));
    let pw = env.password_file();
    let (f, d, b, g, p) = (
        fifo.to_str().unwrap(),
        dir.to_str().unwrap(),
        big.to_str().unwrap(),
        good.to_str().unwrap(),
        pw.to_str().unwrap(),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["inspect", "/dev/zero"], "is a device"),
        (vec!["inspect", f], "is a FIFO"),
        (vec!["inspect", d], "is a directory"),
        (vec!["inspect", b], "above the limit of 268435456 bytes"),
        (
            vec!["sign", "/dev/zero", "--yes", "--password-file", p],
            "is a device",
        ),
        (vec!["sign", f, "--yes", "--password-file", p], "is a FIFO"),
        (
            vec!["sign", g, "--yes", "--password-file", "/dev/zero"],
            "is a device",
        ),
        (vec!["sign", g, "--yes", "--password-file", f], "is a FIFO"),
        (vec!["inspect", g, "--policy", "/dev/zero"], "is a device"),
        (vec!["inspect", g, "--policy", f], "is a FIFO"),
        (
            vec!["verify", "/dev/zero", "--signatures-only"],
            "is a device",
        ),
        (vec!["verify", f, "--signatures-only"], "is a FIFO"),
        (vec!["verify", d], "is a directory"),
        (
            vec!["audit", "verify", "--password-file", "/dev/zero"],
            "is a device",
        ),
    ];
    for (args, why) in cases {
        let out = run_bounded(&env, &args);
        assert_exit(&out, 2, why);
    }
    // A FIFO where the policy or the audit log should be.
    std::fs::remove_file(env.path("ks/policy.toml")).unwrap();
    mkfifo(&env.path("ks/policy.toml"));
    assert_exit(&run_bounded(&env, &["inspect", g]), 2, "is a FIFO");
    std::fs::remove_file(env.path("ks/policy.toml")).unwrap();
    std::fs::rename(env.audit_log(), env.path("audit.bak")).unwrap();
    mkfifo(&env.audit_log());
    let out = run_bounded(&env, &["audit", "show"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
}

fn wait_for_prompt(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).split(b':') {
            let Ok(line) = line else { break };
            seen.push_str(&String::from_utf8_lossy(&line));
            seen.push(':');
            if seen.contains("Type the batch id") {
                let _ = tx.send(seen.clone());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the signer never reached its confirmation prompt")
}

fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `signer sign` waiting at its prompt, as `uid` if given (we are root).
fn sign_waiting(env: &Env, uid: Option<u32>) -> (Child, String) {
    let file = env.write_batch(&mixed_batch(74));
    let pw = env.password_file();
    let mut c = env.cmd();
    c.args([
        "sign",
        file.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if let Some(uid) = uid {
        c.uid(uid).gid(uid);
    }
    let mut child = c.spawn().unwrap();
    let seen = wait_for_prompt(&mut child);
    (child, seen)
}

/// How the checks work, on the running process (`/proc/PID`):
/// - core dumps: `/proc/PID/limits` says "Max core file size 0 0".
/// - non-dumpable: the kernel makes the files of `/proc/PID/` a
///   non-dumpable process's root's, whoever runs it. So the signer runs as
///   another user than root (as `nobody`, 65534, when the test is root;
///   as the test's own user otherwise) and `/proc/PID/status` must be
///   owned by root.
/// - memory: `VmLck` in `/proc/PID/status` is above 0 when the signer may
///   lock memory (root, CAP_IPC_LOCK, or an unlimited memlock limit);
///   otherwise the signer says that it is not locked.
#[test]
fn a_signer_waiting_at_its_prompt_cannot_dump_core_and_locks_memory() {
    let env = Env::new();
    env.init_dev();
    let (mut child, seen) = sign_waiting(&env, None);
    let pid = child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
    let locked_kib: u64 = status_field(pid, "VmLck:")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    if seen.contains("memory is not locked") {
        eprintln!("note: the signer could not lock memory here: {seen}");
        assert!(!is_root(), "root may always lock memory:\n{seen}");
    } else {
        assert!(locked_kib > 0, "memory not locked: VmLck {locked_kib} kB");
    }
    if !is_root() {
        let owner = std::fs::metadata(format!("/proc/{pid}/status"))
            .unwrap()
            .uid();
        assert_eq!(
            owner, 0,
            "/proc/{pid} is not root's: the signer is dumpable"
        );
    }
    child.kill().unwrap();
    let _ = child.wait();

    if is_root() {
        // As nobody: its /proc files must still be root's.
        chown_tree(env.dir.path(), 65534);
        let (mut child, _) = sign_waiting(&env, Some(65534));
        let pid = child.id();
        assert_eq!(
            status_field(pid, "Uid:").split_whitespace().next(),
            Some("65534")
        );
        let owner = std::fs::metadata(format!("/proc/{pid}/status"))
            .unwrap()
            .uid();
        assert_eq!(
            owner, 0,
            "/proc/{pid} is owned by {owner}: the signer is dumpable"
        );
        child.kill().unwrap();
        let _ = child.wait();
        chown_tree(env.dir.path(), 0);
    }
}

fn chown_tree(dir: &Path, uid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            chown_tree(&p, uid);
        } else {
            let _ = std::os::unix::fs::lchown(&p, Some(uid), Some(uid));
        }
    }
}

/// A FAT32 file system image mounted for the test, unmounted on drop.
struct FatStick {
    _dir: tempfile::TempDir,
    mount: PathBuf,
    unmount: Vec<String>,
}

impl Drop for FatStick {
    fn drop(&mut self) {
        let _ = Command::new(&self.unmount[0])
            .args(&self.unmount[1..])
            .arg(&self.mount)
            .status();
    }
}

/// How: `mkfs.vfat -F 32` (Debian's dosfstools) on a 64 MiB image, then
/// the kernel's vfat driver through a loop device (`mount -o loop`), else,
/// where the kernel has no vfat (containers), the FUSE driver `fusefat`.
/// Needs root. Returns why not, if it cannot.
fn fat_stick() -> Result<FatStick, String> {
    if !is_root() {
        return Err("not root: mounting a file system image needs root".into());
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("stick.img");
    let mount = dir.path().join("stick");
    std::fs::create_dir(&mount).unwrap();
    std::fs::File::create(&image)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let mkfs = Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "COLDSIGN"])
        .arg(&image)
        .output()
        .map_err(|e| format!("mkfs.vfat not found ({e}): apt-get install dosfstools"))?;
    if !mkfs.status.success() {
        return Err(format!("mkfs.vfat failed: {}", stderr(&mkfs)));
    }
    let loop_mount = Command::new("mount")
        .args(["-t", "vfat", "-o", "loop"])
        .arg(&image)
        .arg(&mount)
        .output();
    if loop_mount.as_ref().is_ok_and(|o| o.status.success()) {
        return Ok(FatStick {
            _dir: dir,
            mount,
            unmount: vec!["umount".into()],
        });
    }
    let why_loop = loop_mount.map_or_else(|e| e.to_string(), |o| stderr(&o));
    let fuse = Command::new("fusefat")
        .args(["-o", "rw+"])
        .arg(&image)
        .arg(&mount)
        .output()
        .map_err(|e| {
            format!(
                "no loop mount ({}) and no fusefat ({e}): apt-get install fusefat",
                why_loop.trim()
            )
        })?;
    if !fuse.status.success() {
        return Err(format!(
            "no loop mount ({}) and fusefat failed: {}",
            why_loop.trim(),
            stderr(&fuse)
        ));
    }
    eprintln!(
        "FAT test: loop mount unavailable ({}), using fusefat",
        why_loop.trim()
    );
    Ok(FatStick {
        _dir: dir,
        mount,
        unmount: vec!["fusermount".into(), "-u".into()],
    })
}

#[test]
fn signing_straight_onto_a_fat32_stick_works_and_is_recorded() {
    let stick = match fat_stick() {
        Ok(s) => s,
        Err(why) => {
            if std::env::var_os("COLDSIGN_REQUIRE_FAT").is_some() {
                panic!("cannot set up a FAT file system: {why}");
            }
            eprintln!("\n*** SKIPPED signing_straight_onto_a_fat32_stick: {why} ***\n");
            return;
        }
    };
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(75);
    let file = stick.mount.join(batch.file_name());
    std::fs::write(&file, batch.to_json()).unwrap();
    let before = std::fs::read_to_string(env.audit_log())
        .unwrap()
        .lines()
        .count();
    let out = env.sign(&file, &[]);
    assert_ok(&out);
    let signed = stick.mount.join("batch_75_20261121_signed.json");
    assert!(signed.exists());
    let entry = last_entry(&env);
    assert_eq!(entry["result"], "signed");
    assert_eq!(entry["batch_id"], 75);
    assert_eq!(
        std::fs::read_to_string(env.audit_log())
            .unwrap()
            .lines()
            .count(),
        before + 1
    );
    assert_ok(&env.run(&["verify", signed.to_str().unwrap()]));
    let first = std::fs::read(&signed).unwrap();
    // Never overwritten without --force, on FAT too; --force replaces it.
    assert_exit(&env.sign(&file, &[]), 8, "already exists");
    assert_eq!(std::fs::read(&signed).unwrap(), first);
    assert_ok(&env.sign(&file, &["--force"]));
    assert_eq!(std::fs::read(&signed).unwrap(), first);
    let names: Vec<String> = std::fs::read_dir(&stick.mount)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(".tmp-")),
        "temporary files left on the stick: {names:?}"
    );
    assert!(names.contains(&"batch_75_20261121_unsigned.json".to_owned()));
}

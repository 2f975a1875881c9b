//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand};
use std::{ffi::OsString, path::PathBuf};

const EXAMPLES: &str = "\
Examples:
  signer init --words 24                     # password first (twice), then 24 new words shown once on the terminal
  signer init --mnemonic-file words.txt      # import a mnemonic (prompts for the password twice)
  signer addresses --start 0 --count 1000 --json > addresses.json   # asks the password: derived from the seed, with proofs
  signer xpub --account 0
  signer inspect batch_7_20261121_unsigned.json
  signer sign batch_7_20261121_unsigned.json    # needs a policy (policy.toml beside the keystore)
  signer --sign batch_7_20261121_unsigned.json   # short form of `signer sign`
  signer sign batch_7_20261121_unsigned.json --no-policy   # explicitly without a policy (shown in red, logged)
  signer verify batch_7_20261121_signed.json
  signer sign batch_9_20261122_unsigned.json --allow-reissue W-1002   # only if W-1002's earlier nonce can never be mined
  signer audit verify
  signer audit verify --password-file pw.txt   # also checks the MACs (keyed by the seed)

The keystore is --keystore PATH, else $SIGNER_KEYSTORE, else
$XDG_DATA_HOME/coldsign/keystore.json (~/.local/share/coldsign/keystore.json).
Exit codes: 0 ok, 1 unexpected, 2 usage, 3 wrong password, 4 keystore missing/damaged/unsupported,
5 bad or tampered input, 6 refused by policy, 7 not confirmed, 8 output exists, 9 audit log broken,
10 refused by the ledger (an order signed before), 11 ledger not authentic or behind (restore it from backup).";

/// `signer`: the air-gapped signer of coldsign.
///
/// Holds the seed encrypted, exports addresses, reviews and signs batches of
/// withdrawals after checking them against policy, and keeps an audit log.
#[derive(Debug, Parser)]
#[command(
    name = "signer",
    version,
    after_help = EXAMPLES,
    override_usage = "signer [OPTIONS] <COMMAND>\n       signer [OPTIONS] --sign <FILE> [SIGN OPTIONS]   (short for `signer sign <FILE>`)"
)]
pub struct Cli {
    /// The keystore file.
    #[arg(long, global = true, env = "SIGNER_KEYSTORE", value_name = "PATH")]
    pub keystore: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// First use: create the encrypted keystore from a new or imported mnemonic.
    ///
    /// The password comes first (asked twice). New words are then shown once,
    /// only on a terminal; the screen is cleared and 4 of them are typed back.
    #[command(
        after_help = "Examples:\n  signer init --words 24\n  signer init --words 24 --password-file pw.txt\n  signer init --mnemonic-file words.txt --password-file pw.txt"
    )]
    Init(InitArgs),
    /// Export addresses, public keys and proofs of possession for the hub to register.
    ///
    /// Derived from the seed (so the password is needed), each with a
    /// signature by its own key over the wallet fingerprint, its path and
    /// the address, which `hub-cli address import` checks.
    #[command(
        after_help = "Examples:\n  signer addresses --count 20\n  signer addresses --start 1000 --count 100000 --json --password-file pw.txt > addresses.json"
    )]
    Addresses(AddressesArgs),
    /// Print an account's extended public key (m/44'/60'/<account>'), for watch-only use.
    ///
    /// Derived from the seed, so the password is needed.
    #[command(
        after_help = "Examples:\n  signer xpub\n  signer xpub --account 1 --password-file pw.txt"
    )]
    Xpub(XpubArgs),
    /// Show the review of an unsigned batch (no password needed).
    #[command(
        after_help = "Examples:\n  signer inspect batch_7_20261121_unsigned.json\n  signer inspect batch_7_20261121_unsigned.json --policy policy.toml --json"
    )]
    Inspect(InspectArgs),
    /// Review, check and sign an unsigned batch, writing the signed file next to it.
    #[command(
        after_help = "Examples:\n  signer sign batch_7_20261121_unsigned.json\n  signer --sign batch_7_20261121_unsigned.json\n  signer sign batch_7_20261121_unsigned.json --yes --password-file pw.txt --out /media/usb/signed.json"
    )]
    Sign(SignArgs),
    /// Check a signed batch file offline (against its unsigned batch when available).
    #[command(
        after_help = "Examples:\n  signer verify batch_7_20261121_signed.json\n  signer verify signed.json --unsigned batch_7_20261121_unsigned.json\n  signer verify signed.json --signatures-only   # hashes and signatures only, without the unsigned file"
    )]
    Verify(VerifyArgs),
    /// Re-encrypt the keystore under a new password.
    #[command(after_help = "Examples:\n  signer change-password")]
    ChangePassword(ChangePasswordArgs),
    /// Show the keystore's public data (fingerprint, first address, KDF cost),
    /// checked against the seed (the password is needed).
    #[command(
        after_help = "Examples:\n  signer info\n  signer info --password-file pw.txt --json"
    )]
    Info(InfoArgs),
    /// Show or verify the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

impl Command {
    /// Whether the command may read a password or the seed, so must run
    /// hardened ([`crate::hygiene::harden`]): no core dumps, memory locked.
    pub fn touches_secrets(&self) -> bool {
        match self {
            Self::Init(_)
            | Self::Addresses(_)
            | Self::Xpub(_)
            | Self::Info(_)
            | Self::Sign(_)
            | Self::ChangePassword(_) => true,
            Self::Audit(AuditCommand::Verify(a)) => a.mac || a.password_file.is_some(),
            Self::Inspect(_) | Self::Verify(_) | Self::Audit(AuditCommand::Show(_)) => false,
        }
    }
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Read the password from this file's first line instead of prompting.
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Import this mnemonic (12, 15, 18, 21 or 24 English words) instead of generating one.
    #[arg(long, value_name = "F")]
    pub mnemonic_file: Option<PathBuf>,
    /// Read the new password from this file's first line instead of prompting (for scripted runbooks).
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
    /// Read an optional BIP39 passphrase ("25th word") from this file's first line.
    #[arg(long, value_name = "F")]
    pub bip39_passphrase_file: Option<PathBuf>,
    /// Length of a generated mnemonic.
    #[arg(long, default_value = "24", value_parser = parse_words, value_name = "12|15|18|21|24")]
    pub words: usize,
    /// Print a generated mnemonic on standard output even when it is not a
    /// terminal (a file, a pipe, a log): anyone who reads that output can
    /// spend every address of the wallet. Without it, the words are shown
    /// only on a terminal.
    #[arg(long, conflicts_with = "mnemonic_file")]
    pub unsafe_print_mnemonic_to_stdout: bool,
    /// Argon2id memory in MiB (at least 64).
    #[arg(long, value_name = "MIB")]
    pub kdf_memory_mib: Option<u32>,
    /// Argon2id passes.
    #[arg(long, value_name = "N")]
    pub kdf_iterations: Option<u32>,
}

fn parse_words(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| crate::secret::WORD_COUNTS.contains(n))
        .ok_or_else(|| "must be 12, 15, 18, 21 or 24".into())
}

/// Options of `addresses`.
#[derive(Debug, Args)]
pub struct AddressesArgs {
    /// First address index.
    #[arg(long, default_value_t = 0)]
    pub start: u32,
    /// How many addresses (at most 100000).
    #[arg(long, default_value_t = 10)]
    pub count: u32,
    /// The account (m/44'/60'/<account>'/0/i).
    #[arg(long, default_value_t = 0)]
    pub account: u32,
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read the password from this file's first line instead of prompting.
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
}

/// Options of `xpub`.
#[derive(Debug, Args)]
pub struct XpubArgs {
    /// The account.
    #[arg(long, default_value_t = 0)]
    pub account: u32,
    /// Read the password from this file's first line instead of prompting.
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The unsigned batch file.
    pub file: PathBuf,
    /// Policy file (default: $SIGNER_POLICY, else policy.toml beside the keystore if present).
    #[arg(long, value_name = "F")]
    pub policy: Option<PathBuf>,
    /// Review without a policy, as `sign --no-policy` would sign (without a
    /// policy and without this, the review is shown and the exit code is 2).
    #[arg(long, conflicts_with = "policy")]
    pub no_policy: bool,
    /// Print a JSON envelope instead of text.
    #[arg(long)]
    pub json: bool,
    /// Show the review as `sign --allow-reissue ORDER` would (repeatable).
    #[arg(long, value_name = "ORDER")]
    pub allow_reissue: Vec<String>,
}

/// Options of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The unsigned batch file.
    pub file: PathBuf,
    /// Where to write the signed file (default: batch_<ID>_<DATE>_signed.json next to the input).
    #[arg(long, value_name = "F")]
    pub out: Option<PathBuf>,
    /// Policy file (default: $SIGNER_POLICY, else policy.toml beside the keystore if present).
    /// Without any, `sign` refuses to run.
    #[arg(long, value_name = "F")]
    pub policy: Option<PathBuf>,
    /// Sign without a policy: no caps, allowlist, chain or token rules.
    /// Refused if a policy is installed ($SIGNER_POLICY or policy.toml beside
    /// the keystore). Shown in red in the review and recorded in the audit log.
    #[arg(long, conflicts_with = "policy")]
    pub no_policy: bool,
    /// Do not ask the operator to type the batch id (scripted runs).
    #[arg(long)]
    pub yes: bool,
    /// Read the password from this file's first line instead of prompting.
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Allow ORDER, signed before at another (chain, sender, nonce), to be
    /// signed again at this batch's nonce (repeatable). Both versions can
    /// then be mined: only for an order whose earlier nonce was consumed by
    /// another transaction. Recorded in the audit log.
    #[arg(long, value_name = "ORDER")]
    pub allow_reissue: Vec<String>,
}

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed batch file.
    pub signed: PathBuf,
    /// The unsigned batch it answers (default: the matching _unsigned.json next to it, if present).
    #[arg(long, value_name = "UNSIGNED", conflicts_with = "signatures_only")]
    pub unsigned: Option<PathBuf>,
    /// Check only the hashes and signatures, without the unsigned batch
    /// (without this, a missing unsigned batch is an error, exit 5).
    #[arg(long)]
    pub signatures_only: bool,
}

/// Options of `change-password`.
#[derive(Debug, Args)]
pub struct ChangePasswordArgs {
    /// Read the current password from this file.
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
    /// Read the new password from this file.
    #[arg(long, value_name = "F")]
    pub new_password_file: Option<PathBuf>,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the audit log's entries.
    Show(JsonArg),
    /// Check the audit log: its hash chain, and with the password its MACs.
    #[command(
        after_help = "Examples:\n  signer audit verify\n  signer audit verify --expect-head 0x5ff9…   # the head written in the paper logbook\n  signer audit verify --password-file pw.txt    # also the MACs, keyed by the seed\n  signer audit verify --mac                      # the same, asking for the password"
    )]
    Verify(AuditVerifyArgs),
}

/// Options of `audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// A head hash recorded earlier (e.g. in the paper logbook): the log must
    /// still contain that entry, so entries removed from the end are detected.
    #[arg(long, value_name = "HASH")]
    pub expect_head: Vec<String>,
    /// Ask for the password and check every entry's MAC as well.
    #[arg(long)]
    pub mac: bool,
    /// Read the password from this file's first line and check every MAC.
    #[arg(long, value_name = "F")]
    pub password_file: Option<PathBuf>,
}

/// Rewrites the short form `signer [global options] --sign FILE [options]`
/// (also `--sign=FILE`) into `signer [global options] sign FILE [options]`.
/// Arguments after a subcommand name are left alone.
pub fn normalize_args(args: Vec<OsString>) -> Vec<OsString> {
    const SUBCOMMANDS: [&str; 10] = [
        "init",
        "addresses",
        "xpub",
        "inspect",
        "sign",
        "verify",
        "change-password",
        "info",
        "audit",
        "help",
    ];
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut iter = args.into_iter();
    out.extend(iter.next());
    let mut done = false;
    while let Some(arg) = iter.next() {
        if done {
            out.push(arg);
            continue;
        }
        let text = arg.to_string_lossy().into_owned();
        if text == "--sign" {
            out.push("sign".into());
            done = true;
        } else if let Some(file) = text.strip_prefix("--sign=") {
            out.push("sign".into());
            out.push(file.into());
            done = true;
        } else if SUBCOMMANDS.contains(&text.as_str()) {
            out.push(arg);
            done = true;
        } else if text == "--keystore" {
            out.push(arg);
            out.extend(iter.next());
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn short_sign_form_is_rewritten() {
        assert_eq!(
            norm(&["signer", "--sign", "f.json", "--yes"]),
            ["signer", "sign", "f.json", "--yes"]
        );
        assert_eq!(
            norm(&["signer", "--sign=f.json"]),
            ["signer", "sign", "f.json"]
        );
        assert_eq!(
            norm(&["signer", "--keystore", "k", "--sign", "f"]),
            ["signer", "--keystore", "k", "sign", "f"]
        );
        assert_eq!(
            norm(&["signer", "--keystore", "--sign"]),
            ["signer", "--keystore", "--sign"]
        );
        assert_eq!(
            norm(&["signer", "verify", "--sign"]),
            ["signer", "verify", "--sign"]
        );
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

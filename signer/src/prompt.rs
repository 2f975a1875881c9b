//! Talking to the operator: hidden password prompts, password files,
//! confirmations. Prompts go to standard error; answers come from the
//! terminal (passwords) or standard input (confirmations).

use crate::{
    error::{Result, SignerError},
    secret::Password,
};
use std::{io::Write, path::Path};
use zeroize::Zeroizing;

/// The shortest new password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Reads the first line of `path` (without its line ending) as a secret:
/// a regular file of at most [`crate::fsutil::MAX_SECRET_FILE_BYTES`].
pub fn read_secret_line(path: &Path) -> Result<Zeroizing<String>> {
    let text = crate::fsutil::read_secret_text(path, "secret file")?;
    let line = text.split('\n').next().unwrap_or_default();
    Ok(Zeroizing::new(
        line.strip_suffix('\r').unwrap_or(line).to_owned(),
    ))
}

/// The password from `file`, or from a hidden prompt on the terminal.
pub fn password(file: Option<&Path>, prompt: &str) -> Result<Password> {
    let p = match file {
        Some(f) => Password::new(read_secret_line(f)?.to_string()),
        None => Password::new(rpassword::prompt_password(prompt).map_err(|e| {
            SignerError::Usage(format!(
                "cannot prompt for the password on a terminal ({e}); use --password-file"
            ))
        })?),
    };
    if p.is_empty() {
        return Err(SignerError::Usage("the password is empty".into()));
    }
    Ok(p)
}

/// A new password: from `file`, or typed twice at hidden prompts. At least
/// [`MIN_PASSWORD_CHARS`] characters.
pub fn new_password(file: Option<&Path>) -> Result<Password> {
    let p = password(file, "New administrator password: ")?;
    if file.is_none() {
        let again = password(None, "Repeat the password: ")?;
        if !p.ct_eq(&again) {
            return Err(SignerError::Usage("the two passwords differ".into()));
        }
    }
    if p.char_count() < MIN_PASSWORD_CHARS {
        return Err(SignerError::Usage(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(p)
}

/// Prints `prompt` on standard error and reads one line from standard input
/// (`None` at end of input).
pub fn ask(prompt: &str) -> Result<Option<Zeroizing<String>>> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| SignerError::io("cannot read standard input", e))?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Zeroizing::new(line.trim().to_owned())))
}

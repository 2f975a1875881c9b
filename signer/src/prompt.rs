//! Talking to the operator: hidden password prompts, password files,
//! confirmations, and the backup check of new words at `init`. Prompts go to
//! standard error; answers come from the terminal (passwords) or standard
//! input (confirmations).

use crate::{
    error::{Result, SignerError},
    secret::{nfkd, Password},
};
use std::{
    io::{BufRead, Write},
    path::Path,
};
use zeroize::Zeroizing;

/// The shortest new password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// How many times a new password is asked at a prompt before giving up.
pub const PASSWORD_TRIES: usize = 3;
/// How many words of a new mnemonic the operator types back at `init`.
pub const CONFIRMED_WORDS: usize = 4;
/// How many tries each of those words gets.
pub const WORD_TRIES: usize = 3;

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
        None => hidden(prompt)?,
    };
    if p.is_empty() {
        return Err(SignerError::Usage("the password is empty".into()));
    }
    Ok(p)
}

/// One hidden prompt on the terminal.
fn hidden(prompt: &str) -> Result<Password> {
    rpassword::prompt_password(prompt)
        .map(Password::new)
        .map_err(|e| {
            SignerError::Usage(format!(
                "cannot prompt for the password on a terminal ({e}); use --password-file"
            ))
        })
}

fn too_short() -> String {
    format!("the password must have at least {MIN_PASSWORD_CHARS} characters")
}

/// A new password: from `file` (its length checked), or typed twice at
/// hidden prompts. At the prompt, a password that is too short or a second
/// entry that differs is reported and the password asked again, up to
/// [`PASSWORD_TRIES`] times. At least [`MIN_PASSWORD_CHARS`] characters.
pub fn new_password(file: Option<&Path>) -> Result<Password> {
    if let Some(f) = file {
        let p = password(Some(f), "")?;
        if p.char_count() < MIN_PASSWORD_CHARS {
            return Err(SignerError::Usage(too_short()));
        }
        return Ok(p);
    }
    let mut why = String::new();
    for attempt in 1..=PASSWORD_TRIES {
        if attempt > 1 {
            eprintln!("{why}; try again ({attempt} of {PASSWORD_TRIES}).");
        }
        let p = hidden(&format!(
            "New administrator password (at least {MIN_PASSWORD_CHARS} characters): "
        ))?;
        if p.char_count() < MIN_PASSWORD_CHARS {
            why = too_short();
            continue;
        }
        let again = hidden("Repeat the password: ")?;
        if !p.ct_eq(&again) {
            why = "the two passwords differ".to_owned();
            continue;
        }
        return Ok(p);
    }
    Err(SignerError::Usage(format!(
        "{why}; no password was set after {PASSWORD_TRIES} tries, and nothing was written"
    )))
}

/// Prints `prompt` on standard error and reads one line from standard input
/// (`None` at end of input).
pub fn ask(prompt: &str) -> Result<Option<Zeroizing<String>>> {
    let stdin = std::io::stdin();
    ask_on(&mut stdin.lock(), &mut std::io::stderr(), prompt)
}

/// [`ask`] on any input and output: writes `prompt` to `out`, reads one
/// line from `input`, trimmed (`None` at end of input).
pub fn ask_on(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
) -> Result<Option<Zeroizing<String>>> {
    let _ = write!(out, "{prompt}");
    let _ = out.flush();
    let mut line = Zeroizing::new(String::new());
    let n = input
        .read_line(&mut line)
        .map_err(|e| SignerError::io("cannot read standard input", e))?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Zeroizing::new(line.trim().to_owned())))
}

/// Clears the screen and its scrollback (ANSI: erase display, erase saved
/// lines, cursor home).
pub const CLEAR_SCREEN: &str = "\x1b[2J\x1b[3J\x1b[H";

/// Writes the new words for the paper backup, numbered from 1.
pub fn show_words(out: &mut dyn Write, words: &[String]) -> Result<()> {
    let w = |e: std::io::Error| SignerError::io("cannot show the words", e);
    writeln!(out).map_err(w)?;
    writeln!(
        out,
        "Write these {} words on paper, in order. They are shown ONCE.",
        words.len()
    )
    .map_err(w)?;
    writeln!(
        out,
        "Anyone who has them can spend every address of this wallet."
    )
    .map_err(w)?;
    writeln!(out).map_err(w)?;
    for (i, word) in words.iter().enumerate() {
        writeln!(out, "  {:>2}. {word}", i + 1).map_err(w)?;
    }
    writeln!(out).map_err(w)?;
    out.flush().map_err(w)
}

/// `count` distinct word positions (from 0) out of `len`, chosen with the
/// operating system's random number generator, in increasing order.
pub fn positions_to_confirm(len: usize, count: usize) -> Vec<usize> {
    use rand_core::RngCore;
    let count = count.min(len);
    let mut asked: Vec<usize> = Vec::with_capacity(count);
    while asked.len() < count {
        let i = usize::try_from(rand_core::OsRng.next_u32()).unwrap_or(0) % len;
        if !asked.contains(&i) {
            asked.push(i);
        }
    }
    asked.sort_unstable();
    asked
}

/// Whether `answer` is `word`: NFKD-normalised, surrounding whitespace
/// ignored, any letter case.
fn is_word(answer: &str, word: &str) -> bool {
    let normal = nfkd(answer.trim());
    let lower: Zeroizing<String> = Zeroizing::new(normal.to_lowercase());
    lower.as_str() == word
}

/// The backup check: asks the words at `positions` (from 0) one by one on
/// `out`, reading answers from `input`. A wrong word is reported and asked
/// again, up to [`WORD_TRIES`] times; the words stay the same meanwhile.
pub fn confirm_words(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    words: &[String],
    positions: &[usize],
) -> Result<()> {
    let _ = writeln!(
        out,
        "To confirm your backup, type the {} words asked for, from the paper.",
        positions.len()
    );
    for &i in positions {
        let Some(word) = words.get(i) else {
            return Err(SignerError::Unexpected(format!("no word #{}", i + 1)));
        };
        let mut confirmed = false;
        for attempt in 1..=WORD_TRIES {
            let Some(answer) = ask_on(input, out, &format!("word #{}: ", i + 1))? else {
                return Err(SignerError::BackupNotConfirmed(format!(
                    "the input ended before word #{} was typed",
                    i + 1
                )));
            };
            if is_word(&answer, word) {
                confirmed = true;
                break;
            }
            if attempt < WORD_TRIES {
                let _ = writeln!(
                    out,
                    "That is not word #{} of the paper. Check it and try again ({} tr{} left).",
                    i + 1,
                    WORD_TRIES - attempt,
                    if WORD_TRIES - attempt == 1 {
                        "y"
                    } else {
                        "ies"
                    }
                );
            }
        }
        if !confirmed {
            return Err(SignerError::BackupNotConfirmed(format!(
                "word #{} was typed wrong {WORD_TRIES} times",
                i + 1
            )));
        }
    }
    let _ = writeln!(out, "Backup confirmed.");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn words() -> Vec<String> {
        "legal winner thank year wave sausage worth useful legal winner thank yellow"
            .split(' ')
            .map(str::to_owned)
            .collect()
    }

    fn run(answers: &str, positions: &[usize]) -> (Result<()>, String) {
        let mut input = answers.as_bytes();
        let mut out = Vec::new();
        let r = confirm_words(&mut input, &mut out, &words(), positions);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn any_case_and_extra_whitespace_are_accepted() {
        let (r, out) = run("  LEGAL \n\tThank\nwAVE   \nYellow\n", &[0, 2, 4, 11]);
        r.unwrap();
        assert!(
            out.contains("word #1: ") && out.contains("word #12: "),
            "{out}"
        );
        assert!(out.contains("Backup confirmed."));
    }

    #[test]
    fn a_wrong_word_is_asked_again_with_the_same_words() {
        let (r, out) = run("legal\nthink\nthank\nwave\nyellow\n", &[0, 2, 4, 11]);
        r.unwrap();
        assert_eq!(out.matches("word #3: ").count(), 2, "{out}");
        assert!(out.contains("That is not word #3 of the paper"), "{out}");
        assert!(out.contains("2 tries left"), "{out}");
    }

    #[test]
    fn three_wrong_tries_fail_with_a_message_for_init() {
        let (r, out) = run("legal\nx\ny\nz\nthank\n", &[0, 2, 4, 11]);
        let err = r.unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::DECLINED);
        let text = err.to_string();
        assert!(text.contains("word #3 was typed wrong 3 times"), "{text}");
        assert!(text.contains("No keystore was written"), "{text}");
        assert!(!text.contains("signed"), "{text}");
        assert_eq!(out.matches("word #3: ").count(), 3, "{out}");
        assert!(!out.contains("word #5: "), "{out}");
    }

    #[test]
    fn the_end_of_input_is_not_a_confirmation() {
        let (r, _) = run("legal\n", &[0, 2]);
        let text = r.unwrap_err().to_string();
        assert!(text.contains("before word #3"), "{text}");
    }

    #[test]
    fn positions_are_distinct_sorted_and_in_range() {
        for _ in 0..50 {
            let p = positions_to_confirm(12, CONFIRMED_WORDS);
            assert_eq!(p.len(), 4);
            assert!(p.windows(2).all(|w| w[0] < w[1]) && p[3] < 12);
        }
        assert_eq!(positions_to_confirm(3, 4).len(), 3);
    }

    #[test]
    fn words_are_numbered_from_one() {
        let mut out = Vec::new();
        show_words(&mut out, &words()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("   1. legal\n") && out.contains("  12. yellow\n"),
            "{out}"
        );
    }
}

//! Batch file names: `batch_<ID>_<YYYYMMDD>_unsigned.json` and
//! `batch_<ID>_<YYYYMMDD>_signed.json`.

use thiserror::Error;

/// Which side of the exchange a batch file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFileKind {
    /// Written by the hub, read by the signer.
    Unsigned,
    /// Written by the signer, read by the hub.
    Signed,
}

/// A parsed batch file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFileName {
    /// The batch id.
    pub batch_id: u64,
    /// The creation date, `YYYYMMDD`.
    pub date: String,
    /// Unsigned or signed.
    pub kind: BatchFileKind,
}

/// A file name that is not a batch file name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a batch file name (batch_<ID>_<YYYYMMDD>_unsigned.json or _signed.json)")]
pub struct BadFileName(pub String);

/// The unsigned file name for a batch created at `created_at` (a
/// `YYYY-MM-DDTHH:MM:SSZ` timestamp; its date is used).
pub fn unsigned_file_name(batch_id: u64, created_at: &str) -> String {
    BatchFileName {
        batch_id,
        date: date_of(created_at),
        kind: BatchFileKind::Unsigned,
    }
    .to_string()
}

fn date_of(timestamp: &str) -> String {
    timestamp.get(..10).unwrap_or_default().replace('-', "")
}

/// The signed file name that answers an unsigned file name.
pub fn signed_file_name_for(unsigned: &str) -> Result<String, BadFileName> {
    let parsed: BatchFileName = unsigned.parse()?;
    if parsed.kind != BatchFileKind::Unsigned {
        return Err(BadFileName(unsigned.to_owned()));
    }
    Ok(BatchFileName {
        kind: BatchFileKind::Signed,
        ..parsed
    }
    .to_string())
}

impl std::str::FromStr for BatchFileName {
    type Err = BadFileName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bad = || BadFileName(name.to_owned());
        let rest = name.strip_prefix("batch_").ok_or_else(bad)?;
        let (rest, kind) = if let Some(r) = rest.strip_suffix("_unsigned.json") {
            (r, BatchFileKind::Unsigned)
        } else if let Some(r) = rest.strip_suffix("_signed.json") {
            (r, BatchFileKind::Signed)
        } else {
            return Err(bad());
        };
        let (id, date) = rest.split_once('_').ok_or_else(bad)?;
        let canonical_id = !id.is_empty() && (id == "0" || !id.starts_with('0'));
        let batch_id = id
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_id && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad)?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Self {
            batch_id,
            date: date.to_owned(),
            kind,
        })
    }
}

impl std::fmt::Display for BatchFileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            BatchFileKind::Unsigned => "unsigned",
            BatchFileKind::Signed => "signed",
        };
        write!(f, "batch_{}_{}_{kind}.json", self.batch_id, self.date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_unsigned_to_signed() {
        assert_eq!(
            unsigned_file_name(42, "2026-11-21T05:43:14Z"),
            "batch_42_20261121_unsigned.json"
        );
        assert_eq!(
            signed_file_name_for("batch_42_20261121_unsigned.json").as_deref(),
            Ok("batch_42_20261121_signed.json")
        );
    }

    #[test]
    fn refuses_other_names() {
        for bad in [
            "batch_42_20261121_signed.json",
            "batch_042_20261121_unsigned.json",
            "batch_x_20261121_unsigned.json",
            "batch_42_2026112_unsigned.json",
            "batch_42_20261121_unsigned.json.bak",
            "b_42_20261121_unsigned.json",
            "batch_42_unsigned.json",
        ] {
            assert!(signed_file_name_for(bad).is_err(), "{bad}");
        }
    }
}

//! The hub's errors, each of a kind that maps to its own exit code.

use crate::{db::DbError, rpc::RpcError};
use thiserror::Error;

/// Exit codes, one per kind of error (documented in docs/hub.md).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A bug or an unexpected failure.
    pub const INTERNAL: i32 = 1;
    /// Bad command line (clap uses 2 too).
    pub const USAGE: i32 = 2;
    /// Bad input: a file, a CSV line, an amount, an address.
    pub const INPUT: i32 = 3;
    /// A chain, token, order or batch that does not exist.
    pub const NOT_FOUND: i32 = 4;
    /// Refused by the state of things: wrong batch state, duplicate, another
    /// unfinished batch on the chain.
    pub const CONFLICT: i32 = 5;
    /// The database cannot be used: unreachable, not migrated, too new.
    pub const DATABASE: i32 = 6;
    /// The node cannot be used: unreachable, wrong chain id, odd answers.
    pub const NODE: i32 = 7;
    /// A signed file was refused: the batch is in SIGNATURE_ERROR.
    pub const SIGNATURE: i32 = 8;
    /// The batch needs an operator (BLOCKED, PROCESS_EXCEPTION, resend due).
    pub const NEEDS_OPERATOR: i32 = 9;
    /// `batch sync --wait` ran out of time.
    pub const TIMEOUT: i32 = 10;
}

/// The kinds of failure. Each has its exit code in the CLI (docs/hub.md),
/// its name in `--json` output and its HTTP status in the API: this is the
/// one table both front ends read, and every operation's error says which
/// kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ErrorKind {
    /// Bad arguments or request parameters.
    Usage,
    /// Bad input data: a file, a CSV line, an amount, an address.
    Input,
    /// Something named does not exist.
    NotFound,
    /// Refused by the state of things, or another process changed the same
    /// rows meanwhile (nothing was written; running it again is safe).
    Conflict,
    /// The database cannot be used.
    Database,
    /// The node cannot be used, or answered oddly.
    Node,
    /// A signed file was refused: its batch is in SIGNATURE_ERROR.
    Signature,
    /// The batch needs an operator's decision.
    NeedsOperator,
    /// A wait ran out of time.
    Timeout,
    /// A bug or an unexpected failure.
    Internal,
}

impl ErrorKind {
    /// Every kind, for the table's tests.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 10] = [
        Self::Usage,
        Self::Input,
        Self::NotFound,
        Self::Conflict,
        Self::Database,
        Self::Node,
        Self::Signature,
        Self::NeedsOperator,
        Self::Timeout,
        Self::Internal,
    ];

    /// (exit code, `--json` name, HTTP status) of the kind.
    const fn row(self) -> (i32, &'static str, u16) {
        match self {
            Self::Usage => (exit::USAGE, "usage", 422),
            Self::Input => (exit::INPUT, "input", 422),
            Self::NotFound => (exit::NOT_FOUND, "not_found", 404),
            Self::Conflict => (exit::CONFLICT, "conflict", 409),
            Self::Database => (exit::DATABASE, "database", 503),
            Self::Node => (exit::NODE, "node", 502),
            Self::Signature => (exit::SIGNATURE, "signature", 422),
            Self::NeedsOperator => (exit::NEEDS_OPERATOR, "needs_operator", 409),
            Self::Timeout => (exit::TIMEOUT, "timeout", 504),
            Self::Internal => (exit::INTERNAL, "internal", 500),
        }
    }

    /// The CLI's exit code.
    pub(crate) const fn exit_code(self) -> i32 {
        self.row().0
    }

    /// The name in `--json` output and API error bodies.
    pub(crate) const fn name(self) -> &'static str {
        self.row().1
    }

    /// The API's HTTP status.
    pub(crate) const fn http_status(self) -> u16 {
        self.row().2
    }
}

/// The error type of one operation (`batch upload`'s `UploadError`, ...):
/// its variants name what went wrong in that operation's own terms, and
/// each says which [`ErrorKind`] it is. `From` turns it into a
/// [`HubError`] ([`operation_error!`]).
pub(crate) trait OperationError: std::error::Error + Send + Sync + 'static {
    /// The kind of failure: exit code and HTTP status.
    fn kind(&self) -> ErrorKind;
}

/// Implements `From<$t> for HubError` for an operation's error type.
macro_rules! operation_error {
    ($t:ty) => {
        impl From<$t> for $crate::error::HubError {
            fn from(e: $t) -> Self {
                Self::Operation(Box::new(e))
            }
        }
    };
}
pub(crate) use operation_error;

/// An error of a hub command.
#[derive(Debug, Error)]
pub(crate) enum HubError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// Bad input data.
    #[error("{0}")]
    Input(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Refused by the current state.
    #[error("{0}")]
    Conflict(String),
    /// Another process changed the same rows meanwhile (a compare-and-set
    /// failed): nothing was written; running the command again is safe.
    #[error("{0}")]
    Concurrent(String),
    /// Storage.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Node access.
    #[error("{0}")]
    Node(String),
    /// A refused signed file.
    #[error("{0}")]
    Signature(String),
    /// The batch needs an operator.
    #[error("{0}")]
    NeedsOperator(String),
    /// A wait timed out.
    #[error("{0}")]
    Timeout(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
    /// An operation's own typed error (`UploadError`, ...), which says
    /// which kind of failure it is.
    #[error("{0}")]
    Operation(Box<dyn OperationError>),
    /// An error followed by what to do next.
    #[error("{error}; {hint}")]
    Hinted {
        /// The error.
        error: Box<HubError>,
        /// What to do next.
        hint: String,
    },
    /// An error with the command's data, for `--json`.
    #[error("{error}")]
    Detailed {
        /// The error.
        error: Box<HubError>,
        /// What the command would have printed.
        details: serde_json::Value,
    },
}

impl From<RpcError> for HubError {
    fn from(e: RpcError) -> Self {
        Self::Node(e.to_string())
    }
}

impl From<std::io::Error> for HubError {
    fn from(e: std::io::Error) -> Self {
        Self::Input(e.to_string())
    }
}

impl From<crate::state::BadTransition> for HubError {
    fn from(e: crate::state::BadTransition) -> Self {
        Self::Conflict(e.to_string())
    }
}

impl From<crate::state::UnknownState> for HubError {
    fn from(e: crate::state::UnknownState) -> Self {
        Self::Internal(e.to_string())
    }
}

impl HubError {
    /// This error with the command's data attached (printed with `--json`).
    pub(crate) fn with_details(self, details: serde_json::Value) -> Self {
        Self::Detailed {
            error: Box::new(self),
            details,
        }
    }

    /// The data attached to the error, if any.
    pub(crate) fn details(&self) -> Option<serde_json::Value> {
        match self {
            Self::Detailed { details, .. } => Some(details.clone()),
            _ => None,
        }
    }

    /// The kind of failure: its exit code, name and HTTP status.
    pub(crate) fn error_kind(&self) -> ErrorKind {
        match self {
            Self::Detailed { error, .. } => error.error_kind(),
            Self::Operation(e) => e.kind(),
            Self::Hinted { error, .. } => error.error_kind(),
            Self::Usage(_) => ErrorKind::Usage,
            Self::Input(_) => ErrorKind::Input,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict(_) | Self::Concurrent(_) | Self::Db(DbError::Unique(_)) => {
                ErrorKind::Conflict
            }
            Self::Db(_) => ErrorKind::Database,
            Self::Node(_) => ErrorKind::Node,
            Self::Signature(_) => ErrorKind::Signature,
            Self::NeedsOperator(_) => ErrorKind::NeedsOperator,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> i32 {
        self.error_kind().exit_code()
    }

    /// A short name of the kind, for `--json` output.
    pub(crate) fn kind(&self) -> &'static str {
        self.error_kind().name()
    }
}

impl HubError {
    /// The same error, its message followed by `hint` (what to do next).
    pub(crate) fn with_hint(self, hint: &str) -> Self {
        let add = |m: String| format!("{m}; {hint}");
        match self {
            Self::Usage(m) => Self::Usage(add(m)),
            Self::Input(m) => Self::Input(add(m)),
            Self::NotFound(m) => Self::NotFound(add(m)),
            Self::Conflict(m) => Self::Conflict(add(m)),
            Self::Concurrent(m) => Self::Concurrent(add(m)),
            Self::Node(m) => Self::Node(add(m)),
            Self::Signature(m) => Self::Signature(add(m)),
            Self::NeedsOperator(m) => Self::NeedsOperator(add(m)),
            Self::Timeout(m) => Self::Timeout(add(m)),
            Self::Internal(m) => Self::Internal(add(m)),
            Self::Operation(e) => Self::Hinted {
                error: Box::new(Self::Operation(e)),
                hint: hint.to_owned(),
            },
            other => other,
        }
    }
}

/// Result of a hub command.
pub(crate) type Result<T, E = HubError> = std::result::Result<T, E>;

/// Checks for the operations' error types, shared by their tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Each error is of its kind, keeps it and its exact text through
    /// [`HubError`] (exit code included) and through a hint, and its
    /// message contains `says` (what to do next; `""` checks nothing).
    pub(crate) fn check_errors<E: OperationError + Into<HubError>>(
        cases: impl IntoIterator<Item = (E, ErrorKind, &'static str)>,
    ) {
        for (error, kind, says) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            let text = error.to_string();
            assert!(text.contains(says), "{text} does not say {says:?}");
            let hub: HubError = error.into();
            assert_eq!(hub.error_kind(), kind, "{text}");
            assert_eq!(hub.exit_code(), kind.exit_code(), "{text}");
            assert_eq!(hub.to_string(), text);
            let hinted = hub.with_hint("try again");
            assert_eq!(hinted.error_kind(), kind, "{text}");
            assert_eq!(hinted.to_string(), format!("{text}; try again"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_exit_code_and_name_and_an_error_status() {
        let mut codes = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(
                codes.insert(kind.exit_code()),
                "{kind:?} shares its exit code"
            );
            assert!(names.insert(kind.name()), "{kind:?} shares its name");
            assert!(kind.exit_code() != exit::OK, "{kind:?} exits 0");
            let status = kind.http_status();
            assert!((400..600).contains(&status), "{kind:?}: HTTP {status}");
            // The caller's fault is 4xx, the hub's or its backends' is 5xx.
            let callers = matches!(
                kind,
                ErrorKind::Usage
                    | ErrorKind::Input
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::Signature
                    | ErrorKind::NeedsOperator
            );
            assert_eq!(status < 500, callers, "{kind:?}: HTTP {status}");
        }
        assert_eq!(codes.len(), 10);
    }
}

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

    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Self::Detailed { error, .. } => error.exit_code(),
            Self::Usage(_) => exit::USAGE,
            Self::Input(_) => exit::INPUT,
            Self::NotFound(_) => exit::NOT_FOUND,
            Self::Conflict(_) | Self::Concurrent(_) => exit::CONFLICT,
            Self::Db(DbError::Unique(_)) => exit::CONFLICT,
            Self::Db(_) => exit::DATABASE,
            Self::Node(_) => exit::NODE,
            Self::Signature(_) => exit::SIGNATURE,
            Self::NeedsOperator(_) => exit::NEEDS_OPERATOR,
            Self::Timeout(_) => exit::TIMEOUT,
            Self::Internal(_) => exit::INTERNAL,
        }
    }

    /// A short name of the kind, for `--json` output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Detailed { error, .. } => error.kind(),
            Self::Usage(_) => "usage",
            Self::Input(_) => "input",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) | Self::Concurrent(_) | Self::Db(DbError::Unique(_)) => "conflict",
            Self::Db(_) => "database",
            Self::Node(_) => "node",
            Self::Signature(_) => "signature",
            Self::NeedsOperator(_) => "needs_operator",
            Self::Timeout(_) => "timeout",
            Self::Internal(_) => "internal",
        }
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
            other => other,
        }
    }
}

/// Result of a hub command.
pub(crate) type Result<T, E = HubError> = std::result::Result<T, E>;

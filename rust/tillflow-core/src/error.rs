//! The core's one error type. The binding crate maps each variant onto the
//! Python exception tree rooted at `TillflowError`.

use thiserror::Error;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum CoreError {
    /// A resource spec or option is malformed: names the field that is wrong.
    #[error("invalid config: {field}: {message}")]
    Config { field: String, message: String },

    /// The server refused the credentials (401/403). The URL is redacted.
    #[error("{method} {url} was refused: HTTP {status} {reason}{detail}")]
    Auth {
        method: String,
        url: String,
        status: u16,
        reason: String,
        detail: String,
    },

    /// Any other HTTP failure: a status that is not retried, or retries that
    /// ran out. The URL is redacted.
    #[error("{method} {url} failed: {cause} after {attempts} attempt{plural}", plural = if *attempts == 1 { "" } else { "s" })]
    Http {
        method: String,
        url: String,
        status: Option<u16>,
        cause: String,
        attempts: u32,
    },

    /// A page arrived but could not be read (not JSON, no records where the
    /// selector points, ...).
    #[error("malformed page from {url}: {message}")]
    Source { url: String, message: String },

    /// A file could not be read, or a row of it broke its table's types:
    /// names the file and, where there is one, the line and column.
    #[error("{path}: {message}")]
    File { path: String, message: String },

    /// A source process (a Singer tap) failed, or broke its protocol: names
    /// the tap and, for a failed process, carries its last stderr lines.
    #[error("{tap}: {message}")]
    Tap { tap: String, message: String },

    /// Records whose shape cannot be reconciled with the table's schema.
    #[error("schema error in table {table}: {message}")]
    Schema { table: String, message: String },

    /// A validation rule that cannot run as written: names the rule and the
    /// field (an unknown column, a bad pattern, a value of the wrong type).
    #[error("rule {rule}: {field}: {message}")]
    Rule {
        rule: String,
        field: String,
        message: String,
    },

    #[error("{0}")]
    Io(#[from] std::io::Error),

    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn file(path: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::File {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn rule(
        rule: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CoreError::Rule {
            rule: rule.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            CoreError::Auth { status, .. } => Some(*status),
            CoreError::Http { status, .. } => *status,
            _ => None,
        }
    }
}

impl From<polars::error::PolarsError> for CoreError {
    fn from(e: polars::error::PolarsError) -> Self {
        CoreError::Internal(format!("polars: {e}"))
    }
}

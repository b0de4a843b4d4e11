//! [`IoError`]: an `io::Error` that events and errors can carry, clone and compare. A leaf:
//! every layer that reports an I/O failure uses it, so it imports nothing of the crate.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// An `io::Error` that can be cloned and compared, as events and reasons need.
///
/// Shared, not copied, so cloning never allocates; two are equal when their kind and OS error
/// code are.
#[derive(Clone, Debug)]
pub struct IoError(Arc<io::Error>);

impl IoError {
    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind()
    }

    /// The OS error code, if the OS reported it (users: `get().raw_os_error()`).
    pub(crate) fn raw_os_error(&self) -> Option<i32> {
        self.0.raw_os_error()
    }

    /// The `io::Error` itself.
    pub fn get(&self) -> &io::Error {
        &self.0
    }
}

impl From<io::Error> for IoError {
    fn from(e: io::Error) -> Self {
        IoError(Arc::new(e))
    }
}

impl From<io::ErrorKind> for IoError {
    fn from(kind: io::ErrorKind) -> Self {
        IoError::from(io::Error::from(kind))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.raw_os_error() == other.raw_os_error()
    }
}

impl Eq for IoError {}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for IoError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

//! The harness's one error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in the harness. Its `Debug` output is the human message, so a
/// test returning `Result<(), e2e::Error>` fails with a readable explanation.
#[derive(thiserror::Error)]
pub enum Error {
    /// The local control plane cannot be provisioned on this machine (no Debian archive access,
    /// not a Debian machine). Tests skip on this unless skipping is forbidden (see the crate docs).
    #[error("local control plane unavailable: {0}")]
    Unavailable(String),

    /// A child process (control-plane component, operator) could not be started or died.
    #[error("{name} failed: {message}\n--- last lines of {log} ---\n{tail}")]
    Process {
        /// `etcd`, `kube-apiserver`, ...
        name: String,
        /// What went wrong.
        message: String,
        /// Where the component's full output is.
        log: PathBuf,
        /// The end of that output.
        tail: String,
    },

    /// A file or process operation of the harness failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A request to the API server failed.
    #[error("{what}: {source}")]
    Kube {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        source: kube::Error,
    },

    /// A condition was not met in time. The message carries what was expected and the last
    /// observed state.
    #[error("timed out after {waited:?} waiting for {expected}\n{observed}")]
    Timeout {
        /// What was expected.
        expected: String,
        /// How long the harness waited.
        waited: std::time::Duration,
        /// The last observed state (YAML, events, ...).
        observed: String,
    },

    /// Input to a helper was wrong (bad YAML, an object without a kind, ...).
    #[error("{0}")]
    Invalid(String),

    /// The operation needs the local control plane, but the harness runs against an external
    /// cluster whose real kubelet owns pod status.
    #[error(
        "{0} needs the local control plane: on an external cluster the real kubelet owns pod status"
    )]
    NotPlayingKubelet(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// True when the control plane cannot be provisioned here (the test should be skipped).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// True when the API server answered with this HTTP status code.
    pub fn is_status(&self, code: u16) -> bool {
        matches!(self, Error::Kube { source: kube::Error::Api(status), .. } if status.code == code)
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    pub(crate) fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Kube { what, source }
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

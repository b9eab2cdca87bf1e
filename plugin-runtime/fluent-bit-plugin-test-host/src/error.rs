//! The one error type of the host.

use std::fmt;
use std::path::PathBuf;

/// Everything the host can report. Each message says what happened, what Fluent Bit 5.1.1 would
/// do, and how to fix it.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// The file name starts with `flb-`: Fluent Bit would hand it to the native C loader.
    NativeLoaderName(PathBuf),
    /// `dlopen` failed.
    Dlopen {
        /// The path given to `dlopen`.
        path: PathBuf,
        /// `dlerror()` text.
        reason: String,
    },
    /// A required symbol is missing.
    MissingSymbol {
        /// The plugin file.
        path: PathBuf,
        /// The symbol name.
        symbol: &'static str,
        /// What Fluent Bit does without it.
        consequence: &'static str,
    },
    /// Registration failed or produced a definition Fluent Bit would not link.
    Register {
        /// The plugin file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An instance was requested of the wrong plugin type.
    WrongKind {
        /// The plugin name.
        plugin: String,
        /// What the plugin registered as.
        registered: &'static str,
        /// What was asked for.
        requested: &'static str,
    },
    /// A property value the host (as Fluent Bit's core) could not accept.
    Property {
        /// The instance, e.g. `out_x.0`.
        instance: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// `FLBPluginInit` returned `<= 0`.
    InitFailed {
        /// The instance, e.g. `out_x.0`.
        instance: String,
        /// The returned value.
        code: i32,
        /// Log lines captured from the plugin during Init.
        logs: Vec<String>,
    },
    /// The instance has already exited (or the host was shut down).
    Exited(String),
    /// The plugin broke the ABI contract in a way Fluent Bit would crash or corrupt on.
    Contract {
        /// The instance or plugin.
        subject: String,
        /// What happened.
        reason: String,
    },
    /// A flush used more stack than the configured coroutine stack size.
    StackBudgetExceeded {
        /// The instance.
        instance: String,
        /// Bytes of stack the flush touched.
        used: usize,
        /// The budget (`coro_stack_size`).
        budget: usize,
    },
    /// `FLBPluginInputCallback*` returned -1.
    CollectFailed {
        /// The instance.
        instance: String,
        /// The `len` the plugin reported (that buffer leaks in Fluent Bit).
        len: usize,
    },
    /// Collected bytes are not a sequence of valid log records.
    InvalidRecords {
        /// The instance.
        instance: String,
        /// What is wrong, with the record index and byte offset.
        reason: String,
    },
    /// A host thread could not be started or a stack could not be mapped.
    Os(String),
    /// A cdylib could not be found next to the test executable.
    CdylibNotFound {
        /// Crate name as given.
        name: String,
        /// Directories searched.
        searched: Vec<PathBuf>,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NativeLoaderName(p) => write!(
                f,
                "{}: file names starting with `flb-` go to Fluent Bit's native C plugin loader, \
                 not the proxy; rename the file (e.g. drop the `flb-` prefix)",
                p.display()
            ),
            Self::Dlopen { path, reason } => {
                write!(f, "cannot dlopen {}: {reason}", path.display())?;
                let bare = path.to_str().is_some_and(|s| !s.contains('/'));
                if bare {
                    write!(
                        f,
                        " (dlopen does not look in the current directory for a bare file \
                         name; use ./{} or an absolute path)",
                        path.display()
                    )?;
                }
                Ok(())
            }
            Self::MissingSymbol {
                path,
                symbol,
                consequence,
            } => write!(
                f,
                "{}: missing symbol `{symbol}`: {consequence}; export it with \
                 #[unsafe(no_mangle)] pub extern \"C\" fn {symbol}(..)",
                path.display()
            ),
            Self::Register { path, reason } => {
                write!(f, "{}: registration failed: {reason}", path.display())
            }
            Self::WrongKind {
                plugin,
                registered,
                requested,
            } => write!(
                f,
                "plugin `{plugin}` registered as an {registered} plugin, but an {requested} \
                 instance was requested"
            ),
            Self::Property {
                instance,
                key,
                reason,
            } => {
                write!(f, "{instance}: property `{key}`: {reason}")
            }
            Self::InitFailed {
                instance,
                code,
                logs,
            } => {
                write!(
                    f,
                    "{instance}: FLBPluginInit returned {code} (<= 0 is a failure; Fluent Bit \
                     aborts startup)"
                )?;
                if logs.is_empty() {
                    write!(f, "; the plugin logged nothing")
                } else {
                    write!(f, "; plugin log:")?;
                    for l in logs {
                        write!(f, "\n  {l}")?;
                    }
                    Ok(())
                }
            }
            Self::Exited(what) => write!(f, "{what} has already exited"),
            Self::Contract { subject, reason } => write!(f, "{subject}: {reason}"),
            Self::StackBudgetExceeded {
                instance,
                used,
                budget,
            } => write!(
                f,
                "{instance}: the flush used {used} bytes of stack, more than the {budget}-byte \
                 coroutine stack Fluent Bit gives it (no guard page there: this corrupts the \
                 heap); move heavy work off the flush path or raise coro_stack_size"
            ),
            Self::CollectFailed { instance, len } => write!(
                f,
                "{instance}: FLBPluginInputCallback returned -1 (len {len}); Fluent Bit drops \
                 the data and does not call cleanup, so a buffer handed back here leaks"
            ),
            Self::InvalidRecords { instance, reason } => write!(
                f,
                "{instance}: collected bytes are not valid log records ({reason}); Fluent Bit \
                 would store them anyway and break every consumer"
            ),
            Self::Os(msg) => f.write_str(msg),
            Self::CdylibNotFound { name, searched } => {
                write!(f, "no lib{}.so found in", name.replace('-', "_"))?;
                for d in searched {
                    write!(f, " {}", d.display())?;
                }
                write!(
                    f,
                    "; build it first with `cargo build -p {name}` (or list the crate, with \
                     crate-type [\"cdylib\", \"rlib\"], under [dev-dependencies] so cargo \
                     builds it before the tests)"
                )
            }
        }
    }
}

impl std::error::Error for HostError {}

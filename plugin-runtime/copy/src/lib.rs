//! The verify-and-copy step of a plugin image: what the operator's init container runs instead
//! of a shell script.
//!
//! ```text
//! /fbplugin/copy --from /plugins/libout_jsonl.so --into /fbplugin-out --as out-jsonl/libout_jsonl.so \
//!                [--sha256 <64 lowercase hex>]
//! ```
//!
//! - `--from`: the plugin file in the image (`spec.artifact.path`). It must be a regular file;
//!   a symlink, a directory or a device is refused.
//! - `--into`: the directory the init container may write (the plugin volume's mount). It must
//!   exist; it is opened once and every later step is relative to that handle.
//! - `--as`: where the file goes inside `--into`: one to four `/`-separated names. Missing
//!   directories on the way are created (mode 0755) inside `--into`; an existing symlink on the
//!   way is refused, never followed, so nothing is written outside `--into`.
//! - `--sha256`: when given, the file's sha256 must be this, or nothing is written and the
//!   program exits 1 naming both digests.
//!
//! The file is written to a temporary name in its final directory, fsynced, made read-only for
//! everyone (0444) and renamed over the destination, so Fluent Bit sees the old file or the new
//! one, never a part. Everything comes from argv: no shell, no environment variable is read.
//! Each option must appear once (`--sha256` at most once); anything else is refused with exit
//! code 2. Paths may hold only `A-Z a-z 0-9 . _ - /` (the `spec.artifact.path` grammar of the
//! CRD), with no empty, `.` or `..` segment.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

/// The usage text printed for `--help` and after a usage error.
pub const USAGE: &str = "usage: copy --from <file in the image> --into <directory> --as <relative path> [--sha256 <64 lowercase hex>]
  Verifies the file's sha256 (when given) and copies it atomically to <directory>/<relative path>
  (mode 0444), creating missing directories inside <directory> and never following a symlink.
  Exit codes: 0 copied; 1 verification or I/O failure (nothing written); 2 usage error.";

/// Largest plugin file accepted: a plugin is a library, not a data set.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Most segments `--as` may have.
pub const MAX_DEST_SEGMENTS: usize = 4;
/// Longest path argument, as `spec.artifact.path`.
pub const MAX_PATH_BYTES: usize = 1024;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The plugin file in the image.
    pub from: String,
    /// The directory the program may write.
    pub into: String,
    /// Segments of the destination inside `into`; the last one is the file name.
    pub dest: Vec<String>,
    /// The expected sha256, lowercase hex.
    pub sha256: Option<String>,
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Copy a file.
    Copy(Request),
    /// Print [`USAGE`] and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
}

/// Why the program stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The command line is wrong (exit code 2).
    Usage(String),
    /// The file did not verify or could not be copied (exit code 1).
    Copy(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Copy(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => write!(f, "fbplugin: {m}\n{USAGE}"),
            Failure::Copy(m) => write!(f, "fbplugin: {m}"),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// Parses argv without the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Failure> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string().map_err(|a| {
                usage(format!(
                    "argument {a:?} is not UTF-8: paths may hold only A-Z a-z 0-9 . _ - /"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    match args.as_slice() {
        [one] if one == "--help" || one == "-h" => return Ok(Command::Help),
        [one] if one == "--version" => return Ok(Command::Version),
        [] => return Err(usage("no arguments given")),
        _ => {}
    }
    let (mut from, mut into, mut dest, mut sha256) = (None, None, None, None);
    let mut rest = args.into_iter();
    while let Some(flag) = rest.next() {
        let slot = match flag.as_str() {
            "--from" => &mut from,
            "--into" => &mut into,
            "--as" => &mut dest,
            "--sha256" => &mut sha256,
            other => {
                return Err(usage(format!(
                    "unexpected argument {other:?}: the options are --from, --into, --as and --sha256, each followed by its value"
                )));
            }
        };
        let Some(value) = rest.next() else {
            return Err(usage(format!("{flag} needs a value")));
        };
        if slot.is_some() {
            return Err(usage(format!("{flag} given twice")));
        }
        *slot = Some(value);
    }
    let from = from.ok_or_else(|| usage("--from is missing (the plugin file in the image)"))?;
    let into = into.ok_or_else(|| usage("--into is missing (the directory to copy into)"))?;
    let dest = dest.ok_or_else(|| usage("--as is missing (the file's path inside --into)"))?;
    check_absolute("--from", &from)?;
    check_absolute("--into", &into)?;
    let dest_segments = relative_segments(&dest)?;
    if let Some(sha) = &sha256
        && !(sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(usage(format!(
            "--sha256 {sha:?} is not 64 lowercase hexadecimal characters (what `sha256sum` prints)"
        )));
    }
    Ok(Command::Copy(Request {
        from,
        into,
        dest: dest_segments,
        sha256,
    }))
}

fn allowed(path: &str) -> bool {
    path.len() <= MAX_PATH_BYTES
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

fn bad_segment(segment: &str) -> bool {
    segment.is_empty() || segment == "." || segment == ".."
}

fn check_absolute(flag: &str, path: &str) -> Result<(), Failure> {
    if !path.starts_with('/') {
        return Err(usage(format!("{flag} {path:?} is not an absolute path")));
    }
    if !allowed(path) {
        return Err(usage(format!(
            "{flag} {path:?} holds characters other than A-Z a-z 0-9 . _ - / or is longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    if path != "/" && path[1..].split('/').any(bad_segment) {
        return Err(usage(format!(
            "{flag} {path:?} has an empty, '.' or '..' segment or a trailing '/'"
        )));
    }
    Ok(())
}

fn relative_segments(path: &str) -> Result<Vec<String>, Failure> {
    if path.starts_with('/') {
        return Err(usage(format!(
            "--as {path:?} must be relative to --into, not absolute"
        )));
    }
    if !allowed(path) {
        return Err(usage(format!(
            "--as {path:?} holds characters other than A-Z a-z 0-9 . _ - / or is longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    if segments.iter().any(|s| bad_segment(s)) {
        return Err(usage(format!(
            "--as {path:?} has an empty, '.' or '..' segment or a trailing '/'"
        )));
    }
    if segments.len() > MAX_DEST_SEGMENTS {
        return Err(usage(format!(
            "--as {path:?} has {} segments; at most {MAX_DEST_SEGMENTS} are accepted",
            segments.len()
        )));
    }
    if segments.iter().any(|s| s.len() > 255) {
        return Err(usage(format!(
            "--as {path:?} has a segment longer than 255 bytes"
        )));
    }
    Ok(segments)
}

/// What a successful copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The destination path (`--into` joined with `--as`).
    pub dest: String,
    /// Bytes copied.
    pub bytes: u64,
    /// The file's sha256, lowercase hex.
    pub sha256: String,
    /// Whether `--sha256` was given (and matched).
    pub verified: bool,
}

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = if self.verified {
            "verified"
        } else {
            "not verified: no --sha256 given"
        };
        write!(
            f,
            "copied to {} ({} bytes, sha256 {}, {check})",
            self.dest, self.bytes, self.sha256
        )
    }
}

fn io_failure(what: String) -> impl FnOnce(Errno) -> Failure {
    move |e| Failure::Copy(format!("{what}: {e}"))
}

/// Verifies and copies as [`Request`] says.
pub fn copy(request: &Request) -> Result<Copied, Failure> {
    let Request {
        from,
        into,
        dest,
        sha256,
    } = request;
    let (file_name, dirs) = dest.split_last().ok_or_else(|| usage("--as is empty"))?;
    let dest_path = format!("{into}/{}", dest.join("/"));

    let source = open_source(from)?;
    let size = rustix::fs::fstat(&source)
        .map_err(io_failure(format!("cannot stat {from}")))?
        .st_size;
    let size = u64::try_from(size).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(Failure::Copy(format!(
            "{from} is {size} bytes, larger than the {MAX_FILE_BYTES} accepted for a plugin: check spec.artifact.path"
        )));
    }

    let mut dir = open_dir(CWD, into, into, false)?;
    let mut walked = into.clone();
    for segment in dirs {
        walked = format!("{walked}/{segment}");
        dir = open_dir(&dir, segment, &walked, true)?;
    }
    if file_name.starts_with(".fbplugin-copy-") {
        return Err(usage(format!(
            "--as {dest_path:?}: names starting with .fbplugin-copy- are this program's temporary files"
        )));
    }
    let temp_name = format!(".fbplugin-copy-{file_name}");
    let temp_path = format!("{walked}/{temp_name}");
    // A temporary file left by an earlier attempt that was killed: it is ours, remove it.
    match rustix::fs::unlinkat(&dir, temp_name.as_str(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => {
            return Err(Failure::Copy(format!(
                "cannot remove the stale temporary file {temp_path}: {e}"
            )));
        }
    }
    let temp = rustix::fs::openat(
        &dir,
        temp_name.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(io_failure(format!(
        "cannot create {temp_path} (is {walked} writable by this user?)"
    )))?;

    let result = write_verified(source, temp, from, &temp_path, size, sha256.as_deref());
    let (bytes, actual) = match result {
        Ok(done) => done,
        Err(failure) => {
            let _ = rustix::fs::unlinkat(&dir, temp_name.as_str(), AtFlags::empty());
            return Err(failure);
        }
    };
    if let Err(e) = rustix::fs::renameat(&dir, temp_name.as_str(), &dir, file_name.as_str()) {
        let _ = rustix::fs::unlinkat(&dir, temp_name.as_str(), AtFlags::empty());
        return Err(Failure::Copy(format!(
            "cannot rename {temp_path} to {dest_path}: {e}"
        )));
    }
    rustix::fs::fsync(&dir).map_err(io_failure(format!("cannot fsync {walked}")))?;
    Ok(Copied {
        dest: dest_path,
        bytes,
        sha256: actual,
        verified: sha256.is_some(),
    })
}

fn open_source(from: &str) -> Result<OwnedFd, Failure> {
    let fd = rustix::fs::openat(
        CWD,
        from,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT => Failure::Copy(format!(
            "plugin file {from} not found in the image: check spec.artifact.path"
        )),
        Errno::LOOP => Failure::Copy(format!(
            "plugin file {from} is a symlink: point spec.artifact.path at the file itself"
        )),
        e => Failure::Copy(format!("cannot open the plugin file {from}: {e}")),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(io_failure(format!("cannot stat {from}")))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Failure::Copy(format!(
            "{from} is not a regular file: check spec.artifact.path"
        )));
    }
    Ok(fd)
}

/// Opens directory `name` under `parent` without following a symlink; with `create`, makes it
/// (0755) when missing.
fn open_dir<Fd: rustix::fd::AsFd>(
    parent: Fd,
    name: &str,
    shown: &str,
    create: bool,
) -> Result<OwnedFd, Failure> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let refuse = |e: Errno| match e {
        Errno::LOOP | Errno::NOTDIR => Failure::Copy(format!(
            "{shown} is not a directory (a symlink or a file); refusing to write through it"
        )),
        Errno::NOENT => Failure::Copy(format!(
            "directory {shown} does not exist: the init container must mount the plugin volume there"
        )),
        e => Failure::Copy(format!("cannot open directory {shown}: {e}")),
    };
    match rustix::fs::openat(&parent, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOENT) if create => {
            match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(Failure::Copy(format!("cannot create {shown}: {e}"))),
            }
            rustix::fs::openat(&parent, name, flags, Mode::empty()).map_err(refuse)
        }
        Err(e) => Err(refuse(e)),
    }
}

fn write_verified(
    source: OwnedFd,
    temp: OwnedFd,
    from: &str,
    temp_path: &str,
    size: u64,
    expected: Option<&str>,
) -> Result<(u64, String), Failure> {
    let mut source = File::from(source);
    let mut temp = File::from(temp);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Copy(format!("cannot read {from}: {e}"))),
        };
        bytes += n as u64;
        if bytes > MAX_FILE_BYTES {
            return Err(Failure::Copy(format!(
                "{from} grew past {MAX_FILE_BYTES} bytes while being read"
            )));
        }
        hasher.update(&buffer[..n]);
        temp.write_all(&buffer[..n])
            .map_err(|e| Failure::Copy(format!("cannot write {temp_path}: {e}")))?;
    }
    if bytes != size {
        return Err(Failure::Copy(format!(
            "{from} changed while being read ({size} bytes at open, {bytes} read)"
        )));
    }
    let actual = hex(&hasher.finalize());
    if let Some(expected) = expected
        && expected != actual
    {
        return Err(Failure::Copy(format!(
            "sha256 mismatch for {from}: expected {expected} (spec.artifact.sha256), actual {actual}; nothing was copied. The image holds a different file than the FluentBitPlugin names: set spec.artifact.sha256 to the sha256 of the file you built, or fix spec.artifact.image"
        )));
    }
    rustix::fs::fchmod(&temp, Mode::from_raw_mode(0o444))
        .map_err(io_failure(format!("cannot chmod {temp_path}")))?;
    temp.sync_all()
        .map_err(|e| Failure::Copy(format!("cannot fsync {temp_path}: {e}")))?;
    Ok((bytes, actual))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_a_full_command_line_in_any_order() {
        let sha = "a".repeat(64);
        let parsed = parse(args(&[
            "--sha256",
            &sha,
            "--as",
            "p/lib.so",
            "--into",
            "/out",
            "--from",
            "/plugins/lib.so",
        ]));
        assert_eq!(
            parsed,
            Ok(Command::Copy(Request {
                from: "/plugins/lib.so".into(),
                into: "/out".into(),
                dest: vec!["p".into(), "lib.so".into()],
                sha256: Some(sha),
            }))
        );
    }

    #[test]
    fn refuses_what_it_does_not_expect() {
        let ok = ["--from", "/p/x.so", "--into", "/out", "--as", "x.so"];
        let upper = "A".repeat(64);
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec![], "no arguments"),
            (
                vec!["--from", "/p/x.so", "--into", "/out"],
                "--as is missing",
            ),
            (
                vec!["--from", "/p/x.so", "--as", "x.so"],
                "--into is missing",
            ),
            (vec!["--into", "/o", "--as", "x.so"], "--from is missing"),
            ([&ok[..], &["--as", "y.so"]].concat(), "--as given twice"),
            ([&ok[..], &["--sha256"]].concat(), "--sha256 needs a value"),
            (
                [&ok[..], &["--force"]].concat(),
                "unexpected argument \"--force\"",
            ),
            ([&ok[..], &["--sha256", "ABC"]].concat(), "64 lowercase"),
            ([&ok[..], &["--sha256", &upper]].concat(), "64 lowercase"),
            (
                vec!["--from", "p/x.so", "--into", "/o", "--as", "x"],
                "not an absolute",
            ),
            (
                vec!["--from", "/p/../x", "--into", "/o", "--as", "x"],
                "'..' segment",
            ),
            (
                vec!["--from", "/p/x", "--into", "/o/", "--as", "x"],
                "trailing",
            ),
            (
                vec!["--from", "/p/x", "--into", "/o", "--as", "/x"],
                "not absolute",
            ),
            (
                vec!["--from", "/p/x", "--into", "/o", "--as", "../x"],
                "'..' segment",
            ),
            (
                vec!["--from", "/p/x", "--into", "/o", "--as", "a//x"],
                "empty",
            ),
            (
                vec!["--from", "/p/x", "--into", "/o", "--as", "a/b/c/d/e"],
                "at most 4",
            ),
            (
                vec!["--from", "/p/$(x)", "--into", "/o", "--as", "x"],
                "characters",
            ),
            (
                vec!["--from", "/p/x y", "--into", "/o", "--as", "x"],
                "characters",
            ),
            (
                vec!["--from=/p/x", "--into", "/o", "--as", "x"],
                "unexpected argument",
            ),
        ];
        for (list, expected) in cases {
            match parse(args(&list)) {
                Err(Failure::Usage(m)) => assert!(m.contains(expected), "{list:?}: {m}"),
                other => panic!("{list:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn help_and_version_only_alone() {
        assert_eq!(parse(args(&["--help"])), Ok(Command::Help));
        assert_eq!(parse(args(&["--version"])), Ok(Command::Version));
        assert!(parse(args(&["--help", "--from", "/x"])).is_err());
    }
}

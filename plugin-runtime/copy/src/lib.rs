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
//!
//! # Check mode: the verify step
//!
//! ```text
//! /fbplugin/copy --check /fbplugin-out/libout_jsonl.so --sha256 <64 lowercase hex>
//! /fbplugin/copy --check /fbplugin-out/libout_jsonl.so --same-as /plugins/libout_jsonl.so
//! ```
//!
//! Re-hashes a file that was copied (the operator's verify step runs it after every copy step,
//! on a read-only mount) and exits 1 with `fbplugin: sha256 mismatch for <file>: expected <x>
//! (...), actual <y>` when it differs. The expected digest is `--sha256` (the spec's), or with
//! `--same-as` the digest of that file, read then and there: the plugin file in the verify
//! step's own image, which nothing in the pod can write. The checked file must be a regular
//! file, not a symlink. It writes nothing. Exactly one of `--sha256` and `--same-as` is given.

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
       copy --check <file> (--sha256 <64 lowercase hex> | --same-as <file in the image>)
  Verifies the file's sha256 (when given) and copies it atomically to <directory>/<relative path>
  (mode 0444), creating missing directories inside <directory> and never following a symlink.
  With --check, writes nothing: re-hashes <file> and compares it with --sha256 or with the
  sha256 of the --same-as file.
  Exit codes: 0 copied (or checked); 1 verification or I/O failure (nothing written); 2 usage
  error.";

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

/// A parsed `--check` command line: the verify step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// The file to re-hash (as Fluent Bit will load it).
    pub file: String,
    /// What its sha256 must be.
    pub expected: Expected,
}

/// Where the expected digest of a check comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `--sha256`: the spec's digest, lowercase hex.
    Sha256(String),
    /// `--same-as`: the digest of this file (the plugin file in the image), hashed by the check.
    SameAs(String),
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Copy a file.
    Copy(Request),
    /// Check a copied file's sha256.
    Check(CheckRequest),
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
    let (mut check, mut same_as) = (None, None);
    let mut rest = args.into_iter();
    while let Some(flag) = rest.next() {
        let slot = match flag.as_str() {
            "--from" => &mut from,
            "--into" => &mut into,
            "--as" => &mut dest,
            "--sha256" => &mut sha256,
            "--check" => &mut check,
            "--same-as" => &mut same_as,
            other => {
                return Err(usage(format!(
                    "unexpected argument {other:?}: the options are --from, --into, --as and --sha256 (copy), or --check with --sha256 or --same-as (check), each followed by its value"
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
    if let Some(sha) = &sha256 {
        check_sha256(sha)?;
    }
    if let Some(file) = check {
        if let Some(flag) = [(&from, "--from"), (&into, "--into"), (&dest, "--as")]
            .iter()
            .find_map(|(v, f)| v.is_some().then_some(*f))
        {
            return Err(usage(format!(
                "--check and {flag} do not go together: --check only re-hashes a copied file"
            )));
        }
        check_absolute("--check", &file)?;
        let expected = match (sha256, same_as) {
            (Some(sha), None) => Expected::Sha256(sha),
            (None, Some(image_file)) => {
                check_absolute("--same-as", &image_file)?;
                Expected::SameAs(image_file)
            }
            (Some(_), Some(_)) => {
                return Err(usage(
                    "--check takes one of --sha256 and --same-as, not both",
                ));
            }
            (None, None) => {
                return Err(usage(
                    "--check needs --sha256 <hex> (the expected digest) or --same-as <file> (the file in the image it must equal)",
                ));
            }
        };
        return Ok(Command::Check(CheckRequest { file, expected }));
    }
    if same_as.is_some() {
        return Err(usage(
            "--same-as goes only with --check (copying checks the file with --sha256)",
        ));
    }
    let from = from.ok_or_else(|| usage("--from is missing (the plugin file in the image)"))?;
    let into = into.ok_or_else(|| usage("--into is missing (the directory to copy into)"))?;
    let dest = dest.ok_or_else(|| usage("--as is missing (the file's path inside --into)"))?;
    check_absolute("--from", &from)?;
    check_absolute("--into", &into)?;
    let dest_segments = relative_segments(&dest)?;
    Ok(Command::Copy(Request {
        from,
        into,
        dest: dest_segments,
        sha256,
    }))
}

fn check_sha256(sha: &str) -> Result<(), Failure> {
    if sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(usage(format!(
            "--sha256 {sha:?} is not 64 lowercase hexadecimal characters (what `sha256sum` prints)"
        )))
    }
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

/// What a successful check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The checked file.
    pub file: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// What it was compared with.
    pub expected: Expected,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expected {
            Expected::Sha256(_) => write!(
                f,
                "{} has sha256 {}, as spec.artifact.sha256 says",
                self.file, self.sha256
            ),
            Expected::SameAs(image_file) => write!(
                f,
                "{} has sha256 {}, the same as {image_file} in the plugin's image (no spec.artifact.sha256 to check it against)",
                self.file, self.sha256
            ),
        }
    }
}

/// Re-hashes [`CheckRequest::file`] and compares it with what it must be. Writes nothing.
pub fn check(request: &CheckRequest) -> Result<Checked, Failure> {
    let CheckRequest { file, expected } = request;
    let fd = rustix::fs::openat(
        CWD,
        file.as_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT => Failure::Copy(format!(
            "plugin file {file} is missing after the copy steps: this plugin's copy step did not place it (see its logs)"
        )),
        Errno::LOOP => Failure::Copy(format!(
            "{file} is a symlink, not the file the copy step wrote: something else in the pod changed the plugins volume"
        )),
        e => Failure::Copy(format!("cannot open {file}: {e}")),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(io_failure(format!("cannot stat {file}")))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Failure::Copy(format!(
            "{file} is not a regular file: something else in the pod changed the plugins volume"
        )));
    }
    let actual = hash_all(fd, file)?;
    let (want, whence, hint) = match expected {
        Expected::Sha256(sha) => (
            sha.clone(),
            "spec.artifact.sha256".to_owned(),
            "the file Fluent Bit would load changed after the copy step verified it",
        ),
        Expected::SameAs(image_file) => (
            hash_all(open_source(image_file)?, image_file)?,
            format!("the sha256 of {image_file} in the plugin's image"),
            "the file Fluent Bit would load is not the one in the plugin's image",
        ),
    };
    if actual != want {
        return Err(Failure::Copy(format!(
            "sha256 mismatch for {file}: expected {want} ({whence}), actual {actual}; {hint}. Something other than this plugin's copy step wrote to its directory of the plugins volume: find what else in the pod mounts that volume, then delete the pod to run the init containers again"
        )));
    }
    Ok(Checked {
        file: file.clone(),
        sha256: actual,
        expected: expected.clone(),
    })
}

/// The sha256 of everything readable from `fd` (at most [`MAX_FILE_BYTES`]).
fn hash_all(fd: OwnedFd, shown: &str) -> Result<String, Failure> {
    let mut file = File::from(fd);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Copy(format!("cannot read {shown}: {e}"))),
        };
        bytes += n as u64;
        if bytes > MAX_FILE_BYTES {
            return Err(Failure::Copy(format!(
                "{shown} is larger than the {MAX_FILE_BYTES} bytes accepted for a plugin"
            )));
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
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
    fn parses_check_command_lines() {
        let sha = "b".repeat(64);
        assert_eq!(
            parse(args(&["--check", "/fbplugin-out/lib.so", "--sha256", &sha])),
            Ok(Command::Check(CheckRequest {
                file: "/fbplugin-out/lib.so".into(),
                expected: Expected::Sha256(sha.clone()),
            }))
        );
        assert_eq!(
            parse(args(&[
                "--same-as",
                "/plugins/lib.so",
                "--check",
                "/o/lib.so"
            ])),
            Ok(Command::Check(CheckRequest {
                file: "/o/lib.so".into(),
                expected: Expected::SameAs("/plugins/lib.so".into()),
            }))
        );
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--check", "/o/x"], "needs --sha256"),
            (
                vec!["--check", "/o/x", "--sha256", &sha, "--same-as", "/p/x"],
                "not both",
            ),
            (
                vec!["--check", "/o/x", "--sha256", &sha, "--from", "/p/x"],
                "--check and --from",
            ),
            (
                vec!["--check", "/o/x", "--same-as", "/p/x", "--into", "/o"],
                "--check and --into",
            ),
            (vec!["--check", "o/x", "--sha256", &sha], "not an absolute"),
            (vec!["--check", "/o/../x", "--sha256", &sha], "'..'"),
            (
                vec!["--check", "/o/x", "--same-as", "p/x"],
                "not an absolute",
            ),
            (vec!["--check", "/o/x", "--sha256", "ABC"], "64 lowercase"),
            (
                vec![
                    "--from",
                    "/p/x",
                    "--into",
                    "/o",
                    "--as",
                    "x",
                    "--same-as",
                    "/p/x",
                ],
                "--same-as goes only with --check",
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

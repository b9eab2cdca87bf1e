//! The line-level classic parser (`flb_cf_fluentbit.c:403-769`).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Entry, Group, Section, SectionKind, under_root};

const MAX_FILES: usize = 1000;

/// Prefix matching order of `flb_cf_section_type`-style lookup.
const KINDS: &[(&str, SectionKind)] = &[
    ("service", SectionKind::Service),
    ("input", SectionKind::Input),
    ("inputs", SectionKind::Input),
    ("filter", SectionKind::Filter),
    ("filters", SectionKind::Filter),
    ("output", SectionKind::Output),
    ("outputs", SectionKind::Output),
    ("custom", SectionKind::Custom),
    ("customs", SectionKind::Custom),
    ("parser", SectionKind::Parser),
    ("multiline_parser", SectionKind::MultilineParser),
    ("stream_processor", SectionKind::StreamProcessor),
    ("plugins", SectionKind::Plugins),
    ("upstream_servers", SectionKind::UpstreamServers),
];

/// `strncasecmp(name, candidate, strlen(name)) == 0`: the written name is a prefix.
fn section_kind(name: &str) -> SectionKind {
    let lower = name.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(cand, _)| cand.len() >= lower.len() && cand.starts_with(lower.as_str()))
        .map_or(SectionKind::Other, |(_, k)| *k)
}

struct Parser {
    cfg: Config,
    seen: HashSet<(u64, u64)>,
    top_dir: PathBuf,
    service: Option<usize>,
    /// Where absolute `@INCLUDE` targets are looked up (a container's filesystem).
    root: Option<PathBuf>,
}

/// Parses `path` and its includes; with `root`, absolute `@INCLUDE` targets (plain and glob)
/// are looked up under `root`.
pub(super) fn parse(path: &Path, root: Option<&Path>) -> Result<Config, ConfigError> {
    let mut p = Parser {
        cfg: Config {
            sections: Vec::new(),
            vars: Vec::new(),
            files: Vec::new(),
            warnings: Vec::new(),
            path: path.to_owned(),
        },
        seen: HashSet::new(),
        top_dir: path.parent().map(Path::to_owned).unwrap_or_default(),
        service: None,
        root: root.map(Path::to_owned),
    };
    p.read_file(path, None)?;
    Ok(p.cfg)
}

fn err(file: &Path, line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

fn describe(ws: &str) -> String {
    let tabs = ws.chars().filter(|&c| c == '\t').count();
    let spaces = ws.len() - tabs;
    match (spaces, tabs) {
        (s, 0) => format!("{s} space(s)"),
        (0, t) => format!("{t} tab(s)"),
        (s, t) => format!("{s} space(s) and {t} tab(s)"),
    }
}

impl Parser {
    fn read_file(&mut self, path: &Path, from: Option<(&Path, usize)>) -> Result<(), ConfigError> {
        let (at_file, at_line) = from.unwrap_or((path, 0));
        if self.cfg.files.len() >= MAX_FILES {
            return Err(err(
                at_file,
                at_line,
                format!("more than {MAX_FILES} configuration files"),
            ));
        }
        let meta = std::fs::metadata(path).map_err(|e| {
            err(
                at_file,
                at_line,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        if !self.seen.insert((meta.dev(), meta.ino())) {
            return Err(err(
                at_file,
                at_line,
                format!(
                    "{} is read twice (each file may be included once)",
                    path.display()
                ),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            err(
                at_file,
                at_line,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        self.cfg.files.push(path.to_owned());
        let text = String::from_utf8_lossy(&bytes);

        let mut indent: Option<(String, usize)> = None;
        let mut section: Option<usize> = None;
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.len() >= 9 && line[..9].eq_ignore_ascii_case("@include ") {
                self.include(&line[9..], path, n)?;
                continue;
            }
            if line.starts_with('@') {
                self.meta(line, path, n)?;
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(end) = rest.find(']') else {
                    return Err(err(path, n, "section header without a closing ']'"));
                };
                section = Some(self.open_section(&rest[..end], path, n));
                continue;
            }
            let ws_len = line.len() - line.trim_start_matches([' ', '\t']).len();
            let (ws, content) = line.split_at(ws_len);
            if ws.is_empty() {
                return Err(err(
                    path,
                    n,
                    format!(
                        "'{line}' is not indented: keys must be indented (Fluent Bit would take the first \
                     character as the indentation and misread the key)"
                    ),
                ));
            }
            if content.trim().is_empty() {
                return Err(err(
                    path,
                    n,
                    "line has only whitespace; remove it or leave it completely empty",
                ));
            }
            let level = match &indent {
                None => {
                    indent = Some((ws.to_owned(), n));
                    1
                }
                Some((fixed, _)) if ws == fixed => 1,
                Some((fixed, _)) if ws.len() == 2 * fixed.len() && ws == fixed.repeat(2) => 2,
                Some((fixed, first)) => {
                    let mixed = ws.contains(' ') && ws.contains('\t')
                        || fixed.contains(' ') != ws.contains(' ');
                    return Err(err(
                        path,
                        n,
                        format!(
                            "invalid indentation level: {} here, but line {first} fixed the indentation of \
                         this file at {}{}",
                            describe(ws),
                            describe(fixed),
                            if mixed {
                                " (tabs and spaces are mixed)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            };
            if content.starts_with('#') {
                continue;
            }
            let Some(idx) = section else {
                return Err(err(
                    path,
                    n,
                    "key outside any section; start a section such as [INPUT] first",
                ));
            };
            self.key_line(idx, content, level, path, n)?;
        }
        Ok(())
    }

    fn open_section(&mut self, name: &str, path: &Path, n: usize) -> usize {
        let kind = section_kind(name);
        if kind == SectionKind::Service
            && let Some(i) = self.service
        {
            return i;
        }
        self.cfg.sections.push(Section {
            kind,
            name: name.to_owned(),
            entries: Vec::new(),
            groups: Vec::new(),
            file: path.to_owned(),
            line: n,
        });
        let i = self.cfg.sections.len() - 1;
        if kind == SectionKind::Service {
            self.service = Some(i);
        }
        i
    }

    fn key_line(
        &mut self,
        idx: usize,
        content: &str,
        level: usize,
        path: &Path,
        n: usize,
    ) -> Result<(), ConfigError> {
        let section = &mut self.cfg.sections[idx];
        if level == 1
            && let Some(rest) = content.strip_prefix('[')
        {
            let name = rest.find(']').map_or(rest, |e| &rest[..e]);
            section.groups.push(Group {
                name: name.to_owned(),
                entries: Vec::new(),
            });
            return Ok(());
        }
        let (key, value) = content.split_once(' ').unwrap_or((content, ""));
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if value.is_empty() {
            return Err(err(path, n, format!("key '{key}' has an empty value")));
        }
        let entry = Entry {
            key,
            value: value.to_owned(),
            file: path.to_owned(),
            line: n,
        };
        if level == 2 {
            let Some(group) = section.groups.last_mut() else {
                return Err(err(
                    path,
                    n,
                    "double indentation is only allowed inside a [GROUP]",
                ));
            };
            group.entries.push(entry);
        } else {
            section.entries.push(entry);
        }
        Ok(())
    }

    fn meta(&mut self, line: &str, path: &Path, n: usize) -> Result<(), ConfigError> {
        if line.len() <= 3 {
            return Err(err(path, n, format!("'{line}' is not a valid @ command")));
        }
        let Some((cmd, args)) = line[1..].split_once(' ') else {
            return Err(err(
                path,
                n,
                format!("'{line}': a space must follow the command (e.g. @SET KEY=VALUE)"),
            ));
        };
        if !cmd.eq_ignore_ascii_case("set") {
            self.cfg.warnings.push(format!(
                "{}:{n}: unknown command @{cmd} ignored",
                path.display()
            ));
            return Ok(());
        }
        match args.split_once('=') {
            Some((k, v)) => self.cfg.vars.push((k.to_owned(), v.to_owned())),
            None => self
                .cfg
                .warnings
                .push(format!("{}:{n}: @SET without '=' ignored", path.display())),
        }
        Ok(())
    }

    fn include(&mut self, target: &str, path: &Path, n: usize) -> Result<(), ConfigError> {
        // Absolute targets with a root: `flb_cf_fluentbit.c` stats/globs the path as written;
        // here it is written for the container, whose filesystem is under `root`.
        let rooted = match &self.root {
            Some(root) if Path::new(target).is_absolute() => Some(root.clone()),
            _ => None,
        };
        let files = if target.contains('*') {
            let mut found = match &rooted {
                Some(root) => glob(&format!(
                    "{}/{}",
                    glob_escape(&root.to_string_lossy()),
                    target.trim_start_matches('/')
                )),
                None => glob(target),
            };
            if found.is_empty() && Path::new(target).is_relative() {
                found = glob(&self.top_dir.join(target).to_string_lossy());
            }
            if found.is_empty() {
                let at = match &rooted {
                    Some(root) => format!(
                        " (looked up at {} under the root {})",
                        under_root(Some(root), Path::new(target)).display(),
                        root.display()
                    ),
                    None => String::new(),
                };
                return Err(err(
                    path,
                    n,
                    format!("@INCLUDE {target}: no file matches the pattern{at}"),
                ));
            }
            found
        } else if let Some(root) = &rooted {
            let p = under_root(Some(root), Path::new(target));
            if !p.exists() {
                return Err(err(
                    path,
                    n,
                    format!(
                        "@INCLUDE {target}: file not found at {} (absolute paths are looked up \
                         under the root {})",
                        p.display(),
                        root.display()
                    ),
                ));
            }
            vec![p]
        } else {
            let p = PathBuf::from(target);
            if p.is_relative() && !p.exists() && self.top_dir.join(&p).exists() {
                vec![self.top_dir.join(&p)]
            } else if p.exists() {
                vec![p]
            } else {
                return Err(err(
                    path,
                    n,
                    format!(
                        "@INCLUDE {target}: file not found (relative paths are tried against the current \
                     directory, then {})",
                        self.top_dir.display()
                    ),
                ));
            }
        };
        for f in files {
            self.read_file(&f, Some((path, n)))?;
        }
        Ok(())
    }
}

/// `s` with glob(3)'s special characters escaped, so a root directory matches literally.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// glob(3), as Fluent Bit uses for `@INCLUDE` patterns; sorted matches.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let Ok(c) = std::ffi::CString::new(pattern) else {
        return Vec::new();
    };
    // SAFETY: glob_t is plain data that glob() fills.
    let mut g: libc::glob_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pattern string and glob_t; globfree releases what glob allocated.
    unsafe {
        let mut out = Vec::new();
        if libc::glob(c.as_ptr(), 0, None, &mut g) == 0 {
            for i in 0..g.gl_pathc {
                let p = *g.gl_pathv.add(i);
                if !p.is_null() {
                    let s = std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
                    out.push(PathBuf::from(s));
                }
            }
        }
        libc::globfree(&mut g);
        out
    }
}

//! The input: a built plugin file, checked to be what it claims.

use std::path::Path;

use crate::{Error, Result, sha256_hex};

/// Largest plugin file accepted (the copy program's limit too).
pub const MAX_PLUGIN_BYTES: u64 = 1 << 30;

/// What kind of plugin a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// An x86_64 ELF shared library loaded through Fluent Bit's Go proxy.
    SharedObject,
    /// A WebAssembly module (a WASM filter).
    Wasm,
}

/// A plugin file read into memory.
#[derive(Debug, Clone)]
pub struct PluginFile {
    /// The file name it gets in the image (`/plugins/<name>`).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// `.so` or `.wasm`.
    pub kind: PluginKind,
    /// Lowercase hex sha256 of `bytes`.
    pub sha256: String,
}

impl PluginFile {
    /// Reads and checks `path`: a `.so` must be a 64-bit x86_64 ELF shared object, a `.wasm`
    /// a WebAssembly binary module; the file name must fit `spec.artifact.path`'s grammar.
    pub fn read(path: &Path) -> Result<PluginFile> {
        let shown = path.display();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Plugin(format!("{shown}: no UTF-8 file name")))?
            .to_owned();
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::Plugin(format!(
                "cannot read the plugin file {shown}: {e}; build it first (`cargo build --release -p <crate>`, add `--target wasm32-unknown-unknown` for a WASM filter)"
            ))
        })?;
        if !meta.is_file() {
            return Err(Error::Plugin(format!("{shown} is not a regular file")));
        }
        if meta.len() > MAX_PLUGIN_BYTES {
            return Err(Error::Plugin(format!(
                "{shown} is {} bytes, more than the {MAX_PLUGIN_BYTES} a plugin may have",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Plugin(format!("cannot read the plugin file {shown}: {e}")))?;
        PluginFile::from_bytes(name, bytes)
    }

    /// Checks `bytes` as a plugin called `name` (see [`PluginFile::read`]).
    pub fn from_bytes(name: String, bytes: Vec<u8>) -> Result<PluginFile> {
        check_name(&name)?;
        let kind = if name.ends_with(".so") {
            check_elf(&name, &bytes)?;
            PluginKind::SharedObject
        } else if name.ends_with(".wasm") {
            if !bytes.starts_with(b"\0asm\x01\0\0\0") {
                return Err(Error::Plugin(format!(
                    "{name} is not a WebAssembly binary module (no \\0asm version 1 header)"
                )));
            }
            PluginKind::Wasm
        } else {
            return Err(Error::Plugin(format!(
                "{name}: a plugin file ends in .so (a Go-proxy plugin) or .wasm (a WASM filter)"
            )));
        };
        let sha256 = sha256_hex(&bytes);
        Ok(PluginFile {
            name,
            bytes,
            kind,
            sha256,
        })
    }

    /// Where the file is in the image: `/plugins/<name>` (`spec.artifact.path`).
    pub fn image_path(&self) -> String {
        format!("{}/{}", crate::PLUGIN_DIR, self.name)
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(Error::Plugin(format!(
            "file name {name:?}: spec.artifact.path allows only A-Z a-z 0-9 . _ - (not starting with '.'); rename the file"
        )));
    }
    if name.starts_with("flb-") {
        return Err(Error::Plugin(format!(
            "file name {name:?} starts with flb-, which makes Fluent Bit load it as a native C plugin; rename the file"
        )));
    }
    Ok(())
}

fn check_elf(name: &str, bytes: &[u8]) -> Result<()> {
    if !bytes.starts_with(b"\x7fELF") || bytes.len() < 20 {
        return Err(Error::Plugin(format!("{name} is not an ELF file")));
    }
    // e_ident[EI_CLASS] = 2 (64-bit), e_ident[EI_DATA] = 1 (little endian), e_type = 3
    // (ET_DYN), e_machine = 62 (x86-64): the copy program in the image is x86_64 too.
    let class = bytes[4];
    let data = bytes[5];
    let e_type = u16::from_le_bytes([bytes[16], bytes[17]]);
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    if class != 2 || data != 1 || machine != 62 {
        return Err(Error::Plugin(format!(
            "{name} is not a 64-bit x86_64 ELF file (class {class}, data {data}, machine {machine}); images are linux/amd64"
        )));
    }
    if e_type != 3 {
        return Err(Error::Plugin(format!(
            "{name} is an ELF file of type {e_type}, not a shared object (3): build the crate as a cdylib"
        )));
    }
    Ok(())
}

//! Shared test helpers: isolated copies of the probe `.so` files and their call journals.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Copies the cargo-built `lib<name>.so` to a fresh path, so this test gets its own `dlopen`
/// handle (and its own statics) even while other tests load the same probe.
pub fn fresh(name: &str) -> PathBuf {
    fluent_bit_plugin_test_host::isolated_cdylib(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A second `dlopen` reference to a probe, to read its journal even after the host closed it.
pub struct Journal {
    handle: *mut libc::c_void,
}

impl Journal {
    pub fn open(path: &Path) -> Self {
        let c = CString::new(path.to_str().expect("utf-8 path")).expect("no NUL");
        // SAFETY: loading a probe built by this workspace.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW) };
        assert!(!handle.is_null(), "dlopen {}", path.display());
        Self { handle }
    }

    pub fn lines(&self) -> Vec<String> {
        // SAFETY: dlsym on a live handle.
        let f = unsafe { libc::dlsym(self.handle, c"raw_probe_journal".as_ptr()) };
        assert!(!f.is_null(), "probe exports raw_probe_journal");
        // SAFETY: the probe's signature is usize(u8 *out, usize cap).
        let f: unsafe extern "C" fn(*mut u8, usize) -> usize = unsafe { std::mem::transmute(f) };
        // SAFETY: NULL with cap 0 asks for the length.
        let n = unsafe { f(std::ptr::null_mut(), 0) };
        let mut buf = vec![0u8; n];
        // SAFETY: buf has n writable bytes.
        unsafe { f(buf.as_mut_ptr(), n) };
        String::from_utf8_lossy(&buf)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Journal lines without the `@thread` suffix.
    pub fn events(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .map(|l| l.rsplit_once(" @").map_or(l.clone(), |(e, _)| e.to_owned()))
            .collect()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // SAFETY: closing our own reference.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// One V2 record `{"msg": text}` at t=1.
pub fn chunk(text: &str) -> Vec<u8> {
    let mut v = Vec::new();
    fluent_bit_plugin_test_host::records::push_v2(
        &mut v,
        fluent_bit_plugin_test_host::records::Timestamp::EventTime { secs: 1, nanos: 0 },
        &[],
        &[("msg", text.into())],
    );
    v
}

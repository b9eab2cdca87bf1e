//! `dlopen`/`dlsym` the way Fluent Bit calls them.

use std::ffi::{CStr, CString, c_void};
use std::path::Path;

/// A `dlopen` handle; `dlclose`d on drop.
pub(crate) struct Library {
    handle: *mut c_void,
}

// SAFETY: a dlopen handle is a process-wide token; dlsym/dlclose are thread-safe in glibc.
unsafe impl Send for Library {}
// SAFETY: as above, no interior state is touched through &Library except thread-safe dlsym.
unsafe impl Sync for Library {}

fn last_dlerror() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated thread-local string.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown dlopen error".to_owned()
    } else {
        // SAFETY: non-NULL dlerror results are valid C strings until the next dl* call.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

impl Library {
    /// `dlopen(path, flags)`; the path is passed unchanged, as Fluent Bit does.
    pub(crate) fn open(path: &Path, flags: libc::c_int) -> Result<Self, String> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "path contains a NUL byte".to_owned())?;
        // SAFETY: c is a valid C string; dlopen runs the library's constructors, which is the
        // point of loading a plugin.
        let handle = unsafe { libc::dlopen(c.as_ptr(), flags) };
        if handle.is_null() {
            Err(last_dlerror())
        } else {
            Ok(Self { handle })
        }
    }

    /// `dlerror(); dlsym(); dlerror()` like `flb_plugin_proxy_symbol`: NULL when missing.
    pub(crate) fn symbol(&self, name: &CStr) -> Option<*mut c_void> {
        // SAFETY: clearing and reading dlerror has no preconditions; handle is live.
        unsafe {
            libc::dlerror();
            let p = libc::dlsym(self.handle, name.as_ptr());
            libc::dlerror();
            (!p.is_null()).then_some(p)
        }
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen and is closed exactly once.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// Base address of the object that contains `addr` (for attributing log calls).
pub(crate) fn object_base(addr: *const c_void) -> Option<usize> {
    // SAFETY: Dl_info is plain data; dladdr only writes into it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr accepts any address and reports 0 when it maps to no object.
    let ok = unsafe { libc::dladdr(addr, &mut info) };
    (ok != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

//! Symbol resolution and `FLBPluginRegister`, as `flb_plugin_proxy_create`/`_register` do them.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::Path;
use std::sync::Mutex;

use fluent_bit_plugin_sdk::ffi::{FLB_PROXY_GOLANG, FlbApi, PluginProxyDef};

use crate::dl::Library;
use crate::error::HostError;
use crate::props::PluginKind;

/// Value written over the first four fields of the shared `flbgo_*_plugin` struct after each
/// `FLBPluginInit` returns, so a plugin that keeps reading it crashes at once (in Fluent Bit it
/// would silently read another instance's pointers).
pub const POISON: usize = 0xDEAD_F1B0_DEAD_F1B0;

/// How many bytes `FLBPluginRegister` gets for its `def`, by Fluent Bit version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefSize {
    /// 48 bytes (`config_map` exists): 5.1.1.
    #[default]
    V5_1_1,
    /// 40 bytes (`event_type` exists): 5.0.0 to 5.1.0.
    V5_0,
    /// 32 bytes: up to 4.2.
    V4_2,
}

impl DefSize {
    /// The size in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Self::V5_1_1 => 48,
            Self::V5_0 => 40,
            Self::V4_2 => 32,
        }
    }
}

const CANARY: u8 = 0xA5;
const CANARY_LEN: usize = 64;

type PreRegisterFn = unsafe extern "C" fn(c_int) -> c_int;
type RegisterFn = unsafe extern "C" fn(*mut PluginProxyDef) -> c_int;
type InitFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub(crate) type FlushCtxFn =
    unsafe extern "C" fn(*mut c_void, *const c_void, usize, *mut c_char) -> c_int;
pub(crate) type FlushFn = unsafe extern "C" fn(*const c_void, usize, *const c_char) -> c_int;
pub(crate) type CtxFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub(crate) type VoidFn = unsafe extern "C" fn() -> c_int;
pub(crate) type CollectCtxFn =
    unsafe extern "C" fn(*mut c_void, *mut *mut c_void, *mut usize) -> c_int;
pub(crate) type CollectFn = unsafe extern "C" fn(*mut *mut c_void, *mut usize) -> c_int;
pub(crate) type CleanupCtxFn = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
pub(crate) type CleanupFn = unsafe extern "C" fn(*mut c_void) -> c_int;
pub(crate) type IntArgFn = unsafe extern "C" fn(c_int) -> c_int;
pub(crate) type VoidArgFn = unsafe extern "C" fn(c_int);
pub(crate) type PauseFn = unsafe extern "C" fn();
type UnregisterFn = unsafe extern "C" fn(*mut PluginProxyDef);

/// The plugin's entry points; `None` where `dlsym` found nothing.
#[derive(Clone, Copy, Default)]
pub(crate) struct Symbols {
    pub(crate) init: Option<InitFn>,
    pub(crate) flush_ctx: Option<FlushCtxFn>,
    pub(crate) flush: Option<FlushFn>,
    pub(crate) exit_ctx: Option<CtxFn>,
    pub(crate) exit: Option<VoidFn>,
    pub(crate) collect_ctx: Option<CollectCtxFn>,
    pub(crate) collect: Option<CollectFn>,
    pub(crate) cleanup_ctx: Option<CleanupCtxFn>,
    pub(crate) cleanup: Option<CleanupFn>,
    pub(crate) input_pre_run: Option<IntArgFn>,
    pub(crate) output_pre_run: Option<IntArgFn>,
    pub(crate) pause: Option<PauseFn>,
    pub(crate) resume: Option<PauseFn>,
    pub(crate) input_pre_exit: Option<VoidArgFn>,
    pub(crate) output_pre_exit: Option<VoidArgFn>,
    unregister: Option<UnregisterFn>,
}

/// Resolves `name` as the function pointer type `F`.
///
/// # Safety
/// `F` must be the `extern "C"` fn pointer type matching the symbol's C signature.
unsafe fn load<F: Copy>(lib: &Library, name: &CStr) -> Option<F> {
    const { assert!(size_of::<F>() == size_of::<*mut c_void>()) };
    lib.symbol(name).map(|p| {
        // SAFETY: F is a fn pointer type of pointer size (caller's contract and the assert).
        unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
    })
}

macro_rules! sym {
    ($lib:expr, $name:literal) => {{
        // SAFETY: each use site's type is the C signature `docs/fluent-bit-abi.md` section 1.2 gives.
        unsafe { load($lib, $name) }
    }};
}

/// One entry of a plugin's `config_map` (5.1.1 layout, 104 bytes per entry).
#[derive(Debug, Clone)]
pub(crate) struct MapEntry {
    pub(crate) name: String,
    pub(crate) multiple: bool,
}

/// One `FLBPluginRegister` call and everything Fluent Bit allocates for it.
pub(crate) struct Registration {
    def: *mut PluginProxyDef,
    pub(crate) def_size: usize,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) kind: PluginKind,
    pub(crate) flags: i32,
    pub(crate) event_type: Option<i32>,
    pub(crate) config_map: Option<Vec<MapEntry>>,
    name_c: *mut c_char,
    pub(crate) api: *mut FlbApi,
    /// The one `flbgo_{output,input,custom}_plugin` shared by every instance.
    pub(crate) plugin: *mut c_void,
    pub(crate) syms: Symbols,
    /// Serialises the fill-Init-poison sequence on the shared plugin struct.
    pub(crate) init_lock: Mutex<()>,
    unregistered: Mutex<bool>,
}

// SAFETY: the raw pointers are host-owned blocks; all writes to the shared plugin struct happen
// under init_lock, and the rest is read-only after registration.
unsafe impl Send for Registration {}
// SAFETY: see above.
unsafe impl Sync for Registration {}

fn reg_err(path: &Path, reason: impl Into<String>) -> HostError {
    HostError::Register {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads a NUL-terminated string the plugin handed over, refusing to run away.
fn plugin_str(p: *const c_char, what: &str, path: &Path) -> Result<String, HostError> {
    if p.is_null() {
        return Err(reg_err(path, format!("def->{what} is NULL")));
    }
    // SAFETY: strnlen reads at most 4096 bytes from a pointer the plugin gave as a string.
    let n = unsafe { libc::strnlen(p, 4096) };
    if n == 4096 {
        return Err(reg_err(
            path,
            format!("def->{what} is not NUL-terminated within 4096 bytes"),
        ));
    }
    // SAFETY: a NUL was found within n+1 bytes.
    Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

impl Registration {
    /// `FLBPluginPreRegister(hot_reloading)` (if exported) then `FLBPluginRegister(def)`.
    pub(crate) fn register(
        lib: &Library,
        path: &Path,
        def_size: DefSize,
        hot_reloading: bool,
    ) -> Result<Self, HostError> {
        let pre: Option<PreRegisterFn> = sym!(lib, c"FLBPluginPreRegister");
        let register: Option<RegisterFn> = sym!(lib, c"FLBPluginRegister");
        let Some(register) = register else {
            return Err(HostError::MissingSymbol {
                path: path.to_owned(),
                symbol: "FLBPluginRegister",
                consequence: "Fluent Bit silently skips the plugin and the config then fails \
                              with an unknown plugin name",
            });
        };
        if let Some(pre) = pre {
            // SAFETY: FLBPluginPreRegister(int) per `docs/fluent-bit-abi.md` section 1.2.
            let r = unsafe { pre(c_int::from(hot_reloading)) };
            if r == -1 {
                return Err(reg_err(
                    path,
                    "FLBPluginPreRegister returned -1 (Fluent Bit aborts the registration silently)",
                ));
            }
        }

        let size = def_size.bytes();
        // SAFETY: plain malloc of the def plus a canary zone; checked for NULL.
        let block = unsafe { libc::malloc(size + CANARY_LEN) }.cast::<u8>();
        if block.is_null() {
            return Err(HostError::Os("out of memory for the plugin def".into()));
        }
        // SAFETY: block has size + CANARY_LEN bytes: zero the def (calloc) and paint the rest.
        unsafe {
            std::ptr::write_bytes(block, 0, size);
            std::ptr::write_bytes(block.add(size), CANARY, CANARY_LEN);
        }
        let def = block.cast::<PluginProxyDef>();
        // SAFETY: the def is zeroed and at least 32 bytes, covering type..description.
        let ret = unsafe { register(def) };
        let fail = |reason: String| {
            // SAFETY: freeing the block allocated above, once.
            unsafe { libc::free(block.cast()) };
            Err(reg_err(path, reason))
        };
        // SAFETY: the canary zone is ours, size..size+CANARY_LEN.
        let tail = unsafe { std::slice::from_raw_parts(block.add(size), CANARY_LEN) };
        if let Some(off) = tail.iter().position(|&b| b != CANARY) {
            return fail(format!(
                "FLBPluginRegister wrote past the {size}-byte def (first change at byte {}); \
                 a Fluent Bit that allocates {size} bytes would have its heap corrupted. Write \
                 only type, proxy, flags, name and description unless the host is known newer",
                size + off
            ));
        }
        if ret == -1 {
            return fail("FLBPluginRegister returned -1".into());
        }
        // SAFETY: the first 32 bytes are always inside the block.
        let (t, proxy, flags, name_p, desc_p) = unsafe {
            (
                (*def).type_,
                (*def).proxy,
                (*def).flags,
                (*def).name,
                (*def).description,
            )
        };
        if proxy != FLB_PROXY_GOLANG {
            return fail(format!(
                "def->proxy is {proxy}, must be {FLB_PROXY_GOLANG} (FLB_PROXY_GOLANG); Fluent \
                 Bit silently does not link the plugin"
            ));
        }
        let Some(kind) = crate::props::kind_from_raw(t) else {
            return fail(format!(
                "def->type is {t}; only 1 (input), 2 (output) and 3 (custom) exist, Fluent Bit \
                 does not link anything else"
            ));
        };
        let name = match plugin_str(name_p, "name", path) {
            Ok(n) if !n.is_empty() => n,
            Ok(_) => return fail("def->name is empty".into()),
            Err(e) => return fail(e.to_string()),
        };
        let description = if desc_p.is_null() {
            String::new()
        } else {
            match plugin_str(desc_p, "description", path) {
                Ok(d) => d,
                Err(e) => return fail(e.to_string()),
            }
        };
        let event_type = (size >= 40).then(|| {
            // SAFETY: event_type (offset 32) exists in 40- and 48-byte defs.
            let e = unsafe { (*def).event_type };
            if kind == PluginKind::Output && e == 0 {
                1
            } else {
                e
            }
        });
        let config_map = if size >= 48 {
            // SAFETY: config_map (offset 40) exists in the 48-byte def.
            let cm = unsafe { (*def).config_map };
            match read_config_map(cm.cast(), path) {
                Ok(m) => m,
                Err(e) => return fail(e.to_string()),
            }
        } else {
            None
        };

        let syms = if kind == PluginKind::Custom {
            Symbols {
                init: sym!(lib, c"FLBPluginInit"),
                exit: sym!(lib, c"FLBPluginExit"),
                ..Default::default()
            }
        } else {
            Symbols {
                init: sym!(lib, c"FLBPluginInit"),
                flush_ctx: sym!(lib, c"FLBPluginFlushCtx"),
                flush: sym!(lib, c"FLBPluginFlush"),
                exit_ctx: sym!(lib, c"FLBPluginExitCtx"),
                exit: sym!(lib, c"FLBPluginExit"),
                collect_ctx: sym!(lib, c"FLBPluginInputCallbackCtx"),
                collect: sym!(lib, c"FLBPluginInputCallback"),
                cleanup_ctx: sym!(lib, c"FLBPluginInputCleanupCallbackCtx"),
                cleanup: sym!(lib, c"FLBPluginInputCleanupCallback"),
                input_pre_run: sym!(lib, c"FLBPluginInputPreRun"),
                output_pre_run: sym!(lib, c"FLBPluginOutputPreRun"),
                pause: sym!(lib, c"FLBPluginInputPause"),
                resume: sym!(lib, c"FLBPluginInputResume"),
                input_pre_exit: sym!(lib, c"FLBPluginInputPreExit"),
                output_pre_exit: sym!(lib, c"FLBPluginOutputPreExit"),
                unregister: sym!(lib, c"FLBPluginUnregister"),
            }
        };
        if syms.init.is_none() {
            let reg = Self::assemble(
                def,
                size,
                name,
                description,
                kind,
                flags,
                event_type,
                config_map,
                syms,
            );
            reg.unregister();
            return Err(HostError::MissingSymbol {
                path: path.to_owned(),
                symbol: "FLBPluginInit",
                consequence: "Fluent Bit logs \"could not load FLBPluginInit symbol\" and does \
                              not link the plugin",
            });
        }
        Ok(Self::assemble(
            def,
            size,
            name,
            description,
            kind,
            flags,
            event_type,
            config_map,
            syms,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        def: *mut PluginProxyDef,
        def_size: usize,
        name: String,
        description: String,
        kind: PluginKind,
        flags: i32,
        event_type: Option<i32>,
        config_map: Option<Vec<MapEntry>>,
        syms: Symbols,
    ) -> Self {
        let plugin_size = match kind {
            PluginKind::Output => size_of::<fluent_bit_plugin_sdk::ffi::GoOutputPlugin>(),
            PluginKind::Input => size_of::<fluent_bit_plugin_sdk::ffi::GoInputPlugin>(),
            PluginKind::Custom => size_of::<fluent_bit_plugin_sdk::ffi::GoCustomPlugin>(),
        };
        // SAFETY: calloc of the shared plugin struct, like go.c; NULL aborts (OOM).
        let plugin = unsafe { libc::calloc(1, plugin_size) };
        let cname = std::ffi::CString::new(name.as_str()).unwrap_or_default();
        // SAFETY: strdup of a valid C string (Fluent Bit keeps its own copy of the name).
        let name_c = unsafe { libc::strdup(cname.as_ptr()) };
        if plugin.is_null() || name_c.is_null() {
            std::process::abort();
        }
        let reg = Self {
            def,
            def_size,
            name,
            description,
            kind,
            flags,
            event_type,
            config_map,
            name_c,
            api: crate::api::new_api(),
            plugin,
            syms,
            init_lock: Mutex::new(()),
            unregistered: Mutex::new(kind == PluginKind::Custom),
        };
        reg.fill_callbacks();
        reg
    }

    /// Fluent Bit keeps its function pointers in the `cb_*` fields; mirror that.
    fn fill_callbacks(&self) {
        let s = &self.syms;
        let p = |f: Option<*mut c_void>| f.unwrap_or(std::ptr::null_mut());
        let init = p(s.init.map(|f| f as *mut c_void));
        // SAFETY: `plugin` is a zeroed block of the struct matching `kind`.
        unsafe {
            match self.kind {
                PluginKind::Output => {
                    let o = self
                        .plugin
                        .cast::<fluent_bit_plugin_sdk::ffi::GoOutputPlugin>();
                    (*o).name = self.name_c;
                    (*o).cb_init = init;
                    (*o).cb_flush = p(s.flush.map(|f| f as *mut c_void));
                    (*o).cb_flush_ctx = p(s.flush_ctx.map(|f| f as *mut c_void));
                    (*o).cb_exit = p(s.exit.map(|f| f as *mut c_void));
                    (*o).cb_exit_ctx = p(s.exit_ctx.map(|f| f as *mut c_void));
                }
                PluginKind::Input => {
                    let i = self
                        .plugin
                        .cast::<fluent_bit_plugin_sdk::ffi::GoInputPlugin>();
                    (*i).name = self.name_c;
                    (*i).cb_init = init;
                    (*i).cb_collect = p(s.collect.map(|f| f as *mut c_void));
                    (*i).cb_collect_ctx = p(s.collect_ctx.map(|f| f as *mut c_void));
                    (*i).cb_cleanup = p(s.cleanup.map(|f| f as *mut c_void));
                    (*i).cb_cleanup_ctx = p(s.cleanup_ctx.map(|f| f as *mut c_void));
                    (*i).cb_exit = p(s.exit.map(|f| f as *mut c_void));
                }
                PluginKind::Custom => {
                    let c = self
                        .plugin
                        .cast::<fluent_bit_plugin_sdk::ffi::GoCustomPlugin>();
                    (*c).name = self.name_c;
                    (*c).cb_init = init;
                    (*c).cb_exit = p(s.exit.map(|f| f as *mut c_void));
                }
            }
        }
    }

    /// Fills the shared struct for one instance, runs Init, then poisons the struct.
    /// Must run on the thread Fluent Bit uses for this plugin type's Init.
    pub(crate) fn call_init(&self, ins: *mut c_void, context: *mut c_void) -> c_int {
        let _g = self.init_lock.lock().unwrap_or_else(|e| e.into_inner());
        let head = self.plugin.cast::<[*mut c_void; 4]>();
        // SAFETY: all three plugin structs start with name, api, *_ins, context (8 bytes each);
        // init is Some (checked at registration) with signature int(void *plugin).
        unsafe {
            *head = [self.name_c.cast(), self.api.cast(), ins, context];
            let r = (self.syms.init.unwrap_unchecked())(self.plugin);
            *head = [POISON as *mut c_void; 4];
            r
        }
    }

    /// `FLBPluginUnregister(def)` once (never for customs).
    pub(crate) fn unregister(&self) {
        let mut done = self.unregistered.lock().unwrap_or_else(|e| e.into_inner());
        if *done {
            return;
        }
        *done = true;
        if let Some(u) = self.syms.unregister {
            // SAFETY: the def this plugin filled in Register, still allocated.
            unsafe { u(self.def) };
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: each block was allocated by this registration and is freed once; the plugin
        // no longer runs (Unregister/dlclose precede dropping the last reference).
        unsafe {
            libc::free(self.def.cast());
            libc::free(self.name_c.cast());
            libc::free(self.api.cast());
            libc::free(self.plugin);
        }
    }
}

/// Walks a 5.1.1 `struct flb_config_map` array (104-byte entries, `name` at 8, `flags` at 24,
/// terminated by `name == NULL`).
fn read_config_map(p: *const u8, path: &Path) -> Result<Option<Vec<MapEntry>>, HostError> {
    const ENTRY: usize = 104;
    if p.is_null() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for i in 0..4096 {
        // SAFETY: the plugin promises a NULL-name-terminated array of 104-byte entries.
        let (name, flags) = unsafe {
            let e = p.add(i * ENTRY);
            (
                e.add(8).cast::<*const c_char>().read_unaligned(),
                e.add(24).cast::<c_int>().read_unaligned(),
            )
        };
        if name.is_null() {
            return Ok(Some(out));
        }
        let name = plugin_str(name, &format!("config_map[{i}].name"), path)?;
        out.push(MapEntry {
            name: name.to_ascii_lowercase(),
            multiple: flags & 1 != 0,
        });
    }
    Err(reg_err(
        path,
        "def->config_map has no NULL-name terminator within 4096 entries",
    ))
}

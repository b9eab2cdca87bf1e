//! An output plugin written directly against the raw proxy ABI (no SDK), used to test the test
//! host itself. Behaviour is chosen per instance through properties:
//! `id` (label), `dump` (comma-separated keys to log at Init), `flush_return` (int),
//! `flush_sleep_ms`, `flush_rendezvous` (each flush waits, up to 60 s, until that many flushes
//! have been in flight at once: a proof of concurrency that needs no clock), `stack_kib` (stack to use in flush), `backtrace` (capture a backtrace in
//! flush, walking the coroutine stack), `fail_init` (return value),
//! `spawn_thread` (start a `raw-probe-bg` thread in Init, joined in ExitCtx).
//! Register misbehaves on request through the `RAW_PROBE_REGISTER` environment variable.

#![allow(clippy::missing_safety_doc, missing_docs)] // The exports are the ABI symbols of `docs/fluent-bit-abi.md` section 1.2, called by the host under its contract.

#[allow(dead_code)] // Each probe uses a different subset.
#[path = "../../common.rs"]
mod common;

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{cmt_symbol, log, note, prop};
use fluent_bit_plugin_sdk::ffi::{
    FLB_LOG_INFO, FLB_PROXY_GOLANG, FLB_PROXY_OUTPUT_PLUGIN, FlbApi, GoOutputPlugin, PluginProxyDef,
};

type CounterCreate = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
) -> *mut c_void;
type CounterAdd = unsafe extern "C" fn(*mut c_void, u64, f64, c_int, *const *const c_char) -> c_int;
type GaugeSet = CounterAdd;

struct Instance {
    id: String,
    api: *const FlbApi,
    ins: *mut c_void,
    shared: *mut GoOutputPlugin,
    flush_return: c_int,
    sleep: Duration,
    rendezvous: usize,
    stack_kib: usize,
    backtrace: bool,
    inflight: AtomicUsize,
    max_inflight: AtomicUsize,
    flushes: AtomicUsize,
    counter: *mut c_void,
    gauge: *mut c_void,
    bg: std::sync::Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Instance {
    fn log(&self, msg: &str) {
        // SAFETY: api and ins were copied from the plugin struct in Init and stay valid.
        unsafe {
            log(
                self.api,
                (*self.api).output_log_check,
                self.ins,
                FLB_LOG_INFO,
                msg,
            )
        };
    }
}

// SAFETY: the raw pointers are host objects that the ABI allows using from any thread.
unsafe impl Send for Instance {}
// SAFETY: as above; mutable state is atomic or behind a Mutex.
unsafe impl Sync for Instance {}

#[repr(C)]
struct MapEntry {
    type_: c_int,
    name: *const c_char,
    def_value: *const c_char,
    flags: c_int,
    set_property: c_int,
    offset: usize,
    desc: *const c_char,
    rest: [u8; 56],
}
struct Map([MapEntry; 3]);
// SAFETY: immutable static data.
unsafe impl Sync for Map {}
const fn entry(name: *const c_char, flags: c_int) -> MapEntry {
    MapEntry {
        type_: 0,
        name,
        def_value: std::ptr::null(),
        flags,
        set_property: 0,
        offset: 0,
        desc: std::ptr::null(),
        rest: [0; 56],
    }
}
static CONFIG_MAP: Map = Map([
    entry(c"id".as_ptr(), 0),
    entry(c"tags".as_ptr(), 1),
    entry(std::ptr::null(), 0),
]);

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginPreRegister(hot_reloading: c_int) -> c_int {
    note(format!("pre_register({hot_reloading})"));
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginRegister(def: *mut PluginProxyDef) -> c_int {
    let mode = common::register_mode();
    note(format!("register mode={mode}"));
    // SAFETY: the host gives a zeroed def of at least 32 bytes; the extra fields are written
    // only in the modes that test the host's overrun detection.
    unsafe {
        (*def).type_ = if mode == "bad_type" {
            7
        } else {
            FLB_PROXY_OUTPUT_PLUGIN
        };
        (*def).proxy = if mode == "bad_proxy" {
            3
        } else {
            FLB_PROXY_GOLANG
        };
        (*def).flags = 0;
        (*def).name = common::leak_c("raw_probe_out");
        (*def).description = common::leak_c("raw ABI output probe");
        if mode == "write_event_type" {
            (*def).event_type = 1;
        }
        if mode == "config_map" {
            (*def).config_map = CONFIG_MAP.0.as_ptr() as *mut c_void;
        }
    }
    if mode == "fail" { -1 } else { 0 }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
    let p = plugin.cast::<GoOutputPlugin>();
    // SAFETY: the host passes a filled flbgo_output_plugin; we copy what we need now.
    let (api, ins, ctx) = unsafe { ((*p).api, (*p).o_ins, (*p).context) };
    // SAFETY: api is the live flb_api.
    let get = unsafe { (*api).output_get_property };
    // SAFETY: ins is the instance pointer given for this Init.
    let id = unsafe { prop(get, ins, "id") }.unwrap_or_default();
    note(format!("init id={id}"));
    let mut inst = Instance {
        id: id.clone(),
        api,
        ins,
        shared: p,
        // SAFETY: as above.
        flush_return: unsafe { prop(get, ins, "flush_return") }
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        // SAFETY: as above.
        sleep: Duration::from_millis(
            unsafe { prop(get, ins, "flush_sleep_ms") }
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
        // SAFETY: as above.
        rendezvous: unsafe { prop(get, ins, "flush_rendezvous") }
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        // SAFETY: as above.
        stack_kib: unsafe { prop(get, ins, "stack_kib") }
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        // SAFETY: as above.
        backtrace: unsafe { prop(get, ins, "backtrace") }.is_some(),
        inflight: AtomicUsize::new(0),
        max_inflight: AtomicUsize::new(0),
        flushes: AtomicUsize::new(0),
        counter: std::ptr::null_mut(),
        gauge: std::ptr::null_mut(),
        bg: std::sync::Mutex::new(None),
    };
    // SAFETY: as above.
    if let Some(keys) = unsafe { prop(get, ins, "dump") } {
        for k in keys.split(',') {
            // SAFETY: as above.
            let v = unsafe { prop(get, ins, k) };
            inst.log(&format!("prop {k}={}", v.as_deref().unwrap_or("NULL")));
        }
    }
    // SAFETY: as above.
    if let Some(code) = unsafe { prop(get, ins, "fail_init") } {
        inst.log(&format!("init failing on purpose id={id}"));
        return code.parse().unwrap_or(0);
    }
    // SAFETY: api is live; the getter is filled by a 5.1.1 host.
    let cmt = unsafe {
        (*api)
            .output_get_cmt_instance
            .map_or(std::ptr::null_mut(), |g| g(ins))
    };
    match (
        cmt.is_null(),
        cmt_symbol(c"cmt_counter_create"),
        cmt_symbol(c"cmt_gauge_create"),
    ) {
        (false, Some(cc), Some(gc)) => {
            let keys = [c"id".as_ptr()];
            // SAFETY: cmetrics 2.x signatures; the strings are static.
            unsafe {
                let cc: CounterCreate = std::mem::transmute(cc);
                let gc: CounterCreate = std::mem::transmute(gc);
                inst.counter = cc(
                    cmt,
                    c"fluentbit".as_ptr(),
                    c"plugin".as_ptr(),
                    c"raw_probe_flushes_total".as_ptr(),
                    c"flushes".as_ptr(),
                    1,
                    keys.as_ptr(),
                );
                inst.gauge = gc(
                    cmt,
                    c"fluentbit".as_ptr(),
                    c"plugin".as_ptr(),
                    c"raw_probe_last_bytes".as_ptr(),
                    c"last flush size".as_ptr(),
                    0,
                    std::ptr::null(),
                );
            }
            inst.log("metrics on");
        }
        _ => inst.log("metrics off"),
    }
    // SAFETY: as above.
    if unsafe { prop(get, ins, "spawn_thread") }.is_some() {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::Builder::new()
            .name("raw-probe-bg".into())
            .spawn(move || {
                note("bg started");
                while !s2.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .ok();
        if let Some(h) = h {
            *inst.bg.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, h));
        }
    }
    inst.log(&format!("init id={id}"));
    let raw = Box::into_raw(Box::new(inst));
    // SAFETY: ctx is this instance's proxy context; remote_context is at offset 0.
    unsafe { (*ctx).remote_context = raw.cast() };
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginOutputPreRun(hot: c_int) -> c_int {
    note(format!("output_pre_run({hot})"));
    0
}

#[inline(never)]
fn use_stack(kib: usize) -> u8 {
    let mut buf = [0u8; 1024];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = i as u8;
    }
    let below = if kib > 1 { use_stack(kib - 1) } else { 0 };
    std::hint::black_box(&buf)[kib % 1024].wrapping_add(below)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginFlushCtx(
    ctx: *mut c_void,
    data: *const c_void,
    size: usize,
    tag: *mut c_char,
) -> c_int {
    if ctx.is_null() {
        return 0;
    }
    // SAFETY: ctx is the Box<Instance> stored in Init.
    let inst = unsafe { &*ctx.cast::<Instance>() };
    // SAFETY: tag is a NUL-terminated copy valid for this call.
    let tag = unsafe { std::ffi::CStr::from_ptr(tag) }
        .to_string_lossy()
        .into_owned();
    // Reading the shared struct's field (not through it) shows whether it was poisoned.
    // SAFETY: the shared struct is host memory valid while the plugin is loaded.
    let shared_ctx = unsafe { (*inst.shared).context } as usize;
    let now = inst.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    inst.max_inflight.fetch_max(now, Ordering::SeqCst);
    if !inst.sleep.is_zero() {
        std::thread::sleep(inst.sleep);
    }
    let patience = std::time::Instant::now() + Duration::from_secs(60);
    while inst.max_inflight.load(Ordering::SeqCst) < inst.rendezvous
        && std::time::Instant::now() < patience
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    if inst.stack_kib > 0 {
        std::hint::black_box(use_stack(inst.stack_kib));
    }
    if inst.backtrace {
        // What Rust's default panic hook does with RUST_BACKTRACE set.
        let _ = std::hint::black_box(std::backtrace::Backtrace::force_capture());
    }
    let first = if size > 0 {
        // SAFETY: data has `size` readable bytes during the call.
        unsafe { *data.cast::<u8>() }
    } else {
        0
    };
    let n = inst.flushes.fetch_add(1, Ordering::SeqCst) + 1;
    note(format!(
        "flush id={} tag={tag} size={size} first=0x{first:02x}",
        inst.id
    ));
    inst.log(&format!(
        "flush id={} tag={tag} size={size} n={n} shared_ctx=0x{shared_ctx:x}",
        inst.id
    ));
    if !inst.counter.is_null() {
        let labels = [std::ffi::CString::new(inst.id.clone()).unwrap_or_default()];
        let ptrs = [labels[0].as_ptr()];
        if let (Some(add), Some(set)) =
            (cmt_symbol(c"cmt_counter_add"), cmt_symbol(c"cmt_gauge_set"))
        {
            // SAFETY: cmetrics 2.x signatures on metrics created in Init.
            unsafe {
                let add: CounterAdd = std::mem::transmute(add);
                let set: GaugeSet = std::mem::transmute(set);
                add(inst.counter, 0, 1.0, 1, ptrs.as_ptr());
                set(inst.gauge, 0, size as f64, 0, std::ptr::null());
            }
        }
    }
    inst.inflight.fetch_sub(1, Ordering::SeqCst);
    inst.flush_return
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginOutputPreExit(reload: c_int) {
    note(format!("output_pre_exit({reload})"));
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginExitCtx(ctx: *mut c_void) -> c_int {
    if ctx.is_null() {
        note("exit_ctx NULL");
        return 0;
    }
    // SAFETY: ctx is the Box<Instance> from Init; ExitCtx is its last use.
    let inst = unsafe { Box::from_raw(ctx.cast::<Instance>()) };
    if let Some((stop, h)) = inst.bg.lock().unwrap_or_else(|e| e.into_inner()).take() {
        stop.store(true, Ordering::SeqCst);
        let _ = h.join();
    }
    let msg = format!(
        "exit id={} flushes={} max_concurrent={}",
        inst.id,
        inst.flushes.load(Ordering::SeqCst),
        inst.max_inflight.load(Ordering::SeqCst)
    );
    note(&msg);
    inst.log(&msg);
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginExit() -> c_int {
    note("exit");
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginUnregister(_def: *mut PluginProxyDef) {
    note("unregister");
}

const _: () = assert!(size_of::<MapEntry>() == 104);

//! An input plugin written directly against the raw proxy ABI (no SDK), used to test the test
//! host itself. Per-instance properties: `id`, `records` (per collect, default 2), `shape`
//! (`v2`, `legacy`, `garbage`, `empty`, `zero_len_buffer`), `collect_return` (int),
//! `spawn_thread` (start `raw-probe-bg` in Init, joined in Exit).
//! Every callback notes its thread; Exit, Pause and Resume find their instance through a
//! thread-local set in Init, which works because Fluent Bit runs all of an input instance's
//! callbacks on that instance's own thread.

#![allow(clippy::missing_safety_doc, missing_docs)] // The exports are the ABI symbols of `docs/fluent-bit-abi.md` section 1.2, called by the host under its contract.

#[allow(dead_code)] // Each probe uses a different subset.
#[path = "../../common.rs"]
mod common;

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{log, note, prop};
use fluent_bit_plugin_sdk::ffi::{
    FLB_LOG_DEBUG, FLB_LOG_INFO, FLB_PROXY_GOLANG, FLB_PROXY_INPUT_PLUGIN, FlbApi, GoInputPlugin,
    PluginProxyDef,
};

type CounterCreate = unsafe extern "C" fn(
    *mut c_void,
    *const i8,
    *const i8,
    *const i8,
    *const i8,
    c_int,
    *const *const i8,
) -> *mut c_void;
type CounterAdd = unsafe extern "C" fn(*mut c_void, u64, f64, c_int, *const *const i8) -> c_int;

struct Instance {
    id: String,
    api: *const FlbApi,
    ins: *mut c_void,
    records: usize,
    shape: String,
    collect_return: c_int,
    seq: AtomicUsize,
    outstanding: AtomicUsize,
    collects: AtomicUsize,
    cleanups: AtomicUsize,
    handed: std::sync::Mutex<std::collections::HashMap<usize, usize>>,
    counter: *mut c_void,
    bg: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Instance {
    fn log(&self, level: c_int, msg: &str) {
        // SAFETY: api and ins were copied in Init and stay valid for the instance lifetime.
        unsafe { log(self.api, (*self.api).input_log_check, self.ins, level, msg) };
    }
}

thread_local! {
    static CURRENT: Cell<*mut Instance> = const { Cell::new(std::ptr::null_mut()) };
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginRegister(def: *mut PluginProxyDef) -> c_int {
    note("register");
    // SAFETY: the host gives a zeroed def of at least 32 bytes.
    unsafe {
        (*def).type_ = FLB_PROXY_INPUT_PLUGIN;
        (*def).proxy = FLB_PROXY_GOLANG;
        (*def).name = common::leak_c("raw_probe_in");
        (*def).description = common::leak_c("raw ABI input probe");
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
    let p = plugin.cast::<GoInputPlugin>();
    // SAFETY: the host passes a filled flbgo_input_plugin; copy what we need now.
    let (api, ins, ctx) = unsafe { ((*p).api, (*p).i_ins, (*p).context) };
    // SAFETY: api is the live flb_api.
    let get = unsafe { (*api).input_get_property };
    // SAFETY: ins is this Init's instance pointer (for all the reads below).
    let id = unsafe { prop(get, ins, "id") }.unwrap_or_default();
    let mut inst = Box::new(Instance {
        id: id.clone(),
        api,
        ins,
        // SAFETY: as above.
        records: unsafe { prop(get, ins, "records") }
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
        // SAFETY: as above.
        shape: unsafe { prop(get, ins, "shape") }.unwrap_or_else(|| "v2".into()),
        // SAFETY: as above.
        collect_return: unsafe { prop(get, ins, "collect_return") }
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        seq: AtomicUsize::new(0),
        outstanding: AtomicUsize::new(0),
        collects: AtomicUsize::new(0),
        cleanups: AtomicUsize::new(0),
        handed: std::sync::Mutex::new(std::collections::HashMap::new()),
        counter: std::ptr::null_mut(),
        bg: None,
    });
    // SAFETY: as above.
    let tag = unsafe { prop(get, ins, "tag") };
    inst.log(
        FLB_LOG_INFO,
        &format!("init id={id} tag={}", tag.as_deref().unwrap_or("NULL")),
    );
    // SAFETY: api is live; input_get_cmt_instance is filled by a 5.1.1 host.
    let cmt = unsafe {
        (*api)
            .input_get_cmt_instance
            .map_or(std::ptr::null_mut(), |g| g(ins))
    };
    if let (false, Some(cc)) = (cmt.is_null(), common::cmt_symbol(c"cmt_counter_create")) {
        // SAFETY: cmetrics 2.x signature; static strings.
        inst.counter = unsafe {
            let cc: CounterCreate = std::mem::transmute(cc);
            cc(
                cmt,
                c"fluentbit".as_ptr(),
                c"plugin".as_ptr(),
                c"raw_probe_records_total".as_ptr(),
                c"records".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
    // SAFETY: as above.
    if unsafe { prop(get, ins, "spawn_thread") }.is_some() {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        if let Ok(h) = std::thread::Builder::new()
            .name("raw-probe-bg".into())
            .spawn(move || {
                while !s2.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        {
            inst.bg = Some((stop, h));
        }
    }
    note(format!("init id={id}"));
    let raw = Box::into_raw(inst);
    CURRENT.with(|c| c.set(raw));
    // SAFETY: ctx is this instance's input proxy context; remote_context is at offset 8.
    unsafe { (*ctx).remote_context = raw.cast() };
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginInputPreRun(hot: c_int) -> c_int {
    note(format!("input_pre_run({hot}) id={}", current_id()));
    0
}

fn current_id() -> String {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        "?".into()
    } else {
        // SAFETY: set in Init on this thread, freed only in Exit on this thread.
        unsafe { (*p).id.clone() }
    }
}

fn str8(out: &mut Vec<u8>, s: &str) {
    out.push(0xa0 | s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// `[[EventTime, {}], {"id": id, "seq": n}]` or `[EventTime, {...}]`.
fn encode(inst: &Instance, out: &mut Vec<u8>) {
    for _ in 0..inst.records {
        let n = inst.seq.fetch_add(1, Ordering::SeqCst) as u32;
        out.push(0x92);
        let ts = [0xd7, 0x00, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
        if inst.shape == "legacy" {
            out.extend_from_slice(&ts);
        } else {
            out.push(0x92);
            out.extend_from_slice(&ts);
            out.push(0x80);
        }
        out.push(0x82);
        str8(out, "id");
        str8(out, &inst.id);
        str8(out, "seq");
        out.push(0xce);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginInputCallbackCtx(
    ctx: *mut c_void,
    buf: *mut *mut c_void,
    len: *mut usize,
) -> c_int {
    // SAFETY: ctx is the Box<Instance> from Init.
    let inst = unsafe { &*ctx.cast::<Instance>() };
    inst.collects.fetch_add(1, Ordering::SeqCst);
    let mut out = Vec::new();
    match inst.shape.as_str() {
        "empty" => {}
        "garbage" => out.extend_from_slice(&[0x92, 0xc1, 0x80]),
        "zero_len_buffer" => {
            // SAFETY: buf/len are valid out-pointers.
            unsafe {
                *buf = c"static".as_ptr().cast_mut().cast();
                *len = 0;
            }
            return inst.collect_return;
        }
        _ => encode(inst, &mut out),
    }
    inst.log(
        FLB_LOG_DEBUG,
        &format!("collect id={} bytes={}", inst.id, out.len()),
    );
    if !inst.counter.is_null()
        && let Some(add) = common::cmt_symbol(c"cmt_counter_add")
    {
        // SAFETY: cmetrics 2.x signature.
        unsafe {
            let add: CounterAdd = std::mem::transmute(add);
            add(inst.counter, 0, inst.records as f64, 0, std::ptr::null());
        }
    }
    let n = out.len();
    // SAFETY: buf/len are valid out-pointers; the buffer is freed in the cleanup callback.
    unsafe {
        if n == 0 {
            *buf = std::ptr::null_mut();
            *len = 0;
        } else {
            *buf = Box::into_raw(out.into_boxed_slice()).cast();
            *len = n;
            inst.handed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(*buf as usize, n);
            inst.outstanding.fetch_add(1, Ordering::SeqCst);
        }
    }
    inst.collect_return
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginInputCleanupCallbackCtx(
    ctx: *mut c_void,
    buf: *mut c_void,
) -> c_int {
    // SAFETY: ctx is the Box<Instance> from Init.
    let inst = unsafe { &*ctx.cast::<Instance>() };
    inst.cleanups.fetch_add(1, Ordering::SeqCst);
    let Some(n) = inst
        .handed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&(buf as usize))
    else {
        note(format!(
            "cleanup of a buffer never handed out id={}",
            inst.id
        ));
        return -1;
    };
    inst.outstanding.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: buf came from Box<[u8]>::into_raw with length n in the callback above.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(buf.cast::<u8>(), n)) });
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginInputPause() {
    note(format!("pause id={}", current_id()));
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginInputResume() {
    note(format!("resume id={}", current_id()));
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginInputPreExit(reload: c_int) {
    note(format!("input_pre_exit({reload}) id={}", current_id()));
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginExit() -> c_int {
    let p = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    if p.is_null() {
        note("exit without instance on this thread");
        return 0;
    }
    // SAFETY: the Box<Instance> from Init on this thread; Exit is its last use.
    let mut inst = unsafe { Box::from_raw(p) };
    if let Some((stop, h)) = inst.bg.take() {
        stop.store(true, Ordering::SeqCst);
        let _ = h.join();
    }
    let msg = format!(
        "exit id={} collects={} cleanups={} outstanding={}",
        inst.id,
        inst.collects.load(Ordering::SeqCst),
        inst.cleanups.load(Ordering::SeqCst),
        inst.outstanding.load(Ordering::SeqCst)
    );
    inst.log(FLB_LOG_INFO, &msg);
    note(msg);
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginUnregister(_def: *mut PluginProxyDef) {
    note("unregister");
}

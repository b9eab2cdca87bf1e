//! The custom-plugin callbacks Fluent Bit calls: `FLBPluginInit` and the context-free
//! `FLBPluginExit`.

use std::ffi::c_int;
use std::sync::Mutex;

use super::host::instance_context;
use super::raw::{self as ffi, GoCustomPlugin};
use crate::PluginKind;
use crate::context::{PluginMeta, lock, run_init};
use crate::custom::CustomPlugin;
use crate::logging::Logger;

type Dropper = unsafe fn(usize);

static INSTANCES: Mutex<Vec<(usize, Dropper, Logger)>> = Mutex::new(Vec::new());

/// `FLBPluginInit` for custom plugins.
///
/// # Safety
/// `plugin` must be the host's `flbgo_custom_plugin` for the instance being initialised.
pub unsafe fn init<P: CustomPlugin>(meta: &PluginMeta, plugin: *mut GoCustomPlugin) -> c_int {
    if plugin.is_null() {
        return ffi::FLB_ERROR;
    }
    // SAFETY: filled by the host just before Init; copied because the struct is shared.
    let (api, ins, context) = unsafe { ((*plugin).api, (*plugin).i_ins, (*plugin).context) };
    // SAFETY: api and ins are this instance's, valid until its Exit.
    let Some(ctx) = (unsafe { instance_context(meta, api, ins, PluginKind::Custom) }) else {
        return ffi::FLB_ERROR;
    };
    let Some(plugin) = run_init(&ctx, P::init) else {
        return ffi::FLB_ERROR;
    };
    let ptr = Box::into_raw(Box::new(plugin));
    if !context.is_null() {
        // SAFETY: the instance's proxy context, allocated by the host.
        unsafe { (*context).remote_context = ptr.cast() };
    }
    unsafe fn drop_plugin<P>(ptr: usize) {
        // SAFETY: `ptr` came from Box::into_raw::<P> and is dropped exactly once.
        drop(unsafe { Box::from_raw(ptr as *mut P) });
    }
    lock(&INSTANCES).push((ptr as usize, drop_plugin::<P>, ctx.logger().clone()));
    ffi::FLB_OK
}

/// `FLBPluginExit` for custom plugins: drops the oldest live instance.
///
/// Exit carries no context, but Fluent Bit exits custom instances in the order it initialised
/// them (both walk its instance list), so the oldest one is the one being exited. Dropping any
/// other would let its `Drop` log through an instance Fluent Bit has already freed.
pub fn exit_one() -> c_int {
    let entry = {
        let mut all = lock(&INSTANCES);
        (!all.is_empty()).then(|| all.remove(0))
    };
    if let Some((ptr, dropper, logger)) = entry {
        let _callback = crate::logging::CallbackScope::enter();
        let _scope = logger.enter();
        // SAFETY: removed from the registry, so this is the only owner.
        if let Err(panic) = crate::panic::catch(|| unsafe { dropper(ptr) }) {
            let (msg, at) = crate::panic::describe(&*panic);
            logger.error(format_args!("exit panicked: {msg}{at}"));
        }
    }
    ffi::FLB_OK
}

//! Custom instances: Init and Exit on flb-pipeline, no Unregister.

use std::sync::{Arc, Mutex};

use fluent_bit_plugin_sdk::ffi::ProxyContext;

use crate::api::InstanceCore;
use crate::error::HostError;
use crate::host::InstanceRef;
use crate::instance::{InstanceBuilder, SendPtr, logs_since, prepare};
use crate::props::PluginKind;
use crate::register::Registration;
use crate::worker::Worker;

/// Marks an [`InstanceBuilder`] that creates custom instances.
pub enum CustomKind {}

/// Builds a custom instance; see [`Host::custom`](crate::Host::custom).
pub type CustomBuilder<'h> = InstanceBuilder<'h, CustomKind>;

impl InstanceBuilder<'_, CustomKind> {
    /// Runs `FLBPluginInit` on flb-pipeline with the shared `flbgo_custom_plugin`.
    pub fn init(self) -> Result<CustomInstance, HostError> {
        let p = prepare(self.host, PluginKind::Custom, self.pending)?;
        // SAFETY: calloc of the per-instance context, as flb_custom_new does.
        let ctx = unsafe { libc::calloc(1, size_of::<ProxyContext>()) }.cast::<ProxyContext>();
        if ctx.is_null() {
            return Err(HostError::Os("out of memory for the custom context".into()));
        }
        let ctx = SendPtr(ctx);
        let (reg, ins) = (p.reg.clone(), SendPtr(p.core.as_ptr()));
        let mark = p.shared.log_count();
        let code = p
            .pipeline
            .call(move |_| reg.call_init(ins.get(), ctx.get().cast()))?;
        if code <= 0 {
            // SAFETY: calloc'd above; no Exit after a failed Init.
            unsafe { libc::free(ctx.0.cast()) };
            return Err(HostError::InitFailed {
                instance: p.name,
                code,
                logs: logs_since(&p.shared, mark),
            });
        }
        let state = Arc::new(CustomState {
            name: p.name,
            reg: p.reg,
            core: p.core,
            ctx,
            pipeline: p.pipeline,
            alive: Mutex::new(true),
        });
        self.host
            .generation()?
            .track(InstanceRef::Custom(state.clone()));
        Ok(CustomInstance { state })
    }
}

pub(crate) struct CustomState {
    name: String,
    reg: Arc<Registration>,
    core: Box<InstanceCore>,
    ctx: SendPtr<ProxyContext>,
    pipeline: Arc<Worker>,
    alive: Mutex<bool>,
}

impl CustomState {
    /// `FLBPluginExit()` on flb-pipeline, once.
    pub(crate) fn exit(&self) -> bool {
        let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return false;
        }
        *alive = false;
        if let Some(e) = self.reg.syms.exit {
            // SAFETY: int FLBPluginExit(void).
            let _ = self.pipeline.call(move |_| unsafe { e() });
        }
        self.core.retire();
        true
    }
}

impl Drop for CustomState {
    fn drop(&mut self) {
        // SAFETY: calloc'd in init, unused after exit.
        unsafe { libc::free(self.ctx.0.cast()) };
    }
}

/// A running custom instance. Dropping it exits it.
pub struct CustomInstance {
    state: Arc<CustomState>,
}

impl CustomInstance {
    instance_accessors!(
        "flb_custom_name",
        "`alias`, `log_level`, `net.*`",
        "custom_get_property"
    );

    /// `FLBPluginExit()` on flb-pipeline.
    pub fn exit(self) -> Result<(), HostError> {
        if self.state.exit() {
            Ok(())
        } else {
            Err(HostError::Exited(self.state.name.clone()))
        }
    }
}

impl Drop for CustomInstance {
    fn drop(&mut self) {
        self.state.exit();
    }
}

//! `sdk_probe_custom`: a custom plugin that starts a background thread and joins it on exit, to
//! test the SDK's custom glue through the test host. Keys: `label`, `fail_init`.

use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use fluent_bit_plugin_sdk::{CustomPlugin, Error, InitContext, log};

/// One probe instance with its background thread.
pub struct Probe {
    label: String,
    stop: Option<Sender<()>>,
    worker: Option<JoinHandle<()>>,
}

impl CustomPlugin for Probe {
    fn init(ctx: &InitContext) -> Result<Self, Error> {
        let config = ctx.config();
        if config.get_or("fail_init", false)? {
            return Err("probe asked to fail init".into());
        }
        let label = config.get_or("label", String::new())?;
        let (stop, stopped) = channel::<()>();
        let worker = std::thread::Builder::new()
            .name("probe-custom-bg".into())
            .spawn(move || {
                let _ = stopped.recv();
            })?;
        log::info!("init label={label} instance={}", ctx.instance_name());
        Ok(Probe {
            label,
            stop: Some(stop),
            worker: Some(worker),
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        log::info!("exit label={}", self.label);
    }
}

fluent_bit_plugin_sdk::export_custom!(
    Probe,
    name = "sdk_probe_custom",
    description = "SDK test probe (custom)"
);

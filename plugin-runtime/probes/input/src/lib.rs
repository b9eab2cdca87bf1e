//! `sdk_probe_in`: an input whose behaviour is chosen by its config, to test the SDK's input
//! glue (queue, back pressure, pause, threads, cleanup) through the test host.
//!
//! Keys: `label`, `total` (records to emit, then idle), `payload_bytes` (size of a `payload`
//! field), `queue_limit` (bytes), `fail_init`, `panic_in_run`. Each record is
//! `{label, seq, payload}`; `seq` counts from 0 per instance.

use fluent_bit_plugin_sdk::event::EventTime;
use fluent_bit_plugin_sdk::{Emitter, Error, InitContext, InputPlugin, Size, log};

/// One probe instance.
pub struct Probe {
    label: String,
    total: u64,
    payload: String,
    queue_limit: usize,
    panic_in_run: bool,
}

impl InputPlugin for Probe {
    fn init(ctx: &InitContext) -> Result<Self, Error> {
        let config = ctx.config();
        if config.get_or("fail_init", false)? {
            return Err("probe asked to fail init".into());
        }
        log::info!("init instance={}", ctx.instance_name());
        Ok(Probe {
            label: config.get_or("label", String::new())?,
            total: config.get_or("total", 0)?,
            payload: "x".repeat(config.get_or("payload_bytes", 0)?),
            queue_limit: config.get_or("queue_limit", Size(1 << 20))?.0 as usize,
            panic_in_run: config.get_or("panic_in_run", false)?,
        })
    }

    fn queue_limit(&self) -> usize {
        self.queue_limit
    }

    fn run(&mut self, emitter: &Emitter) -> Result<(), Error> {
        if self.panic_in_run {
            panic!("probe asked to panic in run");
        }
        let mut blocked = 0u64;
        for seq in 0..self.total {
            let encode = |enc: &mut fluent_bit_plugin_sdk::event::Encoder<'_>| {
                enc.record(EventTime::now())
                    .str("label", &self.label)
                    .uint("seq", seq)
                    .str("payload", &self.payload);
            };
            match emitter.try_emit(encode) {
                Ok(()) => {}
                Err(fluent_bit_plugin_sdk::EmitError::Stopped) => return Ok(()),
                Err(_) => {
                    blocked += 1;
                    if emitter.emit(encode).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        log::info!(
            "done label={} emitted={} blocked={blocked}",
            self.label,
            self.total
        );
        while emitter.wait(std::time::Duration::from_secs(60)) {}
        Ok(())
    }
}

fluent_bit_plugin_sdk::export_input!(
    Probe,
    name = "sdk_probe_in",
    description = "SDK test probe (input)"
);

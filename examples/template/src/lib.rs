//! `level_counter`: a Fluent Bit output that counts the records whose `field` equals `level`,
//! as the Prometheus counter `fluentbit_plugin_matched_total{name="<instance>"}`.
//!
//! This is the plugin template: copy the crate, rename it, and replace the logic below.
//!
//! ```text
//! [OUTPUT]
//!     Name   level_counter
//!     Match  kube.*
//!     level  error
//! ```
//!
//! | key     | meaning                          | default |
//! |---------|----------------------------------|---------|
//! | `level` | the value to count               | `error` |
//! | `field` | the record key holding the level | `level` |
//! | `ignore_case` | compare without regard to ASCII case (`on`/`off`) | `off` |

use fluent_bit_plugin_sdk::{Chunk, Counter, Error, FlushError, InitContext, OutputPlugin, log};

/// One `[OUTPUT]` instance. Fluent Bit may flush it from several threads at once (`workers`),
/// so state shared between flushes must be `Sync`: here a metrics counter.
pub struct LevelCounter {
    level: String,
    field: String,
    ignore_case: bool,
    matched: Counter,
}

impl OutputPlugin for LevelCounter {
    fn init(ctx: &InitContext) -> Result<Self, Error> {
        let level: String = ctx.config().get_or("level", "error".to_string())?;
        let field: String = ctx.config().get_or("field", "level".to_string())?;
        // A malformed value fails Init with the key and the expected form.
        let ignore_case: bool = ctx.config().get_or("ignore_case", false)?;
        log::info!("counting records with {field}={level}");
        let matched = ctx
            .metrics()
            .counter("matched_total", "Records whose level field matched");
        Ok(LevelCounter {
            level,
            field,
            ignore_case,
            matched,
        })
    }

    fn flush(&self, chunk: &Chunk<'_>) -> Result<(), FlushError> {
        // Borrowing decode: no allocation per record.
        let mut matched = 0u64;
        for event in chunk.events() {
            let body = event?.body();
            let Some(value) = body.get(&self.field).and_then(|v| v.as_str()) else {
                continue;
            };
            if value == self.level || (self.ignore_case && value.eq_ignore_ascii_case(&self.level))
            {
                matched += 1;
            }
        }
        if matched > 0 {
            self.matched.add(matched as f64);
            log::debug!("{matched} records with {}={}", self.field, self.level);
        }
        Ok(())
    }
}

fluent_bit_plugin_sdk::export_output!(
    LevelCounter,
    name = "level_counter",
    description = "Counts records by level (the fbplugin template)"
);

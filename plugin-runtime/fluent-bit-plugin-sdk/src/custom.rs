//! Custom plugins: no data path, just an instance that lives from Init to Exit (for example a
//! background service). Fluent Bit calls their Exit without a context, once per instance.

use crate::context::{Error, InitContext};

/// A custom plugin: one value per configured `[CUSTOM]` instance, dropped at Exit.
///
/// Threads the plugin starts must be joined in `Drop`: Fluent Bit unloads the library after
/// Exit. Custom instances get no metrics context from Fluent Bit, so their metrics are no-ops.
pub trait CustomPlugin: Sized + Send + 'static {
    /// Creates an instance from its configuration; an error or panic fails its Init.
    fn init(ctx: &InitContext) -> Result<Self, Error>;
}

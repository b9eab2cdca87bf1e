//! The kinds of plugin Fluent Bit loads through its proxy.

/// Which kind of instance a plugin is; selects the right `flb_api` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// An input plugin (`FLB_PROXY_INPUT_PLUGIN` in the ABI).
    Input,
    /// An output plugin (`FLB_PROXY_OUTPUT_PLUGIN`).
    Output,
    /// A custom plugin (`FLB_PROXY_CUSTOM_PLUGIN`).
    Custom,
}

impl PluginKind {
    /// The word Fluent Bit uses in its own log prefixes (`[output:stdout:stdout.0]`).
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Input => "input",
            PluginKind::Output => "output",
            PluginKind::Custom => "custom",
        }
    }
}

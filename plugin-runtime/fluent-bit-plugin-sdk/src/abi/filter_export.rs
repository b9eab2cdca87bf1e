//! The macro that exports a WASM filter function under the name Fluent Bit's `Function_Name`
//! looks up (`#[unsafe(no_mangle)]`), with its `<name>_stats` companion.

/// Exports a filter function under the name Fluent Bit's `Function_Name` uses.
///
/// `export_filter!(name, handler)` exports `name` for `Event_Format json`;
/// `export_filter!(name, handler, event_format = msgpack)` for msgpack (see
/// [`EventFormat::Msgpack`](crate::filter::EventFormat::Msgpack)). `handler` is a `fn(&Context<'_>, &mut Record) -> Verdict`.
/// Also exports `<name>_stats` (see [`Stats`](crate::filter::Stats)). On non-wasm targets nothing is exported, so
/// the crate still builds and unit-tests natively.
#[macro_export]
macro_rules! export_filter {
    ($name:ident, $handler:path $(,)?) => {
        $crate::export_filter!($name, $handler, event_format = json);
    };
    ($name:ident, $handler:path, event_format = json $(,)?) => {
        $crate::export_filter!(@emit $name, $handler, Json);
    };
    ($name:ident, $handler:path, event_format = msgpack $(,)?) => {
        $crate::export_filter!(@emit $name, $handler, Msgpack);
    };
    (@emit $name:ident, $handler:path, $format:ident) => {
        // Type-checks the handler on every target, so native builds catch mistakes too.
        const _: fn(&$crate::filter::Context<'_>, &mut $crate::filter::Record)
            -> $crate::filter::Verdict = $handler;

        #[cfg(target_family = "wasm")]
        const _: () = {
            static STATE: $crate::filter::__private::FilterState =
                $crate::filter::__private::FilterState::new(
                    $crate::filter::EventFormat::$format,
                );

            /// The filter function Fluent Bit calls.
            #[unsafe(no_mangle)]
            pub extern "C" fn $name(
                tag: i32,
                tag_len: i32,
                time_sec: i32,
                time_nsec: i32,
                record: i32,
                record_len: i32,
            ) -> i32 {
                STATE.reclaim_stack();
                STATE.call($handler, tag, tag_len, time_sec, time_nsec, record, record_len)
            }

            /// The filter's counters as NUL-terminated JSON.
            #[unsafe(export_name = concat!(stringify!($name), "_stats"))]
            pub extern "C" fn stats() -> i32 {
                STATE.stats_json()
            }
        };
    };
}

//! Checks of what only some plugin types have ([`rules::FIELDS_BY_TYPE`]): the `.wasm`
//! artifact and `spec.wasm`.

use fbplugin_crds::rules::{self, Applies, WASM_SUFFIX};
use fbplugin_crds::{EventFormat, FluentBitPluginSpec};

use super::{Problem, Reason};

pub(super) fn check(spec: &FluentBitPluginSpec, out: &mut Vec<Problem>) {
    let kind = spec.plugin_type;
    let path = &spec.artifact.path;
    let is_wasm = path.ends_with(WASM_SUFFIX);
    match rules::type_field("artifact.path").applies(kind) {
        Applies::Required if !is_wasm => out.push(Problem::new(
            "spec.artifact.path",
            Reason::ArtifactTypeMismatch,
            format!(
                "path {path:?} must name the filter's .wasm module (Fluent Bit's wasm filter \
                 loads only WebAssembly); build it with `cargo build --release --target \
                 wasm32-unknown-unknown` and point path at the .wasm file in the image"
            ),
        )),
        Applies::Refused if is_wasm => out.push(Problem::new(
            "spec.artifact.path",
            Reason::ArtifactTypeMismatch,
            format!(
                "path {path:?} is a .wasm module, which runs only as a filter: set spec.type: \
                 filter (with spec.wasm), or point path at the plugin's .so"
            ),
        )),
        _ => {}
    }
    match (&spec.wasm, rules::type_field("wasm").applies(kind)) {
        (None, Applies::Required) => out.push(Problem::new(
            "spec.wasm",
            Reason::MissingWasm,
            "a filter needs spec.wasm: functionName (the function exported with export_filter!) \
             and maxRecordSize (bytes of the largest record's JSON text, e.g. 65536)",
        )),
        (Some(_), Applies::Refused) => out.push(Problem::new(
            "spec.wasm",
            Reason::FieldNotAllowed,
            format!(
                "spec.wasm applies to {} only; remove it from this {}",
                super::types_setting(rules::type_field("wasm")),
                kind.as_str()
            ),
        )),
        (Some(wasm), _) => {
            if !rules::is_c_identifier(&wasm.function_name) {
                out.push(Problem::new(
                    "spec.wasm.functionName",
                    Reason::InvalidFunctionName,
                    format!(
                        "functionName {:?} must be the exported function: a C identifier of 1-{} \
                         A-Z a-z 0-9 _, not starting with a digit (the first argument of \
                         export_filter!)",
                        wasm.function_name,
                        rules::MAX_FUNCTION_NAME_LEN
                    ),
                ));
            }
            if wasm.event_format() == EventFormat::Unsupported {
                out.push(Problem::new(
                    "spec.wasm.eventFormat",
                    Reason::InvalidEventFormat,
                    "eventFormat must be json or msgpack (the format the module was exported \
                     for; json is the default)",
                ));
            }
            let sizes = [
                (
                    "maxRecordSize",
                    Some(wasm.max_record_size),
                    1,
                    rules::MAX_WASM_RECORD_SIZE,
                ),
                ("maxTagSize", wasm.max_tag_size, 1, rules::MAX_WASM_TAG_SIZE),
                (
                    "stackSize",
                    wasm.stack_size,
                    rules::MIN_WASM_STACK_SIZE,
                    rules::MAX_WASM_STACK_SIZE,
                ),
            ];
            for (field, value, min, max) in sizes {
                if let Some(v) = value
                    && !(min..=max).contains(&v)
                {
                    out.push(Problem::new(
                        format!("spec.wasm.{field}"),
                        Reason::InvalidWasmSize,
                        format!("{field} {v} must be {min} to {max} bytes"),
                    ));
                }
            }
        }
        (None, _) => {}
    }
}

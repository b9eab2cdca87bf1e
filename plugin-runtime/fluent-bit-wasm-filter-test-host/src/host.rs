//! Loading a filter module and calling it as Fluent Bit's `filter_wasm` does.

use std::path::Path;

use fluent_bit_plugin_sdk::filter::{DEFAULT_HEAP_SIZE, EventFormat, Stats};
use serde_json::Value;
use wasmi::{Engine, Instance, Linker, Memory, Module, Store, TypedFunc, Val};

use crate::heap::AppHeap;

const PAGE: u64 = 65536;

/// How the filter is configured, as in its `[FILTER]` section.
#[derive(Clone, Debug)]
pub struct Options {
    /// `wasm_heap_size` in bytes; like Fluent Bit, values below 8192 mean 8192.
    pub heap_size: u64,
    /// `event_format`.
    pub event_format: EventFormat,
    /// `function_name`.
    pub function_name: String,
}

impl Options {
    /// JSON format, the default 8 KiB heap, calling `function_name`.
    pub fn new(function_name: &str) -> Self {
        Options {
            heap_size: DEFAULT_HEAP_SIZE,
            event_format: EventFormat::Json,
            function_name: function_name.to_owned(),
        }
    }

    /// With `wasm_heap_size` set to `bytes`.
    pub fn heap_size(mut self, bytes: u64) -> Self {
        self.heap_size = bytes;
        self
    }

    /// With `event_format` set.
    pub fn event_format(mut self, format: EventFormat) -> Self {
        self.event_format = format;
        self
    }
}

/// What Fluent Bit would do with the record after the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The record continues with the same body.
    Keep(Value),
    /// The record continues with this new body.
    Modified(Value),
    /// The record is removed.
    Dropped(DropReason),
    /// msgpack format: the result, cut at its first zero byte, is not one msgpack map; Fluent
    /// Bit appends these bytes as the body anyway, corrupting the chunk.
    Corrupted(Vec<u8>),
}

/// Why Fluent Bit drops a record.
#[derive(Clone, Debug, PartialEq)]
pub enum DropReason {
    /// JSON format: the result was the empty string.
    EmptyString,
    /// JSON format: the result was not JSON, or JSON but not an object ("invalid JSON format").
    InvalidJson(String),
    /// The call trapped (panic, `unreachable`, out-of-bounds access...).
    Trap(String),
    /// The returned pointer has no NUL before the end of memory ("returned value is invalid").
    InvalidPointer(u32),
    /// No exported function of that name and signature ("wasm function is not found").
    FunctionNotFound,
}

/// A failure of the host itself or of its inputs, not of the filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, compiling or instantiating the module failed.
    #[error("loading {path}: {reason}")]
    Load {
        /// The `.wasm` path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The record given to [`FilterHost::filter`] is not a JSON object (Fluent Bit only
    /// passes maps).
    #[error("test input is not a JSON object: {0}")]
    Input(String),
    /// Building the `.wasm` failed.
    #[error("{0}")]
    Build(String),
    /// The module broke the host's assumptions (e.g. its `malloc` trapped).
    #[error("module: {0}")]
    Module(String),
}

type FilterFn = TypedFunc<(i32, i32, i32, i32, i32, i32), i32>;

enum Allocator {
    App(AppHeap),
    Module {
        malloc: TypedFunc<i32, i32>,
        free: TypedFunc<i32, ()>,
    },
}

/// One filter instance: a persistent module instance and its heap.
pub struct FilterHost {
    store: Store<()>,
    instance: Instance,
    memory: Memory,
    function: Option<FilterFn>,
    allocator: Allocator,
    options: Options,
    last_output: Vec<u8>,
}

impl FilterHost {
    /// Loads and instantiates the module at `path` as `filter_wasm`'s init does.
    pub fn load(path: impl AsRef<Path>, options: Options) -> Result<Self, Error> {
        let path = path.as_ref();
        let load_error = |reason: String| Error::Load {
            path: path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| load_error(e.to_string()))?;
        let engine = Engine::default();
        let module = Module::new(&engine, &bytes[..]).map_err(|e| load_error(e.to_string()))?;
        let mut store = Store::new(&engine, ());
        let instance = Linker::<()>::new(&engine)
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| load_error(format!("instantiating (imports are not provided): {e}")))?;
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or_else(|| load_error("the module exports no `memory`".into()))?;
        let malloc = instance.get_typed_func::<i32, i32>(&store, "malloc").ok();
        let free = instance.get_typed_func::<i32, ()>(&store, "free").ok();
        let allocator = match (malloc, free) {
            (Some(malloc), Some(free)) => Allocator::Module { malloc, free },
            _ => Allocator::App(
                place_app_heap(&mut store, &instance, memory, &options).map_err(load_error)?,
            ),
        };
        let function = instance
            .get_typed_func::<(i32, i32, i32, i32, i32, i32), i32>(&store, &options.function_name)
            .ok();
        Ok(FilterHost {
            store,
            instance,
            memory,
            function,
            allocator,
            options,
            last_output: Vec::new(),
        })
    }

    /// Calls the filter for one record: `tag`, time as `(seconds, nanoseconds)` and the record
    /// body as JSON text (converted to msgpack in msgpack format).
    pub fn filter(
        &mut self,
        tag: &str,
        time: (u64, u32),
        record_json: &str,
    ) -> Result<Outcome, Error> {
        let input: Value =
            serde_json::from_str(record_json).map_err(|e| Error::Input(e.to_string()))?;
        if !input.is_object() {
            return Err(Error::Input(format!("{record_json:.60}")));
        }
        let record = match self.options.event_format {
            EventFormat::Json => record_json.as_bytes().to_vec(),
            EventFormat::Msgpack => {
                rmp_serde::to_vec(&input).map_err(|e| Error::Input(e.to_string()))?
            }
        };
        self.filter_bytes(tag.as_bytes(), time, &record)
    }

    /// Calls the filter with raw bytes, unchecked: for malformed input that Fluent Bit itself
    /// would not produce (invalid UTF-8 in the tag, broken JSON or msgpack). `record` is the
    /// JSON text without its NUL, or msgpack.
    pub fn filter_bytes(
        &mut self,
        tag: &[u8],
        time: (u64, u32),
        record: &[u8],
    ) -> Result<Outcome, Error> {
        self.last_output.clear();
        let Some(function) = self.function else {
            return Ok(Outcome::Dropped(DropReason::FunctionNotFound));
        };
        let input: Option<Value> = match self.options.event_format {
            EventFormat::Json => serde_json::from_slice(record).ok(),
            EventFormat::Msgpack => rmp_serde::from_slice(record).ok(),
        };
        let mut tag_copy = tag.to_vec();
        tag_copy.push(0);
        let mut record_copy = record.to_vec();
        if self.options.event_format == EventFormat::Json {
            record_copy.push(0);
        }
        let tag_ptr = self.dup(&tag_copy)?;
        let record_ptr = self.dup(&record_copy)?;
        let args = (
            tag_ptr as i32,
            tag.len() as i32,
            time.0 as u32 as i32,
            time.1 as i32,
            record_ptr as i32,
            record.len() as i32,
        );
        let called = function.call(&mut self.store, args);
        let result = match called {
            Err(trap) => Err(DropReason::Trap(trap.to_string())),
            Ok(ptr) => self
                .c_string(ptr as u32)
                .ok_or(DropReason::InvalidPointer(ptr as u32)),
        };
        self.release(tag_ptr)?;
        self.release(record_ptr)?;
        Ok(match result {
            Err(reason) => Outcome::Dropped(reason),
            Ok(bytes) => {
                let outcome = self.apply(input.as_ref(), &bytes);
                self.last_output = bytes;
                outcome
            }
        })
    }

    /// The bytes the last call returned (up to the NUL), exactly as Fluent Bit copies them.
    pub fn last_output(&self) -> &[u8] {
        &self.last_output
    }

    /// The result applied as `filter_wasm.c` applies it.
    fn apply(&self, input: Option<&Value>, bytes: &[u8]) -> Outcome {
        let body = match self.options.event_format {
            EventFormat::Json => {
                if bytes.is_empty() {
                    return Outcome::Dropped(DropReason::EmptyString);
                }
                match serde_json::from_slice::<Value>(bytes) {
                    Ok(v) if v.is_object() => v,
                    Ok(_) => {
                        return Outcome::Dropped(DropReason::InvalidJson("not an object".into()));
                    }
                    Err(e) => return Outcome::Dropped(DropReason::InvalidJson(e.to_string())),
                }
            }
            EventFormat::Msgpack => match rmp_serde::from_slice::<Value>(bytes) {
                Ok(v) if v.is_object() && msgpack_value_len(bytes) == Some(bytes.len()) => v,
                _ => return Outcome::Corrupted(bytes.to_vec()),
            },
        };
        if Some(&body) == input {
            Outcome::Keep(body)
        } else {
            Outcome::Modified(body)
        }
    }

    /// `wasm_runtime_module_dup_data`: 0 when the copy does not fit.
    fn dup(&mut self, data: &[u8]) -> Result<u32, Error> {
        let len = u32::try_from(data.len()).map_err(|_| Error::Input("input over 4 GiB".into()))?;
        let ptr = match &mut self.allocator {
            Allocator::App(heap) => heap.alloc(len).unwrap_or(0),
            Allocator::Module { malloc, .. } => malloc
                .call(&mut self.store, len as i32)
                .map_err(|e| Error::Module(format!("malloc({len}) trapped: {e}")))?
                as u32,
        };
        if ptr != 0 {
            let mem = self.memory.data_mut(&mut self.store);
            let end = ptr as usize + data.len();
            let Some(dest) = mem.get_mut(ptr as usize..end) else {
                return Err(Error::Module(format!(
                    "malloc returned {ptr}, past the end of memory"
                )));
            };
            dest.copy_from_slice(data);
        }
        Ok(ptr)
    }

    fn release(&mut self, ptr: u32) -> Result<(), Error> {
        if ptr == 0 {
            return Ok(());
        }
        match &mut self.allocator {
            Allocator::App(heap) => heap.free(ptr),
            Allocator::Module { free, .. } => free
                .call(&mut self.store, ptr as i32)
                .map_err(|e| Error::Module(format!("free({ptr}) trapped: {e}")))?,
        }
        Ok(())
    }

    /// The bytes from `ptr` to the next NUL, if there is one before the end of memory
    /// (`wasm_runtime_validate_app_str_addr` + `strdup`).
    fn c_string(&self, ptr: u32) -> Option<Vec<u8>> {
        let rest = self.memory.data(&self.store).get(ptr as usize..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        Some(rest[..len].to_vec())
    }

    /// Linear memory size in 64 KiB pages; it never shrinks, so growth over many calls shows
    /// a leak.
    pub fn memory_pages(&self) -> u64 {
        self.memory.size(&self.store)
    }

    /// The module's shadow stack pointer, when it exports `__stack_pointer` (link with
    /// `--export=__stack_pointer`): a trap leaves it where the trapping code had moved it.
    pub fn stack_pointer(&self) -> Option<u32> {
        match self
            .instance
            .get_global(&self.store, "__stack_pointer")?
            .get(&self.store)
        {
            Val::I32(v) => Some(v as u32),
            _ => None,
        }
    }

    /// Bytes of the app heap held by live allocations (0 between calls), or `None` when the
    /// module's own `malloc` is used.
    pub fn app_heap_in_use(&self) -> Option<u32> {
        match &self.allocator {
            Allocator::App(heap) => Some(heap.in_use()),
            Allocator::Module { .. } => None,
        }
    }

    /// Where the app heap is and its size, or `None` when the module's own `malloc` is used.
    pub fn app_heap(&self) -> Option<(u32, u32)> {
        match &self.allocator {
            Allocator::App(heap) => Some((heap.base(), heap.size())),
            Allocator::Module { .. } => None,
        }
    }

    /// The filter's counters from `<function>_stats` (modules built with plugin-runtime), or
    /// `None` when the module does not export it.
    pub fn stats(&mut self) -> Result<Option<Stats>, Error> {
        let name = format!("{}_stats", self.options.function_name);
        let Ok(stats) = self.instance.get_typed_func::<(), i32>(&self.store, &name) else {
            return Ok(None);
        };
        let ptr = stats
            .call(&mut self.store, ())
            .map_err(|e| Error::Module(format!("{name} trapped: {e}")))?;
        let bytes = self
            .c_string(ptr as u32)
            .ok_or_else(|| Error::Module(format!("{name} returned an invalid pointer")))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Module(format!("{name} returned invalid JSON: {e}")))
    }
}

/// Places the app heap as WAMR's `memory_instantiate` does: at `__heap_base` when that lies
/// in the initial memory (growing memory so the heap and 1 KiB after it fit), otherwise in new
/// pages at the end (whole pages less 1 KiB).
fn place_app_heap(
    store: &mut Store<()>,
    instance: &Instance,
    memory: Memory,
    options: &Options,
) -> Result<AppHeap, String> {
    let heap_size = options.heap_size.max(DEFAULT_HEAP_SIZE);
    let initial = memory.size(&*store) * PAGE;
    let heap_base = instance
        .get_global(&*store, "__heap_base")
        .and_then(|g| match g.get(&*store) {
            Val::I32(v) => Some(u64::from(v as u32)),
            _ => None,
        })
        .filter(|&base| base < initial);
    let (offset, size, end) = match heap_base {
        Some(base) => (base, heap_size, base + heap_size + 1024),
        None => {
            let pages = heap_size.div_ceil(PAGE);
            (initial, pages * PAGE - 1024, initial + pages * PAGE)
        }
    };
    if end > initial {
        let more = (end - initial).div_ceil(PAGE);
        memory
            .grow(&mut *store, more)
            .map_err(|e| format!("growing memory by {more} pages for the app heap: {e}"))?;
    }
    let offset = u32::try_from(offset).map_err(|_| "app heap beyond 4 GiB".to_owned())?;
    let size =
        u32::try_from(size).map_err(|_| format!("wasm_heap_size {heap_size} is over 4 GiB"))?;
    Ok(AppHeap::new(offset, size))
}

/// The encoded length of the first msgpack value in `bytes`, if it is one.
fn msgpack_value_len(bytes: &[u8]) -> Option<usize> {
    let mut reader = bytes;
    rmpv::decode::read_value(&mut reader).ok()?;
    Some(bytes.len() - reader.len())
}

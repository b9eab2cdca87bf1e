//! The host applies Fluent Bit's rules to results no plugin-runtime filter produces, using a
//! hand-written module: a module `malloc`/`free` replacing the app heap, non-object JSON, a
//! result without NUL, a msgpack result cut at a zero byte, a trap.

use fluent_bit_wasm_filter_test_host::{DropReason, EventFormat, FilterHost, Options, Outcome};

const MODULE: &str = r#"
(module
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 4096))
  ;; A bump allocator: WAMR uses a module's malloc/free instead of its app heap.
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32))
  (data (i32.const 16) "[1,2]\00")
  (data (i32.const 32) "\81\a1a\00\00")
  (data (i32.const 131071) "x")
  (func (export "echo") (param i32 i32 i32 i32 i32 i32) (result i32) (local.get 4))
  (func (export "array") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 16))
  (func (export "no_nul") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 131071))
  (func (export "mp_zero") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 32))
  (func (export "trap") (param i32 i32 i32 i32 i32 i32) (result i32) (unreachable))
)
"#;

fn load(options: Options) -> FilterHost {
    let bytes = wat::parse_str(MODULE).unwrap_or_else(|e| panic!("{e}"));
    let path = std::env::temp_dir().join(format!(
        "fluent-bit-wasm-filter-test-host-{}-{}.wasm",
        std::process::id(),
        options.function_name
    ));
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let host = FilterHost::load(&path, options).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&path);
    host
}

const T: (u64, u32) = (1, 0);

#[test]
fn a_module_malloc_replaces_the_app_heap_and_its_limit() {
    let mut host = load(Options::new("echo"));
    assert_eq!(host.app_heap(), None);
    let record = format!(r#"{{"msg":"{}"}}"#, "x".repeat(20_000));
    assert!(matches!(
        host.filter("app", T, &record).unwrap(),
        Outcome::Keep(_)
    ));
}

#[test]
fn json_that_is_not_an_object_is_dropped_as_invalid() {
    let mut host = load(Options::new("array"));
    let outcome = host.filter("app", T, "{}").unwrap();
    assert!(
        matches!(outcome, Outcome::Dropped(DropReason::InvalidJson(_))),
        "{outcome:?}"
    );
}

#[test]
fn a_result_without_nul_before_the_end_of_memory_is_dropped() {
    let mut host = load(Options::new("no_nul"));
    assert_eq!(
        host.filter("app", T, "{}").unwrap(),
        Outcome::Dropped(DropReason::InvalidPointer(131_071))
    );
}

#[test]
fn a_msgpack_result_is_cut_at_its_first_zero_byte() {
    let mut host = load(Options::new("mp_zero").event_format(EventFormat::Msgpack));
    assert_eq!(
        host.filter("app", T, r#"{"a":0}"#).unwrap(),
        Outcome::Corrupted(vec![0x81, 0xa1, b'a'])
    );
}

#[test]
fn a_trap_drops_the_record() {
    let mut host = load(Options::new("trap"));
    let outcome = host.filter("app", T, "{}").unwrap();
    assert!(
        matches!(outcome, Outcome::Dropped(DropReason::Trap(_))),
        "{outcome:?}"
    );
}

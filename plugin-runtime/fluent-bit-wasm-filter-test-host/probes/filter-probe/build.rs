//! Exports the shadow stack pointer so tests can check that traps do not leak stack.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("wasm") {
        println!("cargo::rustc-link-arg-cdylib=--export=__stack_pointer");
    }
}

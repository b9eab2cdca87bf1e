//! Builds the C pieces of the host: the variadic `log_print` (linked in statically), the
//! cmetrics stand-in and the core-function stand-in shared objects (embedded, then loaded
//! RTLD_GLOBAL at run time).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/log_shim.c");
    println!("cargo:rerun-if-changed=csrc/cmt_shim.c");
    println!("cargo:rerun-if-changed=csrc/stack_shim.c");
    println!("cargo:rerun-if-changed=csrc/core_shim.c");
    println!("cargo:rerun-if-changed=csrc/coro_shim.c");

    cc::Build::new()
        .file("csrc/log_shim.c")
        .file("csrc/stack_shim.c")
        .file("csrc/coro_shim.c")
        .warnings(true)
        .compile("fbhost_log_shim");

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let compiler = cc::Build::new().get_compiler();
    for (source, so) in [
        ("csrc/cmt_shim.c", "libfbhost_cmt_shim.so"),
        ("csrc/core_shim.c", "libfbhost_core_shim.so"),
    ] {
        let status = compiler
            .to_command()
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(out_dir.join(so))
            .arg(source)
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", compiler.path()));
        assert!(
            status.success(),
            "building {source} as a shared object failed"
        );
    }
}

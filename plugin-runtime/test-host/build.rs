//! Builds the two C pieces of the host: the variadic `log_print` (linked in statically) and the
//! cmetrics stand-in shared object (embedded, then loaded RTLD_GLOBAL at run time).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/log_shim.c");
    println!("cargo:rerun-if-changed=csrc/cmt_shim.c");
    println!("cargo:rerun-if-changed=csrc/stack_shim.c");

    cc::Build::new()
        .file("csrc/log_shim.c")
        .file("csrc/stack_shim.c")
        .warnings(true)
        .compile("fbhost_log_shim");

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let so = out_dir.join("libfbhost_cmt_shim.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&so)
        .arg("csrc/cmt_shim.c")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", compiler.path()));
    assert!(
        status.success(),
        "building csrc/cmt_shim.c as a shared object failed"
    );
}

//! A process that never loads the cmetrics stand-in: the `cmt_*` symbols do not exist, as in a
//! Fluent Bit built without metrics or embedded without exported symbols. Keep every test in
//! this binary on `metrics(false)`.

mod common;

use common::{chunk, fresh};
use fluent_bit_plugin_test_host::{FlushCode, Host};

#[test]
fn without_metrics_there_are_no_cmt_symbols_and_getters_return_null() {
    let host = Host::builder(fresh("raw-probe-output"))
        .metrics(false)
        .load()
        .unwrap();
    // SAFETY: dlsym with RTLD_DEFAULT and a static name.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"cmt_counter_create".as_ptr()) };
    assert!(sym.is_null(), "cmt_counter_create must not be resolvable");
    let out = host.output().property("id", "N").init().unwrap();
    assert_eq!(out.flush("t", &chunk("x")).unwrap().code, FlushCode::Ok);
    assert!(
        host.logs().iter().any(|l| l.message == "metrics off"),
        "{:?}",
        host.logs()
    );
    assert!(host.violations().is_empty());
}

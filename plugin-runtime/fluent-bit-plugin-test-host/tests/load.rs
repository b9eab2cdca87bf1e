//! Load-time errors and the pre-context fallbacks.

mod common;

use common::{Journal, chunk, fresh};
use fluent_bit_plugin_test_host::{FlushCode, Host, HostError};

#[test]
fn flb_prefixed_files_go_to_the_native_loader() {
    let src = fresh("raw-probe-output");
    let dst = src.with_file_name("flb-out_probe.so");
    std::fs::copy(&src, &dst).unwrap();
    let err = Host::load(&dst).err().unwrap();
    assert!(matches!(err, HostError::NativeLoaderName(_)));
    assert!(err.to_string().contains("native C plugin loader"), "{err}");
}

#[test]
fn dlopen_failures_explain_bare_names() {
    let err = Host::load("libdefinitely_not_here.so").err().unwrap();
    assert!(matches!(err, HostError::Dlopen { .. }));
    assert!(
        err.to_string().contains("use ./libdefinitely_not_here.so"),
        "{err}"
    );
    let err = Host::load("/nonexistent/x.so").err().unwrap();
    assert!(
        err.to_string()
            .starts_with("cannot dlopen /nonexistent/x.so"),
        "{err}"
    );
}

#[test]
fn missing_register_and_missing_init_are_refused() {
    let err = Host::load("libm.so.6").err().unwrap();
    assert!(
        matches!(
            err,
            HostError::MissingSymbol {
                symbol: "FLBPluginRegister",
                ..
            }
        ),
        "{err}"
    );
    let err = Host::load(fresh("raw-probe-noinit")).err().unwrap();
    assert!(
        matches!(
            err,
            HostError::MissingSymbol {
                symbol: "FLBPluginInit",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pre_context_symbols_are_used_as_fallbacks() {
    let path = fresh("raw-probe-legacy");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let out = host.output().init().unwrap();
    assert_eq!(out.flush("app", &chunk("x")).unwrap().code, FlushCode::Ok);
    let weird = out.flush("weird", &chunk("x")).unwrap();
    assert_eq!((weird.raw, weird.code), (7, FlushCode::Error));
    drop(out);
    assert_eq!(
        journal.events(),
        [
            "register",
            "init",
            "flush tag=app size=20",
            "flush tag=weird size=20",
            "exit"
        ]
    );
}

#[test]
fn cdylib_path_reports_how_to_build() {
    let err = fluent_bit_plugin_test_host::cdylib_path("no-such-plugin")
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("libno_such_plugin.so") && text.contains("cargo build -p no-such-plugin"),
        "{text}"
    );
}

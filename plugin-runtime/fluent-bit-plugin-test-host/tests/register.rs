//! Registration as Fluent Bit validates it. One test function only: it changes the probe's
//! `RAW_PROBE_REGISTER` environment variable, which must not race with other tests.

mod common;

use common::{Journal, fresh};
use fluent_bit_plugin_test_host::{DefSize, Host, HostError};

fn set_mode(mode: &str) {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var("RAW_PROBE_REGISTER", mode) };
}

#[test]
fn registration_rules_def_sizes_and_config_map() {
    let path = fresh("raw-probe-output");

    set_mode("");
    for size in [DefSize::V4_2, DefSize::V5_0, DefSize::V5_1_1] {
        let host = Host::builder(&path).def_size(size).load().unwrap();
        assert_eq!(host.def_size(), size.bytes());
        assert_eq!(
            host.event_type(),
            if size == DefSize::V4_2 { None } else { Some(1) }
        );
    }

    set_mode("write_event_type");
    let err = Host::builder(&path)
        .def_size(DefSize::V4_2)
        .load()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("wrote past the 32-byte def (first change at byte 32)"),
        "{err}"
    );
    let host = Host::builder(&path).def_size(DefSize::V5_0).load().unwrap();
    assert_eq!(host.event_type(), Some(1));
    drop(host);

    set_mode("config_map");
    let err = Host::builder(&path)
        .def_size(DefSize::V5_0)
        .load()
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("wrote past the 40-byte def"),
        "{err}"
    );
    let host = Host::load(&path).unwrap();
    assert_eq!(
        host.config_map_keys(),
        Some(vec!["id".to_owned(), "tags".to_owned()])
    );
    let ok = host
        .output()
        .property("ID", "x")
        .property("tags", "a")
        .property("tags", "b")
        .property("match", "*")
        .init();
    assert!(ok.is_ok(), "{:?}", ok.err());
    let unknown = host
        .output()
        .property("colour", "red")
        .init()
        .err()
        .unwrap();
    assert!(
        unknown
            .to_string()
            .contains("unknown configuration property"),
        "{unknown}"
    );
    let twice = host
        .output()
        .property("id", "1")
        .property("id", "2")
        .init()
        .err()
        .unwrap();
    assert!(twice.to_string().contains("set 2 times"), "{twice}");
    drop((ok, host));

    for (mode, needle) in [
        ("fail", "FLBPluginRegister returned -1"),
        ("bad_proxy", "def->proxy is 3, must be 11"),
        ("bad_type", "def->type is 7"),
    ] {
        set_mode(mode);
        match Host::load(&path) {
            Err(e @ HostError::Register { .. }) => assert!(e.to_string().contains(needle), "{e}"),
            other => panic!(
                "{mode}: expected a registration error, got {:?}",
                other.err()
            ),
        }
    }
    set_mode("");

    // Hot reload: Register(new) while the old instance runs, then old exits and unregisters.
    let journal = Journal::open(&path);
    let mut host = Host::load(&path).unwrap();
    let old = host.output().property("id", "old").init().unwrap();
    host.reload().unwrap();
    let new = host.output().property("id", "new").init().unwrap();
    assert_eq!(new.name(), "raw_probe_out.0");
    assert!(matches!(
        old.flush("t", &common::chunk("x")),
        Err(HostError::Exited(_))
    ));
    new.flush("t", &common::chunk("x")).unwrap();
    host.shutdown();
    let ev = journal.events();
    let from: Vec<&str> = ev
        .iter()
        .map(String::as_str)
        .skip_while(|e| *e != "init id=old")
        .collect();
    assert_eq!(
        from,
        [
            "init id=old",
            "output_pre_run(0)",
            "pre_register(1)",
            "register mode=",
            "output_pre_exit(1)",
            "exit id=old flushes=0 max_concurrent=0",
            "unregister",
            "init id=new",
            "output_pre_run(1)",
            "flush id=new tag=t size=20 first=0x92",
            "output_pre_exit(0)",
            "exit id=new flushes=1 max_concurrent=1",
            "unregister",
        ]
    );
}

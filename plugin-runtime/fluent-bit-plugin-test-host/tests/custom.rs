//! Custom plugins: Init/Exit on flb-pipeline, custom_get_property, no Unregister.

mod common;

use common::{Journal, fresh};
use fluent_bit_plugin_test_host::{Host, HostError};

#[test]
fn custom_lifecycle_and_properties() {
    let path = fresh("raw-probe-custom");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let c = host
        .custom()
        .property("id", "C")
        .property("alias", "mine")
        .property("net.connect_timeout", "5")
        .property("log_level", "info")
        .property("workers", "2")
        .property("dump", "alias,net.connect_timeout,workers,id")
        .init()
        .unwrap();
    assert_ne!(c.remote_context(), 0);
    assert_eq!(c.core_property("alias"), Some("mine"));
    let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
    for e in [
        "prop alias=NULL",
        "prop net.connect_timeout=NULL",
        "prop workers=2",
        "prop id=C",
    ] {
        assert!(logs.contains(&e.to_owned()), "{e} not in {logs:?}");
    }
    assert!(host.logs().iter().all(|l| l.thread == "flb-pipeline"));
    assert!(matches!(
        host.output().init(),
        Err(HostError::WrongKind { .. })
    ));
    host.shutdown();
    let lines = journal.lines();
    assert!(
        lines.contains(&"init id=C @flb-pipeline".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"exit @flb-pipeline".to_owned()),
        "{lines:?}"
    );
    assert!(
        !journal.events().contains(&"unregister".to_owned()),
        "customs are never unregistered"
    );
}

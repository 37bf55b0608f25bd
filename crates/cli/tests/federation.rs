//! Messages between accounts of two services: delivered service to service, queued while the
//! other service is down and delivered when it is back.

mod common;
use common::service::Service;
use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn messages_cross_services_and_survive_an_outage() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut net = Service::start_with(d2.path(), None, &["--listen", &listen]);
    let mut com = Service::start_with(
        d1.path(),
        None,
        &["--peer", &format!("example.net={}", net.url)],
    );
    let (alice, bob, carol) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    ok_in(alice.path(), &["account", "create", "alice@example.com"]);
    ok_in(alice.path(), &["account", "bind", "--service", &com.url]);
    ok_in(carol.path(), &["account", "create", "carol@example.com"]);
    ok_in(carol.path(), &["account", "bind", "--service", &com.url]);
    ok_in(bob.path(), &["account", "create", "bob@example.net"]);
    ok_in(bob.path(), &["account", "bind", "--service", &net.url]);

    // Same service: delivered at once.
    ok_in(
        alice.path(),
        &["message", "send", "carol@example.com", "hello carol"],
    );
    assert_eq!(
        json_in(carol.path(), &["message", "list"])[0]["Text"],
        "hello carol"
    );

    // Another service: forwarded.
    ok_in(
        alice.path(),
        &["message", "send", "bob@example.net", "hello bob"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while json_in(bob.path(), &["message", "list"])
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the message never reached the other service"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(
        json_in(bob.path(), &["message", "list"])[0]["From"],
        "alice@example.com"
    );

    // The other service is down: the message is acknowledged, queued, and delivered later.
    net.kill();
    ok_in(
        alice.path(),
        &["message", "send", "bob@example.net", "while you were out"],
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    net = Service::start_with(d2.path(), None, &["--listen", &listen]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let list = json_in(bob.path(), &["message", "list"]);
        if list
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Text"] == "while you were out")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queued message was not delivered after the outage"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // An address the other service does not hold: the sender is told.
    ok_in(
        alice.path(),
        &["message", "send", "nobody@example.net", "anyone there?"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let list = json_in(alice.path(), &["message", "list"]);
        if let Some(bounce) = list.as_array().unwrap().iter().find(|m| m["Error"] == true) {
            assert!(bounce["Text"]
                .as_str()
                .unwrap()
                .contains("nobody@example.net"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notice of the undeliverable message"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // The sending service kept it durably: also across its own restart (nothing left queued).
    com.restart();
    assert_eq!(
        std::fs::read_dir(d1.path().join("outbox"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json"))
            .count(),
        0
    );
    drop(net);
}

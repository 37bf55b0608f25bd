//! The outbox under abuse (issue: a service that stays up): a service that never answers holds
//! back only its own messages, a service that cannot be reached makes the message come back to
//! its sender once the outbox gives up, and a message to many accounts of one service is one
//! delivery.

mod common;
use common::service::Service;
use common::*;

use std::time::Duration;

fn queued(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count()
}

#[test]
fn a_tarpit_holds_back_only_its_own_messages_and_the_dead_bounce() {
    // A "service" that takes connections and never answers, and a port nobody listens on.
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tarpit_url = format!("http://{}", tarpit.local_addr().unwrap());
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (net_port, com_port) = (free_port(), free_port());
    let net_listen = format!("127.0.0.1:{net_port}");
    let com_listen = format!("127.0.0.1:{com_port}");
    let net_peer = format!("example.com=http://{com_listen}");
    let net = Service::start_with(
        d2.path(),
        None,
        &["--plain-http", "--listen", &net_listen, "--peer", &net_peer],
    );
    let com = Service::start_with(
        d1.path(),
        None,
        &[
            "--plain-http",
            "--listen",
            &com_listen,
            "--peer",
            &format!("example.net=http://{net_listen}"),
            "--peer",
            &format!("slow.example={tarpit_url}"),
            "--peer",
            &format!("dead.example={dead_url}"),
            "--outbox-lifetime",
            "3",
        ],
    );
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok_in(alice.path(), &["account", "create", "alice@example.com"]);
    ok_in(alice.path(), &["account", "bind", "--service", &com.url]);
    ok_in(bob.path(), &["account", "create", "bob@example.net"]);
    ok_in(bob.path(), &["account", "bind", "--service", &net.url]);

    // First to the tarpit, then to bob: bob gets his at once.
    ok_in(
        alice.path(),
        &["message", "send", "x@slow.example", "into the tarpit"],
    );
    ok_in(
        alice.path(),
        &["message", "send", "bob@example.net", "hello bob"],
    );
    eventually(15, "bob's message waited for the tarpit", || {
        !json_in(bob.path(), &["message", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    });

    // A service that cannot be reached: once the outbox gives up, alice is told.
    ok_in(
        alice.path(),
        &["message", "send", "y@dead.example", "anyone?"],
    );
    eventually(
        30,
        "no notice of the message that could not be delivered",
        || {
            json_in(alice.path(), &["message", "list"])
                .as_array()
                .unwrap()
                .iter()
                .any(|m| {
                    m["Error"] == true
                        && m["Text"]
                            .as_str()
                            .is_some_and(|t| t.contains("dead.example") && t.contains("reached"))
                })
        },
    );
    drop(tarpit);
    drop(com);
    drop(net);
}

/// A message to several accounts of one other service is one delivery (one outbox item),
/// charged to the sender for each recipient.
#[test]
fn one_delivery_per_recipient_service() {
    let data = tempfile::tempdir().unwrap();
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    let service = Service::start_with(
        data.path(),
        None,
        &["--peer", &format!("far.example={dead_url}")],
    );
    let alice = tempfile::tempdir().unwrap();
    ok_in(alice.path(), &["account", "create", "alice@example.com"]);
    ok_in(
        alice.path(),
        &["account", "bind", "--service", &service.url],
    );
    let device = mesh_client::MeshHome::at(alice.path())
        .open(DEVICE_PASS)
        .unwrap();
    let account = device.account(None).unwrap();
    let session = mesh_client::online::Session::open(&device, &account).unwrap();
    let envelope = message_from(alice.path(), "a@far.example", "to all of you");
    let to: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|u| format!("{u}@far.example"))
        .collect();
    session.send(&to, envelope.clone()).unwrap();
    assert_eq!(
        queued(&service.data),
        1,
        "one item for the three recipients"
    );
    // More recipients than a transaction may name are refused, nothing queued.
    let many: Vec<String> = (0..101).map(|i| format!("u{i}@far.example")).collect();
    let error = session.send(&many, envelope).unwrap_err().to_string();
    assert!(
        error.contains("413") && error.contains("recipients"),
        "{error}"
    );
    assert_eq!(queued(&service.data), 1);
}

/// On PostgreSQL the outbox is the database's: a message queued by a process that dies before
/// it could deliver it is delivered by another process of the same service.
#[test]
fn a_message_queued_by_a_process_that_died_is_delivered_by_another() {
    let pg = common::service::Postgres::start();
    let (d_net, d_com1, d_com2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let net_listen = format!("127.0.0.1:{}", free_port());
    // bob's service checks who posts by asking example.com's service: the second process.
    let com2_listen = format!("127.0.0.1:{}", free_port());
    let mut net = Service::start_with(
        d_net.path(),
        None,
        &[
            "--plain-http",
            "--listen",
            &net_listen,
            "--peer",
            &format!("example.com=http://{com2_listen}"),
        ],
    );
    let peer = format!("example.net=http://{net_listen}");
    let com_args = ["--plain-http", "--peer", &peer];
    let mut com1 = Service::start_with(d_com1.path(), Some(&pg.url), &com_args);
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok_in(alice.path(), &["account", "create", "alice@example.com"]);
    ok_in(alice.path(), &["account", "bind", "--service", &com1.url]);
    ok_in(bob.path(), &["account", "create", "bob@example.net"]);
    ok_in(bob.path(), &["account", "bind", "--service", &net.url]);

    // bob's service is away: the message waits in the outbox; then the process that took it
    // dies.
    net.kill();
    ok_in(
        alice.path(),
        &["message", "send", "bob@example.net", "kept in the database"],
    );
    std::thread::sleep(Duration::from_millis(800));
    com1.kill();
    assert!(
        !d_com1.path().join("outbox").exists() || queued(d_com1.path()) == 0,
        "the message is not kept in the dead process's directory"
    );

    // bob's service back, and another process of the service: bob gets the message (the
    // service back first: a service found unreachable is not asked again for a minute).
    net.restart();
    let mut com2_args = com_args.to_vec();
    com2_args.extend(["--listen", &com2_listen]);
    let com2 = Service::start_with(d_com2.path(), Some(&pg.url), &com2_args);
    // (Taken over at once if the dead process had put it back after its attempt, else once its
    // claim runs out: 30 s at most.)
    eventually(45, "the other process did not deliver the message", || {
        json_in(bob.path(), &["message", "list"])
            .to_string()
            .contains("kept in the database")
    });
    drop(com2);
}

//! Messages between accounts of two services: delivered service to service, queued while the
//! other service is down and delivered when it is back.

mod common;
use common::service::Service;
use common::*;

#[test]
fn messages_cross_services_and_survive_an_outage() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Each service must reach the other: to deliver, and to check that a Post comes from the
    // service of the senders' domain. Plain HTTP on ports chosen first, so each URL is known
    // before either starts.
    let (net_port, com_port) = (free_port(), free_port());
    let net_listen = format!("127.0.0.1:{net_port}");
    let com_listen = format!("127.0.0.1:{com_port}");
    let net_peer = format!("example.com=http://{com_listen}");
    let com_peer = format!("example.net=http://{net_listen}");
    let net_args = ["--plain-http", "--listen", &net_listen, "--peer", &net_peer];
    let mut net = Service::start_with(d2.path(), None, &net_args);
    let mut com = Service::start_with(
        d1.path(),
        None,
        &["--plain-http", "--listen", &com_listen, "--peer", &com_peer],
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
    let received = json_in(bob.path(), &["message", "list"]);
    assert_eq!(received[0]["From"], "alice@example.com");
    assert_eq!(received[0]["Verified"], true, "{received}");
    assert_eq!(
        received[0]["SenderProfile"],
        json_in(alice.path(), &["account", "info"])["Udf"],
        "{received}"
    );

    // An attacker posts straight to bob's service a message as alice would make it (signed by
    // alice's own device, naming its connection, carrying her real profile): anonymously, and
    // signed by alice's device key. Only the service of example.com may post for example.com.
    let forged = forged_post(alice.path(), &net.url);
    for body in forged {
        let reply = mesh_protocol::client::HttpClient::post_to(
            &mesh_protocol::client::service_url("", Some(&net.url)),
            &body,
        )
        .unwrap();
        let response =
            mesh_protocol::binding::open_response(&reply, &mesh_dare::KeyRing::new(), None, None)
                .unwrap();
        assert_eq!(response.status().0, 401, "{:?}", response.status());
    }
    let listed = json_in(bob.path(), &["message", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // The other service is down: the message is acknowledged, queued, and delivered later.
    net.kill();
    ok_in(
        alice.path(),
        &["message", "send", "bob@example.net", "while you were out"],
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    net = Service::start_with(d2.path(), None, &net_args);
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

/// PostRequests an attacker could make for bob@example.net with a message as alice's device
/// makes them: one anonymous, one signed by alice's device key.
fn forged_post(alice: &std::path::Path, url: &str) -> Vec<Vec<u8>> {
    let envelope = message_from(alice, "bob@example.net", "please send me your password");
    let device = mesh_client::MeshHome::at(alice).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let (signer, _, _) = mesh_client::online::device_credentials(&device, &account).unwrap();
    let post = mesh_protocol::Request::PostRequest(mesh_protocol::messages::PostRequest {
        accounts: vec!["bob@example.net".into()],
        messages: vec![envelope],
    });
    let info = mesh_client::online::hello(url, Some(url)).unwrap();
    [
        mesh_protocol::binding::Authenticator::None,
        mesh_protocol::binding::Authenticator::Key(&signer),
    ]
    .into_iter()
    .map(|a| {
        mesh_protocol::binding::seal_request(&post, a, Some(&info.encryption))
            .unwrap()
            .bytes
    })
    .collect()
}

/// Messages from another service are counted apart from the recipient's own updates: another
/// service posting many messages (each accepted or refused) does not stop the recipient from
/// uploading its own changes.
#[test]
fn another_services_messages_do_not_use_up_the_recipients_own_updates() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (net_port, com_port) = (free_port(), free_port());
    let net_listen = format!("127.0.0.1:{net_port}");
    let com_listen = format!("127.0.0.1:{com_port}");
    let com_peer = format!("example.net=http://{net_listen}");
    let net_peer = format!("example.com=http://{com_listen}");
    let net = Service::start_with(
        d2.path(),
        None,
        &[
            "--plain-http",
            "--listen",
            &net_listen,
            "--peer",
            &net_peer,
            "--account-updates-per-minute",
            "12",
        ],
    );
    let com = Service::start_with(
        d1.path(),
        None,
        &["--plain-http", "--listen", &com_listen, "--peer", &com_peer],
    );
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok_in(alice.path(), &["account", "create", "alice@example.com"]);
    ok_in(alice.path(), &["account", "bind", "--service", &com.url]);
    ok_in(bob.path(), &["account", "create", "bob@example.net"]);
    ok_in(bob.path(), &["account", "bind", "--service", &net.url]);
    for i in 0..24 {
        ok_in(
            alice.path(),
            &["message", "send", "bob@example.net", &format!("hello {i}")],
        );
    }
    // What the other service has delivered (or been refused) by now.
    let inbound = net
        .data
        .join("store/accounts/bob@example.net/MMM_Inbound.dare");
    // Until the other service is turned away (the account's allowance for its messages is
    // used up): no more arrive for a while.
    let count = || {
        mesh_dare::Container::open(&inbound, mesh_dare::Mode::Read)
            .map(|c| c.frame_count())
            .unwrap_or(0)
    };
    let mut last = (count(), std::time::Instant::now());
    while last.1.elapsed() < std::time::Duration::from_millis(1500) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if count() != last.0 {
            last = (count(), std::time::Instant::now());
        }
    }
    eprintln!("inbound frames: {}", last.0);
    assert!(
        last.0 < 25,
        "every message was taken: the allowance was never reached"
    );
    let added = json_in(
        bob.path(),
        &["password", "add", "bank.example", "bob", "pw"],
    );
    assert!(added.get("Uploaded").is_none(), "{added}");
}

//! Between people, end to end across two services: confirmations (protocol-09 §8.5) — a
//! console asks a person to approve, the person's device sees the request and accepts or
//! rejects it, and the console reads the answer, taking it only from the account it asked —
//! and contact exchange (§8.3.1) — a request accepted gives each the other's contact from the
//! signed exchange, one rejected gives nothing, a blocked sender is refused by the service.

mod common;
use common::service::Service;
use common::*;

use std::time::{Duration, Instant};

use mesh_client::online::{device_credentials, Session};
use mesh_client::MeshHome;
use mesh_schema::message::ResponseConfirmation;
use mesh_schema::{sender, signed, MeshItem};

/// `message status ID` on `dir` until it is no longer Pending (or `seconds` pass).
fn status(dir: &std::path::Path, id: &str, seconds: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let out = json_in(dir, &["message", "status", id]);
        if out["Status"] != "Pending" || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `message pending` on `dir` until the request `id` is there.
fn wait_pending(dir: &std::path::Path, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = json_in(dir, &["message", "pending"]);
        if let Some(row) = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["MessageId"] == id)
        {
            return row.clone();
        }
        assert!(Instant::now() < deadline, "no request {id}: {rows}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Two services on loopback, each the other's peer: example.com and example.net (their data
/// directories first, to outlive them).
fn two_services() -> ((tempfile::TempDir, tempfile::TempDir), Service, Service) {
    let (d_com, d_net) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (com_listen, net_listen) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let com = Service::start_with(
        d_com.path(),
        None,
        &[
            "--plain-http",
            "--listen",
            &com_listen,
            "--peer",
            &format!("example.net=http://{net_listen}"),
        ],
    );
    let net = Service::start_with(
        d_net.path(),
        None,
        &[
            "--plain-http",
            "--listen",
            &net_listen,
            "--peer",
            &format!("example.com=http://{com_listen}"),
        ],
    );
    ((d_com, d_net), com, net)
}

#[test]
fn a_console_asks_and_only_the_account_asked_answers() {
    let (_data, com, net) = two_services();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [console, alice, mallory] = [0, 1, 2].map(|i| dirs[i].path());
    ok_in(console, &["account", "create", "console@example.com"]);
    ok_in(console, &["account", "bind", "--service", &com.url]);
    ok_in(mallory, &["account", "create", "mallory@example.com"]);
    ok_in(mallory, &["account", "bind", "--service", &com.url]);
    ok_in(alice, &["account", "create", "alice@example.net"]);
    ok_in(alice, &["account", "bind", "--service", &net.url]);

    // Accepted.
    let asked = json_in(
        console,
        &["message", "confirm", "alice@example.net", "start"],
    );
    let (request, response) = (
        asked["MessageId"].as_str().unwrap().to_string(),
        asked["ResponseId"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        response,
        mesh_schema::ids::response_id(&request).unwrap(),
        "the answer's id follows from the request's"
    );
    assert_eq!(
        json_in(console, &["message", "status", &response])["Status"],
        "Pending"
    );
    let row = wait_pending(alice, &request);
    assert_eq!(row["From"], "console@example.com");
    assert_eq!(row["Verified"], true, "{row}");
    assert_eq!(row["Text"], "start");
    ok_in(alice, &["message", "accept", &request]);
    assert_eq!(status(console, &response, 20)["Status"], "Accept");
    // Answered once: no longer pending, and not answered again.
    assert!(json_in(alice, &["message", "pending"])
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["MessageId"] != request.as_str()));
    let refused = fails_in(alice, DEVICE_PASS, &["message", "reject", &request]);
    assert!(refused.contains("answered already"), "{refused}");

    // Rejected.
    let asked = json_in(
        console,
        &["message", "confirm", "alice@example.net", "wire funds"],
    );
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(alice, &request);
    ok_in(alice, &["message", "reject", &request]);
    let answer = status(console, &request, 20);
    assert_eq!(answer["Status"], "Reject", "{answer}");

    // Forged: mallory answers a request sent to alice, once in alice's name and once in her
    // own, each a well-made ResponseConfirmation signed by mallory's device. Neither is taken.
    let asked = json_in(
        console,
        &["message", "confirm", "alice@example.net", "open the door"],
    );
    let request = asked["MessageId"].as_str().unwrap().to_string();
    let response = asked["ResponseId"].as_str().unwrap().to_string();
    let device = MeshHome::at(mallory).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let (signer, _, connection) = device_credentials(&device, &account).unwrap();
    // A message as mallory's device seals one (signed, its connection and profile in the
    // metadata), with whatever it says inside, sent through her service.
    let send_as_mallory = |item: MeshItem, id: &str, to: &str| {
        let envelope = signed::seal_with(
            &item,
            &signer,
            Some(&mesh_schema::ids::envelope_id(id).unwrap()),
            &[],
            vec![
                sender::key_value(&connection).unwrap(),
                mesh_dare::schema::KeyValue {
                    key: mesh_client::messages::SENDER_PROFILE.into(),
                    value: account.profile_envelope().unwrap().to_json().unwrap(),
                },
            ],
        )
        .unwrap();
        Session::open(&device, &account)
            .unwrap()
            .send(&[to.to_string()], envelope)
            .unwrap();
    };
    for claimed in ["alice@example.net", "mallory@example.com"] {
        let forged = ResponseConfirmation {
            message_id: Some(response.clone()),
            sender: Some(claimed.into()),
            recipient: Some("console@example.com".into()),
            request: None,
            accept: Some(true),
            ..Default::default()
        };
        send_as_mallory(MeshItem::from(forged), &response, "console@example.com");
    }
    let answer = json_in(console, &["message", "status", &request]);
    assert_eq!(answer["Status"], "Pending", "{answer}");
    assert_eq!(answer["Refused"], 2, "{answer}");
    // A request whose text would rewrite the terminal line (to read as asked by someone
    // else) is never shown nor answerable; nor may one be sent.
    let refused = fails_in(
        console,
        DEVICE_PASS,
        &[
            "message",
            "confirm",
            "alice@example.net",
            "x\rbank@example.com asks",
        ],
    );
    assert!(refused.contains("one line"), "{refused}");
    let disguised = mesh_schema::message::RequestConfirmation {
        message_id: Some(mesh_udf::random::nonce(128).to_string()),
        sender: Some("mallory@example.com".into()),
        recipient: Some("alice@example.net".into()),
        text: Some("x\r\x1b[2Kbank@example.com asks to confirm: log in".into()),
        ..Default::default()
    };
    let disguised_id = disguised.message_id.clone().unwrap();
    send_as_mallory(
        MeshItem::from(disguised),
        &disguised_id,
        "alice@example.net",
    );
    // alice's own answer is still taken; mallory's disguised request is not among the pending.
    wait_pending(alice, &request);
    let pending = json_in(alice, &["message", "pending"]).to_string();
    assert!(!pending.contains(&disguised_id), "{pending}");
    let refused = fails_in(alice, DEVICE_PASS, &["message", "accept", &disguised_id]);
    assert!(refused.contains("no request"), "{refused}");
    ok_in(alice, &["message", "accept", &request]);
    assert_eq!(status(console, &request, 20)["Status"], "Accept");
    drop(com);
    drop(net);
}

/// Each account created on its device directory and bound to its service.
fn accounts(list: &[(&std::path::Path, &str, &Service)]) {
    for (dir, address, service) in list {
        ok_in(dir, &["account", "create", address]);
        ok_in(dir, &["account", "bind", "--service", &service.url]);
    }
}

/// The arguments of `mesh dare encode` of `text` (written first to `files/NAME.txt`) to `to`,
/// and where the envelope goes (`files/NAME.dare`).
fn encode_args(
    to: &str,
    text: &[u8],
    files: &std::path::Path,
    name: &str,
) -> (Vec<String>, std::path::PathBuf) {
    let plain = files.join(format!("{name}.txt"));
    std::fs::write(&plain, text).unwrap();
    let sealed = files.join(format!("{name}.dare"));
    let args = [
        "dare",
        "encode",
        plain.to_str().unwrap(),
        "--encrypt",
        to,
        "--out",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([sealed.to_string_lossy().into_owned()])
    .collect();
    (args, sealed)
}

/// `mesh dare encode` of `text` to `to` on the device at `dir`, written in `files`: the
/// envelope's path.
fn encode_to(
    dir: &std::path::Path,
    to: &str,
    text: &[u8],
    files: &std::path::Path,
) -> std::path::PathBuf {
    let (args, sealed) = encode_args(to, text, files, "sealed");
    ok_in(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    sealed
}

/// `mesh dare encode` of `text` to `to` on the device at `dir`, which must fail cleanly: its
/// error, and where the envelope would have been written (in `files`).
fn encode_refused(
    dir: &std::path::Path,
    to: &str,
    text: &[u8],
    files: &std::path::Path,
) -> (String, std::path::PathBuf) {
    let (args, sealed) = encode_args(to, text, files, "refused");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (fails_in(dir, DEVICE_PASS, &args), sealed)
}

/// `mesh dare decode SEALED --out OUT` on the device at `dir`: what it wrote, or its error.
fn decode_file(
    dir: &std::path::Path,
    sealed: &std::path::Path,
    out: &std::path::Path,
) -> Result<Vec<u8>, String> {
    let _ = std::fs::remove_file(out);
    let run = mesh_in(
        dir,
        DEVICE_PASS,
        &[
            "dare",
            "decode",
            sealed.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    match run.status.success() {
        true => Ok(std::fs::read(out).unwrap()),
        false => Err(String::from_utf8_lossy(&run.stderr).to_string()),
    }
}

/// The account profile UDF of the account on the device at `dir`.
fn udf_of(dir: &std::path::Path) -> String {
    json_in(dir, &["account", "info"])["Udf"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `contact get ADDRESS` on `dir`: the profile UDF its contact entry holds, if any.
fn contact_profile(dir: &std::path::Path, address: &str) -> Option<String> {
    let out = mesh_in(dir, DEVICE_PASS, &["contact", "get", address, "--json"]);
    if !out.status.success() {
        return None;
    }
    let entry: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let envelope = entry["CatalogedContact"]["EnvelopedProfileUser"].clone();
    let envelope = mesh_dare::DareEnvelope::parse(envelope.to_string().as_bytes()).ok()?;
    Some(mesh_schema::signed::verify_profile_user(&envelope).ok()?.1)
}

#[test]
fn contacts_are_exchanged_on_request_and_blocked_senders_refused() {
    let (_data, com, net) = two_services();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [bob, alice, mallory, carol] = [0, 1, 2, 3].map(|i| dirs[i].path());
    accounts(&[
        (bob, "bob@example.com", &com),
        (mallory, "mallory@example.com", &com),
        (alice, "alice@example.net", &net),
        (carol, "carol@example.net", &net),
    ]);
    let (alice_udf, bob_udf) = (udf_of(alice), udf_of(bob));

    // bob asks alice; she sees who asks, checked, and accepts.
    let asked = json_in(bob, &["contact", "request", "alice@example.net"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    let row = wait_pending(alice, &request);
    assert_eq!(
        (row["Kind"].as_str(), row["From"].as_str()),
        (Some("Contact"), Some("bob@example.com"))
    );
    assert_eq!(row["Verified"], true, "{row}");
    ok_in(alice, &["message", "accept", &request]);
    assert_eq!(
        contact_profile(alice, "bob@example.com"),
        Some(bob_udf.clone())
    );
    let refused = fails_in(alice, DEVICE_PASS, &["message", "accept", &request]);
    assert!(refused.contains("answered already"), "{refused}");
    // bob takes alice's answer (it carries his request's PIN) as her contact.
    eventually(30, "alice's answer at bob", || {
        ok_in(bob, &["account", "sync"]);
        contact_profile(bob, "alice@example.net").is_some()
    });
    assert_eq!(contact_profile(bob, "alice@example.net"), Some(alice_udf));
    // Both now write to each other encrypted, with keys from the exchange.
    let sent = json_in(bob, &["message", "send", "alice@example.net", "hello"]);
    assert_eq!(sent["Encrypted"], true, "{sent}");
    let sent = json_in(alice, &["message", "send", "bob@example.com", "hi bob"]);
    assert_eq!(sent["Encrypted"], true, "{sent}");

    // A reply no request of bob's asked for makes no contact: mallory writes to bob as if
    // answering, with a PIN of her own making.
    let device = MeshHome::at(mallory).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let (signer, _, connection) = device_credentials(&device, &account).unwrap();
    // A MessageContact signed by mallory's device and sent through her service, saying what
    // she likes: its id.
    let send_as_mallory = |sender_named: &str, to: &str, reply: bool| {
        let id = mesh_udf::random::nonce(128).to_string();
        let message = mesh_schema::message::MessageContact {
            message_id: Some(id.clone()),
            sender: Some(sender_named.into()),
            recipient: Some(to.into()),
            authenticated_data: Some(account.profile_envelope().unwrap()),
            reply: Some(reply),
            pin: Some(mesh_udf::random::nonce(128).to_string()),
            ..Default::default()
        };
        let envelope = signed::seal_with(
            &MeshItem::from(message),
            &signer,
            Some(&mesh_schema::ids::envelope_id(&id).unwrap()),
            &[],
            vec![sender::key_value(&connection).unwrap()],
        )
        .unwrap();
        Session::open(&device, &account)
            .unwrap()
            .send(&[to.to_string()], envelope)
            .unwrap();
        id
    };
    send_as_mallory("mallory@example.com", "bob@example.com", false);
    eventually(20, "mallory's message at bob", || {
        ok_in(bob, &["account", "sync"]);
        json_in(bob, &["message", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["From"] == "mallory@example.com")
    });
    assert_eq!(contact_profile(bob, "mallory@example.com"), None);

    // carol's request is rejected: nothing is sent back, no contact made.
    let asked = json_in(carol, &["contact", "request", "alice@example.net"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(alice, &request);
    ok_in(alice, &["message", "reject", &request]);
    assert_eq!(contact_profile(alice, "carol@example.net"), None);

    // A request from mallory that names carol as its sender: blocking it blocks who sent it
    // (as the services authenticated her), never carol.
    let framed_id = send_as_mallory("carol@example.net", "alice@example.net", true);
    let row = wait_pending(alice, &framed_id);
    assert_eq!(row["Verified"], false, "{row}");
    let refused = fails_in(alice, DEVICE_PASS, &["message", "accept", &framed_id]);
    assert!(refused.contains("could not be checked"), "{refused}");
    let blocked = json_in(alice, &["message", "block", &framed_id]);
    assert_eq!(blocked["From"], "mallory@example.com", "{blocked}");
    ok_in(
        carol,
        &["message", "send", "alice@example.net", "still here"],
    );
    ok_in(alice, &["contact", "unblock", "mallory@example.com"]);

    // mallory's request: alice blocks her. The service then refuses what mallory sends alice,
    // across services (bounced to mallory), and carol, on alice's own service, once blocked too.
    let asked = json_in(mallory, &["contact", "request", "alice@example.net"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(alice, &request);
    ok_in(alice, &["message", "block", &request]);
    ok_in(
        mallory,
        &["message", "send", "alice@example.net", "let me in"],
    );
    eventually(30, "mallory told her message was refused", || {
        ok_in(mallory, &["account", "sync"]);
        json_in(mallory, &["message", "list"])
            .to_string()
            .contains("refused")
    });
    ok_in(alice, &["account", "sync"]);
    let received = json_in(alice, &["message", "list"]).to_string();
    assert!(!received.contains("let me in"), "{received}");
    let asked = json_in(carol, &["contact", "request", "alice@example.net"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(alice, &request);
    ok_in(alice, &["message", "block", &request]);
    let refused = fails_in(
        carol,
        DEVICE_PASS,
        &["message", "send", "alice@example.net", "hi"],
    );
    assert!(
        refused.contains("403") && refused.contains("does not take messages"),
        "{refused}"
    );
    // Unblocked, carol is taken again.
    ok_in(alice, &["contact", "unblock", "carol@example.net"]);
    ok_in(carol, &["message", "send", "alice@example.net", "hi again"]);
    // Blocked and unblocked again: each change a new entry of the administrator's (the same
    // change made twice is not taken for a replay).
    ok_in(alice, &["contact", "block", "carol@example.net"]);
    assert!(fails_in(
        carol,
        DEVICE_PASS,
        &["message", "send", "alice@example.net", "blocked again"]
    )
    .contains("403"));
    ok_in(alice, &["contact", "unblock", "carol@example.net"]);
    ok_in(
        carol,
        &["message", "send", "alice@example.net", "and again"],
    );
}

/// Contact exchange by URI (protocol-09 §8.3.3; the reference's `contact static|dynamic`,
/// `contact fetch|exchange`): a contact published under an EARL is fetched by whoever holds the
/// URI, checked to be signed by a device of the publisher's account; `exchange` sends the
/// fetcher's back, which the publisher takes; both then encrypt to each other. A URI with
/// another key gets nothing, and a dynamic contact ends when it says.
#[test]
fn contacts_are_exchanged_by_uri_both_ways() {
    let (_data, com, net) = two_services();
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [alice, bob, carol, dave, erin] = [0, 1, 2, 3, 4].map(|i| dirs[i].path());
    accounts(&[
        (alice, "alice@example.net", &net),
        (bob, "bob@example.com", &com),
        (carol, "carol@example.com", &com),
        (dave, "dave@example.com", &com),
        (erin, "erin@example.com", &com),
    ]);
    let (alice_udf, bob_udf) = (udf_of(alice), udf_of(bob));

    let published = json_in(alice, &["contact", "static"]);
    let uri = published["Uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("mcu://alice@example.net/"), "{uri}");
    // bob exchanges: he has alice's key now, and she his at her next sync.
    let got = json_in(bob, &["contact", "exchange", &uri, "--service", &net.url]);
    assert_eq!(got["Added"], "alice@example.net");
    assert_eq!(got["ProfileUdf"], alice_udf.as_str());
    assert_eq!(
        contact_profile(bob, "alice@example.net"),
        Some(alice_udf.clone())
    );
    eventually(30, "bob's contact at alice", || {
        ok_in(alice, &["account", "sync"]);
        contact_profile(alice, "bob@example.com").is_some()
    });
    assert_eq!(contact_profile(alice, "bob@example.com"), Some(bob_udf));
    let sent = json_in(bob, &["message", "send", "alice@example.net", "hello"]);
    assert_eq!(sent["Encrypted"], true, "{sent}");
    let sent = json_in(alice, &["message", "send", "bob@example.com", "hi"]);
    assert_eq!(sent["Encrypted"], true, "{sent}");

    // carol only fetches (the static contact is for anyone, again): alice gets nothing of hers.
    json_in(carol, &["contact", "fetch", &uri, "--service", &net.url]);
    assert_eq!(contact_profile(carol, "alice@example.net"), Some(alice_udf));
    ok_in(alice, &["account", "sync"]);
    assert_eq!(contact_profile(alice, "carol@example.com"), None);

    // The same locator's publisher with another key: nothing is handed out, nothing kept.
    let other_key = mesh_udf::random::encryption_key(128).to_string();
    let forged = format!("mcu://alice@example.net/{other_key}");
    fails_in(
        dave,
        DEVICE_PASS,
        &["contact", "fetch", &forged, "--service", &net.url],
    );
    assert_eq!(contact_profile(dave, "alice@example.net"), None);

    // A contact URI is not taken for someone else's: dave keeps alice's real key, and a
    // contact published as alice@example.net by another account (on another service that took
    // that name) is refused, not swapped in.
    let fake = tempfile::tempdir().unwrap();
    accounts(&[(fake.path(), "alice@example.net", &com)]);
    let fake_uri = json_in(fake.path(), &["contact", "static"])["Uri"]
        .as_str()
        .unwrap()
        .to_string();
    json_in(dave, &["contact", "fetch", &uri, "--service", &net.url]);
    let refused = fails_in(
        dave,
        DEVICE_PASS,
        &["contact", "fetch", &fake_uri, "--service", &com.url],
    );
    assert!(refused.contains("not taken"), "{refused}");
    assert_eq!(
        udf_of(alice),
        contact_profile(dave, "alice@example.net").unwrap()
    );

    // A device's QR code fetched as a contact: refused, and the device's one claim is not used
    // up (its owner still claims it).
    let card = tempfile::tempdir().unwrap();
    let preconfig = json_in(
        alice,
        &[
            "device",
            "preconfig",
            "--out",
            card.path().join("device.json").to_str().unwrap(),
        ],
    );
    let device_uri = preconfig["Uri"].as_str().unwrap().to_string();
    let refused = fails_in(
        erin,
        DEVICE_PASS,
        &["contact", "fetch", &device_uri, "--service", &net.url],
    );
    assert!(refused.contains("not a contact"), "{refused}");
    ok_in(
        bob,
        &["account", "connect", &device_uri, "--service", &net.url],
    );

    // Withdrawn, the static contact gives nothing more.
    ok_in(alice, &["contact", "unpublish", &uri]);
    fails_in(
        erin,
        DEVICE_PASS,
        &["contact", "fetch", &uri, "--service", &net.url],
    );
    assert_eq!(contact_profile(erin, "alice@example.net"), None);

    // A dynamic contact: fetched while it lasts, refused after.
    let dynamic = json_in(alice, &["contact", "dynamic", "--expire", "2s"]);
    let dynamic = dynamic["Uri"].as_str().unwrap().to_string();
    json_in(dave, &["contact", "fetch", &dynamic, "--service", &net.url]);
    std::thread::sleep(Duration::from_secs(3));
    let refused = fails_in(
        erin,
        DEVICE_PASS,
        &["contact", "fetch", &dynamic, "--service", &net.url],
    );
    assert!(refused.contains("expired"), "{refused}");
    assert_eq!(contact_profile(erin, "alice@example.net"), None);
}

/// Recryption groups (threshold-06; the reference's `ArchitectureRecrypt`) across two services:
/// anyone with the group's key encrypts to it; its members decrypt, each with its share and the
/// group's service's contribution; a member removed decrypts nothing more — what was encrypted
/// before included — and one added later reads what was encrypted before; no one else gets the
/// service's contribution under a member's capability.
#[test]
fn a_group_decrypts_for_its_members_only() {
    let (_data, com, net) = two_services();
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [alice, bob, carol, dave, mallory] = [0, 1, 2, 3, 4].map(|i| dirs[i].path());
    accounts(&[
        (alice, "alice@example.com", &com),
        (bob, "bob@example.net", &net),
        (carol, "carol@example.com", &com),
        (dave, "dave@example.net", &net),
        (mallory, "mallory@example.com", &com),
    ]);
    // alice learns her friends' keys from a signed exchange.
    for friend in [bob, carol, dave] {
        let asked = json_in(friend, &["contact", "request", "alice@example.com"]);
        let request = asked["MessageId"].as_str().unwrap().to_string();
        wait_pending(alice, &request);
        ok_in(alice, &["message", "accept", &request]);
    }
    let group = "friends@example.com";
    ok_in(alice, &["group", "create", group, "--service", &com.url]);
    // A file encrypted to the group before anyone is a member.
    let files = tempfile::tempdir().unwrap();
    let sealed = encode_to(alice, group, b"The group secret handshake", files.path());
    let decode = |dir: &std::path::Path| {
        let out = files.path().join(format!(
            "{}.txt",
            dir.file_name().unwrap().to_string_lossy()
        ));
        decode_file(dir, &sealed, &out)
    };
    let refused = decode(alice).unwrap_err();
    assert!(refused.contains("no decryption key"), "{refused}");

    for member in ["alice@example.com", "bob@example.net", "carol@example.com"] {
        ok_in(alice, &["group", "add", group, member]);
    }
    let read = |dir: &std::path::Path| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            ok_in(dir, &["account", "sync"]);
            let why = match decode(dir) {
                Ok(plain) => return plain,
                Err(why) => why,
            };
            assert!(Instant::now() < deadline, "no invitation taken: {why}");
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    for member in [alice, bob, carol] {
        assert_eq!(read(member), b"The group secret handshake");
    }
    // Not a member: refused, whoever's capability she names.
    let refused = decode(mallory).unwrap_err();
    assert!(refused.contains("no decryption key"), "{refused}");
    let members = json_in(alice, &["group", "list", group]);
    let bob_capability = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Member"] == "bob@example.net")
        .unwrap()["Capability"]
        .as_str()
        .unwrap()
        .to_string();
    let device = MeshHome::at(mallory).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let operator =
        mesh_client::online::member_operator(&device, &account, group, &com.url).unwrap();
    let epk = mesh_crypto::PrivateKey::generate(mesh_crypto::Algorithm::X448).public_key();
    let refused =
        mesh_client::context::ThresholdOperator::contributions(&operator, &bob_capability, &[epk])
            .unwrap_err()
            .to_string();
    assert!(refused.contains("granted to another"), "{refused}");

    // carol removed: she decrypts nothing more, not even what was encrypted before.
    ok_in(alice, &["group", "delete", group, "carol@example.com"]);
    let refused = decode(carol).unwrap_err();
    assert!(refused.contains("no longer"), "{refused}");
    assert_eq!(decode(bob).unwrap(), b"The group secret handshake");
    // dave, added later, reads what was encrypted before he was.
    ok_in(alice, &["group", "add", group, "dave@example.net"]);
    assert_eq!(read(dave), b"The group secret handshake");
    let listed: Vec<String> = json_in(alice, &["group", "list", group])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Member"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        !listed.contains(&"carol@example.com".to_string()),
        "{listed:?}"
    );

    // mallory, a contact of bob's, makes a group of her own under the same address (on the
    // other service) and invites bob: the address is then ambiguous to bob, and nothing he
    // encrypts to it goes to mallory's key.
    let asked = json_in(mallory, &["contact", "request", "bob@example.net"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(bob, &request);
    ok_in(bob, &["message", "accept", &request]);
    eventually(30, "bob's answer at mallory", || {
        ok_in(mallory, &["account", "sync"]);
        contact_profile(mallory, "bob@example.net").is_some()
    });
    ok_in(mallory, &["group", "create", group, "--service", &net.url]);
    ok_in(mallory, &["group", "add", group, "bob@example.net"]);
    eventually(30, "mallory's invitation at bob", || {
        ok_in(bob, &["account", "sync"]);
        json_in(bob, &["message", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["From"] == "mallory@example.com" && m["Group"] == true)
    });
    let (refused, sealed_by_bob) = encode_refused(bob, group, b"for the group", files.path());
    assert!(
        refused.contains("no key of friends@example.com"),
        "{refused}"
    );
    assert!(!sealed_by_bob.exists());
}

/// A member whose account is on the group's service is checked as its own account checks its
/// devices: a device the member's administrator took the message right from (its connection
/// replaced) is refused the group's contribution, even before it learns of the change.
#[test]
fn a_member_device_its_account_no_longer_lets_read_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [alice, phone, carol] = [0, 1, 2].map(|i| dirs[i].path());
    common::service::alice_with_a_password(&service, alice);
    // A web device: it opens its share of the group itself (it holds the account's key), so
    // what it asks of the group's service is all the service decides on.
    common::service::connect_with_rights(&service, alice, phone, &["--rights", "message,web"]);
    ok_in(carol, &["account", "create", "carol@example.com"]);
    ok_in(carol, &["account", "bind", "--service", &service.url]);
    let asked = json_in(alice, &["contact", "request", "carol@example.com"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(carol, &request);
    ok_in(carol, &["message", "accept", &request]);
    eventually(30, "carol's answer at alice", || {
        ok_in(alice, &["account", "sync"]);
        contact_profile(alice, "carol@example.com").is_some()
    });
    let group = "team@example.com";
    ok_in(
        carol,
        &["group", "create", group, "--service", &service.url],
    );
    let files = tempfile::tempdir().unwrap();
    let sealed = encode_to(carol, group, b"the team's plan", files.path());
    ok_in(carol, &["group", "add", group, "alice@example.com"]);
    let decode = || decode_file(phone, &sealed, &files.path().join("read.txt"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        ok_in(phone, &["account", "sync"]);
        match decode() {
            Ok(read) => {
                assert_eq!(read, b"the team's plan");
                break;
            }
            Err(why) => assert!(Instant::now() < deadline, "never a member: {why}"),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // alice takes the message right from the phone; the phone has not synced since.
    let phone_udf = json_in(phone, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    ok_in(alice, &["device", "auth", &phone_udf, "--rights", "web"]);
    let refused = decode().unwrap_err();
    assert!(
        refused.contains("would not decrypt") || refused.contains("replaced"),
        "{refused}"
    );
}

/// A contact cannot name a group after an address of another domain: mallory (of her own
/// domain) makes a "group" carol@example.com on a service that takes any domain and invites
/// alice; what alice then encrypts to carol@example.com is not encrypted to mallory's key.
#[test]
fn a_contact_cannot_make_a_group_of_someone_elses_address() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--any-domain"]);
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let [alice, mallory] = [0, 1].map(|i| dirs[i].path());
    accounts(&[
        (alice, "alice@example.com", &service),
        (mallory, "mallory@evil.example", &service),
    ]);
    let asked = json_in(mallory, &["contact", "request", "alice@example.com"]);
    let request = asked["MessageId"].as_str().unwrap().to_string();
    wait_pending(alice, &request);
    ok_in(alice, &["message", "accept", &request]);
    eventually(30, "alice's answer at mallory", || {
        ok_in(mallory, &["account", "sync"]);
        contact_profile(mallory, "alice@example.com").is_some()
    });
    let spoofed = "carol@example.com";
    ok_in(
        mallory,
        &["group", "create", spoofed, "--service", &service.url],
    );
    ok_in(mallory, &["group", "add", spoofed, "alice@example.com"]);
    eventually(30, "mallory's invitation at alice", || {
        ok_in(alice, &["account", "sync"]);
        json_in(alice, &["message", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["From"] == "mallory@evil.example" && m["Group"] == true)
    });
    let files = tempfile::tempdir().unwrap();
    let (refused, sealed) = encode_refused(alice, spoofed, b"for carol", files.path());
    assert!(refused.contains("no key of carol@example.com"), "{refused}");
    assert!(!sealed.exists());
}

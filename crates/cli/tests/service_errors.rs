//! Bad input against a real service process: each refused with its status code, and the service
//! keeps serving.

mod common;
use common::service::{container_status, Service};
use common::*;

use mesh_client::online;
use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::{ContentMeta, DareEnvelope, EnvelopeOptions, KeyRing};
use mesh_protocol::binding;
use mesh_protocol::messages::{HelloRequest, StatusRequest};
use mesh_protocol::{Request, Response};

const PASS: &str = "device passphrase";

fn post(url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let endpoint = format!("{url}/.well-known/mmm/");
    match ureq::post(&endpoint).send_bytes(body) {
        Ok(r) => {
            let status = r.status();
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut buf).unwrap();
            (status, buf)
        }
        Err(ureq::Error::Status(code, r)) => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut buf).unwrap();
            (code, buf)
        }
        Err(e) => panic!("transport: {e}"),
    }
}

/// The status the sealed response body carries (authoritative, protocol-09 §5.5).
fn payload_status(body: &[u8]) -> (u16, String) {
    let response = binding::open_response(body, &KeyRing::new(), None, None)
        .expect("a sealed response even for errors");
    let (code, text) = response.status();
    (code, text.unwrap_or_default().to_string())
}

fn user(dir: &std::path::Path, address: &str, service: &Service) {
    let out = mesh_in(dir, PASS, &["account", "create", address]);
    assert!(out.status.success());
    let out = mesh_in(dir, PASS, &["account", "bind", "--service", &service.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn refusals() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(
        data.path(),
        None,
        &["--plain-http", "--ticket-seconds", "3"],
    );
    let info = online::hello(&service.url, Some(&service.url)).unwrap();

    // JSON-B, which the Hello advertises: the answer comes back in JSON-B too.
    assert!(info.hello.version.as_ref().unwrap().encodings[0]
        .id
        .contains(&"application/x-json-b".to_string()));
    let jsonb = binding::seal_request_in(
        &Request::HelloRequest(HelloRequest {
            ..Default::default()
        }),
        binding::Authenticator::None,
        None,
        binding::Encoding::JsonB,
    )
    .unwrap();
    let (jsonb, jsonb_nonce) = (jsonb.bytes, jsonb.nonce);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&jsonb).is_err(),
        "the envelope is in JSON-B, not JSON"
    );
    let (http, reply) = post(&service.url, &jsonb);
    assert_eq!(http, 200);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&reply).is_err(),
        "the response is in JSON-B, not JSON"
    );
    assert!(matches!(
        binding::open_response(
            &reply,
            &KeyRing::new(),
            Some(&info.signature),
            Some(&jsonb_nonce)
        )
        .unwrap(),
        Response::MeshHelloResponse(_)
    ));

    // Malformed input.
    for body in [
        &b"not json at all"[..],
        b"[{\"dig\":",
        b"[{}, \"AAAA\"]",
        b"{}",
    ] {
        let (http, reply) = post(&service.url, body);
        assert_eq!(http, 400);
        assert_eq!(payload_status(&reply).0, 400);
    }
    // Oversize.
    let (http, reply) = post(&service.url, &vec![b' '; 70 * 1024]);
    assert_eq!(http, 413);
    assert!(payload_status(&reply).1.contains("limit"));

    // Hello is anonymous: sent twice, it is answered twice (it changes nothing, and anonymous
    // requests never fill the replay cache).
    let hello = binding::seal_request(
        &Request::HelloRequest(HelloRequest {
            ..Default::default()
        }),
        binding::Authenticator::None,
        None,
    )
    .unwrap();
    assert_eq!(post(&service.url, &hello.bytes).0, 200);
    assert_eq!(post(&service.url, &hello.bytes).0, 200);

    // Expired: a request made ten minutes ago.
    let old = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let meta = ContentMeta {
        unique_id: Some(mesh_udf::random::nonce(128).to_string()),
        created: Some(
            old.format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        ),
        ..Default::default()
    };
    let payload = mesh_encoding::to_json(&Request::HelloRequest(HelloRequest {
        ..Default::default()
    }))
    .unwrap();
    let stale = DareEnvelope::encode(
        payload.as_bytes(),
        &EnvelopeOptions {
            meta: Some(meta),
            ..Default::default()
        },
    )
    .unwrap();
    let (http, reply) = post(&service.url, stale.to_json().unwrap().as_bytes());
    assert_eq!(http, 401);
    assert!(payload_status(&reply).1.contains("expired"));

    // Two accounts on the service.
    let (a, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    user(a.path(), "alice@example.com", &service);
    user(c.path(), "carol@example.com", &service);
    let carol_device = mesh_client::MeshHome::at(c.path()).open(PASS).unwrap();
    let carol = carol_device.account(None).unwrap();
    let (signer, encryption, connection) =
        online::device_credentials(&carol_device, &carol).unwrap();
    let mut keys = KeyRing::new();
    keys.add_private(encryption);
    let status = |account: &str, connection: Option<DareEnvelope>, signer: &PrivateKey| {
        let request = Request::StatusRequest(StatusRequest {
            account: Some(account.into()),
            enveloped_connection_device: connection,
            catalogs: vec!["MMM_Credential".into()],
            spools: vec![],
            ..Default::default()
        });
        let body = binding::seal_request(
            &request,
            binding::Authenticator::Key(signer),
            Some(&info.encryption),
        )
        .unwrap();
        post(&service.url, &body.bytes)
    };
    // Carol's own account: fine, and the answer is for her device only.
    let (http, reply) = status("carol@example.com", Some(connection.clone()), &signer);
    assert_eq!(http, 200);
    assert!(matches!(
        binding::open_response(&reply, &keys, Some(&info.signature), None).unwrap(),
        Response::StatusResponse(_)
    ));

    // The binding's attacks against this real service process: a captured request with a new
    // nonce written into its header; stripped of its MAC; with its padding altered; with a 40 KB
    // nonce. Each refused, the decryption failures all with the same answer.
    let captured = binding::seal_request(
        &Request::StatusRequest(StatusRequest {
            account: Some("carol@example.com".into()),
            enveloped_connection_device: Some(connection.clone()),
            catalogs: vec!["MMM_Credential".into()],
            spools: vec![],
            ..Default::default()
        }),
        binding::Authenticator::Key(&signer),
        Some(&info.encryption),
    )
    .unwrap()
    .bytes;
    let envelope = DareEnvelope::parse(&captured).unwrap();
    let mut rewritten = envelope.clone();
    let mut meta = rewritten.content_meta().unwrap();
    meta.unique_id = Some(mesh_udf::random::nonce(128).to_string());
    rewritten.header.set_content_meta(&meta).unwrap();
    let (http, reply) = post(&service.url, rewritten.to_json().unwrap().as_bytes());
    assert_eq!(http, 401, "{}", payload_status(&reply).1);
    let mut stripped = envelope.clone();
    stripped.trailer.as_mut().unwrap().mac = None;
    let mut padding = envelope.clone();
    let last = padding.payload.len() - 1;
    padding.payload[last] ^= 1;
    padding.trailer.as_mut().unwrap().mac = None;
    let answers: Vec<(u16, String)> = [stripped, padding]
        .iter()
        .map(|e| {
            let (http, reply) = post(&service.url, e.to_json().unwrap().as_bytes());
            (http, payload_status(&reply).1)
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], (400, binding::UNREADABLE.to_string()));
    let mut huge = envelope.clone();
    let mut meta = huge.content_meta().unwrap();
    meta.unique_id = Some(format!("N{}", "A".repeat(40_000)));
    huge.header.set_content_meta(&meta).unwrap();
    let (http, reply) = post(&service.url, huge.to_json().unwrap().as_bytes());
    assert_eq!(http, 400);
    assert!(payload_status(&reply).1.contains("nonce"));
    // The captured request itself is still good: none of the above used its nonce.
    assert_eq!(post(&service.url, &captured).0, 200);

    // Carol's device asking for Alice's containers.
    let (http, reply) = status("alice@example.com", Some(connection.clone()), &signer);
    assert_eq!(http, 401, "{}", payload_status(&reply).1);
    // No connection at all.
    assert_eq!(status("carol@example.com", None, &signer).0, 401);
    // Carol's connection, but the request signed by some other key.
    let forger = PrivateKey::generate(Algorithm::Ed448);
    let (http, reply) = status("carol@example.com", Some(connection.clone()), &forger);
    assert_eq!(http, 401);
    assert!(payload_status(&reply)
        .1
        .contains("not signed by the connected device"));
    // An account the service does not hold.
    assert_eq!(
        status("nobody@example.com", Some(connection), &signer).0,
        404
    );
    // A second bind of a taken address.
    let other = tempfile::tempdir().unwrap();
    let out = mesh_in(
        other.path(),
        PASS,
        &["account", "create", "alice@example.com"],
    );
    assert!(out.status.success());
    let out = mesh_in(
        other.path(),
        PASS,
        &["account", "bind", "--service", &service.url],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already bound"));

    // Tickets (§5.3.4): after one signed exchange, requests carry a MAC under the ticket key.
    let carol_account = carol_device.account(None).unwrap();
    let session = online::Session::open(&carol_device, &carol_account).unwrap();
    session.use_ticket().unwrap();
    let (ticket, ticket_key) = session.ticket().unwrap();
    assert!(session.status().is_ok());
    let status_for = |account: &str| {
        Request::StatusRequest(StatusRequest {
            account: Some(account.into()),
            enveloped_connection_device: None,
            catalogs: vec!["MMM_Credential".into()],
            spools: vec![],
            ..Default::default()
        })
    };
    let sealed = |account: &str, ticket: &str, key: &[u8]| {
        binding::seal_request_in(
            &status_for(account),
            binding::Authenticator::Ticket { id: ticket, key },
            Some(&info.encryption),
            binding::Encoding::Json,
        )
        .unwrap()
        .bytes
    };
    let good = sealed("carol@example.com", &ticket, &ticket_key);
    assert_eq!(post(&service.url, &good).0, 200);
    // The same ticket request again: refused, not run again.
    assert_eq!(post(&service.url, &good).0, 409);
    // A MAC under another key.
    let forged = sealed("carol@example.com", &ticket, &[7u8; 32]);
    let (http, reply) = post(&service.url, &forged);
    assert_eq!(http, 401);
    assert!(payload_status(&reply).1.contains("MAC"));
    // Carol's ticket for Alice's account.
    let other = sealed("alice@example.com", &ticket, &ticket_key);
    assert!(payload_status(&post(&service.url, &other).1)
        .1
        .contains("another account"));
    // An unknown ticket.
    let unknown = sealed(
        "carol@example.com",
        "NAAA-AAAA-AAAA-AAAA-AAAA-AA",
        &ticket_key,
    );
    assert!(payload_status(&post(&service.url, &unknown).1)
        .1
        .contains("unknown ticket"));
    // Expired (this service's tickets last 3 s); the session then falls back to signing.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let late = sealed("carol@example.com", &ticket, &ticket_key);
    let (http, reply) = post(&service.url, &late);
    assert_eq!(http, 401);
    assert!(payload_status(&reply).1.contains("expired ticket"));
    assert!(session.status().is_ok());

    // Still serving.
    assert!(online::hello(&service.url, Some(&service.url)).is_ok());
    let out = mesh_in(a.path(), PASS, &["account", "sync"]);
    assert!(out.status.success());
}

/// Per-account update limits: past its allowance an account's updates are refused (429) with
/// a clear message and nothing applied; other accounts, and the service, carry on.
#[test]
fn update_limits_per_account() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--account-updates-per-minute", "6"]);
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    user(alice.path(), "alice@example.com", &service);
    let mut refused = None;
    for i in 0..8 {
        let site = format!("site{i}.example");
        let out = mesh_in(
            alice.path(),
            PASS,
            &["password", "add", &site, "alice", "pw"],
        );
        if !out.status.success() {
            refused = Some((i, String::from_utf8_lossy(&out.stderr).to_string()));
            break;
        }
    }
    let (taken, error) = refused.expect("eight entries in a moment were all taken");
    assert!(
        error.contains("429") && error.contains("entries a minute") && error.contains("try again"),
        "{error}"
    );
    assert!(!error.contains("panicked"), "{error}");
    // Nothing of the refused update was applied: the service holds the entries taken before.
    let credential = container_status(alice.path(), "MMM_Credential");
    assert_eq!(credential["Service"], taken, "{credential}");
    // Another account is not limited by alice's use.
    user(bob.path(), "bob@example.com", &service);
    ok_in(
        bob.path(),
        &["password", "add", "bank.example", "bob", "pw"],
    );
    ok(&["service", "hello", "--service", &service.url]);
}

/// alice, bob and carol, each with an account bound to `service`.
fn three_users(service: &Service) -> Vec<tempfile::TempDir> {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, name) in dirs.iter().zip(["alice", "bob", "carol"]) {
        user(dir.path(), &format!("{name}@example.com"), service);
    }
    dirs
}

/// Send `text` from the device at `from` to `to` until a send is refused (ten at most): how
/// many were sent, and what the refusal said.
fn send_until_refused(from: &std::path::Path, to: &str, text: &str) -> (usize, String) {
    for sent in 0..10 {
        let out = mesh_in(from, PASS, &["message", "send", to, text]);
        if !out.status.success() {
            return (sent, String::from_utf8_lossy(&out.stderr).to_string());
        }
    }
    panic!("ten messages in a moment were all taken");
}

/// Messages are metered in octets too: past its allowance a sender is refused (429) before
/// anything is applied, and a recipient cannot be filled by many senders either.
#[test]
fn message_byte_limits() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--message-bytes-per-minute", "40000"]);
    let dirs = three_users(&service);
    let (alice, bob, carol) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let text = "x".repeat(8000);
    // Each message is about 12 kB on the wire (the text, the sender's profile and connection):
    // alice runs out after a few.
    let (sent, error) = send_until_refused(alice, "carol@example.com", &text);
    assert!(
        error.contains("429") && error.contains("octets of messages sent by alice@example.com"),
        "{error}"
    );
    // Nothing of the refused message reached carol.
    ok_in(carol, &["account", "sync"]);
    let listed = json_in(carol, &["message", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), sent, "{listed}");
    // bob has his own allowance as a sender, but carol's as a recipient is spent.
    let out = mesh_in(bob, PASS, &["message", "send", "carol@example.com", &text]);
    let error = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && error.contains("octets of messages for carol@example.com"),
        "{error}"
    );
    // bob writes to alice, whose inbox has room.
    ok_in(bob, &["message", "send", "alice@example.com", "hi"]);
}

/// What an account's inbound spool holds that none of its devices has fetched is capped: senders
/// who keep within their allowance per minute still cannot fill it without bound (the abuse of
/// 203 MB posted in 5 s); once the account fetches its messages there is room again.
#[test]
fn unfetched_messages_are_capped_until_the_account_fetches_them() {
    unfetched_messages_capped(None);
}

/// The same on PostgreSQL (where the mark and the running totals are columns).
#[test]
fn unfetched_messages_are_capped_on_postgresql() {
    let pg = common::service::Postgres::start();
    unfetched_messages_capped(Some(&pg.url));
}

fn unfetched_messages_capped(postgres: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), postgres, &["--max-queued-bytes", "50000"]);
    let dirs = three_users(&service);
    let (alice, bob, carol) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let text = "x".repeat(8000);
    let (sent, error) = send_until_refused(alice, "carol@example.com", &text);
    assert!(sent >= 2, "{error}");
    assert!(
        error.contains("429") && error.contains("not yet fetched"),
        "{error}"
    );
    // The cap is carol's, whoever sends: bob, with his whole allowance, is refused too.
    let out = mesh_in(bob, PASS, &["message", "send", "carol@example.com", &text]);
    let error = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && error.contains("not yet fetched"),
        "{error}"
    );
    // carol fetches what she was sent: there is room again.
    ok_in(carol, &["account", "sync"]);
    assert_eq!(
        json_in(carol, &["message", "list"])
            .as_array()
            .unwrap()
            .len(),
        sent
    );
    ok_in(bob, &["message", "send", "carol@example.com", "hi"]);
    ok_in(alice, &["message", "send", "carol@example.com", &text]);
}

/// Connection requests, which anyone may make, stop at a quarter of the cap on what an account
/// holds unfetched: a stranger filling alice's spool with them cannot take the room her
/// messages need.
#[test]
fn connection_requests_cannot_take_the_room_of_messages() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--max-queued-bytes", "60000"]);
    let dirs = three_users(&service);
    let (alice, bob) = (dirs[0].path(), dirs[1].path());
    let mut requests = 0;
    let request = || {
        let stranger = tempfile::tempdir().unwrap();
        mesh_in(
            stranger.path(),
            PASS,
            &[
                "device",
                "request",
                "alice@example.com",
                "--service",
                &service.url,
            ],
        )
    };
    let refusal = loop {
        let out = request();
        if !out.status.success() {
            break String::from_utf8_lossy(&out.stderr).to_string();
        }
        requests += 1;
        assert!(requests < 40, "forty connection requests were all queued");
    };
    assert!(
        refusal.contains("429") && refusal.contains("not yet fetched"),
        "{refusal}"
    );
    // bob's messages still fit.
    let text = "x".repeat(8000);
    for _ in 0..3 {
        ok_in(bob, &["message", "send", "alice@example.com", &text]);
    }
    // Once alice fetches, strangers may ask again.
    ok_in(alice, &["account", "sync"]);
    let out = request();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Behind a proxy the operator trusts (`--trusted-proxy`), failed requests are metered by the
/// client address the proxy forwards, so one client spending its allowance does not lock out
/// the others behind the same proxy; an address a client writes into the header itself does
/// not help it, and a service that trusts no proxy ignores the header.
#[test]
fn behind_a_trusted_proxy_clients_are_metered_by_the_forwarded_address() {
    let post_from = |url: &str, forwarded: &str| -> u16 {
        match ureq::post(&format!("{url}/.well-known/mmm/"))
            .set("X-Forwarded-For", forwarded)
            .send_bytes(b"not a request")
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("transport: {e}"),
        }
    };
    let until_refused = |url: &str, forwarded: &str| {
        (0..20)
            .position(|_| post_from(url, forwarded) == 429)
            .expect("20 failed requests in a moment were all read")
    };
    let limits = ["--plain-http", "--anonymous-per-minute", "8"];
    let data = tempfile::tempdir().unwrap();
    let trusting = Service::start_with(
        data.path(),
        None,
        &[&limits[..], &["--trusted-proxy", "127.0.0.0/8"]].concat(),
    );
    assert!(until_refused(&trusting.url, "198.51.100.1") <= 8);
    // Another client behind the proxy has its own allowance.
    assert_eq!(post_from(&trusting.url, "198.51.100.2"), 400);
    // The first client, naming another address before the one the proxy appends, is still
    // itself.
    assert_eq!(post_from(&trusting.url, "198.51.100.2, 198.51.100.1"), 429);
    let data = tempfile::tempdir().unwrap();
    let trusting_none = Service::start_with(data.path(), None, &limits);
    until_refused(&trusting_none.url, "198.51.100.1");
    assert_eq!(post_from(&trusting_none.url, "198.51.100.2"), 429);
}

/// Unauthenticated requests are metered per network address: past the allowance they are
/// refused (429) before they are even opened, while devices, authenticated, carry on.
#[test]
fn unauthenticated_requests_are_metered_per_address() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--anonymous-per-minute", "30"]);
    let alice = tempfile::tempdir().unwrap();
    user(alice.path(), "alice@example.com", &service);
    let info = mesh_client::online::hello(&service.url, Some(&service.url)).unwrap();
    let request =
        mesh_protocol::Request::CompleteRequest(mesh_protocol::messages::CompleteRequest {
            account_address: Some("alice@example.com".into()),
            response_id: Some("nothing".into()),
            ..Default::default()
        });
    let mut refused = None;
    for i in 0..40 {
        match mesh_client::online::call_anonymous(
            &info.url,
            &request,
            &info.signature,
            &info.encryption,
        ) {
            Ok(_) => {}
            Err(e) => {
                refused = Some((i, e.to_string()));
                break;
            }
        }
    }
    let (at, error) = refused.expect("40 anonymous requests in a moment were all taken");
    assert!(at <= 30, "{at}");
    assert!(
        error.contains("429") && error.contains("unauthenticated requests from 127.0.0.1"),
        "{error}"
    );
    // A device's own requests are its account's to meter.
    ok_in(
        alice.path(),
        &["password", "add", "bank.example", "alice", "pw"],
    );
    ok_in(alice.path(), &["account", "sync"]);
}

/// Requests that fail to authenticate, sent past the address's allowance, are turned away with
/// a plain 429 before they are read; a device behind the same address is told the service is
/// not taking its requests for now, and its change is kept for later.
#[test]
fn failed_requests_past_the_allowance_are_turned_away_unread() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--anonymous-per-minute", "20"]);
    let alice = tempfile::tempdir().unwrap();
    user(alice.path(), "alice@example.com", &service);
    let info = online::hello(&service.url, Some(&service.url)).unwrap();
    let url = mesh_protocol::client::service_url("", Some(&service.url));
    let mut turned_away = None;
    for i in 0..40 {
        // A Status for alice signed by a key of no device: it opens, and fails to authenticate.
        let forged = binding::seal_request(
            &Request::StatusRequest(StatusRequest {
                account: Some("alice@example.com".into()),
                ..Default::default()
            }),
            binding::Authenticator::Key(&PrivateKey::generate(Algorithm::Ed448)),
            Some(&info.encryption),
        )
        .unwrap()
        .bytes;
        if let Err(mesh_protocol::ProtocolError::Refused(429, text)) =
            mesh_protocol::client::HttpClient::post_to(&url, &forged)
        {
            turned_away = Some((i, text));
            break;
        }
    }
    let (at, text) = turned_away.expect("40 failed requests in a moment were all read");
    assert!(at <= 21, "{at}");
    assert!(text.contains("failed to open or authenticate"), "{text}");
    let out = ok_in(
        alice.path(),
        &["password", "add", "bank.example", "alice", "pw"],
    );
    assert!(
        out.contains("saved; will upload") && out.contains("429"),
        "{out}"
    );
}

/// The data directory is the service's alone: private to its user, and one service process at a
/// time (a second would write the same containers).
#[test]
fn the_data_directory_is_private_and_held_by_one_process() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let _service = Service::start(data.path(), None);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data.path()), 0o700);
    assert_eq!(mode(&data.path().join("service.secrets")), 0o600);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["service", "start", "--data", data.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--any-domain"])
        .env("MESH_SERVICE_PASSPHRASE", common::service::SERVICE_PASS)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let error = String::from_utf8_lossy(&second.stderr);
    assert!(error.contains("another service is running"), "{error}");
}

/// Idle connections cannot hold the service: one that sends no request head within the header
/// time-out is closed, and past the connection cap new clients wait rather than fail — so a
/// client still gets through while idle connections fill the cap.
#[test]
fn idle_connections_are_closed_and_capped() {
    use std::io::Read;
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(
        data.path(),
        None,
        &[
            "--plain-http",
            "--max-connections",
            "4",
            "--header-timeout",
            "1",
        ],
    );
    let address = service.url.trim_start_matches("http://").to_string();
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();
    // Every connection the service holds is idle; a client comes anyway.
    let started = std::time::Instant::now();
    assert!(online::hello(&service.url, Some(&service.url)).is_ok());
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    // The idle ones were closed by the service.
    for mut stream in idle {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("an idle connection was left open: {other:?}"),
        }
    }
}

/// A tmpfs mounted over a directory for the length of a test, unmounted after.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` where mounting is not allowed (not root); CI runs as root, so there it must work.
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root: a tmpfs must mount"
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fill the file system holding `path` to the last octet.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [65536, 4096, 1] {
        while f.write_all(&vec![0u8; chunk]).is_ok() {}
    }
    let _ = f.sync_all();
}

/// A real full disk under a real service: what cannot be stored is refused with nothing applied
/// (the device keeps the change and says it will upload it), nothing acknowledged before is lost,
/// no temporary file is left behind, and once there is room again the change uploads and a
/// device connected after a restart reads everything.
#[test]
fn a_full_disk_refuses_what_it_cannot_store_and_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&data, "16m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let mut service = Service::start(&data, None);
    let admin = tempfile::tempdir().unwrap();
    common::service::alice_with_a_password(&service, admin.path());
    ok_in(
        admin.path(),
        &["password", "add", "shop.example", "alice", "pw2"],
    );

    let filler = data.join("filler");
    fill(&filler);
    // Changes while the disk is full. Some may still fit in the last, part-used pages of the
    // files; from the first that does not, each is kept on the device, none half-stored.
    let mut kept = 0;
    let mut sites = vec![];
    for i in 0..40 {
        let (site, pw) = (format!("site{i}.example"), format!("pw-{i}"));
        let out = mesh_in(
            admin.path(),
            PASS,
            &["password", "add", &site, "alice", &pw],
        );
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{said}");
        sites.push((site, pw));
        if said.contains("will upload") {
            kept += 1;
            if kept == 2 {
                break;
            }
        } else {
            assert_eq!(
                kept, 0,
                "stored after a refusal on a disk still full: {said}"
            );
        }
    }
    assert_eq!(kept, 2, "the disk never filled");
    let leftovers = |dir: &std::path::Path| -> Vec<String> {
        let mut found = vec![];
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if e.path().is_dir() {
                    stack.push(e.path());
                } else if name.ends_with(".tmp")
                    || name.ends_with(".creating")
                    || name == "journal.json"
                {
                    found.push(e.path().display().to_string());
                }
            }
        }
        found
    };
    assert_eq!(leftovers(&data), Vec::<String>::new());

    // Room again: the changes upload.
    std::fs::remove_file(&filler).unwrap();
    ok_in(admin.path(), &["account", "sync"]);
    let entries = 2 + sites.len();
    assert_eq!(
        container_status(admin.path(), "MMM_Credential")["Service"],
        entries
    );
    // Restarted (its containers opened and checked afresh), the service serves a new device
    // every entry.
    service.restart();
    common::service::repoint(admin.path(), &service.url);
    let phone = tempfile::tempdir().unwrap();
    common::service::connect_by_witness(&service, admin.path(), phone.path());
    assert_eq!(password(phone.path(), "bank.example"), "pw1");
    assert_eq!(password(phone.path(), "shop.example"), "pw2");
    for (site, pw) in &sites {
        assert_eq!(&password(phone.path(), site), pw);
    }
}

/// Damage `file`: the octet `offset` past the `nth` occurrence of `needle` (counted from the end
/// if `from_end`) changed to another base64 letter, so that the frame still reads and says
/// something else.
fn damage(file: &std::path::Path, needle: &[u8], offset: usize, from_end: bool) {
    let mut bytes = std::fs::read(file).unwrap();
    let mut found: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    if from_end {
        found.reverse();
    }
    let at = found.first().expect("needle in the file") + offset;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(file, bytes).unwrap();
}

/// What the service stores damaged is not served, and an administrator device puts it back
/// from its own copy (`account repair`), after which every device syncs again. Only damaged
/// entries are replaced, only by what the service recorded of them, and only at an
/// administrator's request: the threshold device is refused.
#[test]
fn a_damaged_store_is_repaired_from_an_administrator_device() {
    repaired_from_an_administrator_device(None);
}

/// The same on PostgreSQL, where an entry is checked against the leaf recorded with it.
#[test]
fn a_damaged_store_is_repaired_on_postgresql() {
    let pg = common::service::Postgres::start();
    repaired_from_an_administrator_device(Some(&pg));
}

fn repaired_from_an_administrator_device(pg: Option<&common::service::Postgres>) {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), pg.map(|p| p.url.as_str()));
    let (admin, phone) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, phone) = (admin.path(), phone.path());
    common::service::alice_with_a_password(&service, admin);
    ok_in(admin, &["password", "add", "a.example", "alice", "pa"]);
    common::service::connect_by_witness(&service, admin, phone);
    // Entries 3 and 4, which the phone has not synced yet, are the ones damaged.
    let sites = [("c.example", "pc"), ("d.example", "pd")];
    for (site, pw) in sites {
        ok_in(admin, &["password", "add", site, "alice", pw]);
    }
    service.kill();
    let damaged = match pg {
        // Entry 3's payload, and the tree digest the last entry records.
        None => {
            let file = data
                .path()
                .join("store/accounts/alice@example.com/MMM_Credential.dare");
            let third = mesh_dare::Container::open(&file, mesh_dare::Mode::Read)
                .unwrap()
                .read(3)
                .unwrap()
                .payload;
            damage(&file, &third[..32], 10, false);
            damage(&file, b"\"TreeDigest\":\"", 20, true);
            2
        }
        // Entry 3 holds entry 4's envelope.
        Some(pg) => {
            pg.sql(
                "UPDATE mesh_entries SET envelope = (SELECT envelope FROM mesh_entries \
                 WHERE address = 'alice@example.com' AND name = 'MMM_Credential' AND idx = 4) \
                 WHERE address = 'alice@example.com' AND name = 'MMM_Credential' AND idx = 3",
            );
            1
        }
    };
    service.restart();
    common::service::repoint(admin, &service.url);
    common::service::repoint(phone, &service.url);

    // Told, never served; and told what to do.
    let error = fails_in(phone, DEVICE_PASS, &["account", "sync"]);
    assert!(
        error.contains("damaged") && error.contains("mesh account repair"),
        "{error}"
    );
    let error = fails_in(phone, DEVICE_PASS, &["account", "repair"]);
    assert!(
        error.contains("403") && error.contains("administrator"),
        "{error}"
    );
    let repaired = json_in(admin, &["account", "repair"]);
    assert_eq!(
        repaired["Containers"],
        serde_json::json!([{"Container": "MMM_Credential", "Repaired": damaged}]),
    );
    ok_in(phone, &["account", "sync"]);
    for (site, pw) in [("a.example", "pa")].iter().chain(&sites) {
        assert_eq!(password(phone, site), *pw);
    }
    // Whole again, through a restart too.
    service.restart();
    common::service::repoint(admin, &service.url);
    assert_eq!(
        json_in(admin, &["account", "repair"])["Containers"],
        serde_json::json!([])
    );
    let tablet = tempfile::tempdir().unwrap();
    common::service::connect_by_witness(&service, admin, tablet.path());
    assert_eq!(password(tablet.path(), "c.example"), "pc");
}

/// A service's container cut short (its last frames lost, or cut off at damage): the devices
/// that synced further are told, and an administrator device's `account repair` uploads what
/// the service lost, after which they sync again.
#[test]
fn a_container_cut_short_is_repaired_from_an_administrator_device() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let (admin, phone) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (admin, phone) = (admin.path(), phone.path());
    common::service::alice_with_a_password(&service, admin);
    common::service::connect_by_witness(&service, admin, phone);
    for (site, pw) in [("c.example", "pc"), ("d.example", "pd")] {
        ok_in(admin, &["password", "add", site, "alice", pw]);
    }
    ok_in(phone, &["account", "sync"]);
    service.kill();
    // The last frame loses its last octets: the service keeps two entries of three.
    let file = data
        .path()
        .join("store/accounts/alice@example.com/MMM_Credential.dare");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    service.restart();
    common::service::repoint(admin, &service.url);
    common::service::repoint(phone, &service.url);
    let error = fails_in(phone, DEVICE_PASS, &["account", "sync"]);
    assert!(error.contains("fewer entries"), "{error}");
    let repaired = json_in(admin, &["account", "repair"]);
    assert_eq!(
        repaired["Containers"],
        serde_json::json!([{"Container": "MMM_Credential", "Repaired": 1}]),
    );
    ok_in(phone, &["account", "sync"]);
    ok_in(admin, &["password", "add", "e.example", "alice", "pe"]);
    ok_in(phone, &["account", "sync"]);
    assert_eq!(password(phone, "d.example"), "pd");
    assert_eq!(password(phone, "e.example"), "pe");
    // What the service cut off is kept beside the container.
    let kept = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".dropped-"));
    assert!(kept);
}

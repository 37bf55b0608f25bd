//! End to end through real processes on loopback: a Mesh Service, and two device directories
//! driven by the `mesh` binary. The same scenario runs on the embedded store and on PostgreSQL.

mod common;
use common::service::{container_status, repoint, signed_status, Postgres, Service};
use common::*;

use std::path::Path;

const PASS: &str = DEVICE_PASS;

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    mesh_in(dir, PASS, args)
}

fn err_in(dir: &Path, args: &[&str]) -> String {
    fails_in(dir, PASS, args)
}

fn services(dir: &Path) -> Vec<String> {
    json_in(dir, &["password", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
}

/// Create the account on A, bind it, connect B by witness.
fn two_devices(service: &Service, a: &Path, b: &Path) {
    ok_in(a, &["account", "create", "alice@example.com"]);
    ok_in(
        a,
        &["password", "add", "before-bind.example", "alice", "pw0"],
    );
    let bound = json_in(a, &["account", "bind", "--service", &service.url]);
    assert_eq!(bound["Account"], "alice@example.com");

    let request = json_in(
        b,
        &[
            "device",
            "request",
            "alice@example.com",
            "--service",
            &service.url,
        ],
    );
    let witness = request["Witness"].as_str().unwrap().to_string();
    // B is not in until the administrator accepts.
    assert!(err_in(b, &["device", "complete"]).contains("still waiting"));
    let pending = json_in(a, &["device", "pending"]);
    assert_eq!(pending[0]["Witness"], witness.as_str());
    assert_eq!(pending[0]["DeviceUdf"], request["DeviceUdf"]);
    // A wrong witness (the user saw a different value) connects nothing.
    assert!(err_in(
        a,
        &["device", "accept", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG"]
    )
    .contains("no pending request"));
    ok_in(a, &["device", "accept", &witness]);
    let joined = json_in(b, &["device", "complete"]);
    assert_eq!(joined["Account"], "alice@example.com");
    assert_eq!(json_in(a, &["device", "list"]).as_array().unwrap().len(), 2);
}

fn scenario(service: &mut Service, a: &Path, b: &Path) {
    two_devices(service, a, b);

    // Both see the same catalog.
    ok_in(a, &["password", "add", "bank.example", "alice", "pw1"]);
    ok_in(b, &["account", "sync"]);
    assert_eq!(services(a), services(b));
    assert_eq!(
        json_in(b, &["password", "get", "bank.example"])["CatalogedCredential"]["Password"],
        "pw1"
    );

    // A deletes, B's next sync removes it.
    ok_in(a, &["password", "delete", "before-bind.example"]);
    ok_in(b, &["account", "sync"]);
    assert_eq!(services(b), vec!["bank.example".to_string()]);

    // A change made against a stale copy is not a silent overwrite: the service refuses it as
    // stale, and the device syncs at once (A's entry first, its own on top) and uploads.
    ok_in(a, &["password", "add", "from-a.example", "alice", "pa"]);
    let added = ok_in(b, &["password", "add", "from-b.example", "bob", "pb"]);
    assert!(added.contains("Added from-b.example"), "{added}");
    assert!(!added.contains("saved"), "{added}");
    ok_in(a, &["account", "sync"]);
    let mut expect = vec!["bank.example", "from-a.example", "from-b.example"];
    expect.sort();
    let mut got_a = services(a);
    got_a.sort();
    let mut got_b = services(b);
    got_b.sort();
    assert_eq!(got_a, expect);
    assert_eq!(got_b, expect);
    let credential = container_status(a, "MMM_Credential");
    assert_eq!(credential["Service"], credential["Synced"]);

    // Durability: kill -9 the service while A is adding entries; every acknowledged entry is
    // there after a restart.
    let a_dir = a.to_path_buf();
    let url_file = a.join("service.json");
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for i in 0..200 {
            let key = format!("burst-{i}.example");
            let out = mesh_in(&a_dir, PASS, &["password", "add", &key, "alice", "x"]);
            // Acknowledged by the service, as opposed to saved on the device because the
            // service could not be reached (which the sync below uploads too).
            let saved_only = String::from_utf8_lossy(&out.stdout).contains("saved; will upload");
            if out.status.success() && !saved_only {
                acked.push(key);
            } else {
                break;
            }
        }
        acked
    });
    std::thread::sleep(std::time::Duration::from_millis(
        rand::random::<u64>() % 1500 + 500,
    ));
    service.kill();
    let acked = writer.join().unwrap();
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kill"
    );
    service.restart();
    // The service moved to a new port: point both devices at it.
    for dir in [a, b] {
        repoint(dir, &service.url);
    }
    let _ = url_file;
    ok_in(a, &["account", "sync"]);
    ok_in(b, &["account", "sync"]);
    let after = services(b);
    for key in &acked {
        assert!(after.contains(key), "acknowledged {key} lost after kill -9");
    }
    // Revocation: A removes B; the service refuses B from then on, A carries on.
    let b_udf = json_in(b, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    ok_in(a, &["device", "delete", &b_udf]);
    let refused = err_in(b, &["account", "sync"]);
    assert!(refused.contains("removed from the account"), "{refused}");
    assert_eq!(json_in(a, &["device", "list"]).as_array().unwrap().len(), 1);
    ok_in(a, &["account", "sync"]);

    if service.postgres.is_none() {
        let container = service
            .data
            .join("store/accounts/alice@example.com/MMM_Credential.dare");
        ok(&["dare", "verify", container.to_str().unwrap()]);
    }
}

#[test]
fn end_to_end_on_container_files() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), None);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    scenario(&mut service, a.path(), b.path());
}

#[test]
fn end_to_end_on_postgresql() {
    let pg = Postgres::start();
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path(), Some(&pg.url));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    scenario(&mut service, a.path(), b.path());
    // A second stateless service process on the same database is the same service: what A
    // writes through it is there through the first, and the revocation holds on both.
    let data2 = tempfile::tempdir().unwrap();
    let other = Service::start(data2.path(), Some(&pg.url));
    let first = json(&["service", "hello", "--service", &service.url]);
    let second = json(&["service", "hello", "--service", &other.url]);
    assert_eq!(first["ServiceUdf"], second["ServiceUdf"]);
    // One TLS certificate for every process (kept with the sealed secrets in the database): a
    // device pinned to one is served by the other, as behind a load balancer.
    let pin = |url: &str| url.split("#pin=").nth(1).map(str::to_string);
    assert!(pin(&service.url).is_some(), "{}", service.url);
    assert_eq!(pin(&service.url), pin(&other.url));
    repoint(a.path(), &other.url);
    ok_in(
        a.path(),
        &["password", "add", "via-second.example", "alice", "p2"],
    );
    repoint(a.path(), &service.url);
    ok_in(a.path(), &["account", "sync"]);
    // A request replayed to the other process is caught there: nonces live in the database.
    let (captured, keys) = signed_status(a.path(), &service.url);
    let status = |url: &str| common::service::status_at(url, &captured, &keys);
    assert_eq!(status(&service.url), 200);
    assert_eq!(
        status(&other.url),
        409,
        "refused there: the nonce is in the database"
    );
    // The revoked device is refused by the second process too.
    repoint(b.path(), &other.url);
    assert!(err_in(b.path(), &["account", "sync"]).contains("removed from the account"));
    assert!(services(a.path()).contains(&"via-second.example".to_string()));
    // The database goes away: requests are answered 503 "unavailable" (nothing applied), never
    // "replayed" or another 401; when it is back, all works again.
    pg.stop();
    let error = err_in(a.path(), &["account", "status"]);
    assert!(
        error.contains("503") && error.contains("unavailable"),
        "{error}"
    );
    assert!(
        !error.contains("replayed") && !error.contains("401"),
        "{error}"
    );
    pg.start_again();
    ok_in(a.path(), &["account", "sync"]);
    ok_in(
        a.path(),
        &["password", "add", "after-outage.example", "alice", "p3"],
    );
}

/// PIN / dynamic QR connection (protocol-09 §8.1): accepted automatically when the PIN
/// verifies; a wrong, reused or expired PIN is refused with its reason and adds no device.
#[test]
fn pin_connections() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| dirs[i].path());
    ok_in(a, &["account", "create", "alice@example.com"]);
    ok_in(a, &["account", "bind", "--service", &service.url]);
    let pin = json_in(a, &["account", "pin", "--expire", "10m"]);
    let uri = pin["Uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("mcu://alice@example.com/A"));
    // The service is not at example.com: the PIN's output says where it is, and the command
    // it prints works as printed.
    assert!(pin["Service"].as_str().unwrap().contains("127.0.0.1"));
    // The human form shows the QR code.
    let human = ok_in(a, &["account", "pin"]);
    assert!(human.contains('█'));
    assert!(human.contains("--service"), "{human}");

    // A PIN request asks the new device to compare nothing.
    let requested = ok_in(b, &["device", "request", &uri, "--service", &service.url]);
    assert!(!requested.contains("Witness"), "{requested}");
    assert!(requested.contains("PIN vouches"), "{requested}");
    assert!(ok_in(a, &["account", "sync"]).contains("its PIN verified"));
    assert_eq!(
        json_in(b, &["device", "complete"])["Account"],
        "alice@example.com"
    );

    // The same PIN again: refused, and the administrator is alerted.
    ok_in(c, &["device", "request", &uri, "--service", &service.url]);
    let out = run(a, &["device", "pending"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALERT"));
    assert!(err_in(c, &["device", "complete"]).contains("PinUsed"));

    // A PIN the administrator never issued.
    ok_in(
        d,
        &[
            "device",
            "request",
            "alice@example.com",
            "--pin",
            "ABCD-EFGH-IJKL-MNOP-QRST-UV",
            "--service",
            &service.url,
        ],
    );
    ok_in(a, &["account", "sync"]);
    assert!(err_in(d, &["device", "complete"]).contains("PinInvalid"));

    // An expired PIN.
    let short = json_in(a, &["account", "pin", "--expire", "1s"])["Uri"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    ok_in(e, &["device", "request", &short, "--service", &service.url]);
    ok_in(a, &["account", "sync"]);
    assert!(err_in(e, &["device", "complete"]).contains("PinExpired"));

    // Only B joined; A and B share the catalog.
    assert_eq!(json_in(a, &["device", "list"]).as_array().unwrap().len(), 2);
    ok_in(a, &["password", "add", "shared.example", "alice", "pw"]);
    ok_in(b, &["account", "sync"]);
    assert_eq!(
        json_in(b, &["password", "get", "shared.example"])["CatalogedCredential"]["Password"],
        "pw"
    );
}

/// The service speaks TLS 1.3 with its own certificate; a client pinned to another certificate
/// refuses to talk to it.
#[test]
fn tls_certificate_is_pinned() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    assert!(service.url.starts_with("https://") && service.url.contains("#pin="));
    let hello = json(&["service", "hello", "--service", &service.url]);
    assert!(hello["ServiceUdf"].is_string());
    let (base, pin) = service.url.split_once("#pin=").unwrap();
    let mut wrong: Vec<char> = pin.chars().collect();
    wrong[0] = if wrong[0] == '0' { '1' } else { '0' };
    let wrong_url = format!("{base}#pin={}", wrong.into_iter().collect::<String>());
    let err = fails(&["service", "hello", "--service", &wrong_url]);
    assert!(err.contains("pinned"), "{err}");
    // Plain HTTP to the TLS port gets nowhere.
    let plain = base.replace("https://", "http://");
    assert!(fails(&["service", "hello", "--service", &plain]).starts_with("error:"));
}

/// alice@example.com made in `dir` holding `n` credentials (site0.example, …) with `password`.
fn alice_with_passwords(dir: &std::path::Path, n: usize, password: &str) {
    ok_in(dir, &["account", "create", "alice@example.com"]);
    let device = mesh_client::MeshHome::at(dir).open(DEVICE_PASS).unwrap();
    let account = device.account(None).unwrap();
    let items: Vec<mesh_schema::MeshItem> = (0..n)
        .map(|i| {
            mesh_schema::catalog::CatalogedCredential {
                service: Some(format!("site{i}.example")),
                username: Some("alice".into()),
                password: Some(password.into()),
                ..Default::default()
            }
            .into()
        })
        .collect();
    account
        .put_all(mesh_client::CatalogKind::Credential, &items, &mut || {})
        .unwrap();
}

/// An account larger than one request (150 entries, about 80 KB of them) binds: its entries go
/// up in as many transactions as they need, each against the state the one before left.
#[test]
fn a_large_account_binds() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let dir = tempfile::tempdir().unwrap();
    alice_with_passwords(dir.path(), 150, &"p".repeat(200));
    ok_in(dir.path(), &["account", "bind", "--service", &service.url]);
    assert_eq!(
        container_status(dir.path(), "MMM_Credential")["Service"],
        150
    );
}

/// An account larger than the service's allowance of entries a minute binds: pages are no
/// larger than the allowance (Hello says so), and a page refused for now (429, "try again in
/// N s", nothing applied) is sent again when the service says. Before, the bind stopped there.
#[test]
fn an_account_over_the_minute_allowance_binds() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_with(data.path(), None, &["--account-updates-per-minute", "60"]);
    let hello = json(&["service", "hello", "--service", &service.url]);
    let dir = tempfile::tempdir().unwrap();
    alice_with_passwords(dir.path(), 80, "p");
    let started = std::time::Instant::now();
    ok_in(dir.path(), &["account", "bind", "--service", &service.url]);
    assert_eq!(
        container_status(dir.path(), "MMM_Credential")["Service"],
        80,
        "{hello}"
    );
    // The allowance was waited for, not ignored: 80 entries at 60 a minute take some seconds.
    assert!(started.elapsed() >= std::time::Duration::from_secs(10));
}

/// A device that asks twice (the first request's witness already read out to the
/// administrator, say) completes whichever request the administrator accepts — here the first,
/// which a device keeping only its latest request never saw answered.
#[test]
fn a_request_made_twice_completes_with_either_acceptance() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (a.path(), b.path());
    ok_in(a, &["account", "create", "alice@example.com"]);
    ok_in(a, &["account", "bind", "--service", &service.url]);
    let ask = || common::service::request_witness(&service, b);
    let first = ask();
    let second = ask();
    assert_ne!(first, second);
    let human = ok_in(
        b,
        &[
            "device",
            "request",
            "alice@example.com",
            "--service",
            &service.url,
        ],
    );
    assert!(human.contains("still waiting"), "{human}");
    assert_eq!(
        json_in(a, &["device", "pending"]).as_array().unwrap().len(),
        3
    );
    ok_in(a, &["device", "accept", &first]);
    assert_eq!(
        json_in(b, &["device", "complete"])["Account"],
        "alice@example.com"
    );
    assert_eq!(json_in(a, &["device", "list"]).as_array().unwrap().len(), 2);
    // Nothing is left waiting on the device.
    assert!(err_in(b, &["device", "complete"]).contains("no connection request is pending"));
}

/// The administrator compares the witness it computes itself (from the account's key, the
/// device's key and both nonces), never the one the service wrote: a service that files its
/// own device's request under the witness the user's new device shows has it listed under its
/// own witness, and the user's comparison fails.
#[test]
fn a_witness_the_service_wrote_is_not_taken() {
    let data = tempfile::tempdir().unwrap();
    // On one port throughout: the new devices' requests name it.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut service = Service::start_with(data.path(), None, &["--listen", &listen]);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, b, c] = [0, 1, 2].map(|i| dirs[i].path());
    ok_in(a, &["account", "create", "alice@example.com"]);
    ok_in(a, &["account", "bind", "--service", &service.url]);
    let shown_by_b = common::service::request_witness(&service, b);
    let c_witness = common::service::request_witness(&service, c);
    service.kill();
    // The service re-files c's request under b's witness, signed as the service signs.
    let identity = mesh_service::host::Identity::from_sealed(
        &std::fs::read(data.path().join("service.secrets")).unwrap(),
        common::service::SERVICE_PASS,
    )
    .unwrap();
    let inbound_path = data
        .path()
        .join("store/accounts/alice@example.com/MMM_Inbound.dare");
    let mut inbound = mesh_dare::Container::open(&inbound_path, mesh_dare::Mode::Write).unwrap();
    let mut forged = None;
    for i in 1..inbound.frame_count() {
        let env = inbound.read(i).unwrap();
        let Ok(mesh_schema::MeshItem::AcknowledgeConnection(ack)) =
            mesh_schema::signed::read(&env, &mesh_dare::KeyRing::new())
        else {
            continue;
        };
        if ack.witness.as_deref() == Some(c_witness.as_str()) {
            let mut ack = *ack.clone();
            ack.witness = Some(shown_by_b.clone());
            ack.message_id = Some(shown_by_b.clone());
            forged = Some(
                mesh_schema::signed::seal_acknowledgement(
                    &ack.into(),
                    identity.signer(),
                    &shown_by_b,
                )
                .unwrap(),
            );
        }
    }
    inbound
        .append_envelope(forged.expect("c's acknowledgement"))
        .unwrap();
    drop(inbound);
    service.restart();
    common::service::repoint(a, &service.url);
    let pending = json_in(a, &["device", "pending"]);
    let rows = pending.as_array().unwrap();
    let under_b: Vec<_> = rows.iter().filter(|r| r["Witness"] == shown_by_b).collect();
    assert_eq!(under_b.len(), 1, "{pending}");
    // What the user accepts, comparing b's witness, is b.
    ok_in(a, &["device", "accept", &shown_by_b]);
    ok_in(b, &["device", "complete"]);
    assert!(fails_in(c, DEVICE_PASS, &["device", "complete"]).contains("waiting"));
}

/// A device joining with a PIN takes an acceptance only from whoever made the PIN: a service
/// that gives it an account of its own under the same address (its administrator accepting the
/// request by its witness) does not get the device.
#[test]
fn a_pin_request_is_accepted_only_by_the_pins_maker() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let real = Service::start(d1.path(), None);
    let impostor = Service::start(d2.path(), None);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [alice, mallory, new] = [0, 1, 2].map(|i| dirs[i].path());
    ok_in(alice, &["account", "create", "alice@example.com"]);
    ok_in(alice, &["account", "bind", "--service", &real.url]);
    let uri = json_in(alice, &["account", "pin", "--expire", "10m"])["Uri"]
        .as_str()
        .unwrap()
        .to_string();
    // The impostor's own alice@example.com, and the new device sent to it.
    ok_in(mallory, &["account", "create", "alice@example.com"]);
    ok_in(mallory, &["account", "bind", "--service", &impostor.url]);
    let requested = json_in(
        new,
        &["device", "request", &uri, "--service", &impostor.url],
    );
    let witness = requested["Witness"].as_str().unwrap().to_string();
    // This build's administrator does not accept a PIN request by hand; the impostor's own
    // software does.
    let refused = fails_in(mallory, DEVICE_PASS, &["device", "accept", &witness]);
    assert!(refused.contains("made with a PIN"), "{refused}");
    {
        let device = mesh_client::MeshHome::at(mallory)
            .open(DEVICE_PASS)
            .unwrap();
        let account = device.account(None).unwrap();
        mesh_client::connect::respond_ignoring_pin(
            &device,
            &account,
            &witness,
            mesh_schema::rights::Rights::DEFAULT,
        )
        .unwrap();
    }
    let refused = fails_in(new, DEVICE_PASS, &["device", "complete"]);
    assert!(refused.contains("does not show the PIN"), "{refused}");
    let listed = mesh_in(new, DEVICE_PASS, &["account", "list", "--json"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("alice@example.com"),
        "the device joined the impostor's account"
    );
}

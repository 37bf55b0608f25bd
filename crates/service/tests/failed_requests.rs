//! Requests that fail to open or authenticate, sent past their address's allowance (issue: the
//! service under abuse): each of them used to cost the service an X448 agreement to open it and
//! an Ed448 signature on the refusal, however many came. Past the allowance an address is now
//! answered with a plain 429 and no public-key work at all, while other addresses are served,
//! and so is a device on a ticket behind the same address.
//!
//! A test binary of its own: the public-key counters are the process's, and no other test may
//! run beside this one.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh_client::online::device_credentials;
use mesh_client::MeshHome;
use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::KeyRing;
use mesh_protocol::binding::{self, Authenticator};
use mesh_protocol::messages::{
    BindRequest, HelloRequest, StatusRequest, TicketRequest, TicketResponse,
};
use mesh_protocol::{Request, Response};
use mesh_schema::key::required;
use mesh_schema::signed;
use mesh_service::files::FileStore;
use mesh_service::limits::UpdateLimiter;
use mesh_service::{Identity, ServiceHost};

/// Public-key operations done by this process so far.
fn public_key_operations() -> u64 {
    mesh_crypto::counters::snapshot()
        .iter()
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn past_the_allowance_a_failed_request_costs_no_public_key_work() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, _) = Identity::create("service passphrase").unwrap();
    let (service, _) = signed::verify_profile_service(&identity.profile_service).unwrap();
    let service_encryption = required(&service.service_encryption, "enc").unwrap();
    let mut host = ServiceHost::new(
        Arc::new(FileStore::open(dir.path().join("store")).unwrap()),
        identity,
    );
    host.domains = Some(vec!["example.com".into()]);
    host.anonymous = Some(UpdateLimiter::new(60));

    // A device of alice@example.com, bound, with a ticket: it shares the attacker's address.
    let mut device = MeshHome::at(dir.path().join("device"))
        .open_or_create("device passphrase")
        .unwrap();
    let account = device.create_account("alice@example.com").unwrap();
    let (signer, encryption, connection) = device_credentials(&device, &account).unwrap();
    let mut keys = KeyRing::new();
    keys.add_private(encryption);
    let admin = account.administrator_key().unwrap();
    let sealed = |request: &Request, by: Authenticator| {
        binding::seal_request(request, by, Some(&service_encryption))
            .unwrap()
            .bytes
    };
    let bind = Request::BindRequest(BindRequest {
        account_address: Some("alice@example.com".into()),
        enveloped_profile_account: Some(account.profile_envelope().unwrap()),
        enveloped_connection_device: Some(connection.clone()),
        ..Default::default()
    });
    assert_eq!(
        host.handle(&sealed(&bind, Authenticator::Keys(&[&signer, &admin])))
            .status,
        201
    );
    let reply = host.handle(&sealed(
        &Request::TicketRequest(TicketRequest {
            account: Some("alice@example.com".into()),
            enveloped_connection_device: Some(connection.clone()),
        }),
        Authenticator::Key(&signer),
    ));
    let Response::TicketResponse(TicketResponse {
        ticket: Some(ticket),
        ticket_key: Some(ticket_key),
        ..
    }) = binding::open_response(&reply.body, &keys, None, None).unwrap()
    else {
        panic!("no ticket");
    };
    let status = Request::StatusRequest(StatusRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(connection.clone()),
        catalogs: vec!["MMM_Credential".into()],
        ..Default::default()
    });

    // A Status for an account nobody bound, signed by a key of no device and encrypted to the
    // service: opening it takes an agreement, refusing it a signature.
    let forged = || {
        let key = PrivateKey::generate(Algorithm::Ed448);
        binding::seal_request(
            &Request::StatusRequest(StatusRequest {
                account: Some("nobody@example.com".into()),
                ..Default::default()
            }),
            Authenticator::Key(&key),
            Some(&service_encryption),
        )
        .unwrap()
        .bytes
    };
    let attacker = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    // The same address as a dual-stack listener sees it.
    let mapped = Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()));
    let deadline = || Instant::now() + Duration::from_secs(30);
    let requests: Vec<Vec<u8>> = (0..160).map(|_| forged()).collect();

    // Within the allowance, each is opened and answered, sealed and signed.
    for body in &requests[..60] {
        let reply = host.handle_from(body, deadline(), attacker);
        assert_ne!(
            reply.status,
            429,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(reply.body.starts_with(b"["), "a sealed answer");
    }
    // Past it: refused at once, and the service does no public-key operation for any of them.
    let before = public_key_operations();
    for body in &requests[60..] {
        let reply = host.handle_from(body, deadline(), attacker);
        assert_eq!(reply.status, 429);
        assert!(
            String::from_utf8_lossy(&reply.body).contains("failed to open or authenticate"),
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert_eq!(
        public_key_operations(),
        before,
        "public-key work for requests past the allowance"
    );
    assert_eq!(
        host.handle_from(&requests[0], deadline(), mapped).status,
        429
    );

    // The device behind the same address goes on working on its ticket; signed, it waits.
    let by_ticket = sealed(
        &status,
        Authenticator::Ticket {
            id: &ticket,
            key: &ticket_key,
        },
    );
    let reply = host.handle_from(&by_ticket, deadline(), attacker);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(!reply.plain);
    let signed = sealed(&status, Authenticator::Key(&signer));
    let reply = host.handle_from(&signed, deadline(), attacker);
    assert_eq!(reply.status, 429);
    assert!(reply.plain);
    // A made-up ticket id does not get past.
    let forged_ticket = sealed(
        &status,
        Authenticator::Ticket {
            id: "NAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA",
            key: &ticket_key,
        },
    );
    assert_eq!(
        host.handle_from(&forged_ticket, deadline(), attacker)
            .status,
        429
    );

    // Another address is served as before.
    let hello = binding::seal_request(
        &Request::HelloRequest(HelloRequest::default()),
        Authenticator::None,
        None,
    )
    .unwrap()
    .bytes;
    let reply = host.handle_from(
        &hello,
        deadline(),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

//! DNS web service discovery (protocol-09 §5.1) against a small DNS server on loopback that
//! answers `_mmm._tcp.example.test` with an SRV record and everything else with NXDOMAIN.

use std::net::UdpSocket;

use mesh_protocol::client::{discover, service_url, DNS_SERVER_ENV};

fn name_labels(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// The question name of a DNS query, and where the question ends.
fn question(query: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    Some((labels.join("."), at + 4))
}

fn serve(socket: UdpSocket) {
    let mut buf = [0u8; 512];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        let query = &buf[..n];
        let Some((name, end)) = question(query) else {
            continue;
        };
        let found = name == "_mmm._tcp.example.test";
        let mut reply = Vec::new();
        reply.extend_from_slice(&query[..2]); // id
        reply.extend_from_slice(&[0x81, if found { 0x80 } else { 0x83 }]); // response, NXDOMAIN if not found
        reply.extend_from_slice(&[0, 1, 0, u8::from(found), 0, 0, 0, 0]);
        reply.extend_from_slice(&query[12..end]);
        if found {
            let mut rdata = Vec::new();
            rdata.extend_from_slice(&[0, 10, 0, 5]); // priority 10, weight 5
            rdata.extend_from_slice(&8443u16.to_be_bytes());
            name_labels(&mut rdata, "mesh.example.test");
            reply.extend_from_slice(&[0xC0, 0x0C, 0, 33, 0, 1, 0, 0, 0, 60]);
            reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            reply.extend_from_slice(&rdata);
        }
        let _ = socket.send_to(&reply, from);
    }
}

#[test]
fn srv_record_then_fallback() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || serve(socket));
    std::env::set_var(DNS_SERVER_ENV, addr.to_string());
    assert_eq!(
        discover("example.test").as_deref(),
        Some("https://mesh.example.test:8443/.well-known/mmm/")
    );
    assert_eq!(
        service_url("alice@example.test", None),
        "https://mesh.example.test:8443/.well-known/mmm/"
    );
    // No SRV record: the domain itself.
    assert_eq!(discover("other.test"), None);
    assert_eq!(
        service_url("bob@other.test", None),
        "https://other.test/.well-known/mmm/"
    );
    // An explicit URL wins, keeping its certificate pin.
    assert_eq!(
        service_url("alice@example.test", Some("https://127.0.0.1:9#pin=ab")),
        "https://127.0.0.1:9/.well-known/mmm/#pin=ab"
    );
}

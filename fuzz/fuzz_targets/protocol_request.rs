//! What a service reads from the network: sealed requests run through a whole service host (on
//! container files in a temporary directory) — opening with the MAC before padding, nonce and
//! freshness checks, authentication, the transactions — plus the requests inside them and every
//! Mesh object they carry. Never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mesh_dare::{DareEnvelope, KeyRing};
use mesh_protocol::binding;
use mesh_protocol::Request;
use mesh_schema::MeshItem;
use mesh_service::{files::FileStore, Identity, ServiceHost};

fn host() -> &'static ServiceHost {
    static HOST: OnceLock<(tempfile::TempDir, ServiceHost)> = OnceLock::new();
    &HOST
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let (identity, _) = Identity::create("fuzz").expect("an identity");
            let store = FileStore::open(dir.path().join("store")).expect("a store");
            (dir, ServiceHost::new(std::sync::Arc::new(store), identity))
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let reply = host().handle(data);
    assert!(reply.status >= 200 && reply.status < 600);
    let _ = binding::open_request(data, &KeyRing::new());
    let _ = binding::open_response(data, &KeyRing::new(), None, None);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = binding::check_nonce(text);
    }
    if let Ok(envelope) = DareEnvelope::parse(data) {
        let _ = mesh_schema::sender::claimed_sender(&envelope);
    }
    if let Ok(request) = mesh_encoding::from_json::<Request>(data) {
        let _ = request.user();
        let _ = mesh_encoding::to_json(&request);
    }
    if let Ok(item) = MeshItem::from_bytes(data) {
        let json = item.to_json().expect("a parsed object writes");
        MeshItem::from_bytes(json.as_bytes()).expect("a written object reads back");
    }
});

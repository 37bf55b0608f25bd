//! What a service reads from the network: sealed requests, the requests inside them, and every
//! Mesh object they carry. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_dare::KeyRing;
use mesh_protocol::binding;
use mesh_protocol::Request;
use mesh_schema::MeshItem;

fuzz_target!(|data: &[u8]| {
    let _ = binding::open_request(data, &KeyRing::new());
    let _ = binding::open_response(data, &KeyRing::new(), None);
    if let Ok(request) = mesh_encoding::from_json::<Request>(data) {
        let _ = request.user();
        let _ = mesh_encoding::to_json(&request);
    }
    if let Ok(item) = MeshItem::from_bytes(data) {
        let json = item.to_json().expect("a parsed object writes");
        MeshItem::from_bytes(json.as_bytes()).expect("a written object reads back");
    }
});

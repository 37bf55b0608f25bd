//! Signature and agreement throughput: `cargo bench -p mesh-crypto`.
//! Compare with `openssl speed ed448 ecdhx448` on the same machine.

use criterion::{criterion_group, criterion_main, Criterion};
use mesh_crypto::{Algorithm, PrivateKey};

fn signatures(c: &mut Criterion) {
    let message = [0x42u8; 64];
    for alg in [Algorithm::Ed448, Algorithm::Ed25519] {
        let key = PrivateKey::generate(alg);
        let public = key.public_key();
        let sig = key.sign(&message).unwrap();
        c.bench_function(&format!("{}_sign", alg.curve()), |b| {
            b.iter(|| key.sign(&message).unwrap())
        });
        c.bench_function(&format!("{}_verify", alg.curve()), |b| {
            b.iter(|| public.verify(&message, &sig).unwrap())
        });
    }
    for alg in [Algorithm::X448, Algorithm::X25519] {
        let key = PrivateKey::generate(alg);
        let peer = PrivateKey::generate(alg).public_key();
        c.bench_function(&format!("{}_agree", alg.curve()), |b| {
            b.iter(|| key.agree(&peer).unwrap())
        });
    }
    // Threshold decryption (Operate): each side's contribution, their combination, and making
    // a key from a stored share (what the service does before contributing).
    let key = PrivateKey::generate(Algorithm::X448);
    let (share, _) = key.split().unwrap();
    let peer = PrivateKey::generate(Algorithm::X448).public_key();
    let part = share.agree_partial(&peer).unwrap();
    c.bench_function("X448_threshold_contribution", |b| {
        b.iter(|| share.agree_partial(&peer).unwrap())
    });
    c.bench_function("X448_threshold_combine", |b| {
        b.iter(|| mesh_crypto::combine_contributions(Algorithm::X448, &[&part, &part]).unwrap())
    });
    // Reading an X448 public key in the Mesh's form (u, parity of v): finds v, a square root.
    let public = peer.as_bytes().to_vec();
    c.bench_function("X448_public_from_bytes", |b| {
        b.iter(|| mesh_crypto::PublicKey::new(Algorithm::X448, public.clone()).unwrap())
    });
    let bytes = share.to_bytes();
    c.bench_function("X448_share_from_bytes", |b| {
        b.iter(|| PrivateKey::from_bytes(Algorithm::X448, &bytes).unwrap())
    });
    let seed = mesh_crypto::SecretSeed::parse(
        "ZAAQ-APQL-QS4L-SY3L-RER2-TYEA-V4EF-Q3OB-6N2F-DKDP-UJQ6-KXUN-LI2H-7RXH",
    )
    .unwrap();
    c.bench_function("derive_device_profile_keys", |b| {
        b.iter(|| mesh_crypto::profile_keys(&seed).unwrap())
    });
}

criterion_group!(benches, signatures);
criterion_main!(benches);

//! Container throughput: appends per second (unsigned, signed, batched), opening and indexing a
//! 100,000-entry container, reading an entry, and Merkle proof generation and checking.
//! Appends fsync every call, so their figures are the disk's as much as the code's.

use criterion::{criterion_group, criterion_main, Criterion};
use mesh_crypto::{Algorithm, PrivateKey};
use mesh_dare::{merkle, AppendOptions, Container, ContainerType, KeyRing, Mode};

const ENTRIES: u64 = 100_000;

fn payload(i: u64) -> Vec<u8> {
    format!("{{\"CatalogedCredential\":{{\"Service\":\"service{i}.example.com\",\"Username\":\"user{i}\",\"Password\":\"password-{i:08}\"}}}}").into_bytes()
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut container =
        Container::create(dir.path().join("a.dare"), ContainerType::Merkle, &[]).unwrap();
    let signer = PrivateKey::generate(Algorithm::Ed448);
    let mut group = c.benchmark_group("append");
    group.sample_size(30);
    let mut i = 0;
    group.bench_function("unsigned_fsync_each", |b| {
        b.iter(|| {
            i += 1;
            container
                .append(&payload(i), &AppendOptions::default())
                .unwrap()
        })
    });
    group.bench_function("signed_ed448_fsync_each", |b| {
        b.iter(|| {
            i += 1;
            container
                .append(
                    &payload(i),
                    &AppendOptions {
                        signers: vec![&signer],
                        ..Default::default()
                    },
                )
                .unwrap()
        })
    });
    group.bench_function("unsigned_batch_of_100", |b| {
        b.iter(|| {
            let batch: Vec<_> = (0..100)
                .map(|k| {
                    container
                        .make_entry(&payload(k), &AppendOptions::default())
                        .unwrap()
                })
                .collect();
            container.append_envelopes(batch).unwrap()
        })
    });
    group.finish();
}

fn build(path: &std::path::Path) {
    let mut c = Container::create(path, ContainerType::Merkle, &[]).unwrap();
    let mut i = 0;
    while i < ENTRIES {
        let batch: Vec<_> = (i..(i + 5000).min(ENTRIES))
            .map(|k| {
                c.make_entry(&payload(k), &AppendOptions::default())
                    .unwrap()
            })
            .collect();
        i += batch.len() as u64;
        c.append_envelopes(batch).unwrap();
    }
}

fn large(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.dare");
    build(&path);
    let mut group = c.benchmark_group("container_100k");
    group.sample_size(10);
    group.bench_function("open_and_index", |b| {
        b.iter(|| Container::open(&path, Mode::Read).unwrap().frame_count())
    });
    let container = Container::open(&path, Mode::Read).unwrap();
    let keys = KeyRing::new();
    let mut n = 0u64;
    group.bench_function("read_entry", |b| {
        b.iter(|| {
            n = (n * 7919 + 1) % ENTRIES + 1;
            container.read_plaintext(n, &keys).unwrap()
        })
    });
    let root = container.tree_digest().unwrap();
    group.bench_function("proof_generate", |b| {
        b.iter(|| {
            n = (n * 7919 + 1) % ENTRIES + 1;
            container.proof(n).unwrap()
        })
    });
    let proof = container.proof(77_777).unwrap();
    let leaf = merkle::leaf(&mesh_dare::envelope::sha512(&payload(77_776)));
    group.bench_function("proof_check", |b| {
        b.iter(|| assert!(proof.verify(&leaf, &root)))
    });
    group.finish();
}

criterion_group!(benches, appends, large);
criterion_main!(benches);

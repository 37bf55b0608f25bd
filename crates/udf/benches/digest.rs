//! Content digest throughput: `cargo bench -p mesh-udf`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mesh_udf::{ContentDigest, DigestAlgorithm};

fn digest_throughput(c: &mut Criterion) {
    let data = vec![0x5au8; 16 * 1024 * 1024];
    let mut group = c.benchmark_group("udf_content_digest");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    for alg in [DigestAlgorithm::Sha2_512, DigestAlgorithm::Sha3_512] {
        group.bench_with_input(
            BenchmarkId::new(format!("{alg:?}"), "16MiB"),
            &data,
            |b, d| {
                b.iter(|| {
                    ContentDigest::of_data(alg, "application/octet-stream", d).to_udf_string()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, digest_throughput);
criterion_main!(benches);

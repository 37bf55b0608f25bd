//! Peak memory of opening a large container: `cargo run --release -p mesh-dare --example
//! open_memory -- [ENTRIES]` builds a container of ENTRIES entries (default 100,000), then opens
//! it in a fresh process and reports that process's open time and peak resident set (VmHWM).

use std::time::Instant;

use mesh_dare::{AppendOptions, Container, ContainerType, Mode};

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--open") {
        let before = peak_kib();
        let start = Instant::now();
        let c = Container::open(&args[2], Mode::Read)?;
        let elapsed = start.elapsed();
        println!(
            "opened {} frames in {:.1} ms; peak RSS {} KiB (process baseline {} KiB)",
            c.frame_count(),
            elapsed.as_secs_f64() * 1e3,
            peak_kib(),
            before
        );
        return Ok(());
    }
    let entries: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("large.dare");
    let start = Instant::now();
    let mut c = Container::create(&path, ContainerType::Merkle, &[])?;
    let mut i = 0;
    while i < entries {
        let batch = (i..(i + 5000).min(entries))
            .map(|k| {
                c.make_entry(
                    format!("entry {k:08} with some credential-sized data").as_bytes(),
                    &AppendOptions::default(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        i += batch.len() as u64;
        c.append_envelopes(batch)?;
    }
    drop(c);
    println!(
        "built {entries} entries ({} MiB) in {:.1} s",
        std::fs::metadata(&path)?.len() >> 20,
        start.elapsed().as_secs_f64()
    );
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["--open", path.to_str().ok_or("path")?])
        .status()?;
    if !status.success() {
        return Err("open failed".into());
    }
    Ok(())
}

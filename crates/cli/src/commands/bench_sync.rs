//! `mesh bench sync --entries N`: an account of N credentials, end to end against a service on
//! loopback in this process. Fill it on an administrator device, bind it (the upload, in pages),
//! connect a second device without administrator rights and sync it, then list the catalog on
//! the administrator and on that device (twice: the second time from the agreements it kept),
//! and get one entry. Prints each step's time, the account's size on disk and the process's
//! peak memory (service and clients together).

use std::time::{Duration, Instant};

use clap::Args;
use mesh_client::online::{self, Session};
use mesh_client::{connect, CatalogKind, MeshHome};
use mesh_schema::catalog::CatalogedCredential;

#[derive(Args)]
pub struct SyncBenchArgs {
    /// Credentials in the account.
    #[arg(long, default_value_t = 1000)]
    entries: u64,
    /// Leave the devices' directories in DIR (admin/, reader/; passphrase "bench") to try
    /// commands on by hand; the administrator's work offline, the reader's need a service.
    #[arg(long, value_name = "DIR")]
    keep: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

/// The process's peak resident memory (VmHWM), in octets.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

fn size_of(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => size_of(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub fn run(a: SyncBenchArgs) -> anyhow::Result<()> {
    if a.entries == 0 {
        anyhow::bail!("--entries must be at least 1");
    }
    let work = match &a.keep {
        Some(dir) => {
            if dir.exists() {
                anyhow::bail!("{} exists already", dir.display());
            }
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => super::bench::tempfile_dir()?,
    };
    let (url, _runtime, _store) = super::bench::start_service(&work, None)?;
    // Each step's time and the process's peak memory when it ended (the peak is a high-water
    // mark: the step where it rises is the one that took the memory).
    let mut steps: Vec<(&str, f64, u64)> = Vec::new();
    let mut step = |name: &'static str, took: Duration| {
        let s = took.as_secs_f64();
        let peak = peak_rss();
        eprintln!(
            "{name}: {s:.2} s (peak memory so far {:.1} MB)",
            peak as f64 / 1e6
        );
        steps.push((name, s, peak));
    };

    let mut admin = MeshHome::at(work.join("admin")).open_or_create("bench")?;
    let account = admin.create_account("scale@example.com")?;
    let bar = crate::output::progress(a.entries, a.json);
    let items: Vec<mesh_schema::MeshItem> = (0..a.entries)
        .map(|i| {
            CatalogedCredential {
                service: Some(format!("site{i}.example.com")),
                username: Some(format!("user{i}")),
                password: Some(format!("password {i}")),
                ..Default::default()
            }
            .into()
        })
        .collect();
    let t = Instant::now();
    account.put_all(CatalogKind::Credential, &items, &mut || bar.inc(1))?;
    bar.finish_and_clear();
    step("fill (on the administrator, offline)", t.elapsed());
    let account_size = size_of(account.dir());

    let t = Instant::now();
    let info = online::hello(&account.address, Some(&url))?;
    Session::bind(&admin, &account, &info)?;
    step("bind (upload in pages)", t.elapsed());

    let t = Instant::now();
    let mut reader = MeshHome::at(work.join("reader")).open_or_create("bench")?;
    let pending = connect::request(&reader, &account.address, Some(&url), None, None)?;
    connect::respond(&admin, &account, &pending.witness, true, Default::default())?;
    connect::complete(&mut reader, None)?;
    step(
        "connect a device without administrator rights, and sync it",
        t.elapsed(),
    );

    let t = Instant::now();
    let listed = account.list(CatalogKind::Credential)?.len() as u64;
    step("list on the administrator", t.elapsed());
    if listed != a.entries {
        anyhow::bail!("the administrator lists {listed} entries of {}", a.entries);
    }

    let reader_account = reader.account(None)?;
    let session = Session::open(&reader, &reader_account)?;
    drop(session);
    for name in [
        "list on the device, first time (Operate)",
        "list on the device, second time (agreements kept)",
    ] {
        let t = Instant::now();
        let account = reader.account(None)?;
        let _session = Session::open(&reader, &account)?;
        let listed = account.list(CatalogKind::Credential)?.len() as u64;
        step(name, t.elapsed());
        if listed != a.entries {
            anyhow::bail!("the device lists {listed} entries of {}", a.entries);
        }
    }
    let t = Instant::now();
    let account = reader.account(None)?;
    let _session = Session::open(&reader, &account)?;
    step(
        "open the account on the device (a command's start)",
        t.elapsed(),
    );
    let t = Instant::now();
    let key = format!("site{}.example.com", a.entries / 2);
    if account.get(CatalogKind::Credential, &key)?.is_none() {
        anyhow::bail!("{key} is not on the device");
    }
    step("get one entry on the device", t.elapsed());
    drop(account);

    // The same, as the user types it: `mesh password get` run as a command (process start,
    // opening the device, the account and the catalog's index, and on the device the service's
    // contribution), on each device, with the passphrase (an Argon2id pass) and in a session
    // that `mesh unlock` opened (no passphrase); the median of five runs.
    let exe = std::env::current_exe()?;
    let expected = format!("password {}", a.entries / 2);
    for (name, dir, unlocked) in [
        (
            "`mesh password get` as a command, on the device, passphrase (median of 5)",
            "reader",
            false,
        ),
        (
            "`mesh password get` as a command, on the administrator, passphrase (median of 5)",
            "admin",
            false,
        ),
        (
            "`mesh password get` as a command, on the device, unlocked (median of 5)",
            "reader",
            true,
        ),
        (
            "`mesh password get` as a command, on the administrator, unlocked (median of 5)",
            "admin",
            true,
        ),
    ] {
        let dir = work.join(dir);
        let mut command = std::process::Command::new(&exe);
        command
            .args(["password", "get", &key, "--json"])
            .env(mesh_client::context::DATA_ENV, &dir)
            .env_remove(crate::session::PASSPHRASE_ENV)
            .env_remove(mesh_client::unlock::SESSION_ENV)
            .stdin(std::process::Stdio::null());
        if unlocked {
            let session = MeshHome::at(&dir).unlock("bench", Duration::from_secs(3600))?;
            command.env(mesh_client::unlock::SESSION_ENV, session.token);
        } else {
            command.env(crate::session::PASSPHRASE_ENV, "bench");
        }
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let out = command.output()?;
            times.push(t.elapsed());
            if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains(&expected) {
                anyhow::bail!(
                    "`mesh password get {key}` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        times.sort();
        step(name, times[times.len() / 2]);
    }

    let peak = peak_rss();
    if a.keep.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    let out = serde_json::json!({
        "Entries": a.entries,
        "AccountBytesOnDisk": account_size,
        "PeakRssBytes": peak,
        "Steps": steps.iter().map(|(n, s, m)| serde_json::json!({"Step": n, "Seconds": s, "PeakRssBytes": m})).collect::<Vec<_>>(),
    });
    crate::output::emit(a.json, &out, |o| {
        println!(
            "{} entries; the account takes {:.1} MB on disk; peak memory {:.1} MB (service and devices in one process)",
            o["Entries"],
            o["AccountBytesOnDisk"].as_f64().unwrap_or(0.0) / 1e6,
            o["PeakRssBytes"].as_f64().unwrap_or(0.0) / 1e6
        );
        for s in o["Steps"].as_array().into_iter().flatten() {
            println!(
                "  {:<84} {:>9.3} s  {:>7.1} MB",
                s["Step"].as_str().unwrap_or_default(),
                s["Seconds"].as_f64().unwrap_or(0.0),
                s["PeakRssBytes"].as_f64().unwrap_or(0.0) / 1e6
            );
        }
    })
}

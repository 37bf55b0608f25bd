//! `mesh bench service`: a load benchmark of the Mesh Service on loopback. N client threads, each
//! a device of its own account, push catalog entries (Status + Transact) and download them back,
//! against an in-process service on the embedded store (or PostgreSQL); then a second device of
//! each account, connected without administrator rights, reads entries back, each read a key
//! agreement completed by the service (Operate). Reports requests per second, p50 / p99
//! latency, and the share of the process's CPU time spent checking signatures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use mesh_client::online::{self, Session};
use mesh_client::{connect, CatalogKind, MeshHome};
use mesh_schema::catalog::CatalogedCredential;
use mesh_service::files::FileStore;
use mesh_service::{Identity, ServiceHost, Store};

#[derive(Args)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Seconds of load per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Use PostgreSQL (postgresql://… or host=… key/value form) instead of container files.
    #[arg(long)]
    postgres: Option<String>,
    /// Also measure Status beside an abusive account: one holding this many entries in its
    /// local spool, looked up anonymously (Complete) as fast as one client can.
    #[arg(long, value_name = "ENTRIES")]
    abuse_spool: Option<u64>,
    /// Also measure Status beside a client holding this many idle connections open.
    #[arg(long, value_name = "CONNECTIONS")]
    abuse_connections: Option<usize>,
    /// Also measure Status beside an account sending 8 kB messages to one of the clients'
    /// accounts as fast as it can.
    #[arg(long)]
    abuse_messages: bool,
    /// Run the service in a process of its own, and print beside each phase its CPU per request
    /// and the public-key operations it did, priced at `openssl speed`'s figures from the same
    /// run (container files only; no abuse phases).
    #[arg(long)]
    service_process: bool,
    #[arg(long)]
    json: bool,
}

pub(crate) fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit(')').next()?.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Push,
    Download,
    Read,
    Status,
}

struct Phase {
    name: &'static str,
    latencies: Vec<Duration>,
    elapsed: Duration,
    cpu: f64,
    verify: f64,
    /// With the service in its own process: its CPU seconds and the public-key work it did,
    /// priced at OpenSSL's speed (seconds).
    service: Option<(f64, Option<f64>)>,
}

/// A service on loopback in this process, on container files in `work` (or PostgreSQL): its
/// URL, the runtime serving it (dropped, it stops) and its store.
pub(crate) fn start_service(
    work: &std::path::Path,
    postgres: Option<&str>,
) -> anyhow::Result<(String, tokio::runtime::Runtime, Arc<dyn Store>)> {
    let (identity, _sealed) = Identity::create("bench").map_err(anyhow::Error::msg)?;
    let store: Arc<dyn Store> = match postgres {
        Some(url) => Arc::new(mesh_service::pg::PgStore::connect(url)?),
        None => Arc::new(FileStore::open(work.join("service"))?),
    };
    let mut host = ServiceHost::new(store.clone(), identity);
    // Every client here is on loopback: the per-address allowance of unauthenticated requests
    // would meter them all as one.
    host.anonymous = None;
    let host = Arc::new(host);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = mesh_service::http::serve(
            host,
            "127.0.0.1:0".parse().expect("address"),
            Default::default(),
            move |addr| {
                let _ = tx.send(addr);
            },
        )
        .await;
    });
    let url = format!("http://{}", rx.recv_timeout(Duration::from_secs(10))?);
    Ok((url, runtime, store))
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let work = tempfile_dir()?;
    let mut process = None;
    let mut in_process = None;
    if a.service_process {
        if a.postgres.is_some()
            || a.abuse_spool.is_some()
            || a.abuse_connections.is_some()
            || a.abuse_messages
        {
            anyhow::bail!("--service-process runs on container files, without abuse phases");
        }
        process = Some(super::bench_pricing::ServiceProcess::start(
            &work.join("service"),
        )?);
    } else {
        in_process = Some(start_service(&work, a.postgres.as_deref())?);
    }
    let url = match (&process, &in_process) {
        (Some(p), _) => p.url.clone(),
        (_, Some((url, _, _))) => url.clone(),
        _ => unreachable!("one of the two was started"),
    };
    let prices = if a.service_process {
        let prices = super::bench_pricing::openssl_prices();
        if prices.is_none() {
            eprintln!("openssl speed gave no figures: the service's public-key work is not priced");
        }
        prices
    } else {
        None
    };
    eprintln!("service on {url}; setting up {} clients…", a.clients);

    // One account and device per client, bound to the service; and a second device of each
    // account, connected by witness (it holds a share of the account key, not the key).
    let mut devices = Vec::new();
    let mut readers = Vec::new();
    for i in 0..a.clients {
        let home = MeshHome::at(work.join(format!("client{i}")));
        let mut device = home.open_or_create("bench")?;
        let account = device.create_account(&format!("user{i}@example.com"))?;
        let info = online::hello(&account.address, Some(&url))?;
        Session::bind(&device, &account, &info)?;
        let mut reader = MeshHome::at(work.join(format!("reader{i}"))).open_or_create("bench")?;
        let pending = connect::request(&reader, &account.address, Some(&url), None, None)?;
        connect::respond(
            &device,
            &account,
            &pending.witness,
            true,
            Default::default(),
        )?;
        connect::complete(&mut reader, None)?;
        drop(account);
        devices.push(device);
        readers.push(reader);
    }
    let devices = Arc::new(devices);
    let readers = Arc::new(readers);

    let mut plan = vec![
        ("push, signed", Work::Push, false, None),
        ("push, ticket", Work::Push, true, None),
        ("download, signed", Work::Download, false, None),
        ("download, ticket", Work::Download, true, None),
        ("read, threshold (Operate)", Work::Read, false, None),
        ("status, ticket", Work::Status, true, None),
    ];
    if let Some(entries) = a.abuse_spool {
        eprintln!("filling the abusive account's local spool with {entries} entries…");
        let (_, _, store) = in_process.as_ref().expect("abuse runs in process");
        fill_spool(store.as_ref(), ABUSER, entries)?;
        plan.push((
            "status, beside spool lookups",
            Work::Status,
            true,
            Some(Abuse::Spool),
        ));
    }
    if let Some(n) = a.abuse_connections {
        plan.push((
            "status, beside idle connections",
            Work::Status,
            true,
            Some(Abuse::Connections(n)),
        ));
    }
    if a.abuse_messages {
        plan.push((
            "status, beside a message flood",
            Work::Status,
            true,
            Some(Abuse::Messages(work.join("spammer"))),
        ));
    }
    let mut phases = Vec::new();
    let mut abuse = None;
    for (name, work, ticket, abused) in plan {
        if work == Work::Read {
            for reader in readers.iter() {
                let account = reader.account(None)?;
                Session::open(reader, &account)?.sync(&mut |_, _, _| {})?;
            }
        }
        let verify_before =
            mesh_dare::envelope::VERIFY_NANOS.load(std::sync::atomic::Ordering::Relaxed);
        let cpu_before = cpu_seconds();
        let service_before = process.as_mut().map(|p| p.report()).transpose()?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(a.seconds);
        if let Some(kind) = abused {
            abuse = Some(abuser(&url, deadline, kind)?);
        }
        let mut threads = Vec::new();
        for i in 0..a.clients {
            let devices = if work == Work::Read {
                readers.clone()
            } else {
                devices.clone()
            };
            threads.push(std::thread::spawn(
                move || -> anyhow::Result<Vec<Duration>> {
                    let device = &devices[i];
                    let account = device.account(None)?;
                    account.keep_agreements(false);
                    let mut session = Session::open(device, &account)?;
                    if ticket {
                        session.use_ticket()?;
                    }
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        let t = Instant::now();
                        if work == Work::Read {
                            // One of the entries pushed before, decrypted with the service
                            // every time (nothing kept: this phase measures Operate).
                            let key = format!("site{}.example", n % 50 + 1);
                            if account.get(CatalogKind::Credential, &key)?.is_none() {
                                anyhow::bail!("{key} is not in the reader's catalog");
                            }
                        } else if work == Work::Status {
                            session.status()?;
                        } else if work == Work::Push {
                            let entry = CatalogedCredential {
                                service: Some(format!("site{n}.example")),
                                username: Some("user".into()),
                                password: Some("pw".into()),
                                ..Default::default()
                            };
                            account.put(CatalogKind::Credential, &entry.into())?;
                            session.push(CatalogKind::Credential.name())?;
                        } else {
                            let last = online::load_binding(&account)
                                .and_then(|b| b.synced.get("MMM_Credential").copied())
                                .unwrap_or(1)
                                .max(1);
                            let index = n % last + 1;
                            session.download("MMM_Credential", index, index, &mut |_, _, _| {})?;
                        }
                        latencies.push(t.elapsed());
                    }
                    Ok(latencies)
                },
            ));
        }
        let mut latencies = Vec::new();
        for t in threads {
            latencies.extend(
                t.join()
                    .map_err(|_| anyhow::anyhow!("client thread panicked"))??,
            );
        }
        latencies.sort();
        if let Some(abuser) = abuse.take() {
            let what = abuser
                .join()
                .map_err(|_| anyhow::anyhow!("abuser thread panicked"))??;
            eprintln!("{name}: the abuser {what}");
        }
        let verify = (mesh_dare::envelope::VERIFY_NANOS.load(std::sync::atomic::Ordering::Relaxed)
            - verify_before) as f64
            / 1e9;
        let elapsed = started.elapsed();
        let service = match (process.as_mut(), service_before) {
            (Some(p), Some(before)) => {
                let after = p.report()?;
                let priced = prices
                    .as_ref()
                    .map(|prices| super::bench_pricing::priced(&before, &after, prices));
                Some((after.cpu - before.cpu, priced))
            }
            _ => None,
        };
        phases.push(Phase {
            name,
            latencies,
            elapsed,
            cpu: cpu_seconds() - cpu_before,
            verify,
            service,
        });
    }
    let rows: Vec<serde_json::Value> = phases
        .iter()
        .map(|p| {
            serde_json::json!({
                "Phase": p.name,
                "Requests": p.latencies.len(),
                "PerSecond": p.latencies.len() as f64 / p.elapsed.as_secs_f64(),
                "P50Ms": percentile(&p.latencies, 0.5),
                "P99Ms": percentile(&p.latencies, 0.99),
                "CpuSeconds": p.cpu,
                "VerifyShare": if p.cpu > 0.0 { p.verify / p.cpu } else { 0.0 },
                "ServiceCpuMsPerRequest": p.service.map(|(cpu, _)| cpu * 1e3 / p.latencies.len().max(1) as f64),
                "PublicKeyMsPerRequestAtOpenSsl": p.service.and_then(|(_, priced)| priced).map(|s| s * 1e3 / p.latencies.len().max(1) as f64),
            })
        })
        .collect();
    let out = serde_json::json!({"Clients": a.clients, "Backend": if a.postgres.is_some() { "PostgreSQL" } else { "container files" }, "ServiceProcess": a.service_process, "Phases": rows});
    let _ = std::fs::remove_dir_all(&work);
    crate::output::emit(a.json, &out, |o| {
        println!(
            "{} clients, {} backend ({})",
            o["Clients"],
            o["Backend"].as_str().unwrap_or_default(),
            if o["ServiceProcess"].as_bool() == Some(true) {
                "the service in a process of its own"
            } else {
                "clients and service in one process"
            }
        );
        for r in o["Phases"].as_array().into_iter().flatten() {
            let service = match (
                r["ServiceCpuMsPerRequest"].as_f64(),
                r["PublicKeyMsPerRequestAtOpenSsl"].as_f64(),
            ) {
                (Some(cpu), Some(pk)) if pk > 0.0 => format!(
                    "  service CPU {cpu:.3} ms/request, its public-key work at OpenSSL's speed {pk:.3} ms ({:.2}×)",
                    cpu / pk
                ),
                (Some(cpu), _) => format!("  service CPU {cpu:.3} ms/request"),
                _ => format!(
                    "  signature checks {:>4.1}% of CPU",
                    r["VerifyShare"].as_f64().unwrap_or(0.0) * 100.0
                ),
            };
            println!(
                "  {:<34} {:>6} requests  {:>8.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms{service}",
                r["Phase"].as_str().unwrap_or_default(),
                r["Requests"],
                r["PerSecond"].as_f64().unwrap_or(0.0),
                r["P50Ms"].as_f64().unwrap_or(0.0),
                r["P99Ms"].as_f64().unwrap_or(0.0),
            );
        }
    })
}

/// The account whose spool an abusive client fills and looks up in.
const ABUSER: &str = "abuser@example.com";

/// Bind the abusive account straight in the store and fill its local spool.
fn fill_spool(store: &dyn Store, address: &str, entries: u64) -> anyhow::Result<()> {
    let mut device = MeshHome::at(tempfile_dir()?.join("abuser")).open_or_create("bench")?;
    let account = device.create_account(address)?;
    store.bind(address, &account.profile_envelope()?, &[])?;
    let mut made = 0;
    while made < entries {
        let batch: Vec<_> = (made..entries.min(made + 1000))
            .map(|i| {
                mesh_dare::DareEnvelope::encode(
                    format!("entry {i}").as_bytes(),
                    &mesh_dare::EnvelopeOptions {
                        meta: Some(mesh_dare::ContentMeta {
                            unique_id: Some(format!("junk-{i}")),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        made += batch.len() as u64;
        store.transact(
            address,
            &[mesh_service::store::Update::append("MMM_Local", batch)],
        )?;
    }
    Ok(())
}

/// What an abusive client does beside the legitimate ones.
#[derive(Clone)]
enum Abuse {
    /// Looks up random UniqueIds in a huge spool anonymously (Complete).
    Spool,
    /// Holds this many idle connections open.
    Connections(usize),
    /// An account of its own (made in this directory) sends 8 kB messages to `user0`.
    Messages(std::path::PathBuf),
}

/// Start an abusive client that works until `deadline`; it says what it did.
fn abuser(
    url: &str,
    deadline: Instant,
    kind: Abuse,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<String>>> {
    let info = online::hello(url, Some(url))?;
    let messages = match &kind {
        Abuse::Messages(dir) => {
            let mut device = MeshHome::at(dir).open_or_create("bench")?;
            let account = device.create_account("spammer@example.com")?;
            Session::bind(&device, &account, &info)?;
            drop(account);
            Some(device)
        }
        _ => None,
    };
    let address = url.trim_start_matches("http://").to_string();
    Ok(std::thread::spawn(move || match kind {
        Abuse::Spool => {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let request = mesh_protocol::Request::CompleteRequest(
                    mesh_protocol::messages::CompleteRequest {
                        account_address: Some(ABUSER.into()),
                        response_id: Some(format!("junk-{}", rand::random::<u32>())),
                        ..Default::default()
                    },
                );
                // Refusals (429 past the per-address allowance) count as tries too.
                let _ =
                    online::call_anonymous(&info.url, &request, &info.signature, &info.encryption);
                n += 1;
            }
            Ok(format!("tried {n} anonymous lookups in its spool"))
        }
        Abuse::Connections(n) => {
            let mut held = Vec::new();
            for _ in 0..n {
                if let Ok(stream) = std::net::TcpStream::connect(&address) {
                    held.push(stream);
                }
            }
            let opened = held.len();
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(format!("held {opened} idle connections"))
        }
        Abuse::Messages(_) => {
            let device = messages.expect("made above");
            let account = device.account(None)?;
            let text = "x".repeat(8000);
            let (mut sent, mut refused) = (0u64, 0u64);
            while Instant::now() < deadline {
                match mesh_client::messages::send(&device, &account, "user0@example.com", &text) {
                    Ok(_) => sent += 1,
                    Err(_) => refused += 1,
                }
            }
            Ok(format!(
                "had {sent} messages of 8 kB taken and {refused} refused"
            ))
        }
    }))
}

pub(crate) fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mesh-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

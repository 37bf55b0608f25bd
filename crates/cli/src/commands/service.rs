//! `mesh service …`: run a Mesh Service, and ask one what it is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use mesh_service::files::FileStore;
use mesh_service::{Identity, ServiceHost, Store};

use crate::output::emit;
use crate::session;

pub const SERVICE_PASSPHRASE_ENV: &str = "MESH_SERVICE_PASSPHRASE";

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Run the service until stopped.
    Start(StartArgs),
    /// Ask a service for its profiles and policy.
    Hello(HelloArgs),
}

#[derive(Args)]
pub struct StartArgs {
    /// Directory for the service's keys and (without --postgres) its accounts.
    #[arg(long)]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8666")]
    listen: SocketAddr,
    /// Keep accounts in PostgreSQL instead of container files (postgresql://…).
    #[arg(long)]
    postgres: Option<String>,
    /// Where to deliver messages for accounts of DOMAIN (default https://DOMAIN/.well-known/mmm/);
    /// may be repeated: `--peer example.net=https://127.0.0.1:9000#pin=…`.
    #[arg(long)]
    peer: Vec<String>,
    /// How long a ticket is good for, in seconds.
    #[arg(long, default_value_t = 3600)]
    ticket_seconds: u64,
    /// A domain whose accounts this service holds (`alice@DOMAIN`); may be repeated. Accounts of
    /// other domains cannot be bound here.
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Hold accounts of any domain (a test service: anyone may then bind any address, such as
    /// someone else's, and write to this service's users as it).
    #[arg(long, conflicts_with = "domains")]
    any_domain: bool,
    /// Most connections held open at once; past that, new ones wait in the listen queue.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection may take to send a request's head (an idle one is then closed).
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Serve plain HTTP instead of TLS 1.3 (for loopback, or behind a TLS terminator).
    #[arg(long)]
    plain_http: bool,
    /// Largest request accepted, in octets.
    #[arg(long, default_value_t = mesh_protocol::binding::DEFAULT_MAX_REQUEST)]
    max_request: usize,
    /// Entries each account may append per minute (Transact and Post); more is refused with
    /// 429 until the allowance refills.
    #[arg(long, default_value_t = mesh_service::limits::DEFAULT_UPDATES_PER_MINUTE)]
    account_updates_per_minute: u64,
    /// Octets of messages each account may be delivered, and each sender (an account here, or
    /// the domain of a service posting here) may send, per minute; more is refused with 429
    /// (another service then keeps the messages and tries again later).
    #[arg(long, default_value_t = mesh_service::limits::DEFAULT_MESSAGE_BYTES_PER_MINUTE)]
    message_bytes_per_minute: u64,
    /// Octets of messages (and connection requests) an account's inbound spool may hold that
    /// none of its devices has fetched yet; past it, more for the account are refused with 429
    /// until one of its devices syncs its messages.
    #[arg(long, default_value_t = mesh_service::limits::DEFAULT_QUEUED_BYTES)]
    max_queued_bytes: u64,
    /// Seconds a message for another service is retried before its sender is told it could
    /// not be delivered (default: 2 days).
    #[arg(long, default_value_t = mesh_service::outbox::DEFAULT_LIFETIME.as_secs())]
    outbox_lifetime: u64,

    /// Deliver to services that discovery finds at private, loopback or link-local addresses
    /// too (by default only `--peer` services may be there).
    #[arg(long)]
    allow_private_peers: bool,
    /// A proxy in front of the service (an address or a network, `10.0.0.0/8`; may be
    /// repeated): requests it forwards are metered by the client address its `X-Forwarded-For`
    /// gives, not by the proxy's. Only proxies that set that header themselves belong here.
    #[arg(long = "trusted-proxy", value_name = "ADDRESS[/BITS]")]
    trusted_proxies: Vec<String>,
    /// Requests one network address may make per minute that no account's allowance meters
    /// (anonymous ones, connection requests, failed authentications); 0: no limit.
    #[arg(long, default_value_t = mesh_service::limits::DEFAULT_ANONYMOUS_PER_MINUTE)]
    anonymous_per_minute: u64,
    /// Say where the service listens as one JSON line (Service, Url, Backend, ServiceUdf).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct HelloArgs {
    /// The service URL (http://host:port).
    #[arg(long)]
    service: String,
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: ServiceCommand) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Start(a) => start(a),
        ServiceCommand::Hello(a) => {
            let info = mesh_client::online::hello(&a.service, Some(&a.service))?;
            let out = serde_json::json!({"Url": info.url, "ServiceUdf": info.service_udf, "HostUdf": info.host_udf,
                "MaxRequest": info.hello.constraints_post.as_ref().and_then(|c| c.bytes_max),
                "Encodings": info.hello.version.as_ref().map(|v| v.encodings.iter().flat_map(|e| e.id.clone()).collect::<Vec<_>>())});
            emit(a.json, &out, |o| {
                println!("Service {}", o["Url"].as_str().unwrap_or_default());
                println!(
                    "  Service profile: {}",
                    o["ServiceUdf"].as_str().unwrap_or_default()
                );
                println!(
                    "  Host profile:    {}",
                    o["HostUdf"].as_str().unwrap_or_default()
                );
            })
        }
    }
}

/// Hold an exclusive lock on `DIR/service.lock` for as long as the returned file lives; fail
/// with a clear error if another process holds it.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("service.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another service is running on {} (it holds {}): one service process per data \
             directory",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn start(a: StartArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let passphrase = session::passphrase(SERVICE_PASSPHRASE_ENV, "Service passphrase", false)?;
    std::fs::create_dir_all(&a.data).with_context(|| format!("creating {}", a.data.display()))?;
    // Nothing in it is for other local users (sealed secrets, signed-only messages waiting in
    // the outbox, the accounts' containers): the directory is the owner's alone, which covers
    // everything below it, whatever its files' own modes.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a.data, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", a.data.display()))?;
    }
    // One service process per data directory: a second one would write the same containers.
    let _lock = lock_data_dir(&a.data)?;
    // With PostgreSQL the identity lives in the database, so every process sharing it is the
    // same service; otherwise in the data directory.
    let mut pg_queue = None;
    let (mut identity, store): (Identity, Arc<dyn Store>) = match &a.postgres {
        Some(url) => {
            let pg = mesh_service::pg::PgStore::connect(url)
                .with_context(|| "connecting to PostgreSQL")?;
            // Made before it is known whether the database holds secrets already: a failure
            // to make them is an error here, never empty secrets stored for good.
            let (_, fresh) = Identity::create(&passphrase).map_err(anyhow::Error::msg)?;
            let mut sealed = pg.service_secrets(|| fresh)?;
            // Secrets from before they kept the TLS identity get one, once, for every process
            // (whichever process writes it first, the others take it): the certificate this
            // process served with, if it made one, so that its clients' pins still hold.
            let own = ["tls-cert.der", "tls-key.der"]
                .iter()
                .all(|f| a.data.join(f).exists())
                .then(|| mesh_service::tls::TlsIdentity::load_or_create(&a.data))
                .transpose()?;
            while let Some(with_tls) = Identity::with_tls(&sealed, &passphrase, own.as_ref())
                .map_err(anyhow::Error::msg)?
            {
                if pg.replace_service_secrets(&sealed, &with_tls)? {
                    sealed = with_tls;
                } else {
                    sealed = pg.service_secrets(Vec::new)?;
                }
            }
            pg_queue = Some(pg.outbox_queue());
            (
                Identity::from_sealed(&sealed, &passphrase).map_err(anyhow::Error::msg)?,
                Arc::new(pg),
            )
        }
        None => (
            Identity::load_or_create(&a.data, &passphrase).map_err(anyhow::Error::msg)?,
            Arc::new(FileStore::open(a.data.join("store"))?),
        ),
    };
    let udf = identity.service_udf.clone();
    let tls = identity.tls.take();
    let mut host = ServiceHost::new(store, identity);
    host.domains = if a.any_domain {
        None
    } else if a.domains.is_empty() {
        anyhow::bail!(
            "say which domains' accounts this service holds: --domain example.com (repeatable), \
             or --any-domain for a test service"
        );
    } else {
        let mut domains = Vec::new();
        for d in &a.domains {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !mesh_service::peers::is_domain(&d) {
                anyhow::bail!("--domain takes a domain name, not '{d}'");
            }
            domains.push(d);
        }
        Some(domains)
    };
    host.max_request = a.max_request;
    host.ticket_seconds = a.ticket_seconds;
    host.limiter = mesh_service::limits::UpdateLimiter::new(a.account_updates_per_minute);
    host.inbound_bytes = mesh_service::limits::UpdateLimiter::new(a.message_bytes_per_minute);
    host.sender_bytes = mesh_service::limits::UpdateLimiter::new(a.message_bytes_per_minute);
    host.max_queued_bytes = a.max_queued_bytes;
    for proxy in &a.trusted_proxies {
        host.trusted_proxies
            .push(mesh_service::http::trusted_proxy(proxy).map_err(|e| anyhow::anyhow!(e))?);
    }
    host.anonymous = (a.anonymous_per_minute > 0)
        .then(|| mesh_service::limits::UpdateLimiter::new(a.anonymous_per_minute));
    let mut peers = std::collections::HashMap::new();
    for p in &a.peer {
        let (domain, url) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--peer takes DOMAIN=URL, not '{p}'"))?;
        peers.insert(domain.to_ascii_lowercase(), url.to_string());
    }
    let mut peers = mesh_service::peers::Peers::new(peers);
    peers.allow_private = a.allow_private_peers;
    let peers = Arc::new(peers);
    host.peers = peers.clone();
    // With PostgreSQL the outbox is in the database too: what one process queued, any
    // delivers (and a process that dies leaves it to the others).
    let mut outbox = match pg_queue.take() {
        Some(queue) => {
            // What an earlier build queued in this process's directory joins the shared queue.
            let moved = mesh_service::outbox::move_into(&a.data.join("outbox"), &queue)?;
            if moved > 0 {
                tracing::info!("{moved} queued messages moved from the outbox directory");
            }
            mesh_service::outbox::Outbox::with_queue(Box::new(queue), peers)
        }
        None => mesh_service::outbox::Outbox::new(&a.data.join("outbox"), peers)?,
    };
    outbox.lifetime = std::time::Duration::from_secs(a.outbox_lifetime);

    let outbox = Arc::new(outbox);
    host.outbox = Some(outbox.clone());
    let (signer, worker_store) = (host.signer(), host.store());
    std::thread::spawn(move || outbox.run(signer, worker_store));
    let host = Arc::new(host);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let backend = if a.postgres.is_some() {
        "PostgreSQL"
    } else {
        "container files"
    };
    let json = a.json;
    let announce = move |addr: std::net::SocketAddr, scheme: &str, pin: Option<String>| {
        let service = match pin {
            Some(pin) => format!("{scheme}://{addr}#pin={pin}"),
            None => format!("{scheme}://{addr}"),
        };
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "ServiceUdf": udf,
                    "Url": format!("{scheme}://{addr}/.well-known/mmm/"),
                    "Service": service,
                    "Backend": backend,
                })
            );
        } else {
            println!("Mesh Service {udf} listening on {scheme}://{addr}/.well-known/mmm/ ({backend}); clients: --service {service}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    };
    let limits = mesh_service::http::ConnectionLimits {
        max_connections: a.max_connections,
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        ..Default::default()
    };
    if a.plain_http {
        runtime.block_on(mesh_service::http::serve(host, a.listen, limits, |addr| {
            announce(addr, "http", None)
        }))?;
    } else {
        // Kept with the sealed secrets (by a file service made before, in its directory).
        let tls = match tls {
            Some(tls) => tls,
            None => mesh_service::tls::TlsIdentity::load_or_create(&a.data)?,
        };
        let pin = tls.fingerprint();
        runtime.block_on(mesh_service::tls::serve(
            host,
            a.listen,
            &tls,
            limits,
            |addr| announce(addr, "https", Some(pin)),
        ))?;
    }
    Ok(())
}

//! Delivery of messages to accounts of other services (protocol-09 §10.13: service to service
//! Post), queued durably and retried.
//!
//! Messages for accounts this service does not hold are written (fsynced, or committed) to the
//! outbox before the Transact that carried them is acknowledged: one item per recipient
//! service, naming all its recipients, so that a message to many accounts of one service is one
//! delivery. The queue is a directory ([`DirQueue`]), or with PostgreSQL a table every process
//! of the service shares ([`crate::pg::PgQueue`]): an item is claimed by the process delivering
//! it, for a while, so that no two deliver it at once and one that dies leaves it to the others. Worker threads deliver the items with a PostRequest, signed by this service, to
//! the recipient's service (found and authenticated by [`crate::peers`]), at most
//! [`CONCURRENT`] at once and never two for one service, so a slow or unreachable service holds
//! back only its own messages; an item is removed once the other service has accepted it.
//! Failures are retried with a growing delay (up to a minute) for at most the outbox's
//! lifetime ([`DEFAULT_LIFETIME`]), after which the sender is told. An item the other service
//! refuses as addressed to no account of its own (404) is split per recipient, and a recipient
//! that does not exist comes back to the sender as a MessageError in their inbound spool.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mesh_dare::DareEnvelope;
use mesh_protocol::messages::PostRequest;
use mesh_protocol::Request;
use mesh_schema::message::MessageError;
use mesh_schema::signed;
use serde::{Deserialize, Serialize};

use crate::peers::{domain_of, Peers};
use crate::store::{unix_now, Store, Update};

/// Deliveries in flight at once.
pub const CONCURRENT: usize = 8;
/// How long a message is retried before its sender is told it could not be delivered: 2 days.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(2 * 24 * 3600);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    /// The one recipient of an item queued by an earlier build.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    account: String,
    /// The recipients, all of one service.
    #[serde(default)]
    accounts: Vec<String>,
    messages: Vec<DareEnvelope>,
    /// The account that sent them, to tell if they cannot be delivered.
    #[serde(default)]
    sender: Option<String>,
    /// When it was queued (seconds since the epoch; 0: by an earlier build, taken as now).
    #[serde(default)]
    queued: u64,
}

impl Item {
    fn recipients(&self) -> Vec<String> {
        if self.accounts.is_empty() {
            vec![self.account.clone()]
        } else {
            self.accounts.clone()
        }
    }

    fn domain(&self) -> String {
        domain_of(self.recipients().first().map(String::as_str).unwrap_or(""))
    }
}

/// What became of an attempt.
enum Outcome {
    Delivered,
    /// The other service holds no such account (one of them, if several): tell the sender.
    Refused(String),
}

/// How long a process holds an item it is delivering before another may take it; renewed
/// every [`RENEW`] while the attempt lasts, and ended with it: a process that dies leaves its
/// items to the others this long after.
pub const CLAIM: Duration = Duration::from_secs(30);
/// How often the claims of the attempts in flight are renewed.
pub const RENEW: Duration = Duration::from_secs(10);

/// Where the outbox's items are kept, by name. Every write is durable when it returns.
pub trait Queue: Send + Sync {
    /// Keep `item` under `name`, replacing any item of that name.
    fn put(&self, name: &str, item: &[u8]) -> std::io::Result<()>;
    /// The names of the items waiting.
    fn names(&self) -> Vec<String>;
    /// Take `name` for delivery for `seconds` (or hold it that much longer): its octets, unless
    /// it is gone or another process holds it.
    fn claim(&self, name: &str, seconds: u64) -> Option<Vec<u8>>;
    /// Let go of `name` without delivering it: it stays, to be tried again (by any process)
    /// no sooner than `retry` from now.
    fn release(&self, name: &str, retry: Duration);
    /// Hold `names` (claimed by this process) for `seconds` more.
    fn renew(&self, names: &[String], seconds: u64);
    fn remove(&self, name: &str) -> std::io::Result<()>;
    /// Put `children` (name, item) in place of `parent`, all at once: nothing if `parent` is
    /// gone (split before), or another process holds it. Whether it was done.
    fn split(&self, parent: &str, children: &[(String, Vec<u8>)]) -> std::io::Result<bool>;
}

/// An outbox directory of the service's own (the data directory is locked by one process).
pub struct DirQueue {
    dir: PathBuf,
}

impl DirQueue {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(DirQueue {
            dir: dir.to_path_buf(),
        })
    }
}

impl Queue for DirQueue {
    fn put(&self, name: &str, item: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = self.dir.join(format!(".{name}"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(item)?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(name))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    fn names(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn claim(&self, name: &str, _: u64) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(name)).ok()
    }

    fn release(&self, _: &str, _: Duration) {}

    fn renew(&self, _: &[String], _: u64) {}

    fn remove(&self, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The children are named from the parent, so that splitting again after a crash before
    /// the parent was removed replaces them instead of adding copies.
    fn split(&self, parent: &str, children: &[(String, Vec<u8>)]) -> std::io::Result<bool> {
        if !self.dir.join(parent).exists() {
            return Ok(false);
        }
        for (name, item) in children {
            self.put(name, item)?;
        }
        self.remove(parent)?;
        Ok(true)
    }
}

/// Move the items of an outbox directory `dir` (one an earlier build kept) into `queue`; how
/// many. Each is in the queue before it leaves the directory.
pub fn move_into(dir: &Path, queue: &dyn Queue) -> std::io::Result<usize> {
    if !dir.exists() {
        return Ok(0);
    }
    let old = DirQueue::new(dir)?;
    let mut moved = 0;
    for name in old.names() {
        if let Some(item) = old.claim(&name, 0) {
            queue.put(&name, &item)?;
            old.remove(&name)?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// Where to reach other services, and the queue of what is waiting for them.
pub struct Outbox {
    queue: Box<dyn Queue>,
    peers: Arc<Peers>,
    /// How long an item is retried.
    pub lifetime: Duration,
}

impl Outbox {
    /// An outbox kept in the directory `dir`.
    pub fn new(dir: &Path, peers: Arc<Peers>) -> std::io::Result<Self> {
        Ok(Self::with_queue(Box::new(DirQueue::new(dir)?), peers))
    }

    /// An outbox kept in `queue`.
    pub fn with_queue(queue: Box<dyn Queue>, peers: Arc<Peers>) -> Self {
        Outbox {
            queue,
            peers,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Queue messages from `sender` for `accounts` (all of one other service), durably.
    pub fn enqueue(
        &self,
        accounts: &[String],
        messages: &[DareEnvelope],
        sender: &str,
    ) -> std::io::Result<()> {
        self.write(&Item {
            account: String::new(),
            accounts: accounts.to_vec(),
            messages: messages.to_vec(),
            sender: Some(sender.to_string()),
            queued: unix_now(),
        })
    }

    fn write(&self, item: &Item) -> std::io::Result<()> {
        self.write_as(&format!("{}.json", mesh_udf::random::nonce(128)), item)
    }

    /// Write `item` under `name` (replacing an item of that name).
    fn write_as(&self, name: &str, item: &Item) -> std::io::Result<()> {
        self.queue.put(
            name,
            &serde_json::to_vec(item).map_err(std::io::Error::other)?,
        )
    }

    /// Try to deliver one item; an error means: keep it and try again later.
    fn deliver(
        peers: &Peers,
        item: &Item,
        signer: &mesh_crypto::PrivateKey,
    ) -> Result<Outcome, String> {
        let request = Request::PostRequest(PostRequest {
            accounts: item.recipients(),
            messages: item.messages.clone(),
        });
        let response = peers.call(&item.domain(), &request, signer)?;
        match response.status() {
            (code, _) if code < 300 => Ok(Outcome::Delivered),
            // The other service's own words are not repeated under this service's signature.
            (404, _) => Ok(Outcome::Refused(format!(
                "the service of {} holds no account {}",
                item.domain(),
                item.recipients().join(", ")
            ))),
            // Refused for good (a recipient who blocked the sender, say): said to the sender
            // now, not retried for days.
            (403, _) => Ok(Outcome::Refused(format!(
                "the service of {} refused the message for {}",
                item.domain(),
                item.recipients().join(", ")
            ))),
            (code, text) => Err(format!("{code}: {}", text.unwrap_or_default())),
        }
    }

    /// Tell the sender that a message could not be delivered: a MessageError, signed by this
    /// service, in the sender's inbound spool.
    fn bounce(store: &dyn Store, item: &Item, why: &str, signer: &mesh_crypto::PrivateKey) {
        let recipients = item.recipients().join(", ");
        let Some(sender) = &item.sender else {
            tracing::warn!("dropping a message for {recipients}: {why}");
            return;
        };
        let error = MessageError {
            message_id: Some(mesh_udf::random::nonce(128).to_string()),
            recipient: Some(sender.clone()),
            sender: Some(recipients.clone()),
            error_code: Some(format!("NotDelivered: {why}")),
            ..Default::default()
        };
        let sealed = signed::seal(&error.into(), signer, None, &[]);
        let update = sealed.map(|env| Update::append(crate::host::INBOUND, vec![env]));
        if let Err(e) = update
            .map_err(|e| e.to_string())
            .and_then(|u| store.transact(sender, &[u]).map_err(|e| e.to_string()))
        {
            tracing::warn!("could not tell {sender} that a message to {recipients} failed: {e}");
        }
    }

    /// What to do with an item after an attempt: true if it is done with (delivered, bounced
    /// or split into items of its own).
    fn settle(
        &self,
        name: &str,
        store: &dyn Store,
        item: &Item,
        outcome: Result<Outcome, String>,
        signer: &mesh_crypto::PrivateKey,
    ) -> Result<bool, String> {
        match outcome {
            Ok(Outcome::Delivered) => Ok(true),
            Ok(Outcome::Refused(why)) if item.recipients().len() > 1 => {
                // Which of them is unknown: each is tried on its own, in its place.
                let stem = name.strip_suffix(".json").unwrap_or(name);
                let mut children = Vec::new();
                for (n, account) in item.recipients().into_iter().enumerate() {
                    let single = Item {
                        account: String::new(),
                        accounts: vec![account],
                        messages: item.messages.clone(),
                        sender: item.sender.clone(),
                        queued: item.queued,
                    };
                    children.push((
                        format!("{stem}-{n}.json"),
                        serde_json::to_vec(&single).map_err(|e| e.to_string())?,
                    ));
                }
                self.queue
                    .split(name, &children)
                    .map_err(|e| e.to_string())?;
                tracing::info!("{why}; trying each recipient on its own");
                Ok(true)
            }
            Ok(Outcome::Refused(why)) => {
                Self::bounce(store, item, &why, signer);
                Ok(true)
            }
            Err(e) => {
                let age = unix_now().saturating_sub(item.queued);
                if item.queued > 0 && age >= self.lifetime.as_secs() {
                    Self::bounce(
                        store,
                        item,
                        &format!(
                            "the service of {} could not be reached for {} s ({e})",
                            item.domain(),
                            age
                        ),
                        signer,
                    );
                    return Ok(true);
                }
                Err(e)
            }
        }
    }

    /// Deliver what is queued, forever: run on a thread of its own.
    pub fn run(self: Arc<Self>, signer: mesh_crypto::PrivateKey, store: Arc<dyn Store>) {
        let mut wait: HashMap<String, (Instant, Duration)> = HashMap::new();
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut busy_domains: HashSet<String> = HashSet::new();
        // Done with, but not removed yet (the queue could not be written): never sent again.
        let mut unremoved: HashSet<String> = HashSet::new();
        let (done_tx, done_rx) = mpsc::channel::<(String, String, Result<bool, String>)>();
        let mut renewed = Instant::now();
        loop {
            unremoved.retain(|name| self.queue.remove(name).is_err());
            if renewed.elapsed() >= RENEW && !in_flight.is_empty() {
                let names: Vec<String> = in_flight.iter().cloned().collect();
                self.queue.renew(&names, CLAIM.as_secs());
                renewed = Instant::now();
            }
            // Results of the attempts that finished.
            while let Ok((name, domain, settled)) = done_rx.try_recv() {
                in_flight.remove(&name);
                busy_domains.remove(&domain);
                match settled {
                    Ok(true) => {
                        wait.remove(&name);
                        if self.queue.remove(&name).is_err() {
                            unremoved.insert(name);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let delay = wait
                            .get(&name)
                            .map_or(Duration::from_millis(500), |(_, d)| {
                                (*d * 2).min(Duration::from_secs(60))
                            });
                        tracing::info!("delivery to {domain} deferred ({e}); retry in {delay:?}");
                        self.queue.release(&name, delay);
                        wait.insert(name, (Instant::now() + delay, delay));
                    }
                }
            }
            for name in self.queue.names() {
                if in_flight.len() >= CONCURRENT {
                    break;
                }
                if in_flight.contains(&name)
                    || unremoved.contains(&name)
                    || wait.get(&name).is_some_and(|(at, _)| Instant::now() < *at)
                {
                    continue;
                }
                let Some(bytes) = self.queue.claim(&name, CLAIM.as_secs()) else {
                    continue;
                };
                let Ok(mut item) = serde_json::from_slice::<Item>(&bytes) else {
                    // Nothing can come of it: it would be taken and put back for ever.
                    tracing::error!(
                        "outbox item {name} cannot be read ({} octets): removed",
                        bytes.len()
                    );
                    let _ = self.queue.remove(&name);
                    continue;
                };
                if item.queued == 0 {
                    item.queued = unix_now();
                }
                let domain = item.domain();
                // One attempt at a time per service: a slow one holds back only its own.
                if !busy_domains.insert(domain.clone()) {
                    self.queue.release(&name, Duration::ZERO);
                    continue;
                }
                in_flight.insert(name.clone());
                let (outbox, store, signer, done) =
                    (self.clone(), store.clone(), signer.clone(), done_tx.clone());
                std::thread::spawn(move || {
                    // Whatever happens in the attempt, the loop hears of it: a panic must not
                    // leave the service marked busy for good.
                    let settled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let outcome = Self::deliver(&outbox.peers, &item, &signer);
                        outbox.settle(&name, store.as_ref(), &item, outcome, &signer)
                    }))
                    .unwrap_or_else(|_| Err("the delivery attempt failed".into()));
                    // Done with at once: a restart must not find it and deliver it again (if it
                    // cannot be removed now, the loop keeps trying, and never sends it again).
                    if matches!(settled, Ok(true)) {
                        let _ = outbox.queue.remove(&name);
                    }
                    let _ = done.send((name, domain, settled));
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

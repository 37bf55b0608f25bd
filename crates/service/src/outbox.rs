//! Delivery of messages to accounts of other services (protocol-09 §10.13: service to service
//! Post), queued durably and retried.
//!
//! A message for an account this service does not hold is written (fsynced) to the outbox
//! directory before the Transact that carried it is acknowledged. A worker thread delivers each
//! queued item with a PostRequest, signed by this service, to the recipient's service (found and
//! authenticated by [`crate::peers`]) and removes it once the other service has
//! accepted it; failures are retried with a growing delay (up to a minute). An item the other
//! service refuses as addressed to no account of its own (404) comes back to the sender as a
//! MessageError in their inbound spool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;

use mesh_dare::DareEnvelope;
use mesh_protocol::messages::PostRequest;
use mesh_protocol::Request;
use mesh_schema::message::MessageError;
use mesh_schema::signed;
use serde::{Deserialize, Serialize};

use crate::peers::{domain_of, Peers};
use crate::store::{Store, Update};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    account: String,
    messages: Vec<DareEnvelope>,
    /// The account that sent them, to tell if they cannot be delivered.
    #[serde(default)]
    sender: Option<String>,
}

/// What became of an attempt.
enum Outcome {
    Delivered,
    /// The other service holds no such account: tell the sender.
    Refused(String),
}

/// Where to reach other services, and the queue of what is waiting for them.
pub struct Outbox {
    dir: PathBuf,
    peers: Arc<Peers>,
}

impl Outbox {
    pub fn new(dir: &Path, peers: Arc<Peers>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Outbox {
            dir: dir.to_path_buf(),
            peers,
        })
    }

    /// Queue messages from `sender` for `account` (on another service), durably.
    pub fn enqueue(
        &self,
        account: &str,
        messages: &[DareEnvelope],
        sender: &str,
    ) -> std::io::Result<()> {
        use std::io::Write;
        let item = Item {
            account: account.to_string(),
            messages: messages.to_vec(),
            sender: Some(sender.to_string()),
        };
        let name = format!("{}.json", mesh_udf::random::nonce(128));
        let tmp = self.dir.join(format!(".{name}"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(&item).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(&name))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Try to deliver one item; an error means: keep it and try again later.
    fn deliver(&self, item: &Item, signer: &mesh_crypto::PrivateKey) -> Result<Outcome, String> {
        let request = Request::PostRequest(PostRequest {
            accounts: vec![item.account.clone()],
            messages: item.messages.clone(),
        });
        let response = self
            .peers
            .call(&domain_of(&item.account), &request, signer)?;
        match response.status() {
            (code, _) if code < 300 => Ok(Outcome::Delivered),
            // The other service's own words are not repeated under this service's signature.
            (404, _) => Ok(Outcome::Refused(format!(
                "the service of {} holds no account {}",
                domain_of(&item.account),
                item.account
            ))),
            (code, text) => Err(format!("{code}: {}", text.unwrap_or_default())),
        }
    }

    /// Tell the sender that a message could not be delivered: a MessageError, signed by this
    /// service, in the sender's inbound spool.
    fn bounce(&self, store: &dyn Store, item: &Item, why: &str, signer: &mesh_crypto::PrivateKey) {
        let Some(sender) = &item.sender else {
            tracing::warn!("dropping a message for {}: {why}", item.account);
            return;
        };
        let error = MessageError {
            message_id: Some(mesh_udf::random::nonce(128).to_string()),
            recipient: Some(sender.clone()),
            sender: Some(item.account.clone()),
            error_code: Some(format!("NotDelivered: {why}")),
            ..Default::default()
        };
        let sealed = signed::seal(&error.into(), signer, None, &[]);
        let update = sealed.map(|env| Update::append(crate::host::INBOUND, vec![env]));
        if let Err(e) = update
            .map_err(|e| e.to_string())
            .and_then(|u| store.transact(sender, &[u]).map_err(|e| e.to_string()))
        {
            tracing::warn!(
                "could not tell {sender} that a message to {} failed: {e}",
                item.account
            );
        }
    }

    /// Deliver what is queued, forever: run on a thread of its own.
    pub fn run(&self, signer: mesh_crypto::PrivateKey, store: std::sync::Arc<dyn Store>) {
        let mut wait: HashMap<PathBuf, (Instant, Duration)> = HashMap::new();
        loop {
            let entries: Vec<PathBuf> = std::fs::read_dir(&self.dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "json"))
                        .collect()
                })
                .unwrap_or_default();
            for path in entries {
                if wait.get(&path).is_some_and(|(at, _)| Instant::now() < *at) {
                    continue;
                }
                let Ok(item) = std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<Item>(&b).map_err(|e| e.to_string()))
                else {
                    continue;
                };
                match self.deliver(&item, &signer) {
                    Ok(outcome) => {
                        if let Outcome::Refused(why) = outcome {
                            self.bounce(store.as_ref(), &item, &why, &signer);
                        }
                        let _ = std::fs::remove_file(&path);
                        wait.remove(&path);
                    }
                    Err(e) => {
                        let delay = wait
                            .get(&path)
                            .map_or(Duration::from_millis(500), |(_, d)| {
                                (*d * 2).min(Duration::from_secs(60))
                            });
                        tracing::info!(
                            "delivery to {} deferred ({e}); retry in {delay:?}",
                            item.account
                        );
                        wait.insert(path, (Instant::now() + delay, delay));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

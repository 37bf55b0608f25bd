//! Per-account update limits (protocol-09 §7.3: "Services MAY impose limits on the size and
//! number of additions performed in response to a TransactRequest"; §7.4 on Denial of Service
//! mitigation): each account may append so many entries a minute, as a token bucket that holds
//! a minute's worth and refills continuously. Kept by each service process for itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Entries an account may append per minute unless the operator says otherwise.
pub const DEFAULT_UPDATES_PER_MINUTE: u64 = 60_000;
/// Tickets, channels and connection requests made for an account per minute.
pub const DEFAULT_STATE_PER_MINUTE: u64 = 120;
/// Octets of messages an account may be delivered per minute (from other services and from
/// this one's accounts), and a sender (an account here, or another service's domain) may
/// send: 16 MiB.
pub const DEFAULT_MESSAGE_BYTES_PER_MINUTE: u64 = 16 << 20;
/// Octets of messages an account's inbound spool may hold that none of its devices has fetched
/// yet: 64 MiB. Past it, messages for the account are refused until it fetches some.
pub const DEFAULT_QUEUED_BYTES: u64 = 64 << 20;
/// Requests one network address may make per minute that no account's allowance meters: the
/// anonymous ones (Hello, Complete, Claim, PollClaim, the rendezvous channels), connection
/// requests, and those that fail to authenticate.
pub const DEFAULT_ANONYMOUS_PER_MINUTE: u64 = 1200;

/// Buckets kept before idle full ones are dropped.
const PRUNE_AT: usize = 100_000;

pub struct UpdateLimiter {
    per_minute: u64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl UpdateLimiter {
    pub fn new(per_minute: u64) -> Self {
        UpdateLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_minute(&self) -> u64 {
        self.per_minute
    }

    /// Is `account`'s allowance spent (less than one left, as of now)? Takes nothing.
    pub fn exhausted(&self, account: &str) -> bool {
        let capacity = self.per_minute as f64;
        let rate = capacity / 60.0;
        let buckets = self.buckets.lock().expect("limiter");
        buckets.get(account).is_some_and(|(tokens, at)| {
            *tokens + Instant::now().duration_since(*at).as_secs_f64() * rate < 1.0
        })
    }

    /// Take `n` entries' worth for `account`, or say in how many seconds there will be enough
    /// (`None` if never: more than a minute's worth at once).
    pub fn take(&self, account: &str, n: u64) -> Result<(), Option<u64>> {
        if n > self.per_minute {
            return Err(None);
        }
        let capacity = self.per_minute as f64;
        let rate = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("limiter");
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < capacity
            });
        }
        let (tokens, at) = buckets
            .entry(account.to_string())
            .or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(capacity);
        *at = now;
        if *tokens >= n as f64 {
            *tokens -= n as f64;
            Ok(())
        } else {
            Err(Some(((n as f64 - *tokens) / rate).ceil() as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_worth_then_refused() {
        let limiter = UpdateLimiter::new(60);
        for _ in 0..6 {
            limiter.take("a@x.example", 10).unwrap();
        }
        // Empty now: one more entry takes about a second to come back.
        assert_eq!(limiter.take("a@x.example", 1), Err(Some(1)));
        assert!(limiter.exhausted("a@x.example"));
        // Other accounts have their own.
        assert!(!limiter.exhausted("b@x.example"));
        limiter.take("b@x.example", 60).unwrap();
        // More than a minute's worth at once is never allowed.
        assert_eq!(limiter.take("c@x.example", 61), Err(None));
    }

    #[test]
    fn it_refills() {
        let limiter = UpdateLimiter::new(6000); // 100 a second
        limiter.take("a@x.example", 6000).unwrap();
        assert!(limiter.take("a@x.example", 5).is_err());
        std::thread::sleep(std::time::Duration::from_millis(100));
        limiter.take("a@x.example", 5).unwrap();
    }
}

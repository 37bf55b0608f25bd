//! What `mesh bench service --service-process` prices a request's public-key work at: the
//! service runs in a process of its own (`mesh bench service-host`), which reports its CPU time
//! and how many public-key operations it did (mesh_crypto::counters); each operation is priced
//! at the speed `openssl speed` measures in the same run, so that the service's CPU per request
//! can be set beside the public-key work it cannot avoid.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use clap::Args;
use mesh_crypto::counters::{self, Operation};

#[derive(Args)]
pub struct HostArgs {
    /// Where the service keeps its containers.
    #[arg(long)]
    data: std::path::PathBuf,
}

/// The service's CPU seconds and operation counts at one moment.
#[derive(Clone, Default)]
pub struct Report {
    pub cpu: f64,
    pub operations: BTreeMap<String, u64>,
}

fn report_now() -> serde_json::Value {
    let operations: serde_json::Map<String, serde_json::Value> = counters::snapshot()
        .into_iter()
        .map(|(op, n)| (op.name().to_string(), n.into()))
        .collect();
    serde_json::json!({"CpuSeconds": super::bench::cpu_seconds(), "Operations": operations})
}

/// `mesh bench service-host --data DIR`: a service on loopback that prints its URL, then, for
/// every line it reads, one line of JSON with its CPU seconds and operation counts; it stops at
/// the end of its input.
pub fn host(a: HostArgs) -> anyhow::Result<()> {
    let (url, _runtime, _store) = super::bench::start_service(&a.data, None)?;
    let say = |line: String| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    };
    say(url)?;
    for line in std::io::stdin().lock().lines() {
        line?;
        say(report_now().to_string())?;
    }
    Ok(())
}

/// A service in a child process.
pub struct ServiceProcess {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    pub url: String,
}

impl ServiceProcess {
    pub fn start(data: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["bench", "service-host", "--data"])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let input = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let mut output = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
        );
        let mut url = String::new();
        output.read_line(&mut url)?;
        let url = url.trim().to_string();
        if url.is_empty() {
            anyhow::bail!("the service process did not start");
        }
        Ok(ServiceProcess {
            child,
            input,
            output,
            url,
        })
    }

    pub fn report(&mut self) -> anyhow::Result<Report> {
        writeln!(self.input)?;
        self.input.flush()?;
        let mut line = String::new();
        self.output.read_line(&mut line)?;
        let v: serde_json::Value = serde_json::from_str(&line)?;
        Ok(Report {
            cpu: v["CpuSeconds"].as_f64().unwrap_or(0.0),
            operations: v["Operations"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect(),
        })
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds per operation at OpenSSL's speed on this machine, now (`openssl speed -mr`); `None`
/// if there is no openssl to ask.
pub fn openssl_prices() -> Option<BTreeMap<&'static str, f64>> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-mr",
            "-seconds",
            "1",
            "ed448",
            "ed25519",
            "ecdhx448",
            "ecdhx25519",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut prices = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        let rate = |i: usize| f.get(i)?.parse::<f64>().ok().filter(|r| *r > 0.0);
        match (f.first().copied(), f.get(2).copied(), f.get(3).copied()) {
            // +F5:index:bits:ops/s:seconds — key agreement.
            (Some("+F5"), Some("253"), _) => {
                prices.insert("X25519Agree", 1.0 / rate(3)?);
            }
            (Some("+F5"), Some("448"), _) => {
                prices.insert("X448Agree", 1.0 / rate(3)?);
                prices.insert("X448Contribution", 1.0 / rate(3)?);
                prices.insert("X448KeyGen", 1.0 / rate(3)?);
            }
            // +F6:index:bits:name:sign/s:verify/s — EdDSA.
            (Some("+F6"), _, Some("Ed25519")) => {
                prices.insert("Ed25519Sign", 1.0 / rate(4)?);
                prices.insert("Ed25519Verify", 1.0 / rate(5)?);
            }
            (Some("+F6"), _, Some("Ed448")) => {
                prices.insert("Ed448Sign", 1.0 / rate(4)?);
                prices.insert("Ed448Verify", 1.0 / rate(5)?);
            }
            _ => {}
        }
    }
    (prices.len() == Operation::ALL.len()).then_some(prices)
}

/// The public-key work between two reports, priced: seconds.
pub fn priced(before: &Report, after: &Report, prices: &BTreeMap<&'static str, f64>) -> f64 {
    after
        .operations
        .iter()
        .map(|(op, n)| {
            let done = n.saturating_sub(before.operations.get(op).copied().unwrap_or(0));
            done as f64 * prices.get(op.as_str()).copied().unwrap_or(0.0)
        })
        .sum()
}

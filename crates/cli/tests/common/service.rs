//! Real service processes (and, for the PostgreSQL backend, a private PostgreSQL server) for the
//! end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const SERVICE_PASS: &str = "service passphrase";
/// The domains the test services hold accounts of, unless a test says otherwise.
pub const TEST_DOMAINS: [&str; 3] = ["example.com", "example.net", "work.example"];

/// A running `mesh service start`.
pub struct Service {
    child: Child,
    pub url: String,
    pub data: PathBuf,
    pub postgres: Option<String>,
    extra: Vec<String>,
}

impl Service {
    /// Start a service (TLS 1.3, self-signed, pinned by the clients) on a free loopback port and
    /// wait until it listens.
    pub fn start(data: &Path, postgres: Option<&str>) -> Service {
        Self::start_with(data, postgres, &[])
    }

    /// As [`Service::start`], with more arguments (`--plain-http`, say).
    pub fn start_with(data: &Path, postgres: Option<&str>, extra: &[&str]) -> Service {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesh"));
        // Where it listens, as the JSON line `--json` prints.
        cmd.args([
            "service",
            "start",
            "--json",
            "--data",
            data.to_str().unwrap(),
        ]);
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--domain") && !extra.contains(&"--any-domain") {
            for domain in TEST_DOMAINS {
                cmd.args(["--domain", domain]);
            }
        }
        cmd.env("MESH_SERVICE_PASSPHRASE", SERVICE_PASS)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = postgres {
            cmd.args(["--postgres", url]);
        }
        cmd.args(extra);
        let mut child = cmd.spawn().expect("service starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["Service"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("service said: {line}"));
        Service {
            child,
            url,
            data: data.to_path_buf(),
            postgres: postgres.map(String::from),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start again on the same data (a new port).
    pub fn restart(&mut self) {
        self.kill();
        let fresh = Service::start_with(
            &self.data,
            self.postgres.as_deref(),
            &self.extra.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        *self = fresh;
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private PostgreSQL server in a temporary directory, on a Unix socket only.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    opts: String,
    pub url: String,
}

fn run_as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    let root = unsafe_is_root();
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output().expect("PostgreSQL tools run")
}

fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Postgres {
    /// Needs PostgreSQL's server programs (Debian: `apt-get install postgresql`).
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).find(|p| p.join("initdb").exists()))
            .expect("the PostgreSQL tests need PostgreSQL's server programs: apt-get install postgresql (.ci/run does)");
        let dir = tempfile::tempdir().unwrap();
        if unsafe_is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
        }
        let data = dir.path().join("data");
        let out = run_as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "mesh",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = 20000 + (std::process::id() % 20000) as u16;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses='' -c fsync=on",
            dir.path().display()
        );
        let url = format!(
            "host={} port={port} user=mesh dbname=postgres",
            dir.path().display()
        );
        let pg = Postgres {
            dir,
            bin,
            opts,
            url,
        };
        pg.start_again();
        pg
    }

    /// Run SQL on the service's database: a test's hand on what the service stored.
    #[allow(dead_code)]
    pub fn sql(&self, statement: &str) {
        let out = run_as_postgres(
            &self.bin.join("psql"),
            &[&self.url, "-v", "ON_ERROR_STOP=1", "-c", statement],
        );
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the server (again, after [`Postgres::stop`]).
    #[allow(dead_code)]
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let out = run_as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &self.opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stop the server at once, as a crash or an outage would.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        run_as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Point a device's binding for alice@example.com at another URL of the same service (a
/// restarted service listens on a new port).
pub fn repoint(dir: &Path, url: &str) {
    let path = dir.join("accounts/alice@example.com/service.json");
    let mut binding: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    binding["Url"] = mesh_protocol::client::service_url("", Some(url)).into();
    std::fs::write(&path, serde_json::to_vec(&binding).unwrap()).unwrap();
}

/// alice@example.com created on the device at `dir` with one password (bank.example, pw1), and
/// bound to `service`.
pub fn alice_with_a_password(service: &Service, dir: &Path) {
    super::ok_in(dir, &["account", "create", "alice@example.com"]);
    super::ok_in(dir, &["password", "add", "bank.example", "alice", "pw1"]);
    super::ok_in(dir, &["account", "bind", "--service", &service.url]);
}

/// Connect the device at `dir` to alice@example.com by witness, accepted on `admin`.
pub fn connect_by_witness(service: &Service, admin: &Path, dir: &Path) {
    connect_with_rights(service, admin, dir, &[]);
}

/// `device request alice@example.com` on the device at `dir`: the witness it shows.
pub fn request_witness(service: &Service, dir: &Path) -> String {
    request_witness_with(service, dir, &[])
}

/// As [`request_witness`], with more arguments (`--rights …`).
pub fn request_witness_with(service: &Service, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "device",
        "request",
        "alice@example.com",
        "--service",
        &service.url,
    ];
    args.extend_from_slice(extra);
    super::json_in(dir, &args)["Witness"]
        .as_str()
        .unwrap()
        .to_string()
}

/// As [`connect_by_witness`], accepted with `extra` arguments (`--rights …`).
pub fn connect_with_rights(service: &Service, admin: &Path, dir: &Path, extra: &[&str]) {
    let witness = request_witness(service, dir);
    let mut accept = vec!["device", "accept", witness.as_str()];
    accept.extend_from_slice(extra);
    super::ok_in(admin, &accept);
    super::ok_in(dir, &["device", "complete"]);
}

/// `mesh account status` on the device at `dir`: the row of the container `name`.
pub fn container_status(dir: &Path, name: &str) -> serde_json::Value {
    let status = super::json_in(dir, &["account", "status"]);
    status["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Container"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .clone()
}

/// A StatusRequest for alice@example.com sealed as the device at `dir` seals it (signed by its
/// connection key, encrypted to the service at `url`): the bytes, to send (and send again) as
/// they are, and the device's key that opens the answers.
#[allow(dead_code)]
pub fn signed_status(dir: &Path, url: &str) -> (Vec<u8>, mesh_dare::KeyRing) {
    signed_status_of(dir, url, &["MMM_Credential"], &[])
}

/// The status the service at `url` answers the sealed request `request` with (its answer
/// opened with `keys`).
#[allow(dead_code)]
pub fn status_at(url: &str, request: &[u8], keys: &mesh_dare::KeyRing) -> u16 {
    let reply = mesh_protocol::client::HttpClient::post_to(
        &mesh_protocol::client::service_url("", Some(url)),
        request,
    )
    .unwrap();
    mesh_protocol::binding::open_response(&reply, keys, None, None)
        .unwrap()
        .status()
        .0
}

/// As [`signed_status`], asking about the catalogs and spools named.
#[allow(dead_code)]
pub fn signed_status_of(
    dir: &Path,
    url: &str,
    catalogs: &[&str],
    spools: &[&str],
) -> (Vec<u8>, mesh_dare::KeyRing) {
    let device = mesh_client::MeshHome::at(dir)
        .open(super::DEVICE_PASS)
        .unwrap();
    let account = device.account(Some("alice@example.com")).unwrap();
    let (signer, encryption, connection) =
        mesh_client::online::device_credentials(&device, &account).unwrap();
    let mut keys = mesh_dare::KeyRing::new();
    keys.add_private(encryption);
    let info = mesh_client::online::hello(url, Some(url)).unwrap();
    let request = mesh_protocol::Request::StatusRequest(mesh_protocol::messages::StatusRequest {
        account: Some("alice@example.com".into()),
        enveloped_connection_device: Some(connection),
        catalogs: catalogs.iter().map(|c| c.to_string()).collect(),
        spools: spools.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    });
    let sealed = mesh_protocol::binding::seal_request(
        &request,
        mesh_protocol::binding::Authenticator::Key(&signer),
        Some(&info.encryption),
    )
    .unwrap();
    (sealed.bytes, keys)
}

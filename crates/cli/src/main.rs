//! `mesh`: the Mathematical Mesh command-line client. Command groups follow the reference
//! `meshman` tool; every command takes `--json` for machine-readable output.

#![forbid(unsafe_code)]

mod commands;
mod keyfile;
mod output;
mod session;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mesh", version, about = "Mathematical Mesh client and tools")]
struct Cli {
    /// The device's data directory (default $MESH_DATA, else the user's data directory).
    #[arg(long, global = true)]
    data: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fingerprints and authenticators of files.
    #[command(subcommand)]
    Hash(commands::hash::HashCommand),
    /// Nonces, secrets, EARLs, secret sharing and key derivation.
    #[command(subcommand)]
    Key(commands::key::KeyCommand),
    /// DARE envelopes and containers.
    #[command(subcommand)]
    Dare(commands::dare::DareCommand),
    /// Load benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Measure mesh-rs against a directory of the reference implementation's examples.
    Conformance(commands::conformance::ConformanceArgs),
    /// Run a Mesh Service, or ask one what it is.
    #[command(subcommand)]
    Service(commands::service::ServiceCommand),
    /// Accounts on this device: create, list, info, export, import, and their service.
    #[command(subcommand)]
    Account(commands::account::AccountCommand),
    /// Passwords (the credential catalog).
    Password {
        #[command(subcommand)]
        cmd: catalog::PasswordCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Contacts.
    Contact {
        #[command(subcommand)]
        cmd: catalog::ContactCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Bookmarks.
    Bookmark {
        #[command(subcommand)]
        cmd: catalog::BookmarkCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Tasks and appointments (the calendar catalog).
    Calendar {
        #[command(subcommand)]
        cmd: catalog::CalendarCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Network credentials.
    Network {
        #[command(subcommand)]
        cmd: catalog::NetworkCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// SSH keys.
    Ssh {
        #[command(subcommand)]
        cmd: catalog::SshCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Messages to and from other accounts.
    Message {
        #[command(subcommand)]
        cmd: commands::message::MessageCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Recryption groups: create one, add and remove members.
    Group {
        #[command(subcommand)]
        cmd: commands::group::GroupCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
    /// Open the device for a while without its passphrase: prints `export MESH_SESSION=…`
    /// (`eval "$(mesh unlock)"`).
    Unlock(commands::unlock::UnlockArgs),
    /// End every unlocked session of the device.
    Lock(commands::unlock::LockArgs),
    /// Devices connected to the account.
    Device {
        #[command(subcommand)]
        cmd: catalog::DeviceCommand,
        #[command(flatten)]
        common: catalog::Common,
    },
}

use commands::catalog;

#[derive(Subcommand)]
enum BenchCommand {
    /// Transact and Download requests per second and latency against a service on loopback.
    Service(commands::bench::BenchArgs),
    /// An account of N entries end to end: bind, connect a device, list, get, peak memory.
    Sync(commands::bench_sync::SyncBenchArgs),
    /// The service `bench service --service-process` runs: prints its URL, then its CPU time and
    /// public-key operation counts once per line read.
    #[command(hide = true)]
    ServiceHost(commands::bench_pricing::HostArgs),
}

fn main() {
    // Output cut short by a reader that went away (`mesh … | head`): stop quietly, as a tool
    // killed by SIGPIPE would, rather than panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.to_string().contains("failed printing to stdout") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(c) => commands::hash::run(c),
        Command::Key(c) => commands::key::run(c),
        Command::Dare(c) => commands::dare::run(c, &cli.data),
        Command::Account(c) => commands::account::run(c, &cli.data),
        Command::Service(c) => commands::service::run(c),
        Command::Bench(BenchCommand::Service(a)) => commands::bench::run(a),
        Command::Bench(BenchCommand::Sync(a)) => commands::bench_sync::run(a),
        Command::Bench(BenchCommand::ServiceHost(a)) => commands::bench_pricing::host(a),
        Command::Conformance(a) => commands::conformance::run(a),
        Command::Password { cmd, common } => catalog::password(cmd, &common, &cli.data),
        Command::Contact { cmd, common } => catalog::contact(cmd, &common, &cli.data),
        Command::Bookmark { cmd, common } => catalog::bookmark(cmd, &common, &cli.data),
        Command::Calendar { cmd, common } => catalog::calendar(cmd, &common, &cli.data),
        Command::Network { cmd, common } => catalog::network(cmd, &common, &cli.data),
        Command::Ssh { cmd, common } => catalog::ssh(cmd, &common, &cli.data),
        Command::Device { cmd, common } => catalog::device(cmd, &common, &cli.data),
        Command::Message { cmd, common } => commands::message::run(cmd, &common, &cli.data),
        Command::Group { cmd, common } => commands::group::run(cmd, &common, &cli.data),
        Command::Unlock(a) => commands::unlock::unlock(a, &cli.data),
        Command::Lock(a) => commands::unlock::lock(a, &cli.data),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        // A device whose connection predates a key rotation: its new keys wait at the service.
        if format!("{e:#}").contains("keys were rotated") {
            eprintln!("hint: run `mesh account sync` to collect this device's new keys");
        }
        std::process::exit(1);
    }
}

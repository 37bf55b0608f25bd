//! `mesh`: the Mathematical Mesh command-line client. Command groups follow the reference
//! `meshman` tool; every command takes `--json` for machine-readable output.

mod commands;
mod keyfile;
mod output;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mesh", version, about = "Mathematical Mesh client and tools")]
struct Cli {
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
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(c) => commands::hash::run(c),
        Command::Key(c) => commands::key::run(c),
        Command::Dare(c) => commands::dare::run(c),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

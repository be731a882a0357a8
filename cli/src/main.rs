//! `tailwatch`: tailwatch's pipeline in one local process (no AWS account), plus tools.
//!
//! Subcommands:
//! - `replay PATH…`: run files (HEC bodies, NDJSON, API responses, S3 export objects, `.gz` / `.zst`)
//!   through the pipeline into `<data-dir>/lake`, `<data-dir>/quarantine` and `<data-dir>/alerts`.
//! - `detections list|test`: the catalog and its own test cases.
//! - `backtest`: run detections over the local lake and report what would have fired.
//! - `ddl athena|snowflake`: the lake tables' DDL, generated from the column lists.
//! - `serve`: HTTP ingest (Tailscale's Splunk / Panther destinations) with the whole pipeline
//!   in-process, plus a local console (web UI) on the same port.
//! - `status`: is each stream healthy? Exit 1 when one has been silent too long.
//! - `config validate`: check a config file (file:line:column of each mistake).
//! - `completions bash|zsh|fish`: shell completions.
//!
//! Exit codes: 0 ok, 1 runtime error (or an unhealthy `status`), 2 usage error.

mod backtest;
mod config;
mod console;
mod ddl;
mod detections;
mod local;
mod output;
mod replay;
mod retention;
mod serve;
mod status;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tailwatch",
    version,
    about = "Serverless SIEM pipeline for Tailscale logs — local mode and tools"
)]
struct Cli {
    /// Colour: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = output::ColorChoice::Auto)]
    color: output::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run log files or directories through the pipeline into the local lake, with detections.
    Replay(replay::ReplayArgs),
    /// The detection catalog.
    #[command(subcommand)]
    Detections(detections::DetectionsCommand),
    /// Run detections over the local lake and report, per detection, what would have fired.
    Backtest(backtest::BacktestArgs),
    /// Receive Tailscale log streaming over HTTP and run the whole pipeline locally.
    Serve(serve::ServeArgs),
    /// Print or write the Athena or Snowflake DDL for every lake table (generated from the code).
    Ddl(ddl::DdlArgs),
    /// Is every stream healthy? Last batch, rates, backlog, quarantine, alerts; exit 1 when silent.
    Status(status::StatusArgs),
    /// Check the config file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Print shell completions: `tailwatch completions bash > /etc/bash_completion.d/tailwatch`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Shared option: where the local lake, raw batches, quarantine and alert state live.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// Data directory (lake, quarantine, raw batches, alerts, alert state).
    #[arg(long, env = "TAILWATCH_DATA_DIR", default_value = "./tailwatch-data")]
    pub data_dir: PathBuf,
}

/// Shared option: the config file.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// Config file (TOML): [server] settings and [detections."<id>"] tuning.
    #[arg(long, env = "TAILWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// A directory (or file) of your own TOML rules, in addition to the config's `[rules] paths`
    /// (repeatable).
    #[arg(long = "path", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
}

impl ConfigArg {
    /// Loads and validates the config.
    ///
    /// # Errors
    /// A config mistake, naming the key.
    pub fn load(&self) -> anyhow::Result<config::AppConfig> {
        config::AppConfig::load_with(self.config.as_deref(), &self.rules)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::set_color(cli.color);
    let result = match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Detections(cmd) => detections::run(cmd),
        Command::Backtest(args) => backtest::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Ddl(args) => ddl::run(args),
        Command::Status(args) => status::run(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tailwatch", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tailwatch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

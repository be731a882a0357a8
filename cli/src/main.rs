//! `tailwatch`: tailwatch's pipeline in one local process (no AWS account), plus tools.
//!
//! Subcommands:
//! - `replay PATH…`: run files (HEC bodies, NDJSON, API responses, S3 export objects, `.gz` / `.zst`)
//!   through the pipeline into `<data-dir>/lake`, `<data-dir>/quarantine` and `<data-dir>/alerts`.
//! - `detections list|test`: the catalog and its own test cases.
//! - `backtest`: run detections over the local lake and report what would have fired.
//! - `ddl athena|snowflake`: the lake tables' DDL, generated from the column lists.
//! - `serve`: HTTP ingest (Tailscale's Splunk / Panther destinations) with the whole pipeline in-process.

mod backtest;
mod config;
mod ddl;
mod detections;
mod local;
mod replay;
mod serve;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tailwatch",
    version,
    about = "Serverless SIEM pipeline for Tailscale logs — local mode and tools"
)]
struct Cli {
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
    let result = match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Detections(cmd) => detections::run(cmd),
        Command::Backtest(args) => backtest::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Ddl(args) => ddl::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tailwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

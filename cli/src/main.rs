//! `tailwatch`: tailwatch's pipeline in one local process (no AWS account), plus tools.
//!
//! Subcommands:
//! - `replay PATH…`: run files (HEC bodies, NDJSON, API responses, S3 export objects, `.gz` / `.zst`)
//!   through the pipeline into `<data-dir>/lake` and `<data-dir>/quarantine`.

mod replay;

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
    /// Run log files or directories through the pipeline into the local lake.
    Replay(replay::ReplayArgs),
}

/// Shared option: where the local lake, raw batches, quarantine and alert state live.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// Data directory (lake, quarantine, raw batches, alert state).
    #[arg(long, env = "TAILWATCH_DATA_DIR", default_value = "./tailwatch-data")]
    pub data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tailwatch: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

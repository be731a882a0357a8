//! `tailwatch-bench`: tailwatch's benchmarks. `make bench` runs `tailwatch-bench all` and writes
//! the results into docs/PERFORMANCE.md between the generated-section markers.
//!
//! ```text
//! tailwatch-bench all [--quick] [--serve-secs 60] [--startup-runs 20] [--replay-runs 2]
//!                     [--bin-dir target/release] [--work-dir target/bench] [--write docs/PERFORMANCE.md]
//!                     [--skip serve,startup,replay,memory]
//! tailwatch-bench corpus [--work-dir DIR] [--seed N]        write the corpus files and print their hashes
//! tailwatch-bench throughput [--quick] [BODY…]               in-process stages only (e.g. network-6m)
//! tailwatch-bench startup|memory|replay|serve [...]          one part
//! tailwatch-bench spin STAGE BODY SECS                        loop one stage (for `perf record`)
//! ```

mod corpus;
mod cost;
mod flow;
mod http;
mod measure;
mod memory;
mod replay;
mod report;
mod serve;
mod startup;
mod throughput;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Opts {
    command: String,
    quick: bool,
    seed: u64,
    serve_secs: f64,
    serve_clients: usize,
    startup_runs: usize,
    replay_runs: usize,
    bin_dir: PathBuf,
    work_dir: PathBuf,
    write: Option<PathBuf>,
    skip: Vec<String>,
    command_line: String,
    rest: Vec<String>,
}

fn parse_args() -> Result<Opts, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        command: "all".into(),
        quick: false,
        seed: 7,
        serve_secs: 60.0,
        serve_clients: 8,
        startup_runs: 20,
        replay_runs: 2,
        bin_dir: PathBuf::from("target/release"),
        work_dir: PathBuf::from("target/bench"),
        write: None,
        skip: Vec::new(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        rest: Vec::new(),
    };
    let mut it = args.into_iter();
    let mut first = true;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--seed" => o.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--serve-secs" => o.serve_secs = value("--serve-secs")?.parse().map_err(|e| format!("--serve-secs: {e}"))?,
            "--serve-clients" => o.serve_clients = value("--serve-clients")?.parse().map_err(|e| format!("--serve-clients: {e}"))?,
            "--startup-runs" => o.startup_runs = value("--startup-runs")?.parse().map_err(|e| format!("--startup-runs: {e}"))?,
            "--replay-runs" => o.replay_runs = value("--replay-runs")?.parse().map_err(|e| format!("--replay-runs: {e}"))?,
            "--bin-dir" => o.bin_dir = value("--bin-dir")?.into(),
            "--work-dir" => o.work_dir = value("--work-dir")?.into(),
            "--write" => o.write = Some(value("--write")?.into()),
            "--skip" => o.skip.extend(value("--skip")?.split(',').map(str::to_owned)),
            "-h" | "--help" => return Err(String::new()),
            other if first && !other.starts_with('-') => o.command = other.to_owned(),
            other if !other.starts_with('-') => o.rest.push(other.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
        first = false;
    }
    Ok(o)
}

fn usage() {
    eprintln!(
        "{}",
        include_str!("main.rs")
            .lines()
            .skip(3)
            .take(9)
            .map(|l| l.trim_start_matches("//! "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("rss-child") {
        let (Some(mode), Some(file)) = (args.get(2), args.get(3)) else {
            eprintln!("rss-child MODE FILE");
            return ExitCode::from(2);
        };
        return ExitCode::from(memory::child(mode, std::path::Path::new(file)) as u8);
    }
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("tailwatch-bench: {e}");
            }
            usage();
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tailwatch-bench: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn log(line: &str) {
    println!("{line}");
}

fn run(opts: &Opts) -> Result<(), String> {
    let started = Instant::now();
    let plan = if opts.quick { measure::Plan::QUICK } else { measure::Plan::DEFAULT };
    let want = |part: &str| (opts.command == "all" || opts.command == part) && !opts.skip.iter().any(|s| s == part);
    let corpus_dir = opts.work_dir.join("corpus");

    if opts.command == "spin" {
        let [stage, body, secs] = opts.rest.as_slice() else {
            return Err("spin STAGE BODY SECS (e.g. spin normalize network-6m 20)".into());
        };
        let files = corpus::build(opts.seed);
        let file = files
            .iter()
            .find(|f| &f.name == body)
            .ok_or_else(|| format!("no corpus body {body}"))?;
        let n = throughput::spin(file, stage, secs.parse().map_err(|e| format!("SECS: {e}"))?);
        println!("{n}");
        return Ok(());
    }

    log(&format!("corpus (seed {}) → {}", opts.seed, corpus_dir.display()));
    let files = corpus::build(opts.seed);
    corpus::write(&corpus_dir, &files).map_err(|e| format!("writing the corpus: {e}"))?;
    for f in &files {
        log(&format!(
            "  {:<12} {:>9} bytes, {:>6} records, gzip {:>8}, zstd {:>8}, blake3 {}",
            f.name,
            f.body.len(),
            f.records,
            f.gzip.len(),
            f.zstd.len(),
            tailwatch_core::normalize::content_id(&f.body)
        ));
    }
    let mut rep = report::Report::new(opts, &files);
    if opts.command == "corpus" {
        return Ok(());
    }

    if want("throughput") {
        log("throughput (single thread; MB/s of uncompressed logs per CPU second)");
        // `tailwatch-bench throughput BODY…` measures only those bodies.
        let selected: Vec<corpus::CorpusFile> = files
            .iter()
            .filter(|f| opts.rest.is_empty() || opts.rest.contains(&f.name))
            .cloned()
            .collect();
        let mut t = throughput::run(&selected, plan, &mut |l| log(l));
        log("python baseline (python3, stdlib only, same corpus bytes)");
        throughput::run_python(&mut t, &selected, &corpus_dir, if opts.quick { 0.5 } else { 3.0 }, &mut |l| log(l));
        log("request-sized streams through ingest → normalize → detect (catalog defaults), counted");
        throughput::run_streams(&mut t, opts.seed, if opts.quick { 3 << 20 } else { 12 << 20 }, &mut |l| log(l));
        rep.throughput = Some(t);
    }

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    if want("memory") {
        log("memory (peak RSS of a fresh process per measurement)");
        for f in files.iter().filter(|f| f.name.ends_with("6m")) {
            for (mode, _) in memory::MODES {
                let body = corpus_dir.join(format!("{}.hec", f.name));
                // normalize and detect read the raw batch ingest stored, written here so that
                // building it is not part of the child's peak.
                let input = if matches!(*mode, "normalize" | "detect") {
                    memory::write_raw_batch(&body)?
                } else {
                    body
                };
                let r = memory::measure(&exe, mode, &input)?;
                log(&format!(
                    "  {:<12} {:<17} {:>7.1} MB peak ({} rows)",
                    f.name,
                    mode,
                    r.vm_hwm_kb as f64 * 1024.0 / 1e6,
                    r.rows
                ));
                rep.memory.push(r);
            }
        }
    }

    if want("startup") {
        log(&format!(
            "start-up ({} runs per function binary in {})",
            opts.startup_runs,
            opts.bin_dir.display()
        ));
        let runs = if opts.quick { opts.startup_runs.min(5) } else { opts.startup_runs };
        rep.startup = startup::run(&opts.bin_dir, runs, &opts.work_dir.join("startup-logs"), &mut |l| log(l))?;
    }
    rep.lambda_sizes = report::lambda_sizes();

    let tailwatch = opts.bin_dir.join("tailwatch");
    if want("replay") {
        log(&format!("replay ({} runs each, {})", opts.replay_runs, tailwatch.display()));
        let hec = |name: &str| files.iter().find(|f| f.name == name).map_or(0, |f| f.body.len());
        let inputs: Vec<(PathBuf, usize)> = [
            ("network-6m.hec", "network-6m"),
            ("network-6m.hec.zst", "network-6m"),
            ("audit-6m.hec", "audit-6m"),
            ("network-512k.hec", "network-512k"),
        ]
        .iter()
        .map(|(file, body)| (corpus_dir.join(file), hec(body)))
        .collect();
        rep.replay = replay::run(&tailwatch, &inputs, opts.replay_runs.max(1), &opts.work_dir, &mut |l| log(l))?;
    }

    if want("serve") {
        let secs = if opts.quick { opts.serve_secs.min(5.0) } else { opts.serve_secs };
        log(&format!(
            "serve ({} clients × 512 KiB network bodies for {secs} s, loopback)",
            opts.serve_clients
        ));
        // Eight distinct 512 KiB network bodies, one per client to start with.
        let bodies: Vec<Vec<u8>> = (0..8)
            .map(|i| {
                corpus::Generator::new(corpus::Kind::Network, opts.seed.wrapping_add(1000 + i))
                    .body(512 << 10)
                    .0
            })
            .collect();
        let serve_opts = serve::ServeOpts {
            tailwatch: tailwatch.clone(),
            data_dir: opts.work_dir.join("serve-data"),
            secs,
            clients: opts.serve_clients,
            probe_every: 3.0,
            drain_timeout: 90.0,
        };
        let r = serve::run(&serve_opts, &bodies, &mut |l| log(l))?;
        log(&format!(
            "  {} × 200, {} errors, {:.1} MB/s, p50 {:.1} ms, p99 {:.1} ms; alert idle p50 {:.1} ms, under load {:?} ms, drain {:?} ms",
            r.ok,
            r.errors,
            r.mb_s(),
            r.latency(50.0),
            r.latency(99.0),
            measure::median_of(&r.idle_alert_ms),
            serve::median_seen(&r.load_alert_ms),
            r.drain_alert_ms
        ));
        rep.serve = Some(r);
    }

    rep.seconds = started.elapsed().as_secs_f64();
    let text = rep.render();
    if let Some(path) = &opts.write {
        report::write_into(path, &text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        log(&format!("wrote {} ({:.0} s)", path.display(), rep.seconds));
    } else {
        println!("\n{text}");
    }
    Ok(())
}

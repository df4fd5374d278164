//! `fuzz`: runs the fuzz targets for a budget and reports, per target, the
//! cases run and the failures found. Exits 1 when a property is violated
//! (findings listed as known only with `--strict`), 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use fuzz::engine::{self, Budget, Report, Settings};
use fuzz::targets;

/// Runs every target (or those named with --target) on its seed corpus,
/// then on generated and mutated inputs until its budget is spent.
#[derive(Debug, Parser)]
#[command(
    name = "fuzz",
    override_usage = "fuzz [OPTIONS]\n       fuzz --replay TARGET FILE..."
)]
struct Args {
    /// Run this target (repeatable); default: all
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Budget per target in seconds (default 60)
    #[arg(long, value_name = "N")]
    seconds: Option<u64>,
    /// Budget shared equally by the targets run
    #[arg(long, value_name = "N")]
    total_seconds: Option<u64>,
    /// Budget per target in cases instead of time
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    cases: Option<u64>,
    /// Random seed (default: from the clock; printed)
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// More seed inputs, DIR/<target>/... (repeatable)
    #[arg(long, value_name = "DIR")]
    corpus: Vec<PathBuf>,
    /// Write inputs that reach new coverage to DIR/<target>/
    #[arg(long, value_name = "DIR")]
    corpus_out: Option<PathBuf>,
    /// Where failing inputs go (default target/fuzz-artifacts)
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Save failing inputs as found, not reduced
    #[arg(long)]
    no_reduce: bool,
    /// Known findings fail the run too
    #[arg(long)]
    strict: bool,
    /// Print each finding when found
    #[arg(long)]
    verbose: bool,
    /// List the targets
    #[arg(long)]
    list: bool,
    /// Run saved inputs through TARGET and report
    #[arg(long, num_args = 2.., value_names = ["TARGET", "FILE"])]
    replay: Option<Vec<String>>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = if args.list {
        for name in targets::NAMES {
            println!("{name}");
        }
        Ok(ExitCode::SUCCESS)
    } else if let Some(replayed) = &args.replay {
        replay(replayed)
    } else {
        run(&args)
    };
    outcome.unwrap_or_else(|message| {
        eprintln!("fuzz: {message} (--help shows the usage)");
        ExitCode::from(2)
    })
}

impl Args {
    /// The targets to run, all when none is named.
    fn target_names(&self) -> Result<Vec<String>, String> {
        if self.targets.is_empty() {
            return Ok(targets::NAMES.iter().map(|n| (*n).to_owned()).collect());
        }
        match self.targets.iter().find(|n| targets::by_name(n).is_none()) {
            Some(name) => Err(format!("no target `{name}` (see --list)")),
            None => Ok(self.targets.clone()),
        }
    }

    /// Each target's budget, for `targets` of them.
    fn budget(&self, targets: usize) -> Budget {
        match (self.total_seconds, self.cases, self.seconds) {
            (Some(total), _, _) => {
                Budget::Time(Duration::from_millis(total * 1000 / targets as u64))
            }
            (None, Some(cases), _) => Budget::Cases(cases),
            (None, None, seconds) => Budget::Time(Duration::from_secs(seconds.unwrap_or(60))),
        }
    }

    fn settings(&self, name: &str, budget: Budget, seed: u64) -> Settings {
        let workspace = fuzz::crate_dir().join("../..");
        let workspace = workspace.canonicalize().unwrap_or(workspace);
        let mut corpus = vec![fuzz::corpus_dir(name)];
        corpus.extend(self.corpus.iter().map(|d| d.join(name)));
        Settings {
            budget,
            seed,
            corpus,
            corpus_out: self.corpus_out.clone(),
            artifacts: self
                .artifacts
                .clone()
                .unwrap_or_else(|| workspace.join("target/fuzz-artifacts")),
            reduce: !self.no_reduce,
            verbose: self.verbose,
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let names = args.target_names()?;
    let budget = args.budget(names.len());
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    print_header(seed, names.len(), budget);
    let mut reports: Vec<Report> = Vec::new();
    for name in &names {
        let mut target = targets::by_name(name).ok_or_else(|| format!("no target `{name}`"))?;
        let report = engine::run(target.as_mut(), &args.settings(name, budget, seed));
        print_row(&report);
        reports.push(report);
    }
    let failed = print_findings(&reports, args.strict);
    print_summary(&reports);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_header(seed: u64, targets: usize, budget: Budget) {
    let instrumented = fuzz::coverage::Counters::new();
    println!(
        "fuzz: seed {seed}, {targets} target(s), budget {budget:?} each, {}",
        if instrumented.available() {
            format!(
                "coverage-guided ({} edges instrumented)",
                instrumented.len()
            )
        } else {
            "not instrumented: guided by outcome signatures".to_owned()
        }
    );
    println!(
        "{:<20} {:>10} {:>9} {:>7} {:>7} {:>9} {:>6}",
        "target", "cases", "cases/s", "corpus", "edges", "failures", "known"
    );
}

fn print_row(report: &Report) {
    let known = report.findings.iter().filter(|f| f.known.is_some()).count();
    let new = report.findings.len() - known;
    println!(
        "{:<20} {:>10} {:>9.0} {:>7} {:>7} {:>9} {:>6}",
        report.target,
        report.cases,
        report.cases_per_second(),
        report.corpus_size,
        report.edges.map_or("-".to_owned(), |e| e.to_string()),
        new,
        known,
    );
}

/// Prints every finding; true when one fails the run (a new one, or any
/// with `strict`).
fn print_findings(reports: &[Report], strict: bool) -> bool {
    let mut failed = false;
    let saved = |finding: &engine::Finding| {
        finding
            .saved
            .as_ref()
            .map_or("(not saved)".to_owned(), |p| p.display().to_string())
    };
    for report in reports {
        for finding in &report.findings {
            failed |= finding.known.is_none() || strict;
            match finding.known {
                Some(known) => println!(
                    "[{}] known {}: {} ({} case(s)), {}",
                    report.target,
                    known.id,
                    finding.violation.property,
                    finding.hits,
                    saved(finding)
                ),
                None => println!(
                    "\n[{}] NEW: {} ({} case(s))\n  {}\n  input: {}\n",
                    report.target,
                    finding.violation.property,
                    finding.hits,
                    clip(
                        finding.violation.detail.lines().next().unwrap_or_default(),
                        600
                    ),
                    saved(finding),
                ),
            }
        }
    }
    failed
}

fn print_summary(reports: &[Report]) {
    let mut listed: Vec<&str> = Vec::new();
    for known in reports
        .iter()
        .flat_map(|r| r.findings.iter().filter_map(|f| f.known))
    {
        if !listed.contains(&known.id) {
            listed.push(known.id);
            println!("known {}: {}", known.id, known.summary);
        }
    }
    let total_cases: u64 = reports.iter().map(|r| r.cases).sum();
    let failures: usize = reports.iter().map(|r| r.new_failures().count()).sum();
    let known: usize = reports
        .iter()
        .map(|r| r.findings.len() - r.new_failures().count())
        .sum();
    println!("\nfuzz: {total_cases} cases, {failures} new failure(s), {known} known finding(s)");
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

fn replay(args: &[String]) -> Result<ExitCode, String> {
    let (name, files) = args
        .split_first()
        .ok_or("--replay needs a target and files")?;
    let mut target = targets::by_name(name).ok_or_else(|| format!("no target `{name}`"))?;
    let mut failed = false;
    for file in files {
        let input = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        match engine::execute(target.as_mut(), &input) {
            Ok(_) => println!("{file}: ok"),
            Err(violation) => {
                failed = true;
                let known = fuzz::known::lookup(name, &violation, &input)
                    .map_or(String::new(), |k| format!(" [known: {}]", k.id));
                println!("{file}: {}{known}", clip(&violation.to_string(), 2000));
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

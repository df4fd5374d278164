//! `fuzz`: runs the fuzz targets for a budget and reports, per target, the
//! cases run and the failures found. Exits 1 when a property is violated
//! (findings listed as known only with `--strict`), 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuzz::engine::{self, Budget, Report, Settings};
use fuzz::targets;

const USAGE: &str = "\
usage: fuzz [options]
       fuzz --replay TARGET FILE...

Runs every target (or those named with --target) on its seed corpus, then on
generated and mutated inputs until its budget is spent.

options:
  --target NAME        run this target (repeatable); default: all
  --seconds N          budget per target in seconds (default 60)
  --total-seconds N    budget shared equally by the targets run
  --cases N            budget per target in cases instead of time
  --seed N             random seed (default: from the clock; printed)
  --corpus DIR         more seed inputs, DIR/<target>/... (repeatable)
  --corpus-out DIR     write inputs that reach new coverage to DIR/<target>/
  --artifacts DIR      where failing inputs go (default target/fuzz-artifacts)
  --no-reduce          save failing inputs as found, not reduced
  --strict             known findings fail the run too
  --verbose            print each finding when found
  --list               list the targets
  --replay TARGET FILE...  run saved inputs through TARGET and report
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("fuzz: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn number(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<u64, String> {
    let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a whole number"))
}

fn run(args: Vec<String>) -> Result<ExitCode, String> {
    let workspace = fuzz::crate_dir().join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let mut names: Vec<String> = Vec::new();
    let mut per_target: Option<Budget> = None;
    let mut total: Option<u64> = None;
    let mut seed: Option<u64> = None;
    let mut corpus: Vec<PathBuf> = Vec::new();
    let mut corpus_out = None;
    let mut artifacts = workspace.join("target/fuzz-artifacts");
    let mut reduce = true;
    let mut strict = false;
    let mut verbose = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" => names.push(args.next().ok_or("--target needs a name")?),
            "--seconds" => {
                per_target = Some(Budget::Time(Duration::from_secs(number(&mut args, &arg)?)))
            }
            "--total-seconds" => total = Some(number(&mut args, &arg)?),
            "--cases" => per_target = Some(Budget::Cases(number(&mut args, &arg)?)),
            "--seed" => seed = Some(number(&mut args, &arg)?),
            "--corpus" => corpus.push(args.next().ok_or("--corpus needs a directory")?.into()),
            "--corpus-out" => {
                corpus_out = Some(PathBuf::from(
                    args.next().ok_or("--corpus-out needs a directory")?,
                ))
            }
            "--artifacts" => artifacts = args.next().ok_or("--artifacts needs a directory")?.into(),
            "--no-reduce" => reduce = false,
            "--strict" => strict = true,
            "--verbose" => verbose = true,
            "--list" => {
                for name in targets::NAMES {
                    println!("{name}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            "--replay" => return replay(args.collect()),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if names.is_empty() {
        names = targets::NAMES.iter().map(|n| (*n).to_owned()).collect();
    }
    for name in &names {
        if targets::by_name(name).is_none() {
            return Err(format!("no target `{name}` (see --list)"));
        }
    }
    let budget = match (total, per_target) {
        (Some(total), _) => Budget::Time(Duration::from_millis(total * 1000 / names.len() as u64)),
        (None, Some(budget)) => budget,
        (None, None) => Budget::Time(Duration::from_secs(60)),
    };
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let instrumented = fuzz::coverage::Counters::new();
    println!(
        "fuzz: seed {seed}, {} target(s), budget {budget:?} each, {}",
        names.len(),
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

    let mut reports: Vec<Report> = Vec::new();
    for name in &names {
        let mut target = targets::by_name(name).ok_or_else(|| format!("no target `{name}`"))?;
        let mut dirs = vec![fuzz::corpus_dir(name)];
        dirs.extend(corpus.iter().map(|d| d.join(name)));
        let settings = Settings {
            budget,
            seed,
            corpus: dirs,
            corpus_out: corpus_out.clone(),
            artifacts: artifacts.clone(),
            reduce,
            verbose,
        };
        let report = engine::run(target.as_mut(), &settings);
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
        reports.push(report);
    }

    let mut failed = false;
    let total_cases: u64 = reports.iter().map(|r| r.cases).sum();
    let saved = |finding: &engine::Finding| {
        finding
            .saved
            .as_ref()
            .map_or("(not saved)".to_owned(), |p| p.display().to_string())
    };
    for report in &reports {
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
    let failures: usize = reports.iter().map(|r| r.new_failures().count()).sum();
    let known: usize = reports
        .iter()
        .map(|r| r.findings.len() - r.new_failures().count())
        .sum();
    println!("\nfuzz: {total_cases} cases, {failures} new failure(s), {known} known finding(s)");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

fn replay(args: Vec<String>) -> Result<ExitCode, String> {
    let mut args = args.into_iter();
    let name = args.next().ok_or("--replay needs a target and files")?;
    let mut target = targets::by_name(&name).ok_or_else(|| format!("no target `{name}`"))?;
    let mut failed = false;
    for file in args {
        let input = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
        match engine::execute(target.as_mut(), &input) {
            Ok(_) => println!("{file}: ok"),
            Err(violation) => {
                failed = true;
                let known = fuzz::known::lookup(&name, &violation, &input)
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

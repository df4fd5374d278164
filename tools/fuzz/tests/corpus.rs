//! Every target on its seed corpus and a few thousand generated and
//! mutated cases, so a regression in any decoder fails `make test`.
//! Findings listed in `fuzz::known` are allowed (they are reported, and
//! their reproducing inputs are checked below to fail only as described).

use std::path::PathBuf;

use fuzz::engine::{self, Budget, Report, Settings};
use fuzz::known;
use fuzz::targets;

/// Generated and mutated cases per target, beyond the seeds: fewer for the
/// targets that run a whole batch per case.
fn cases(name: &str) -> u64 {
    if targets::BATCH.contains(&name) {
        2500
    } else {
        5000
    }
}
const SEED: u64 = 20_251_030;

fn run(name: &str) -> Report {
    let mut target = targets::by_name(name).expect("a known target");
    let corpus = fuzz::corpus_dir(name);
    let seeds = engine::read_corpus(&corpus).len() as u64;
    assert!(
        seeds > 0,
        "{name} has no seed corpus in {}",
        corpus.display()
    );
    let settings = Settings {
        budget: Budget::Cases(seeds + cases(name)),
        seed: SEED,
        corpus: vec![corpus],
        corpus_out: None,
        artifacts: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-artifacts"),
        reduce: true,
        verbose: false,
    };
    let report = engine::run(target.as_mut(), &settings);
    assert_eq!(report.seeds as u64, seeds);
    assert_eq!(report.cases, seeds + cases(name));
    report
}

fn assert_no_new_failures(name: &str) {
    let report = run(name);
    let new: Vec<String> = report
        .new_failures()
        .map(|f| {
            format!(
                "{}\n    input: {}",
                f.violation,
                f.saved
                    .as_ref()
                    .map_or("(not saved)".into(), |p| p.display().to_string())
            )
        })
        .collect();
    assert!(
        new.is_empty(),
        "{name}: {} new failure(s) in {} cases:\n{}",
        new.len(),
        report.cases,
        new.join("\n")
    );
    for finding in &report.findings {
        if let Some(known) = finding.known {
            eprintln!(
                "{name}: known finding {} still present ({} case(s))",
                known.id, finding.hits
            );
        }
    }
}

#[test]
fn kinesis_event() {
    assert_no_new_failures("kinesis-event");
}

#[test]
fn inventory_update() {
    assert_no_new_failures("inventory-update");
}

#[test]
fn email_notification() {
    assert_no_new_failures("email-notification");
}

#[test]
fn order_saga_step() {
    assert_no_new_failures("order-saga-step");
}

#[test]
fn envelope() {
    assert_no_new_failures("envelope");
}

#[test]
fn timestamp() {
    assert_no_new_failures("timestamp");
}

#[test]
fn kpl() {
    assert_no_new_failures("kpl");
}

#[test]
fn compose() {
    assert_no_new_failures("compose");
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    for name in targets::NAMES {
        assert!(fuzz::corpus_dir(name).is_dir(), "no corpus for {name}");
    }
    let dirs = std::fs::read_dir(fuzz::crate_dir().join("corpus")).unwrap();
    for dir in dirs {
        let name = dir.unwrap().file_name().into_string().unwrap();
        assert!(
            targets::NAMES.contains(&name.as_str()),
            "corpus/{name} belongs to no target"
        );
    }
}

/// Inputs kept for known findings fail as described, or not at all (then
/// the finding was fixed and its entry can go).
#[test]
fn known_findings_reproduce_only_as_described() {
    for name in targets::NAMES {
        let mut target = targets::by_name(name).unwrap();
        for (path, input) in engine::read_corpus(&fuzz::corpus_dir(name)) {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(rest) = file.strip_prefix("known-") else {
                continue;
            };
            let entry = known::KNOWN
                .iter()
                .find(|k| rest.starts_with(k.id))
                .unwrap_or_else(|| panic!("{name}/{file} names no known finding"));
            match engine::execute(target.as_mut(), &input) {
                Ok(_) => eprintln!("{name}/{file}: passes now; {} may be fixed", entry.id),
                Err(violation) => {
                    let matched = known::lookup(name, &violation, &input);
                    assert!(
                        matched.is_some_and(|k| k.id == entry.id),
                        "{name}/{file} fails otherwise than {} says: {violation}",
                        entry.id
                    );
                }
            }
        }
    }
}

#[test]
fn known_entries_are_well_formed() {
    for entry in known::KNOWN {
        assert!(!entry.summary.is_empty() && !entry.targets.is_empty());
        assert!(entry.targets.iter().all(|t| targets::NAMES.contains(t)));
        assert!(known::by_id(entry.id).is_some_and(|k| std::ptr::eq(k, entry)));
    }
}

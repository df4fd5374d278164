//! The fuzzing loop: seeds first, then generated and mutated inputs until
//! the budget is spent. Each case runs under `catch_unwind`, so a panic is
//! a finding like any broken property. New coverage (in an instrumented
//! build) or a new outcome signature keeps an input in the corpus. Every
//! failure is reduced to a small input and saved to a file.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::coverage::{Counters, Coverage, Novelty};
use crate::known::{self, Known};
use crate::rng::{fnv1a, Rng};

/// The property every target has.
pub const PANIC: &str = "no panic";

/// A property that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The property, in a few words ("no panic", "received == sum of fates").
    pub property: &'static str,
    pub detail: String,
}

impl Violation {
    pub fn new(property: &'static str, detail: impl Into<String>) -> Self {
        Self {
            property,
            detail: detail.into(),
        }
    }

    /// What identifies the bug rather than this input: the property, and
    /// for a panic its message (digits dropped) and location.
    pub fn signature(&self) -> String {
        if self.property != PANIC {
            return self.property.to_owned();
        }
        let first = self.detail.lines().next().unwrap_or_default();
        let (message, location) = first.rsplit_once(" at ").unwrap_or((first, ""));
        let message: String = message
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(160)
            .collect();
        format!("{PANIC}: {message} at {location}")
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.property, self.detail)
    }
}

/// What a case came to: a signature of its outcome (inputs with new
/// signatures are kept), or a violation.
pub type Outcome = Result<u64, Violation>;

/// Shorthand for property checks.
pub fn check(
    ok: bool,
    property: &'static str,
    detail: impl FnOnce() -> String,
) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation::new(property, detail()))
    }
}

/// One fuzz target.
pub trait Target {
    fn name(&self) -> &'static str;

    /// A fresh structured input.
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8>;

    /// Mutates `input`; `other` is another corpus entry to splice with.
    fn mutate(&mut self, input: &mut Vec<u8>, rng: &mut Rng, other: Option<&[u8]>) {
        crate::mutate::mutate_document(input, rng, other);
    }

    /// Runs one case and checks the properties.
    fn run(&mut self, input: &[u8]) -> Outcome;

    /// Called after a case panicked, to rebuild anything it may have left
    /// broken (a runtime).
    fn reset(&mut self) {}

    /// Smaller variants of `input` worth trying when reducing a failure,
    /// beyond the generic JSON and byte reductions.
    fn reductions(&self, _input: &[u8]) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// Largest input worth running.
    fn max_len(&self) -> usize {
        1 << 20
    }
}

thread_local! {
    static CAPTURING: RefCell<bool> = const { RefCell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a panic hook that records panics raised inside cases quietly
/// and leaves every other panic to the previous hook.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(|c| *c.borrow()) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic payload)".into());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message} at {location}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic quietly: `Err` holds its message and
/// location.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    CAPTURING.with(|c| *c.borrow_mut() = true);
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| *c.borrow_mut() = false);
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic".into())
    })
}

/// Runs one case with panics caught and turned into violations.
pub fn execute(target: &mut dyn Target, input: &[u8]) -> Outcome {
    match quietly(|| target.run(input)) {
        Ok(outcome) => outcome,
        Err(message) => {
            target.reset();
            Err(Violation::new(PANIC, message))
        }
    }
}

/// How long to fuzz.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Time(Duration),
    Cases(u64),
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub budget: Budget,
    pub seed: u64,
    /// Directories of seed inputs, read recursively.
    pub corpus: Vec<PathBuf>,
    /// Where inputs that reached new coverage are written, if anywhere.
    pub corpus_out: Option<PathBuf>,
    /// Where failing inputs are written.
    pub artifacts: PathBuf,
    /// Reduce failing inputs before saving them.
    pub reduce: bool,
    /// Print each new finding as it is found.
    pub verbose: bool,
}

/// One distinct failure.
#[derive(Debug, Clone)]
pub struct Finding {
    pub violation: Violation,
    pub input: Vec<u8>,
    /// Set when the finding is listed as known.
    pub known: Option<&'static Known>,
    /// Where the input was saved.
    pub saved: Option<PathBuf>,
    /// How many cases hit it.
    pub hits: u64,
}

/// What a run of one target came to.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: &'static str,
    pub cases: u64,
    pub seeds: usize,
    pub elapsed: Duration,
    pub corpus_size: usize,
    /// Edges reached, in an instrumented build.
    pub edges: Option<usize>,
    pub signatures: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Failures that are not listed as known.
    pub fn new_failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.known.is_none())
    }

    pub fn failed_cases(&self) -> u64 {
        self.findings.iter().map(|f| f.hits).sum()
    }

    pub fn cases_per_second(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Every file under `dir`, sorted, skipping names starting with `.` and
/// `README`.
pub fn read_corpus(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') || name.starts_with("README") {
            continue;
        }
        if path.is_dir() {
            out.extend(read_corpus(&path));
        } else if let Ok(bytes) = fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

const MAX_CORPUS: usize = 8192;

/// Fuzzes one target.
pub fn run(target: &mut dyn Target, settings: &Settings) -> Report {
    let name = target.name();
    let counters = Counters::new();
    let mut session = Session {
        name,
        settings,
        coverage: Coverage::default(),
        signatures: HashSet::new(),
        findings: HashMap::new(),
        corpus: Vec::new(),
        rng: Rng::new(settings.seed ^ fnv1a(name.as_bytes())),
    };
    let started = Instant::now();
    let mut cases: u64 = 0;
    let mut seed_inputs = Vec::new();
    for dir in &settings.corpus {
        seed_inputs.extend(read_corpus(dir).into_iter().map(|(_, bytes)| bytes));
    }
    let seeds = seed_inputs.len();
    for input in seed_inputs {
        session.run_case(target, &counters, input);
        cases += 1;
    }
    let done = |cases: u64| match settings.budget {
        Budget::Time(limit) => started.elapsed() >= limit,
        Budget::Cases(limit) => cases >= limit,
    };
    while !done(cases) {
        let input = session.next_input(target);
        if input.len() > target.max_len() {
            continue;
        }
        session.run_case(target, &counters, input);
        cases += 1;
    }
    let mut findings: Vec<Finding> = session.findings.into_values().collect();
    findings.sort_by_key(|f| f.violation.signature());
    for finding in &mut findings {
        finding.saved = save(&settings.artifacts, name, finding);
    }
    Report {
        target: name,
        cases,
        seeds,
        elapsed: started.elapsed(),
        corpus_size: session.corpus.len(),
        edges: counters.available().then_some(session.coverage.edges),
        signatures: session.signatures.len(),
        findings,
    }
}

/// One target's fuzzing: what it has covered and found so far.
struct Session<'a> {
    name: &'static str,
    settings: &'a Settings,
    coverage: Coverage,
    signatures: HashSet<u64>,
    findings: HashMap<String, Finding>,
    corpus: Vec<Vec<u8>>,
    rng: Rng,
}

impl Session<'_> {
    /// A generated input, or a mutation of what the corpus holds.
    fn next_input(&mut self, target: &mut dyn Target) -> Vec<u8> {
        let rng = &mut self.rng;
        if self.corpus.is_empty() || rng.chance(1, 5) {
            return target.generate(rng);
        }
        let mut input = self.corpus[rng.below(self.corpus.len())].clone();
        let other = self.corpus[rng.below(self.corpus.len())].clone();
        for _ in 0..rng.range(1, 3) {
            target.mutate(&mut input, rng, Some(&other));
        }
        input
    }

    /// Runs `input` and records what it did.
    fn run_case(&mut self, target: &mut dyn Target, counters: &Counters, input: Vec<u8>) {
        if counters.available() {
            counters.reset();
        }
        let outcome = execute(target, &input);
        let novelty = if counters.available() {
            counters.merge_into(&mut self.coverage)
        } else {
            Novelty::None
        };
        match outcome {
            Ok(signature) => self.passed(input, signature, novelty),
            Err(violation) => self.failed(target, input, violation),
        }
    }

    /// Keeps an input that reached new code or a new outcome.
    fn passed(&mut self, input: Vec<u8>, signature: u64, novelty: Novelty) {
        let new_signature = self.signatures.insert(signature);
        if novelty == Novelty::None && !new_signature {
            return;
        }
        // Only inputs that reached new code are worth keeping across runs.
        if let Some(dir) = self
            .settings
            .corpus_out
            .as_ref()
            .filter(|_| novelty == Novelty::Edge)
        {
            let dir = dir.join(self.name);
            let _ = fs::create_dir_all(&dir);
            let _ = fs::write(dir.join(format!("{:016x}", fnv1a(&input))), &input);
        }
        if self.corpus.len() < MAX_CORPUS {
            self.corpus.push(input);
        } else {
            let i = self.rng.below(self.corpus.len());
            self.corpus[i] = input;
        }
    }

    /// Records a finding, or one more hit (and maybe a shorter input) of a
    /// known one.
    fn failed(&mut self, target: &mut dyn Target, input: Vec<u8>, violation: Violation) {
        let key = violation.signature();
        if let Some(finding) = self.findings.get_mut(&key) {
            finding.hits += 1;
            if input.len() < finding.input.len() {
                finding.input = input;
            }
            return;
        }
        let known = known::lookup(self.name, &violation, &input);
        if self.settings.verbose {
            let tag = if known.is_some() { "known" } else { "NEW" };
            eprintln!("[{}] {tag} finding: {violation}", self.name);
        }
        let input = if self.settings.reduce && known.is_none() {
            reduce(target, &input, &key)
        } else {
            input
        };
        self.findings.insert(
            key,
            Finding {
                violation,
                input,
                known,
                saved: None,
                hits: 1,
            },
        );
    }
}

fn save(dir: &Path, target: &str, finding: &Finding) -> Option<PathBuf> {
    let dir = dir.join(target);
    fs::create_dir_all(&dir).ok()?;
    let stem = format!(
        "{}-{:016x}",
        if finding.known.is_some() {
            "known"
        } else {
            "crash"
        },
        fnv1a(finding.violation.signature().as_bytes())
    );
    let path = dir.join(format!("{stem}.bin"));
    fs::write(&path, &finding.input).ok()?;
    let note = format!(
        "target: {target}\nproperty: {}\ndetail: {}\nknown: {}\nreplay: cargo run -p fuzz -- --replay {target} {}\n",
        finding.violation.property,
        finding.violation.detail,
        finding.known.map_or("no", |k| k.id),
        path.display()
    );
    fs::write(dir.join(format!("{stem}.txt")), note).ok()?;
    Some(path)
}

/// Shrinks `input` while it still fails with signature `key`: structured
/// reductions of the target, then removing JSON members and elements, then
/// removing byte ranges. Bounded in tries and time.
pub fn reduce(target: &mut dyn Target, input: &[u8], key: &str) -> Vec<u8> {
    let started = Instant::now();
    let mut best = input.to_vec();
    let mut tries = 0;
    let fails = |target: &mut dyn Target, candidate: &[u8], tries: &mut u32| {
        *tries += 1;
        matches!(execute(target, candidate), Err(v) if v.signature() == key)
    };
    let in_budget = |tries: u32| tries < 3000 && started.elapsed() < Duration::from_secs(10);

    let mut progress = true;
    while progress && in_budget(tries) {
        progress = false;
        let mut candidates = target.reductions(&best);
        candidates.extend(json_reductions(&best));
        candidates.sort_by_key(Vec::len);
        for candidate in candidates {
            if !in_budget(tries) {
                break;
            }
            if candidate.len() < best.len() && fails(target, &candidate, &mut tries) {
                best = candidate;
                progress = true;
                break;
            }
        }
    }
    // Byte ranges, halving the chunk size.
    let mut chunk = (best.len() / 2).max(1);
    while chunk >= 1 && in_budget(tries) {
        let mut at = 0;
        while at < best.len() && in_budget(tries) {
            let end = (at + chunk).min(best.len());
            let mut candidate = best[..at].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if fails(target, &candidate, &mut tries) {
                best = candidate;
            } else {
                at += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    best
}

/// Variants of a JSON document with one member or element removed, or one
/// string shortened.
pub fn json_reductions(input: &[u8]) -> Vec<Vec<u8>> {
    let Ok(value) = serde_json::from_slice::<Value>(input) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut paths = Vec::new();
    collect_paths(&value, &mut Vec::new(), &mut paths);
    for path in paths {
        let mut copy = value.clone();
        if remove_at(&mut copy, &path) {
            out.push(serde_json::to_vec(&copy).unwrap_or_default());
        }
        let mut copy = value.clone();
        if shorten_at(&mut copy, &path) {
            out.push(serde_json::to_vec(&copy).unwrap_or_default());
        }
    }
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn collect_paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    if out.len() > 2000 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Step::Key(k.clone()));
                out.push(prefix.clone());
                collect_paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                collect_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn parent_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut node = value;
    for step in path {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (Step::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

fn remove_at(value: &mut Value, path: &[Step]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    match (last, parent_mut(value, parent)) {
        (Step::Key(k), Some(Value::Object(map))) => map.remove(k).is_some(),
        (Step::Index(i), Some(Value::Array(items))) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    }
}

fn shorten_at(value: &mut Value, path: &[Step]) -> bool {
    match parent_mut(value, path) {
        Some(Value::String(text)) if text.chars().count() > 8 => {
            let half: String = text.chars().take(text.chars().count() / 2).collect();
            *text = half;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Picky;

    impl Target for Picky {
        fn name(&self) -> &'static str {
            "picky"
        }
        fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
            (0..rng.small(8)).map(|_| rng.byte()).collect()
        }
        fn run(&mut self, input: &[u8]) -> Outcome {
            if input.windows(3).any(|w| w == b"bad") {
                panic!("found the bad bytes");
            }
            Ok(input.len() as u64 % 4)
        }
    }

    #[test]
    fn panics_become_violations_and_are_reduced() {
        let mut target = Picky;
        let outcome = execute(&mut target, b"xxbadxx");
        let violation = outcome.unwrap_err();
        assert_eq!(violation.property, "no panic");
        assert!(
            violation.detail.contains("found the bad bytes"),
            "{violation}"
        );
        let reduced = reduce(&mut target, b"xxxxxxxbadxxxxxx", &violation.signature());
        assert_eq!(reduced, b"bad");
        assert!(execute(&mut target, b"fine").is_ok());
    }

    #[test]
    fn json_reductions_remove_one_node_each() {
        let reductions = json_reductions(br#"{"a":[1,2],"b":"x"}"#);
        let texts: Vec<String> = reductions
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect();
        assert!(texts.contains(&r#"{"b":"x"}"#.to_owned()), "{texts:?}");
        assert!(
            texts.contains(&r#"{"a":[2],"b":"x"}"#.to_owned()),
            "{texts:?}"
        );
    }

    #[test]
    fn panic_signatures_ignore_digits_in_the_message_only() {
        let a = Violation::new(PANIC, "index 3 out of range at x.rs:10");
        let b = Violation::new(PANIC, "index 4 out of range at x.rs:10\nmore");
        let c = Violation::new(PANIC, "index 4 out of range at x.rs:11");
        assert_eq!(a.signature(), b.signature());
        assert_ne!(a.signature(), c.signature());
        let d = Violation::new("a property", "detail 1");
        let e = Violation::new("a property", "detail 2");
        assert_eq!(d.signature(), e.signature());
    }
}

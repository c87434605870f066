//! The test harness of the native tests: `tests/native/` (`main.rs` and one module per
//! suite: `c_abi`, `asan`, `cpp_binding`, `go_binding`, `python_binding`, `packaging`,
//! `bench_clients`), one binary with `harness = false` in Cargo.toml.
//!
//! Why not libtest: its tests can only pass or fail at run time, so a test that cannot run
//! on this machine (no Go, no cargo-c, no PyPI) would show as passed. Here a test returns
//! `Result<(), Skip>`, and a [`Skip`] is reported the way libtest reports an ignored test,
//! with its reason:
//!
//! ```text
//! test go_package_is_formatted_vetted_and_passes_its_tests ... ignored, skipped: go is not installed
//! test result: ok. 0 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s
//! ```
//!
//! Where every test must run — `CI` or `FEISHU_TEST_NO_SKIP=1` in the environment — a
//! skip is a failure instead (and `.ci/run` also fails on any `skipped:` line).
//!
//! A module lists its tests at its end, instead of marking them `#[test]`, and `main.rs`
//! lists the modules:
//!
//! ```ignore
//! fn my_test() -> Outcome { ...; Ok(()) }
//! support::native_tests!(my_test, my_other_test); // pub const TESTS: Suite
//! ```
//!
//! A `#[test]` function in such a module would never run (rustc drops it without libtest),
//! so the harness refuses to run a module that has one. Tests are named `module::function`.
//!
//! The tests run on [`threads`] threads (at least 4: most of them wait for child processes
//! and servers, not for the CPU). Before they start, `main` may begin work several tests
//! share in a thread of its own (the release builds), which those tests then wait for.
//!
//! Arguments understood, as libtest's: name filters, `--exact`, `--skip NAME`, `--list`,
//! `--ignored`, `--include-ignored`, `--test-threads N` (or `RUST_TEST_THREADS`); others
//! (`--nocapture`, `--quiet`, ...) are accepted and ignored. Output is not captured.

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a test did not run here (a missing tool, an unreachable registry).
#[derive(Debug)]
pub struct Skip(pub String);

/// What a test returns: `Ok(())` when it ran and passed (a failure panics).
pub type Outcome = Result<(), Skip>;

/// One test: its name and function.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> Outcome,
}

/// A module's tests and its source file (checked for `#[test]`).
pub struct Suite {
    pub source: &'static str,
    pub tests: &'static [Test],
}

/// Whether a test that cannot run must fail instead: in CI (`CI` set) and with
/// `FEISHU_TEST_NO_SKIP=1`.
pub fn skips_forbidden() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("FEISHU_TEST_NO_SKIP").is_ok_and(|v| v == "1")
}

/// A [`Skip`] for `reason`; panics instead where skips are forbidden ([`skips_forbidden`]).
pub fn skip(reason: impl Into<String>) -> Skip {
    let reason = reason.into();
    assert!(
        !skips_forbidden(),
        "this test must run here (CI or FEISHU_TEST_NO_SKIP=1), but {reason}"
    );
    Skip(reason)
}

static TARGET_TMPDIR: OnceLock<PathBuf> = OnceLock::new();

/// The test binary's `CARGO_TARGET_TMPDIR`, as [`main`] was given it.
pub fn target_tmpdir() -> PathBuf {
    TARGET_TMPDIR
        .get()
        .expect("the harness's main sets CARGO_TARGET_TMPDIR (support::native_tests!)")
        .clone()
}

/// A module's `pub const TESTS: Suite`: the listed functions, named `module::function`.
#[macro_export]
macro_rules! native_tests {
    ($($test:ident),+ $(,)?) => {
        /// This module's tests, for the harness (`tests/support/harness.rs`).
        pub const TESTS: $crate::harness::Suite = $crate::harness::Suite {
            source: concat!(env!("CARGO_MANIFEST_DIR"), "/", file!()),
            tests: &[$($crate::harness::Test {
                name: concat!(module_path!(), "::", stringify!($test)),
                run: $test,
            }),+],
        };
    };
}

/// How many tests run at once by default: twice the cores, at least 4.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() * 2)
        .max(4)
}

struct Args {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    threads: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        filters: Vec::new(),
        skip: Vec::new(),
        exact: false,
        list: false,
        ignored_only: false,
        threads: std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(threads),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--exact" => args.exact = true,
            "--list" => args.list = true,
            "--ignored" => args.ignored_only = true,
            "--skip" => args.skip.extend(it.next()),
            "--test-threads" => {
                if let Some(n) = it.next().and_then(|n| n.parse().ok()) {
                    args.threads = n;
                }
            }
            // Options with a value that change nothing here.
            "--color" | "--format" | "-Z" | "--logfile" | "--shuffle-seed" => {
                it.next();
            }
            _ if arg.starts_with("--test-threads=") => {
                if let Ok(n) = arg["--test-threads=".len()..].parse() {
                    args.threads = n;
                }
            }
            _ if arg.starts_with("--skip=") => args.skip.push(arg["--skip=".len()..].to_owned()),
            _ if arg.starts_with('-') => {} // --nocapture, --quiet, --include-ignored, ...
            _ => args.filters.push(arg),
        }
    }
    args.threads = args.threads.max(1);
    args
}

/// Panics when the test file has a `#[test]` function, which would never run here.
fn refuse_libtest_tests(source: &Path) {
    let Ok(text) = std::fs::read_to_string(source) else {
        return; // no source tree (a copied binary): nothing to check
    };
    let marked: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("#[test]"))
        .map(|(i, _)| i + 1)
        .collect();
    assert!(
        marked.is_empty(),
        "{} runs under the support harness (harness = false): its #[test] functions \
         (lines {marked:?}) would never run. Make them `fn name() -> Outcome` and list them \
         in support::native_tests!(...) at the end of the file.",
        source.display()
    );
}

/// Runs the suites' tests as libtest would, with skips shown as ignored; the exit code is
/// 101 when a test failed. `prepare` gets the names of the tests about to run, first, and
/// may start shared work in the background. `target_tmpdir` is the binary's
/// `CARGO_TARGET_TMPDIR`.
pub fn main(target_tmpdir: &str, suites: &[Suite], prepare: fn(&[&'static str])) -> ExitCode {
    let _ = TARGET_TMPDIR.set(PathBuf::from(target_tmpdir));
    for suite in suites {
        refuse_libtest_tests(Path::new(suite.source));
    }
    // "native::c_abi::name" -> "c_abi::name" (the crate is the binary).
    let tests: Vec<Test> = suites
        .iter()
        .flat_map(|s| s.tests)
        .map(|t| Test {
            name: t.name.split_once("::").map_or(t.name, |(_, rest)| rest),
            run: t.run,
        })
        .collect();
    let args = parse_args();
    let matches = |name: &str| {
        let selected = args.filters.is_empty()
            || args.filters.iter().any(|f| {
                if args.exact {
                    name == f
                } else {
                    name.contains(f.as_str())
                }
            });
        let skipped = args.skip.iter().any(|s| {
            if args.exact {
                name == s
            } else {
                name.contains(s.as_str())
            }
        });
        selected && !skipped
    };
    let chosen: Vec<&Test> = tests.iter().filter(|t| matches(t.name)).collect();
    let filtered_out = tests.len() - chosen.len();
    if args.list {
        for t in &chosen {
            println!("{}: test", t.name);
        }
        return ExitCode::SUCCESS;
    }
    // None of these tests is ignored before it runs.
    let chosen = if args.ignored_only {
        Vec::new()
    } else {
        chosen
    };
    prepare(&chosen.iter().map(|t| t.name).collect::<Vec<_>>());

    let started = Instant::now();
    println!(
        "\nrunning {} test{}",
        chosen.len(),
        if chosen.len() == 1 { "" } else { "s" }
    );
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(&'static str, Result<Outcome, String>, Duration)>();
    let (mut passed, mut failed, mut ignored) = (0usize, Vec::new(), 0usize);
    std::thread::scope(|s| {
        for _ in 0..args.threads.min(chosen.len()) {
            let (tx, next, chosen) = (tx.clone(), &next, &chosen);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(test) = chosen.get(i) else { break };
                    let t0 = Instant::now();
                    let result = catch_unwind(AssertUnwindSafe(test.run)).map_err(|payload| {
                        payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|| "(a panic without a message)".to_owned())
                    });
                    let _ = tx.send((test.name, result, t0.elapsed()));
                }
            });
        }
        drop(tx);
        for (name, result, took) in rx {
            let took = format!("<{:.3}s>", took.as_secs_f64());
            let mut out = std::io::stdout().lock();
            match result {
                Ok(Ok(())) => {
                    passed += 1;
                    let _ = writeln!(out, "test {name} ... ok {took}");
                }
                Ok(Err(Skip(reason))) => {
                    ignored += 1;
                    let _ = writeln!(out, "test {name} ... ignored, skipped: {reason}");
                }
                Err(message) => {
                    let _ = writeln!(out, "test {name} ... FAILED {took}");
                    failed.push((name, message));
                }
            }
            let _ = out.flush();
        }
    });

    if !failed.is_empty() {
        println!("\nfailures:\n");
        for (name, message) in &failed {
            println!("---- {name} ----\n{message}\n");
        }
        println!("failures:");
        for (name, _) in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {ignored} ignored; 0 measured; \
         {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

//! The native tests: the library as C, C++, Go and Python programs use it, built and
//! installed as they build and install it. One test binary (`cargo test --test native`),
//! one module per suite, run by the harness of `tests/support/harness.rs`: a test that
//! cannot run on this machine (no Go, no cargo-c, no PyPI) is reported as ignored with its
//! reason, and is a failure where `CI` is set.
//!
//! To add a suite: a module here (`mod my_suite;`, `tests/native/my_suite.rs`) ending in
//! `support::native_tests!(its, test, functions);`, and `my_suite::TESTS` in the list below.
//! To add a test to a suite: `fn name() -> Outcome { ...; Ok(()) }` and its name in that
//! module's `native_tests!` list (a `#[test]` attribute would never run: the harness
//! refuses a module that has one).
//!
//! Before the tests start, the work several of them wait for begins in threads of their own
//! (the release build of the library, then the pip-built wheel and, beside it, the cargo-c
//! install), while the tests that need none of it run.

mod asan;
mod bench_clients;
mod c_abi;
mod cpp_binding;
mod go_binding;
mod packaging;
mod python_binding;

use std::process::ExitCode;

fn main() -> ExitCode {
    support::harness::main(
        env!("CARGO_TARGET_TMPDIR"),
        // In the order the tests are started: the wheel's unittest run first (the longest
        // chain: the release build, the wheel, the module), then the ones that need no
        // release build.
        &[
            python_binding::TESTS,
            go_binding::TESTS,
            asan::TESTS,
            cpp_binding::TESTS,
            c_abi::TESTS,
            bench_clients::TESTS,
            packaging::TESTS,
        ],
        prepare,
    )
}

/// Starts the release builds the chosen tests need, one after the other, in a thread of
/// its own (the tests wait for them where they need them).
fn prepare(chosen: &[&'static str]) {
    let wants = |suites: &[&str]| {
        chosen
            .iter()
            .any(|t| suites.iter().any(|s| t.starts_with(&format!("{s}::"))))
    };
    let library = wants(&["c_abi", "bench_clients"]);
    let wheel = chosen.iter().any(|t| python_binding::needs_the_wheel(t));
    let cinstall = wants(&["packaging"]);
    if !(library || wheel || cinstall) {
        return;
    }
    std::thread::spawn(move || {
        if library || wheel {
            // The wheel's cargo build reuses its dependencies.
            support::native::release_library();
        }
        // cargo-c builds in a directory of its own (see packaging.rs), beside the wheel's
        // short build (one crate) rather than the long one it would slow down.
        if cinstall {
            std::thread::spawn(packaging::prepare);
        }
        if wheel {
            python_binding::prepare();
        }
    });
}

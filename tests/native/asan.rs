//! The C tests of `tests/c/` built with AddressSanitizer (and its
//! LeakSanitizer), run against the mock Feishu server with the same
//! environment as `tests/native/c_abi.rs` gives them. Any finding fails the test.
//!
//! The C programs are instrumented; the Rust library is not, but ASan's
//! allocator replaces malloc/free for the whole process, so LeakSanitizer
//! sees every allocation the library makes and never frees, and ASan catches
//! a double or foreign free, and C-side overflows of the buffers the library
//! fills (`FeishuError`). A canary (`tests/c/asan/leak_canary.c`) proves
//! first that a leak and an overflow are really reported here.
//!
//! Skipped (shown as ignored, with the reason) only when the C compiler cannot build with
//! `-fsanitize=address`; where skips are forbidden (CI) that is a failure.
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::harness::Outcome;
use support::native::{self, ASAN_EXIT, ASAN_OPTIONS, asan, build_program, show};
use support::server::Server;

/// The shared library built for this run, linked under its two names.
fn lib_dir() -> PathBuf {
    native::lib_dir("asan")
}

fn root() -> PathBuf {
    native::root()
}

fn out_dir() -> PathBuf {
    native::scratch_dir("asan")
}

fn compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Compiles C sources with ASan into an executable linked to the library.
fn compile(sources: &[&str], name: &str) -> PathBuf {
    let lib = lib_dir();
    let exe = out_dir().join(name);
    let mut cmd = Command::new(compiler());
    cmd.args([
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-g",
        "-O1",
        "-fsanitize=address",
        "-fno-omit-frame-pointer",
    ])
    .arg("-I")
    .arg(root().join("include"))
    .arg("-I")
    .arg(root().join("tests/c"));
    let sources: Vec<PathBuf> = sources.iter().map(|s| root().join(s)).collect();
    let what = format!("{} -fsanitize=address {sources:?}", compiler());
    build_program(cmd, &sources, exe, &lib, &what)
}

/// Runs an ASan program with a clean environment plus `env`.
fn run(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("EXPECT_VERSION", env!("CARGO_PKG_VERSION"))
        .env("ASAN_OPTIONS", ASAN_OPTIONS);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the ASan program")
}

/// Runs it and requires a clean exit with no sanitizer report.
fn run_clean(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(exe, args, env);
    native::assert_no_sanitizer_report(&exe.display().to_string(), &out);
    assert!(
        out.status.success(),
        "{} failed\n{}",
        exe.display(),
        show(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn asan_canary_reports_a_leak_and_an_overflow() -> Outcome {
    asan(&compiler())?;
    let exe = compile(&["tests/c/asan/leak_canary.c"], "leak_canary");
    let out = run(&exe, &["leak"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(ASAN_EXIT), "{}", show(&out));
    assert!(
        stderr.contains("LeakSanitizer: detected memory leaks"),
        "{}",
        show(&out)
    );
    let out = run(&exe, &["overflow"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(ASAN_EXIT), "{}", show(&out));
    assert!(stderr.contains("heap-buffer-overflow"), "{}", show(&out));
    Ok(())
}

fn asan_task_check_covers_statuses_errors_and_faults() -> Outcome {
    asan(&compiler())?;
    let server = Server::start();
    let exe = compile(&["tests/c/task_check.c"], "task_check");
    let url = server.base_url();
    let out = run_clean(
        &exe,
        &[],
        &[("FEISHU_BASE_URL", &url), ("FEISHU_TIMEOUT_MS", "1500")],
    );
    assert!(out.contains(" 0 failed"), "{out}");
    Ok(())
}

fn asan_client_api_options_errors_retries_and_logging() -> Outcome {
    asan(&compiler())?;
    let server = Server::start();
    let exe = compile(&["tests/c/client.c"], "client");
    let url = server.base_url();
    let out = run_clean(&exe, &[], &[("FEISHU_BASE_URL", &url)]);
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(server.request_count(), 6);
    Ok(())
}

fn asan_invalid_input_is_rejected_and_sends_nothing() -> Outcome {
    asan(&compiler())?;
    let server = Server::start();
    let exe = compile(&["tests/c/invalid_input.c"], "invalid_input");
    let url = server.base_url();
    let out = run_clean(&exe, &[], &[("FEISHU_BASE_URL", &url)]);
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(server.request_count(), 0, "a request was sent");
    assert_eq!(server.connection_count(), 0, "a connection was opened");
    Ok(())
}

fn asan_threads_each_see_their_own_last_error() -> Outcome {
    asan(&compiler())?;
    let server = Server::start();
    let exe = compile(&["tests/c/threads.c"], "threads");
    let url = server.base_url();
    let env = [
        ("FEISHU_BASE_URL", url.as_str()),
        ("FEISHU_TIMEOUT_MS", "2500"),
    ];
    let out = run_clean(&exe, &[], &env);
    assert!(out.contains(" 0 failed"), "{out}");
    // The 429 holds back that thread's token: its other 19 calls are not sent.
    assert_eq!(server.request_count(), 11 * 20 + 1 + 2 * 20 * 3);
    Ok(())
}

fn asan_warm_calls_and_bad_environment() -> Outcome {
    asan(&compiler())?;
    let server = Server::start();
    let url = server.base_url();
    let exe = compile(&["tests/c/warm_calls.c"], "warm_calls");
    let out = run_clean(&exe, &["200"], &[("FEISHU_BASE_URL", &url)]);
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(server.request_count(), 200);
    assert_eq!(server.connection_count(), 1);

    let exe = compile(&["tests/c/bad_env.c"], "bad_env");
    for (var, env) in [
        (
            "FEISHU_TIMEOUT_MS",
            [
                ("FEISHU_BASE_URL", url.as_str()),
                ("FEISHU_TIMEOUT_MS", "5s"),
            ],
        ),
        (
            "HTTPS_PROXY",
            [
                ("FEISHU_BASE_URL", "https://open.feishu.cn"),
                ("HTTPS_PROXY", "socks5://user:hunter2@127.0.0.1:1080"),
            ],
        ),
    ] {
        let out = run_clean(&exe, &[var], &env);
        assert!(out.contains(" 0 failed"), "{out}");
    }
    assert_eq!(
        server.request_count(),
        200,
        "a bad configuration sent a request"
    );
    Ok(())
}

support::native_tests!(
    asan_canary_reports_a_leak_and_an_overflow,
    asan_task_check_covers_statuses_errors_and_faults,
    asan_client_api_options_errors_retries_and_logging,
    asan_invalid_input_is_rejected_and_sends_nothing,
    asan_threads_each_see_their_own_last_error,
    asan_warm_calls_and_bad_environment,
);

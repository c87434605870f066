//! The C tests of `tests/c/` built with AddressSanitizer (and its
//! LeakSanitizer), run against the mock Feishu server with the same
//! environment as `tests/c_abi.rs` gives them. Any finding fails the test.
//!
//! The C programs are instrumented; the Rust library is not, but ASan's
//! allocator replaces malloc/free for the whole process, so LeakSanitizer
//! sees every allocation the library makes and never frees, and ASan catches
//! a double or foreign free, and C-side overflows of the buffers the library
//! fills (`FeishuError`). A canary (`tests/c/asan/leak_canary.c`) proves
//! first that a leak and an overflow are really reported here.
//!
//! Skipped, with a message, only when the C compiler cannot build with
//! `-fsanitize=address` and `CI` is unset; in CI that is a failure.

#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use server::Server;

/// Exit status ASan gives a run with a finding.
const ASAN_EXIT: i32 = 86;
const ASAN_OPTIONS: &str = "detect_leaks=1:abort_on_error=0:exitcode=86:halt_on_error=1:\
     detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1";

/// The shared library built for this run, linked under its two names (as in
/// tests/c_abi.rs: `cargo test` leaves the fresh one in `deps`).
fn lib_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let deps = exe.parent().expect("target/<profile>/deps");
        let built = deps.join("libfeishu_task.so");
        assert!(
            built.exists(),
            "the shared library is missing: {}",
            built.display()
        );
        let dir = out_dir().join("lib");
        std::fs::create_dir_all(&dir).expect("create the lib dir");
        for name in ["libfeishu_task.so", "libfeishu_task.so.0"] {
            let link = dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&built, &link).expect("link the library");
        }
        dir
    })
    .clone()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("asan");
    std::fs::create_dir_all(&dir).expect("create the ASan build dir");
    dir
}

fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Whether the C compiler can build and run an ASan program here. `None`
/// when it can; the reason when it cannot.
fn asan_unavailable() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        let dir = out_dir();
        let src = dir.join("probe.c");
        let exe = dir.join("probe");
        std::fs::write(&src, "int main(void) { return 0; }\n").expect("write the probe");
        let built = Command::new(compiler())
            .args(["-fsanitize=address", "-o"])
            .arg(&exe)
            .arg(&src)
            .output();
        match built {
            Err(e) => return Some(format!("cannot run {}: {e}", compiler())),
            Ok(out) if !out.status.success() => {
                return Some(format!(
                    "{} -fsanitize=address fails: {}",
                    compiler(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(_) => {}
        }
        match Command::new(&exe)
            .env("ASAN_OPTIONS", ASAN_OPTIONS)
            .output()
        {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!("an empty ASan program fails here:\n{}", show(&out))),
            Err(e) => Some(format!("cannot run the ASan probe: {e}")),
        }
    })
    .clone()
}

/// True when the test should run; prints why not and returns false when ASan
/// is unavailable outside CI (in CI, fails instead).
fn asan_ready(test: &str) -> bool {
    match asan_unavailable() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the C tests under AddressSanitizer, but: {why}"
            );
            eprintln!("SKIPPED {test}: AddressSanitizer is unavailable: {why}");
            false
        }
    }
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
    for s in sources {
        cmd.arg(root().join(s));
    }
    cmd.arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lfeishu_task", "-lpthread"]);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", compiler()));
    assert!(
        out.status.success(),
        "{} -fsanitize=address {sources:?} failed\n{}",
        compiler(),
        show(&out)
    );
    exe
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(ASAN_EXIT) && !stderr.contains("Sanitizer"),
        "{}: AddressSanitizer finding\n{}",
        exe.display(),
        show(&out)
    );
    assert!(
        out.status.success(),
        "{} failed\n{}",
        exe.display(),
        show(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn asan_canary_reports_a_leak_and_an_overflow() {
    if !asan_ready("asan_canary_reports_a_leak_and_an_overflow") {
        return;
    }
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
}

#[test]
fn asan_task_check_covers_statuses_errors_and_faults() {
    if !asan_ready("asan_task_check_covers_statuses_errors_and_faults") {
        return;
    }
    let server = Server::start();
    let exe = compile(&["tests/c/task_check.c"], "task_check");
    let url = server.base_url();
    let out = run_clean(
        &exe,
        &[],
        &[("FEISHU_BASE_URL", &url), ("FEISHU_TIMEOUT_MS", "1500")],
    );
    assert!(out.contains(" 0 failed"), "{out}");
}

#[test]
fn asan_client_api_options_errors_retries_and_logging() {
    if !asan_ready("asan_client_api_options_errors_retries_and_logging") {
        return;
    }
    let server = Server::start();
    let exe = compile(&["tests/c/client.c"], "client");
    let url = server.base_url();
    let out = run_clean(&exe, &[], &[("FEISHU_BASE_URL", &url)]);
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(server.request_count(), 6);
}

#[test]
fn asan_invalid_input_is_rejected_and_sends_nothing() {
    if !asan_ready("asan_invalid_input_is_rejected_and_sends_nothing") {
        return;
    }
    let server = Server::start();
    let exe = compile(&["tests/c/invalid_input.c"], "invalid_input");
    let url = server.base_url();
    let out = run_clean(&exe, &[], &[("FEISHU_BASE_URL", &url)]);
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(server.request_count(), 0, "a request was sent");
    assert_eq!(server.connection_count(), 0, "a connection was opened");
}

#[test]
fn asan_threads_each_see_their_own_last_error() {
    if !asan_ready("asan_threads_each_see_their_own_last_error") {
        return;
    }
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
}

#[test]
fn asan_warm_calls_and_bad_environment() {
    if !asan_ready("asan_warm_calls_and_bad_environment") {
        return;
    }
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
}

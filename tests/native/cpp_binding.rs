//! The C++ binding (`examples/cpp/feishu_task.hpp`): its test program and its example,
//! compiled with the system C++ compiler as C++17 (`-Wall -Wextra -Werror -pedantic`)
//! against the header and linked to the freshly built shared library, then run against
//! the mock Feishu server (the test program's tests shared out between `native::WORKERS`
//! processes of it, each with a server of its own). The test program and the example are built and run with
//! AddressSanitizer and LeakSanitizer (the wrapper's RAII, callbacks and exceptions are C++
//! code, which ASan instruments; what the library leaves uninitialised is valgrind's, in
//! `tests/native/c_abi.rs`); without ASan they are skipped (a failure in CI).
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use support::harness::Outcome;
use support::native::{self, ASAN_OPTIONS, asan};
use support::server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use native::{build_program, root, show};
use server::Server;

fn lib_dir() -> PathBuf {
    native::lib_dir("cpp")
}

fn out_dir() -> PathBuf {
    native::scratch_dir("cpp")
}

/// The app the managed-token tests of `test.cpp` use.
const APP_ID: &str = "cli_cpp";
const APP_SECRET: &str = "cpp-secret";
/// A test program that runs longer than this is killed (and fails).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Compiles C++ sources (paths relative to the repository, or absolute) into an
/// executable linked to the library.
fn compile(std: &str, sources: &[PathBuf], name: &str) -> PathBuf {
    compile_with(std, sources, name, &[])
}

/// As [`compile`], with AddressSanitizer.
fn compile_asan(std: &str, sources: &[PathBuf], name: &str) -> PathBuf {
    compile_with(
        std,
        sources,
        name,
        &["-O1", "-fsanitize=address", "-fno-omit-frame-pointer"],
    )
}

fn compile_with(std: &str, sources: &[PathBuf], name: &str, extra: &[&str]) -> PathBuf {
    let lib = lib_dir();
    let exe = out_dir().join(name);
    let mut cmd = Command::new("c++");
    cmd.arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-pthread"])
        .args(extra)
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("examples/cpp"));
    let sources: Vec<PathBuf> = sources.iter().map(|s| root().join(s)).collect();
    let what = format!("c++ -std={std} {sources:?}");
    build_program(cmd, &sources, exe, &lib, &what)
}

/// Waits for a child whose output goes to files, killing it after [`RUN_LIMIT`].
fn finish(mut cmd: Command, name: &str) -> Output {
    let stdout_path = out_dir().join(format!("{name}.stdout"));
    let stderr_path = out_dir().join(format!("{name}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create the stdout file"))
        .stderr(File::create(&stderr_path).expect("create the stderr file"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the program") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} ran longer than {RUN_LIMIT:?}; stdout so far:\n{}\nstderr so far:\n{}",
                std::fs::read_to_string(&stdout_path).unwrap_or_default(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read(&stderr_path).unwrap_or_default(),
    }
}

/// Runs an ASan program with a clean environment plus `env`; any sanitizer finding (a
/// leak included) fails the test.
fn run(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    run_as(&name, exe, args, env)
}

/// As [`run`], with the output in files named `name`.
fn run_as(name: &str, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("EXPECT_VERSION", env!("CARGO_PKG_VERSION"))
        .env("ASAN_OPTIONS", ASAN_OPTIONS);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = finish(cmd, name);
    native::assert_no_sanitizer_report(&format!("{name} {args:?}"), &out);
    out
}

/// The `N passed, M failed` tally of a test program.
fn tally(stdout: &str) -> Option<(u32, u32)> {
    let line = stdout.lines().rev().find(|l| l.contains(" passed, "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "passed,")?;
    let passed = words.get(at.checked_sub(1)?)?.parse().ok()?;
    let failed = words.get(at + 1)?.parse().ok()?;
    Some((passed, failed))
}

/// The test program (`examples/cpp/test.cpp`, with ASan) passes every one of its tests.
///
/// Its tests mostly wait (for polls, write pacing, deadlines), so [`native::WORKERS`]
/// copies of it share the run, each against a mock server of its own (the tests read and
/// set the server's counters), each taking the next test no other has taken
/// (`test --claims DIR NAME...`, see [`native::Claims`]).
fn cpp_wrapper_test_program_passes() -> Outcome {
    asan("c++")?;
    let exe = compile_asan("c++17", &["examples/cpp/test.cpp".into()], "cpp_test");
    let listing = run_as("cpp_test_list", &exe, &["--list"], &[]);
    assert!(listing.status.success(), "{}", show(&listing));
    let mut tests: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        tests.len() > 20,
        "only {} tests listed\n{}",
        tests.len(),
        show(&listing)
    );
    let claims = native::Claims::fresh(out_dir().join("cpp_test_claims"), &mut tests);
    let mut args = vec!["--claims", claims.dir()];
    args.extend(tests.iter().map(String::as_str));

    let results = native::run_workers(native::WORKERS, |i| {
        let server = Server::start();
        server.add_app(APP_ID, APP_SECRET);
        let url = server.base_url();
        let env = [
            ("FEISHU_TEST_BASE_URL", url.as_str()),
            ("FEISHU_BASE_URL", url.as_str()),
            ("FEISHU_TEST_APP_ID", APP_ID),
            ("FEISHU_TEST_APP_SECRET", APP_SECRET),
        ];
        let out = run_as(&format!("cpp_test_{i}"), &exe, &args, &env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "worker {i}\n{}", show(&out));
        let (passed, failed) =
            tally(&stdout).unwrap_or_else(|| panic!("no tally in the output\n{}", show(&out)));
        assert_eq!(failed, 0, "{}", show(&out));
        assert!(!stdout.contains("FAIL "), "{}", show(&out));
        (
            passed,
            server.request_count(),
            server.token_fetches_for(APP_ID),
        )
    });
    let passed: u32 = results.iter().map(|r| r.0).sum();
    let requests: usize = results.iter().map(|r| r.1).sum();
    let fetches: usize = results.iter().map(|r| r.2).sum();
    claims.assert_all_claimed(&tests, "the C++ test program");
    assert!(passed > 100, "only {passed} checks ran");
    eprintln!("C++ wrapper: {} tests, {passed} checks passed", tests.len());
    // The managed-token tests fetched tokens (the right app, the wrong secret).
    assert!(fetches >= 2, "{fetches} token fetches");
    assert!(requests > 50, "{requests} requests");
    Ok(())
}

fn cpp_example_prints_statuses_errors_and_progress() -> Outcome {
    asan("c++")?;
    let exe = compile_asan("c++17", &["examples/cpp/example.cpp".into()], "cpp_example");
    let server = Server::start();
    let url = server.base_url();
    let env = [
        ("FEISHU_BASE_URL", url.as_str()),
        ("FEISHU_TOKEN", "t-SECRET0123456789"),
    ];

    let out = run(&exe, &["7360595374803812356", "process", "fail"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout.contains("7360595374803812356: success"), "{stdout}");
    assert!(
        stdout.contains("process: process (still running)"),
        "{stdout}"
    );
    assert!(stdout.contains("fail: fail"), "{stdout}");

    let out = run(&exe, &["success", "err-1061003"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("success: success"), "{stdout}");
    assert!(
        stdout.contains(
            "err-1061003: error 1061003 (platform: not found (the task, file or folder))"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("not found."), "{stdout}");
    assert!(
        stdout.contains("[HTTP 404]") && stdout.contains("[log id "),
        "{stdout}"
    );
    assert!(
        !stdout.contains("SECRET"),
        "the token was printed: {stdout}"
    );

    // No token: a usage error; a bad --wait value too.
    let out = run(&exe, &["success"], &[("FEISHU_BASE_URL", url.as_str())]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = run(&exe, &["--wait", "0", "success"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // --wait shows a progress line per poll until the task finishes.
    let out = run(&exe, &["--wait", "10", "after-700ms"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    // (Not "at 0.": on a busy machine the first poll may take a second.)
    assert!(stdout.contains("after-700ms: poll 1 at "), "{stdout}");
    assert!(stdout.contains("process (still running)"), "{stdout}");
    assert!(stdout.contains("after-700ms: success"), "{stdout}");

    // App credentials instead of a token: the library fetches the token.
    server.add_app("cli_cpp_example", "example-secret");
    let app_env = [
        ("FEISHU_BASE_URL", url.as_str()),
        ("FEISHU_APP_ID", "cli_cpp_example"),
        ("FEISHU_APP_SECRET", "example-secret"),
    ];
    let out = run(&exe, &["fail", "process"], &app_env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("fail: fail") && stdout.contains("process: process"),
        "{stdout}"
    );
    assert_eq!(server.token_fetches_for("cli_cpp_example"), 1);

    // Starting the task: a move or delete done at once, a folder's task id waited for.
    let out = run(&exe, &["--delete", "docx", "doxA", "doxB"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("doxA: deleted (done at once)")
            && stdout.contains("doxB: deleted (done at once)"),
        "{stdout}"
    );
    let out = run(
        &exe,
        &["--wait", "10", "--move", "folder", "fldDest", "fldA"],
        &env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    let task_id = server.task_ids().pop().expect("a folder task");
    assert!(
        stdout.contains(&format!("fldA: task {task_id} started")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{task_id}: poll 1 at ")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("{task_id}: success")), "{stdout}");
    let moved = server
        .write_requests()
        .into_iter()
        .find(|r| r.file_token().as_deref() == Some("fldA"))
        .expect("the move");
    assert!(
        moved.body_str().is_some_and(|b| b.contains("fldDest")),
        "{:?}",
        moved.body_str()
    );
    // Failures: the platform's code, or a write that may have been applied.
    let out = run(
        &exe,
        &["--move", "folder", "fldDest", "err-1061004", "reset"],
        &env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("err-1061004: error 1061004"), "{stdout}");
    assert!(
        stdout.contains("reset: error -2") && stdout.contains("may have been applied"),
        "{stdout}"
    );
    assert_eq!(server.writes_for("reset"), 1);
    let out = run(&exe, &["--move", "folder", "fldDest"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // A bad base URL is reported before any call.
    let out = run(
        &exe,
        &["success"],
        &[("FEISHU_BASE_URL", "ftp://x"), env[1]],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot configure the client"),
        "{}",
        show(&out)
    );
    Ok(())
}

/// The header alone is a complete C++17 (and C++20) translation unit, and two
/// translation units that include it link into one program (its functions are
/// `inline`, the trampolines included).
fn cpp_header_is_self_contained_and_links_from_two_translation_units() -> Outcome {
    let dir = out_dir().join("two_tu");
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.cpp");
    let b = dir.join("b.cpp");
    std::fs::write(
        &a,
        "#include \"feishu_task.hpp\"\n\
         #include <string>\n\
         std::string other();\n\
         int main() {\n\
             feishu::Options o;\n\
             o.base_url(FEISHU_BASE_URL_LARK).log([](feishu::LogLevel, std::string_view) {});\n\
             feishu::Client c(o);\n\
             feishu::Result<feishu::Status> r = c.try_task_check(\"\", \"x\");\n\
             return (!r && r.error().is_invalid_argument() && other() == \"process\") ? 0 : 1;\n\
         }\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "#include \"feishu_task.hpp\"\n\
         #include <string>\n\
         std::string other() {\n\
             feishu::Cancel k;\n\
             k.trigger();\n\
             return feishu::to_string(feishu::Status::Process);\n\
         }\n",
    )
    .unwrap();
    for std in ["c++17", "c++20"] {
        let exe = compile(std, &[a.clone(), b.clone()], &format!("two_tu_{std}"));
        let out = Command::new(&exe)
            .env_clear()
            .output()
            .expect("run the program");
        assert!(out.status.success(), "{std}: {}", show(&out));
    }
    Ok(())
}

support::native_tests!(
    cpp_wrapper_test_program_passes,
    cpp_example_prints_statuses_errors_and_progress,
    cpp_header_is_self_contained_and_links_from_two_translation_units,
);

//! The C side of the test suite: the C tests in `tests/c/` and the C example,
//! compiled with the system C compiler against the generated header and linked
//! to the built shared library, then run against the mock Feishu server.
//!
//! valgrind (memcheck) runs where it finds what AddressSanitizer (`tests/native/asan.rs`, the
//! same C tests) cannot: reads of memory the library left uninitialised, and errors inside
//! the library, which ASan does not instrument. Those runs (`[memcheck]` below: the single-
//! threaded C tests and the example) use the optimised library of the tests' release build;
//! without valgrind they are skipped (a failure in CI). The others run natively.
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::harness::{Outcome, skip};
use support::native::{self, build_program, root, show, valgrind};
use support::server::{self, Server};
use support::tls;

/// Which build of the library a program links to.
#[derive(Clone, Copy)]
enum Lib {
    /// The unoptimised library `cargo test` built.
    Debug,
    /// The optimised one of the tests' release build (for valgrind).
    Release,
}

fn lib_dir(lib: Lib) -> PathBuf {
    match lib {
        Lib::Debug => native::lib_dir("c"),
        Lib::Release => native::release_lib_dir("c"),
    }
}

fn out_dir() -> PathBuf {
    native::scratch_dir("c")
}

/// Compiles C (or C++) sources into an executable linked to the (debug) library.
fn compile(compiler: &str, std: &str, sources: &[&str], name: &str) -> PathBuf {
    compile_for(Lib::Debug, compiler, std, sources, name)
}

/// Compiles C (or C++) sources into an executable linked to the library `lib`.
fn compile_for(lib: Lib, compiler: &str, std: &str, sources: &[&str], name: &str) -> PathBuf {
    let lib = lib_dir(lib);
    let exe = out_dir().join(name);
    let mut cmd = Command::new(compiler);
    cmd.arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("tests/c"));
    if compiler.ends_with("++") {
        cmd.args(["-x", "c++"]);
    }
    let sources: Vec<PathBuf> = sources.iter().map(|s| root().join(s)).collect();
    let what = format!("{compiler} -std={std} {sources:?}");
    build_program(cmd, &sources, exe, &lib, &what)
}

/// Runs a C program with a clean environment plus `env`, under valgrind `vg` if given
/// (any error or definite leak fails the run).
fn run(vg: Option<&Path>, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = match vg {
        Some(vg) => {
            let mut c = Command::new(vg);
            c.args(native::VALGRIND_ARGS).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("EXPECT_VERSION", env!("CARGO_PKG_VERSION"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the C program")
}

fn run_ok(vg: Option<&Path>, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(vg, exe, args, env);
    assert!(
        out.status.success(),
        "{} failed\n{}",
        exe.display(),
        show(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn header_compiles_as_c99_c11_and_cpp11_and_says_what_it_promises() -> Outcome {
    for (compiler, std) in [
        ("cc", "c99"),
        ("cc", "c11"),
        ("c++", "c++11"),
        ("c++", "c++17"),
    ] {
        let exe = compile(
            compiler,
            std,
            &["tests/c/header.c"],
            &format!("header-{std}"),
        );
        let out = Command::new(&exe).output().expect("run the header test");
        assert!(out.status.success(), "{std}: {}", show(&out));
    }
    let header = std::fs::read_to_string(root().join("include/feishu_task.h")).unwrap();
    assert!(header.contains("#ifndef FEISHU_TASK_H"));
    assert!(header.contains("extern \"C\" {"));
    for name in [
        "feishu_task_check",
        "feishu_last_error",
        "feishu_strerror",
        "feishu_version",
    ] {
        assert!(header.contains(name), "{name} missing from the header");
    }
    Ok(())
}

fn the_shared_library_carries_its_soname() -> Outcome {
    let lib = lib_dir(Lib::Debug).join("libfeishu_task.so");
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&lib)
        .output()
        .expect("run readelf");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(
        dynamic.contains("Library soname: [libfeishu_task.so.0]"),
        "no soname libfeishu_task.so.0 in:\n{dynamic}"
    );
    Ok(())
}

/// [memcheck]
fn c_task_check_covers_statuses_errors_and_faults() -> Outcome {
    let vg = valgrind()?;
    let server = Server::start();
    let exe = compile_for(
        Lib::Release,
        "cc",
        "c99",
        &["tests/c/task_check.c"],
        "task_check",
    );
    let url = server.base_url();
    let out = run_ok(
        Some(vg),
        &exe,
        &[],
        &[("FEISHU_BASE_URL", &url), ("FEISHU_TIMEOUT_MS", "1500")],
    );
    assert!(out.contains(" 0 failed"), "{out}");
    Ok(())
}

/// [memcheck]
fn c_client_api_options_errors_retries_and_logging() -> Outcome {
    let vg = valgrind()?;
    let server = Server::start();
    let exe = compile_for(Lib::Release, "cc", "c99", &["tests/c/client.c"], "client");
    let url = server.base_url();
    run_ok(Some(vg), &exe, &[], &[("FEISHU_BASE_URL", &url)]);
    // process, err-1061003, err-1061001 x3, fail: the invalid ones sent nothing.
    assert_eq!(server.request_count(), 6);
    Ok(())
}

/// [memcheck]
fn c_invalid_input_is_rejected_and_sends_nothing() -> Outcome {
    let vg = valgrind()?;
    let server = Server::start();
    let exe = compile_for(
        Lib::Release,
        "cc",
        "c99",
        &["tests/c/invalid_input.c"],
        "invalid_input",
    );
    let url = server.base_url();
    run_ok(Some(vg), &exe, &[], &[("FEISHU_BASE_URL", &url)]);
    assert_eq!(server.request_count(), 0, "a request was sent");
    assert_eq!(server.connection_count(), 0, "a connection was opened");
    Ok(())
}

fn c_threads_each_see_their_own_last_error() -> Outcome {
    let server = Server::start();
    let exe = compile("cc", "c99", &["tests/c/threads.c"], "threads");
    let url = server.base_url();
    // A deadline shorter than the 3 s rate-limit advice, so 429s are not retried.
    let env = [
        ("FEISHU_BASE_URL", url.as_str()),
        ("FEISHU_TIMEOUT_MS", "2500"),
    ];
    // Natively: valgrind would run the 16 threads one at a time; ASan runs this too.
    run_ok(None, &exe, &[], &env);
    let mut per_task = std::collections::BTreeMap::new();
    for r in server.requests() {
        *per_task
            .entry(r.task_id_str().unwrap_or_default())
            .or_insert(0) += 1;
    }
    // 14 of the 16 threads send (2 have invalid input), 20 calls each; the two
    // 5xx threads (1061001, HTML 502) make 3 attempts per call; the 429 (reset
    // 3 s) holds back the rate-limited thread's token, so its other 19 calls
    // return 99991400 unsent.
    assert_eq!(
        server.request_count(),
        11 * 20 + 1 + 2 * 20 * 3,
        "{per_task:?}"
    );
    Ok(())
}

fn c_bad_environment_fails_every_call_naming_the_variable() -> Outcome {
    let server = Server::start();
    let exe = compile("cc", "c99", &["tests/c/bad_env.c"], "bad_env");
    let url = server.base_url();
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("FEISHU_BASE_URL", &[("FEISHU_BASE_URL", "ftp://127.0.0.1")]),
        (
            "FEISHU_BASE_URL",
            &[("FEISHU_BASE_URL", "http://127.0.0.1:1/open-apis")],
        ),
        ("FEISHU_BASE_URL", &[("FEISHU_BASE_URL", "not a url")]),
        (
            "FEISHU_TIMEOUT_MS",
            &[("FEISHU_BASE_URL", &url), ("FEISHU_TIMEOUT_MS", "0")],
        ),
        (
            "FEISHU_TIMEOUT_MS",
            &[("FEISHU_BASE_URL", &url), ("FEISHU_TIMEOUT_MS", "5s")],
        ),
        (
            "FEISHU_CA_FILE",
            &[
                ("FEISHU_BASE_URL", &url),
                ("FEISHU_CA_FILE", "/nonexistent/ca.pem"),
            ],
        ),
        (
            "FEISHU_CA_FILE",
            &[
                ("FEISHU_BASE_URL", &url),
                ("FEISHU_CA_FILE", "/etc/hostname"),
            ],
        ),
        (
            "HTTPS_PROXY",
            &[("HTTPS_PROXY", "socks5://user:hunter2@127.0.0.1:1080")],
        ),
        (
            "http_proxy",
            &[
                ("FEISHU_BASE_URL", &url),
                ("http_proxy", "ftp://user:hunter2@h"),
            ],
        ),
    ];
    for (var, env) in cases {
        // Natively (as under ASan): no call gets as far as the library's HTTP code.
        run_ok(None, &exe, &[var], env);
    }
    assert_eq!(
        server.request_count(),
        0,
        "a request was sent despite a bad configuration"
    );
    Ok(())
}

/// [memcheck]
fn c_example_prints_statuses_and_errors() -> Outcome {
    let vg = Some(valgrind()?);
    let server = Server::start();
    let exe = compile_for(
        Lib::Release,
        "cc",
        "c99",
        &["examples/c/task_check.c"],
        "example_task_check",
    );
    let url = server.base_url();
    let env = [
        ("FEISHU_BASE_URL", url.as_str()),
        ("FEISHU_TOKEN", "t-SECRET0123456789"),
    ];
    let out = run(
        vg,
        &exe,
        &[
            "7360595374803812356",
            "process",
            "fail",
            "failed",
            "pending",
        ],
        &env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout.contains("7360595374803812356: success"), "{stdout}");
    assert!(stdout.contains("process: process"), "{stdout}");
    assert!(stdout.contains("fail: fail"), "{stdout}");
    // The spellings of Feishu's own CLI read the same.
    assert!(
        stdout.contains("failed: fail (the task has failed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pending: process (still running)"),
        "{stdout}"
    );

    let out = run(vg, &exe, &["success", "err-1061003"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("err-1061003: error 1061003"), "{stdout}");
    assert!(stdout.contains("not found."), "{stdout}");
    assert!(
        stdout.contains("[HTTP 404]") && stdout.contains("[log id "),
        "{stdout}"
    );
    assert!(
        !stdout.contains("SECRET"),
        "the token was printed: {stdout}"
    );

    let out = run(vg, &exe, &["success"], &[("FEISHU_BASE_URL", url.as_str())]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no token is a usage error: {}",
        show(&out)
    );

    // --wait shows progress until the task finishes.
    let out = run(vg, &exe, &["--wait", "10", "after-700ms"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout.contains("after-700ms: poll 1 at "), "{stdout}");
    assert!(stdout.contains("process (still running)"), "{stdout}");
    assert!(stdout.contains("after-700ms: success"), "{stdout}");

    // App credentials instead of a token: the library fetches the token.
    server.add_app("cli_example", "example-secret");
    let app_env = [
        ("FEISHU_BASE_URL", url.as_str()),
        ("FEISHU_APP_ID", "cli_example"),
        ("FEISHU_APP_SECRET", "example-secret"),
    ];
    let out = run(vg, &exe, &["fail", "process"], &app_env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("fail: fail") && stdout.contains("process: process"),
        "{stdout}"
    );
    assert_eq!(server.token_fetches(), 1);

    example_moves_and_deletes(vg, &server, &exe, &env, &app_env);
    Ok(())
}

/// The example's `move` / `delete` modes: the write is started, a folder's
/// task waited for with progress until it finishes; a file is done at once;
/// platform errors and bad input are reported (bad input sends nothing).
fn example_moves_and_deletes(
    vg: Option<&Path>,
    server: &Server,
    exe: &Path,
    env: &[(&str, &str)],
    app_env: &[(&str, &str)],
) {
    // A folder move from start to finish, under valgrind (the write, the
    // task id and the wait): long enough for several polls, and for the
    // first to see it running also when valgrind is slow to start the wait
    // (its code runs for the first time). The other modes run natively:
    // they take the same paths, and memcheck's start-up costs a second each.
    server.reset();
    server.set_task_duration(std::time::Duration::from_millis(2000));
    let out = run(vg, exe, &["move", "fldSource", "folder", "fldTarget"], env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    let ids = server.task_ids();
    assert_eq!(ids.len(), 1, "one folder task started: {stdout}");
    let id = &ids[0];
    assert!(
        stdout.contains(&format!(
            "move fldSource (folder) into fldTarget: started task {id}"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("  {id}: poll 1 at ")), "{stdout}");
    assert!(stdout.contains("process (still running)"), "{stdout}");
    assert!(
        stdout.contains(&format!("{id}: success (the task has finished)")),
        "{stdout}"
    );
    let writes = server.write_requests();
    assert_eq!(writes.len(), 1, "the move was sent once");
    assert_eq!(writes[0].path, "/open-apis/drive/v1/files/fldSource/move");
    assert_eq!(
        writes[0].body_str().as_deref(),
        Some(r#"{"type":"folder","folder_token":"fldTarget"}"#)
    );
    assert!(
        !stdout.contains("SECRET"),
        "the token was printed: {stdout}"
    );

    // A file move is done at once: no task, no wait.
    server.reset();
    let out = run(None, exe, &["move", "boxFile", "file", "fldTarget"], env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("move boxFile (file) into fldTarget: done at once"),
        "{stdout}"
    );
    assert!(!stdout.contains("poll"), "{stdout}");
    assert!(server.task_ids().is_empty());
    assert_eq!(server.request_count(), 1, "no task_check for a file");

    // A folder delete with the app's managed token and --wait.
    server.reset();
    server.set_task_duration(std::time::Duration::from_millis(300));
    let out = run(
        None,
        exe,
        &["--wait", "20", "delete", "fldOld", "folder"],
        app_env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("delete fldOld (folder): started task")
            && stdout.contains("waiting up to 20 s")
            && stdout.contains(": success (the task has finished)"),
        "{stdout}"
    );
    let writes = server.write_requests();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "DELETE");
    assert_eq!(writes[0].raw_query, "type=folder");

    // A task that fails: reported, exit status 1.
    let out = run(
        None,
        exe,
        &["move", "fldtask-fail", "folder", "fldTarget"],
        env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains(": fail (the task has failed)"), "{stdout}");

    // A platform error: its code, HTTP status and log id; nothing waited for.
    server.reset();
    let out = run(
        None,
        exe,
        &["move", "err-1061003", "folder", "fldTarget"],
        env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("err-1061003: error 1061003"), "{stdout}");
    assert!(
        stdout.contains("not found.")
            && stdout.contains("[HTTP 404]")
            && stdout.contains("[log id "),
        "{stdout}"
    );
    assert!(
        !stdout.contains("SECRET"),
        "the token was printed: {stdout}"
    );
    assert_eq!(server.request_count(), 1, "no task_check after a failure");

    // Bad input: the library refuses it and sends nothing.
    server.reset();
    let out = run(
        None,
        exe,
        &["move", "fldSource", "Folder", "fldTarget"],
        env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stdout.contains("fldSource: error -1 (invalid argument"),
        "{stdout}"
    );
    assert!(stdout.contains("file_type \"Folder\""), "{stdout}");
    let out = run(None, exe, &["delete", "fld Source", "folder"], env);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(server.request_count(), 0, "bad input was sent");

    // Usage errors: a wrong number of arguments, no token.
    for args in [
        &["move", "fldSource", "folder"][..],
        &["move", "a", "folder", "b", "c"],
        &["delete", "fldOld"],
        &["--wait", "0", "delete", "fldOld", "folder"],
    ] {
        let out = run(None, exe, args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("move <file_token> <type> <folder_token>"),
            "{}",
            show(&out)
        );
    }
    let out = run(
        None,
        exe,
        &["move", "fldSource", "folder", "fldTarget"],
        &[env[0]],
    );
    assert_eq!(out.status.code(), Some(2), "no token: {}", show(&out));
    assert_eq!(server.request_count(), 0, "a usage error sent something");
}

/// The lines of an strace log whose system call's name starts with `name`
/// (the name, not anywhere in the line: a path may hold "clone").
/// A host that forks with warm TLS connections: the child's calls never touch
/// the parent's connections, and the parent's go on working (`tests/c/fork.c`).
fn c_fork_with_warm_tls_connections_keeps_both_processes_working() -> Outcome {
    let server = Server::start();
    server.add_app("cli_fork", "fork-secret");
    let pki = tls::TestPki::generate();
    let front = tls::TlsFront::start(&pki, server.addr());
    let ca = pki.write_ca(&out_dir());
    let exe = compile("cc", "c99", &["tests/c/fork.c"], "fork");
    // Not under valgrind: memcheck cannot follow ring's assembly AES-GCM and
    // takes every TLS record for uninitialised bytes (in any TLS program).
    let out = Command::new(&exe)
        .args([
            &front.base_url_localhost(),
            ca.to_str().unwrap(),
            "cli_fork",
            "fork-secret",
        ])
        .env_clear()
        .output()
        .expect("run tests/c/fork.c");
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fork: ") && stdout.contains(" 0 failed"),
        "{stdout}"
    );
    // One token fetch: the children used the token their parent had fetched.
    assert_eq!(server.token_fetches(), 1);
    // 2 warm-up calls, then per round 4 in the child and 2 in the parent.
    assert_eq!(server.request_count(), 1 + 2 + 6 * 6);
    // The parent's two connections lasted; each child opened its own two.
    assert_eq!(front.handshakes_completed(), 2 + 6 * 2);
    assert_eq!(front.handshakes_failed(), 0);
    Ok(())
}

/// A host that forks while four threads are inside calls of the same client
/// (managed token, declared rate limit, a host name, waits with a cancel
/// handle) and of the default client: no child ever hangs on a lock, queue or
/// fetch of a thread it does not have, and every call on both sides
/// succeeds (`tests/c/fork_busy.c`).
fn c_fork_while_threads_are_mid_call_never_blocks_a_child() -> Outcome {
    let server = Server::start();
    server.add_app("cli_busy", "busy-secret");
    let exe = compile("cc", "c99", &["tests/c/fork_busy.c"], "fork_busy");
    let url = format!("http://localhost:{}", server.addr().port());
    // Not under valgrind: several hundred forks of a threaded process.
    let out = Command::new(&exe)
        .args([&url, "cli_busy", "busy-secret", "400"])
        .env_clear()
        .env("FEISHU_BASE_URL", &url)
        .env("FEISHU_TIMEOUT_MS", "2000")
        .output()
        .expect("run tests/c/fork_busy.c");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("400 forks, 0 children hung, 0 failed"),
        "{stdout}"
    );
    Ok(())
}

/// Calls from a pthread key destructor, after the thread's Rust
/// thread-locals are gone, return their codes instead of aborting the host
/// (`tests/c/teardown.c`).
fn c_calls_during_thread_teardown_return_codes() -> Outcome {
    let exe = compile("cc", "c99", &["tests/c/teardown.c"], "teardown");
    let out = run_ok(None, &exe, &[], &[]);
    assert!(
        out.contains("teardown: ") && out.contains(" 0 failed"),
        "{out}"
    );
    Ok(())
}

/// A host whose signal handler interrupts system calls (SIGALRM every 2 ms,
/// no SA_RESTART): each call, 300 ms in the receive, is interrupted about 150
/// times and still succeeds within its deadline (`tests/c/eintr.c`).
fn c_calls_survive_signals_that_interrupt_system_calls() -> Outcome {
    use server::Reply;
    let server = Server::start();
    let ids = ["slow-1", "slow-2", "slow-3"];
    for id in ids {
        server.set_sequence(
            id,
            vec![Reply::Delayed {
                ms: 300,
                reply: Box::new(Reply::status("success")),
            }],
        );
    }
    let exe = compile("cc", "c99", &["tests/c/eintr.c"], "eintr");
    // A localhost name: the first call resolves (on a thread) and connects
    // while signals land too.
    let url = format!("http://localhost:{}", server.addr().port());
    // Natively: valgrind delivers signals at its own points, which is not what a host's
    // signals do to the library's system calls.
    let out = run_ok(
        None,
        &exe,
        &ids,
        &[("FEISHU_BASE_URL", &url), ("FEISHU_TIMEOUT_MS", "5000")],
    );
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(
        server.request_count(),
        3,
        "each call sent once: no retry was needed"
    );
    Ok(())
}

fn syscalls(trace: &str, name: &str) -> usize {
    trace
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|c| c.starts_with(name))
        })
        .count()
}

fn warm_calls_spawn_no_thread_and_resolve_nothing() -> Outcome {
    let strace = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let Some(strace) = strace else {
        return Err(skip("strace is not installed (apt-get install strace)"));
    };
    let server = Server::start();
    let exe = compile("cc", "c99", &["tests/c/warm_calls.c"], "warm_calls");
    // A host name, not an IP literal, so that a lookup would really happen.
    let url = format!("http://localhost:{}", server.addr().port());
    // 200 calls under strace, tracing `calls`; returns the trace.
    let traced = |calls: &str, name: &str| {
        let log = out_dir().join(name);
        let out = Command::new(strace)
            .args(["-f", "-qq", "-e", calls, "-o"])
            .arg(&log)
            .arg(&exe)
            .arg("200")
            .env_clear()
            .env("FEISHU_BASE_URL", &url)
            .output()
            .expect("run strace");
        assert!(out.status.success(), "{}", show(&out));
        std::fs::read_to_string(&log).unwrap()
    };
    let trace = traced("trace=clone,clone3,openat,connect", "warm_calls.strace");
    let threads = syscalls(&trace, "clone");
    let lookups = trace.lines().filter(|l| l.contains("/etc/hosts")).count();
    assert_eq!(server.request_count(), 200);
    assert_eq!(server.connection_count(), 1);
    // The first (cold) call may resolve on one helper thread; the other 199 neither.
    assert!(
        threads <= 1,
        "{threads} threads spawned for 200 calls:\n{trace}"
    );
    assert!(
        lookups <= 1,
        "{lookups} name lookups for 200 calls:\n{trace}"
    );
    assert!(lookups == 1, "the cold call resolved localhost:\n{trace}");

    // The socket system calls: one connection for the 200 calls, one send
    // per call, and a bounded number of others. ureq's TCP transport spends
    // per warm call: the send and the receive, a liveness probe of the pooled
    // connection when it is taken and when it is put back (each an ioctl
    // FIONBIO, a 1-byte recv, an ioctl FIONBIO) and the socket's read and
    // write timeouts (setsockopt): 10 in all.
    let trace = traced("trace=%network,ioctl,fcntl", "warm_calls.net.strace");
    let count = |name: &str| syscalls(&trace, name);
    let inet_sockets = trace
        .lines()
        .filter(|l| l.contains("socket(AF_INET"))
        .count();
    assert_eq!(inet_sockets, 1, "one connection for 200 calls:\n{trace}");
    assert_eq!(count("sendto("), 200, "one send per call:\n{trace}");
    let total = trace.lines().count();
    assert!(
        total <= 200 * 10 + 16,
        "{total} socket calls for 200 calls (10 per warm call, 16 for the cold one):\n{trace}"
    );
    Ok(())
}

support::native_tests!(
    header_compiles_as_c99_c11_and_cpp11_and_says_what_it_promises,
    the_shared_library_carries_its_soname,
    c_task_check_covers_statuses_errors_and_faults,
    c_client_api_options_errors_retries_and_logging,
    c_invalid_input_is_rejected_and_sends_nothing,
    c_threads_each_see_their_own_last_error,
    c_bad_environment_fails_every_call_naming_the_variable,
    c_example_prints_statuses_and_errors,
    c_fork_with_warm_tls_connections_keeps_both_processes_working,
    c_fork_while_threads_are_mid_call_never_blocks_a_child,
    c_calls_during_thread_teardown_return_codes,
    c_calls_survive_signals_that_interrupt_system_calls,
    warm_calls_spawn_no_thread_and_resolve_nothing,
);

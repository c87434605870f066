//! The Go binding (`examples/go/`, package `feishutask` over cgo): `gofmt`,
//! `go vet`, the package's tests compiled once (`go test -c`, under the race
//! detector) and run in `native::WORKERS` processes at once, each with its own
//! in-process mock Feishu server and its share of the tests (longest first, by the
//! times the previous run reported); every listed test must pass in exactly one of
//! them. And the `taskwait` command built and run against the mock server.
//!
//! Needs Go 1.19 or later (`apt-get install golang-go`). Without it the tests
//! are skipped (shown as ignored, with the reason), except where skips are
//! forbidden (`CI` set), where they fail. Go downloads nothing (standard library
//! only, `GOPROXY=off`); its GOPATH lives in `CARGO_TARGET_TMPDIR`, its build
//! cache is the user's own (`go env GOCACHE`, as for any `go test`: compiled
//! packages, the race-instrumented standard library above all, are kept from one
//! clone and run to the next), else (no HOME) in `CARGO_TARGET_TMPDIR` too.
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use support::harness::{Outcome, Skip, skip};
use support::native;
use support::server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use native::{root, show};
use server::Server;

fn lib_dir() -> PathBuf {
    native::lib_dir("go")
}

fn out_dir() -> PathBuf {
    native::scratch_dir("go")
}

fn go_src() -> PathBuf {
    root().join("examples/go")
}

/// The `go` command: on PATH, else Debian's `/usr/lib/go/bin/go`; the test's
/// skip when Go is not installed (a failure where skips are forbidden).
fn go() -> Result<&'static Path, Skip> {
    static GO: OnceLock<Option<PathBuf>> = OnceLock::new();
    GO.get_or_init(|| {
        let on_path: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join("go")).collect())
            .unwrap_or_default();
        on_path
            .into_iter()
            .chain([PathBuf::from("/usr/lib/go/bin/go")])
            .find(|p| p.is_file())
    })
    .as_deref()
    .ok_or_else(|| {
        skip(
            "go is not installed (neither on PATH nor /usr/lib/go/bin/go): \
             apt-get install golang-go",
        )
    })
}

/// A `go` command in `examples/go`, linking to the fresh library, offline,
/// with its cache and GOPATH under the target directory, and with no variable
/// of the caller's environment that would point the clients elsewhere.
fn go_cmd(go: &Path) -> Command {
    let mut cmd = Command::new(go);
    go_env(&mut cmd);
    cmd
}

/// The environment of [`go_cmd`], for `go` or a test binary it built.
fn go_env(cmd: &mut Command) {
    let lib = lib_dir();
    let tmp = out_dir();
    cmd.current_dir(go_src())
        .env("CGO_ENABLED", "1")
        .env(
            "CGO_LDFLAGS",
            format!("-L{0} -Wl,-rpath,{0}", lib.display()),
        )
        .env("GOPATH", tmp.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("GOENV", "off")
        .env("GO111MODULE", "on");
    let user_cache = ["GOCACHE", "XDG_CACHE_HOME", "HOME"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    if !user_cache {
        cmd.env("GOCACHE", tmp.join("cache"));
    }
    for var in [
        "FEISHU_BASE_URL",
        "FEISHU_TIMEOUT_MS",
        "FEISHU_CA_FILE",
        "FEISHU_TOKEN",
        "FEISHU_APP_ID",
        "FEISHU_APP_SECRET",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "GOARCH",
        "GOOS",
    ] {
        cmd.env_remove(var);
    }
}

fn run_go(go: &Path, args: &[&str]) -> String {
    let out = go_cmd(go)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", go.display()));
    assert!(out.status.success(), "go {args:?} failed\n{}", show(&out));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn go_package_is_formatted_vetted_and_passes_its_tests() -> Outcome {
    let go = go()?;
    let gofmt = go.with_file_name("gofmt");
    if gofmt.is_file() {
        let out = Command::new(&gofmt)
            .arg("-l")
            .arg(".")
            .current_dir(go_src())
            .output()
            .expect("run gofmt");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "gofmt -l lists unformatted files\n{}",
            show(&out)
        );
    }

    run_go(go, &["vet", "./..."]);

    // The race detector works with cgo; it exists only on these targets.
    let race = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
    let exe = out_dir().join("feishutask.test");
    let mut args = vec!["test", "-c", "-o", exe.to_str().unwrap()];
    if race {
        args.push("-race");
    }
    args.push(".");
    run_go(go, &args);
    let tests = go_tests(&exe);
    assert!(
        tests.len() >= 15,
        "only {} Go tests listed: {tests:?}",
        tests.len()
    );

    // The tests mostly wait (for polls, write pacing, deadlines), so they are shared out
    // to native::WORKERS runs of the test binary at once, each against a mock server of
    // its own (the tests read and set the server's counters); the longest of the last run
    // are shared out first, each to the run with the least to do so far.
    let times_file = out_dir().join("test_times");
    let times: Vec<(String, f64)> = std::fs::read_to_string(&times_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, secs) = l.split_once(' ')?;
            Some((name.to_owned(), secs.parse().ok()?))
        })
        .collect();
    let took = |name: &str| times.iter().find(|(n, _)| n == name).map_or(0.0, |t| t.1);
    let mut order: Vec<&String> = tests.iter().collect();
    order.sort_by(|a, b| took(b).total_cmp(&took(a)));
    let mut shares: Vec<(f64, Vec<&str>)> = vec![(0.0, Vec::new()); native::WORKERS];
    for name in order {
        let least = shares
            .iter_mut()
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.len().cmp(&b.1.len())))
            .expect("workers");
        least.0 += took(name);
        least.1.push(name);
    }

    let shares: Vec<Vec<&str>> = shares
        .into_iter()
        .map(|(_, names)| names)
        .filter(|names| !names.is_empty())
        .collect();
    let runs = native::run_workers(shares.len(), |i| {
        let names = &shares[i];
        let server = Server::start();
        // The managed-token test also registers it over HTTP (POST /_mock/app).
        server.add_app("cli_go", "go-secret");
        let mut cmd = Command::new(&exe);
        go_env(&mut cmd);
        let out = cmd
            .env("FEISHU_TEST_BASE_URL", server.base_url())
            .args(["-test.count=1", "-test.v", "-test.run"])
            .arg(format!("^({})$", names.join("|")))
            .output()
            .expect("run the Go test binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "Go tests {names:?} failed\n{text}");
        (text, server.request_count())
    });
    // A share may hold only tests that send nothing; all of them together must not.
    let requests: usize = runs.iter().map(|r| r.1).sum();
    assert!(requests > 0, "the Go tests sent nothing");
    let outputs: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    let out = outputs.join("\n");
    // "--- PASS: TestName (1.23s)" of each top-level test (subtests are indented).
    let results: Vec<(&str, &str, f64)> = out
        .lines()
        .filter_map(|l| {
            let (verdict, rest) = l.strip_prefix("--- ")?.split_once(": ")?;
            let (name, secs) = rest.split_once(" (")?;
            Some((verdict, name, secs.strip_suffix("s)")?.parse().ok()?))
        })
        .collect();
    let passed: Vec<&str> = results
        .iter()
        .filter(|r| r.0 == "PASS")
        .map(|r| r.1)
        .collect();
    let skipped: Vec<&str> = out.lines().filter(|l| l.contains("--- SKIP")).collect();
    let failed = out.lines().filter(|l| l.contains("--- FAIL")).count();
    eprintln!(
        "go test{}: {} passed, {failed} failed, {} skipped, in {} runs at once",
        if race { " -race" } else { "" },
        passed.len(),
        skipped.len(),
        outputs.len()
    );
    assert_eq!(failed, 0, "{out}");
    assert!(skipped.is_empty(), "Go tests were skipped:\n{out}");
    let missing: Vec<&String> = tests
        .iter()
        .filter(|t| !passed.contains(&t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "Go tests that did not pass: {missing:?}\n{out}"
    );
    assert!(
        !out.contains("WARNING: DATA RACE"),
        "the race detector fired:\n{out}"
    );
    let times: String = results
        .iter()
        .map(|r| format!("{} {}\n", r.1, r.2))
        .collect();
    std::fs::write(&times_file, times).expect("keep the Go tests' times");
    Ok(())
}

/// The tests and examples of the Go test binary `exe` (`-test.list`).
fn go_tests(exe: &Path) -> Vec<String> {
    let mut cmd = Command::new(exe);
    go_env(&mut cmd);
    let out = cmd
        .args(["-test.list", "."])
        .output()
        .expect("run the Go test binary");
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Test") || l.starts_with("Example"))
        .map(str::to_owned)
        .collect()
}

fn go_taskwait_command_waits_with_progress() -> Outcome {
    let go = go()?;
    let server = Server::start();
    let url = server.base_url();
    let exe = out_dir().join("taskwait");
    run_go(
        go,
        &["build", "-o", exe.to_str().unwrap(), "./cmd/taskwait"],
    );

    let run = |args: &[&str], env: &[(&str, &str)]| -> Output {
        let mut cmd = Command::new(&exe);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FEISHU_BASE_URL", &url);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run taskwait")
    };
    let token = [("FEISHU_TOKEN", "t-SECRET0123456789")];

    let out = run(&["-timeout", "10s", "after-700ms"], &token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("after-700ms: poll 1 at 0.0 s: process (still running)"),
        "{stdout}"
    );
    let polls = stdout.lines().filter(|l| l.contains(": poll ")).count();
    assert!(polls >= 2, "{polls} progress lines:\n{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l == "after-700ms: success (the task has finished)"),
        "{stdout}"
    );

    // A platform error: its code, message and log id; exit status 1.
    let out = run(&["err-1061003"], &token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("err-1061003: error 1061003"), "{stdout}");
    assert!(stdout.contains("[log id "), "{stdout}");
    assert!(
        !stdout.contains("SECRET"),
        "the token was printed: {stdout}"
    );

    // The deadline: a timeout with the last status seen.
    let out = run(&["-timeout", "500ms", "process"], &token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("process: error -3"), "{stdout}");
    assert!(stdout.contains("[last status process]"), "{stdout}");

    // App credentials instead of a token.
    server.add_app("cli_go", "go-secret");
    let app = [
        ("FEISHU_APP_ID", "cli_go"),
        ("FEISHU_APP_SECRET", "go-secret"),
    ];
    let out = run(&["success"], &app);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("success: success"),
        "{}",
        show(&out)
    );
    assert_eq!(server.token_fetches(), 1);

    // No token and no credentials: a usage error.
    let out = run(&["success"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    Ok(())
}

support::native_tests!(
    go_package_is_formatted_vetted_and_passes_its_tests,
    go_taskwait_command_waits_with_progress,
);

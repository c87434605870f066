//! The Go binding (`examples/go/`, package `feishutask` over cgo): `gofmt`,
//! `go vet`, `go test` (under the race detector) against the in-process mock
//! Feishu server, and the `taskwait` command built and run against it.
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
fn go_cmd(go: &Path, base_url: &str) -> Command {
    let lib = lib_dir();
    let tmp = out_dir();
    let mut cmd = Command::new(go);
    cmd.current_dir(go_src())
        .env("CGO_ENABLED", "1")
        .env(
            "CGO_LDFLAGS",
            format!("-L{0} -Wl,-rpath,{0}", lib.display()),
        )
        .env("FEISHU_TEST_BASE_URL", base_url)
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
    cmd
}

fn run_go(go: &Path, base_url: &str, args: &[&str]) -> String {
    let out = go_cmd(go, base_url)
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
    let server = Server::start();
    // The managed-token test also registers it over HTTP (POST /_mock/app).
    server.add_app("cli_go", "go-secret");
    let url = server.base_url();

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

    run_go(go, &url, &["vet", "./..."]);

    // The race detector works with cgo; it exists only on these targets.
    let race = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
    let mut args = vec!["test", "-count=1", "-v"];
    if race {
        args.push("-race");
    }
    args.push("./...");
    let out = run_go(go, &url, &args);
    let passed = out.lines().filter(|l| l.contains("--- PASS")).count();
    let skipped: Vec<&str> = out.lines().filter(|l| l.contains("--- SKIP")).collect();
    let failed = out.lines().filter(|l| l.contains("--- FAIL")).count();
    eprintln!(
        "go test{}: {passed} passed, {failed} failed, {} skipped",
        if race { " -race" } else { "" },
        skipped.len()
    );
    assert_eq!(failed, 0, "{out}");
    assert!(skipped.is_empty(), "Go tests were skipped:\n{out}");
    assert!(passed >= 15, "only {passed} Go tests passed:\n{out}");
    assert!(
        !out.contains("WARNING: DATA RACE"),
        "the race detector fired:\n{out}"
    );
    assert!(server.request_count() > 0, "the Go tests sent nothing");
    Ok(())
}

fn go_taskwait_command_waits_with_progress() -> Outcome {
    let go = go()?;
    let server = Server::start();
    let url = server.base_url();
    let exe = out_dir().join("taskwait");
    run_go(
        go,
        &url,
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

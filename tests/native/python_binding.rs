//! The Python binding (`examples/python`: the ctypes package `feishu_task`), two ways:
//!
//! - from the source tree: `python3` in examples/python with `FEISHU_TASK_LIB` pointing at the
//!   freshly built library: the unittest module against the mock Feishu server (its tests
//!   shared out between `native::WORKERS` Python processes, each with a server of its own;
//!   every test the unittest loader lists must run in exactly one of them), the loader's
//!   error, and `python -m feishu_task` (the command-line client);
//! - installed: `pip install examples/python` into a fresh virtual environment builds the
//!   library (setuptools-rust, release) and a wheel that carries it. The unittest module then
//!   runs against that install alone (a copy of it in a directory of its own, no
//!   `FEISHU_TASK_LIB`, no `PYTHONPATH`); `pip wheel examples/python` gives the wheel whose
//!   contents are checked, and which is installed into every other Python 3.9+ found.
//!   cargo builds the library for it in the target directory of the tests' one release build
//!   (`<target>/test-release`, LTO off: `support::native::release_build_env`), reusing what
//!   the other tests and the earlier runs built there.
//!
//! Skipped (shown as ignored, with the reason) when python3, its venv/pip or the package
//! registry is unavailable, except where skips are forbidden (CI), where that fails.
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use support::harness::{Outcome, Skip, skip};
use support::native;
use support::server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use native::{Claims, WORKERS, fresh_library, root, show};
use server::Server;

fn out_dir() -> PathBuf {
    native::scratch_dir("python")
}

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The app the managed-token test uses.
const APP_ID: &str = "cli_py";
const APP_SECRET: &str = "py-secret";
/// The token the command-line tests pass in FEISHU_TOKEN.
const TOKEN: &str = "t-cli0123456789";
/// A unittest run (or any other Python run) is killed (and fails) after this.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// `pip install` / `pip wheel` (a release build of the library the first time) is killed
/// (and fails) after this.
const PIP_LIMIT: Duration = Duration::from_secs(900);
/// The oldest Python the package claims (pyproject.toml's requires-python).
const MIN_PYTHON: (u32, u32) = (3, 9);

/// Variables of the caller's environment that would change what the tests see.
const SCRUBBED: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "FEISHU_TIMEOUT_MS",
    "FEISHU_CA_FILE",
    "FEISHU_TOKEN",
    "FEISHU_APP_ID",
    "FEISHU_APP_SECRET",
    "FEISHU_BASE_URL",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONWARNINGS",
];

/// What in pip's output means the package registry could not be reached.
const NETWORK_ERRORS: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "connection broken by",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ProxyError",
    "ConnectTimeoutError",
    "Could not fetch URL",
    // No index answered: setuptools, a build requirement, always has versions on PyPI.
    "(from versions: none)",
];

/// Whether `python3` runs.
fn have_python_quietly() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `Ok` when `python3` runs; else the test's skip (a failure where skips are forbidden).
fn have_python() -> Result<(), Skip> {
    if have_python_quietly() {
        Ok(())
    } else {
        Err(skip("python3 is not installed"))
    }
}

/// Runs `cmd` (stdin closed) with its output in `<out_dir>/<name>.std{out,err}`; kills it
/// (and panics, showing its stderr) after `limit`.
fn run(mut cmd: Command, name: &str, limit: Duration) -> Output {
    let stdout_path = out_dir().join(format!("{name}.stdout"));
    let stderr_path = out_dir().join(format!("{name}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create the stdout file"))
        .stderr(File::create(&stderr_path).expect("create the stderr file"));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} ran longer than {limit:?}; stderr so far:\n{}",
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

/// A Python command with the caller's environment scrubbed and `env` added.
fn python_cmd(python: &Path, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(args)
        .current_dir(cwd)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONFAULTHANDLER", "1") // a crash in C shows the Python stack
        .env("EXPECT_VERSION", VERSION);
    for var in SCRUBBED {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `python3 ARGS` in examples/python with the fresh library and `env`.
fn python(args: &[&str], env: &[(&str, &str)], name: &str) -> Output {
    let mut cmd = python_cmd(
        Path::new("python3"),
        args,
        &root().join("examples/python"),
        &[],
    );
    cmd.env("FEISHU_TASK_LIB", fresh_library());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, name, RUN_LIMIT)
}

/// `python ARGS` of a virtual environment in `cwd`: nothing but what is installed there
/// (no FEISHU_TASK_LIB, no PYTHONPATH, no user site, no library path of cargo's).
fn venv_python(
    python: &Path,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
    name: &str,
) -> Output {
    let mut cmd = python_cmd(python, args, cwd, env);
    cmd.env_remove("LD_LIBRARY_PATH")
        .env("PYTHONNOUSERSITE", "1");
    if !env.iter().any(|(k, _)| *k == "FEISHU_TASK_LIB") {
        cmd.env_remove("FEISHU_TASK_LIB");
    }
    run(cmd, name, RUN_LIMIT)
}

/// A fresh mock server with the unittest module's app, and the module's variables for it.
fn unittest_server() -> (Server, Vec<(&'static str, String)>) {
    let server = Server::start();
    server.add_app(APP_ID, APP_SECRET);
    let url = server.base_url();
    let env = vec![
        ("FEISHU_TEST_BASE_URL", url.clone()),
        ("FEISHU_BASE_URL", url),
        ("FEISHU_TEST_APP_ID", APP_ID.to_owned()),
        ("FEISHU_TEST_APP_SECRET", APP_SECRET.to_owned()),
    ];
    (server, env)
}

fn env_refs<'a>(env: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Runs a Python: its arguments, its extra environment, and the name of its output files.
type RunPython<'a> = &'a (dyn Fn(&[&str], &[(&str, &str)], &str) -> Output + Sync);

/// Lists the test ids of `test_feishu_task`, as unittest's own loader finds them.
const LIST_TESTS: &str = "\
import unittest, test_feishu_task
def ids(suite):
    for t in suite:
        yield from ids(t) if isinstance(t, unittest.TestSuite) else [t.id()]
print(*ids(unittest.defaultTestLoader.loadTestsFromModule(test_feishu_task)), sep='\\n')
";

/// One worker of a unittest run: `python -c WORKER CLAIMS ID...` runs, in order, each test
/// id it claims first (by creating `CLAIMS/ID`; the workers share CLAIMS), with unittest's
/// own loader and runner (verbose, on stderr), and writes the seconds it took into that
/// file; then prints `ran N failed F skipped S`.
const WORKER: &str = "\
import os, sys, time, unittest
claims, ids = sys.argv[1], sys.argv[2:]
runner = unittest.TextTestRunner(verbosity=2)
ran = failed = skipped = 0
for test_id in ids:
    try:
        claim = os.open(os.path.join(claims, test_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        continue
    started = time.monotonic()
    result = runner.run(unittest.defaultTestLoader.loadTestsFromName(test_id))
    os.write(claim, b'%.3f' % (time.monotonic() - started))
    os.close(claim)
    ran += result.testsRun
    failed += len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped += len(result.skipped)
print(f'ran {ran} failed {failed} skipped {skipped}')
sys.exit(1 if failed else 0)
";

/// Runs the unittest module `test_feishu_task` with `python` (`what` names it in failures)
/// and asserts that it passed for real; returns how many tests ran.
///
/// The module's tests mostly wait (for polls, write pacing, deadlines), one after the
/// other, so [`WORKERS`] processes share the run: each takes the next test that no other
/// has taken (see [`WORKER`]) and runs it against a mock server of its own (the tests read
/// and set the server's counters, so no two processes share one). Every test id that
/// unittest's loader lists must run once, and pass; none may be skipped. The longest tests
/// of the last run go first ([`Claims`]).
fn unittest_module(python: RunPython, name: &str, what: &str) -> u32 {
    let listing = python(&["-c", LIST_TESTS], &[], &format!("{name}_list"));
    assert!(
        listing.status.success(),
        "{what}: list the tests\n{}",
        show(&listing)
    );
    let mut ids: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        ids.len() > 20,
        "{what}: only {} tests listed\n{}",
        ids.len(),
        show(&listing)
    );
    let claims = Claims::fresh(out_dir().join(format!("{name}_claims")), &mut ids);
    let mut args = vec!["-c", WORKER, claims.dir()];
    args.extend(ids.iter().map(String::as_str));

    let results = native::run_workers(WORKERS, |i| {
        let (server, env) = unittest_server();
        let out = python(&args, &env_refs(&env), &format!("{name}_{i}"));
        let ran = check_worker(&out, &format!("{what} (worker {i} of {WORKERS})"));
        (
            ran,
            server.request_count(),
            server.token_fetches_for(APP_ID),
        )
    });
    let ran: usize = results.iter().map(|r| r.0).sum();
    let requests: usize = results.iter().map(|r| r.1).sum();
    let fetches: usize = results.iter().map(|r| r.2).sum();
    claims.assert_all_claimed(&ids, what);
    assert_eq!(
        ran,
        ids.len(),
        "{what}: tests run, against the {} listed",
        ids.len()
    );
    // The tests talked to the servers for real, the managed-token ones included.
    assert!(
        requests > 300,
        "{what}: the tests sent only {requests} requests"
    );
    assert!(fetches >= 2, "{what}: {fetches} token fetches");
    u32::try_from(ran).expect("a test count")
}

/// Asserts that a worker of [`unittest_module`] passed: exit status 0, its summary line
/// saying nothing failed and nothing was skipped (for a missing server, app or library),
/// no FAIL or ERROR in unittest's output. Returns how many tests it ran.
fn check_worker(out: &Output, what: &str) -> usize {
    assert!(out.status.success(), "{what}\n{}", show(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for bad in ["FAIL", "ERROR", "skipped"] {
        assert!(!stderr.contains(bad), "{what}: {bad}\n{}", show(out));
    }
    let numbers: Vec<usize> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ran "))
        .unwrap_or_else(|| panic!("{what}: no summary line\n{}", show(out)))
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [ran, 0, 0] = numbers[..] else {
        panic!("{what}: {numbers:?} (ran, failed, skipped)\n{}", show(out));
    };
    ran
}

// ------------------------------------------------------------------------- the source tree

fn python_unittest_module_passes_against_the_mock_server() -> Outcome {
    have_python()?;
    let ran = unittest_module(&python, "unittest", "the source tree");
    eprintln!("Python binding (source tree): {ran} tests passed");
    Ok(())
}

fn python_module_says_where_the_library_should_be() -> Outcome {
    have_python()?;
    let missing = out_dir().join("no-such-dir/libfeishu_task.so");
    let out = python(
        &["-c", "import feishu_task"],
        &[("FEISHU_TASK_LIB", missing.to_str().unwrap())],
        "import_missing",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        stderr.contains("ImportError") && stderr.contains("FEISHU_TASK_LIB"),
        "{}",
        show(&out)
    );

    let out = python(
        &[
            "-c",
            "import feishu_task as f; print(f.version(), f.Status(3).name, f.strerror(-3)); \
             print(f.library_path)",
        ],
        &[],
        "import_ok",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.starts_with(&format!("{VERSION} PROCESS ")),
        "{stdout}"
    );
    // FEISHU_TASK_LIB is taken as it is.
    assert_eq!(
        stdout.lines().nth(1),
        Some(fresh_library().to_str().unwrap()),
        "{stdout}"
    );
    Ok(())
}

/// `python -m feishu_task` (source tree) against `server` with FEISHU_TOKEN: its output and
/// exit code.
fn cli(server: &Server, args: &[&str], env: &[(&str, &str)], name: &str) -> (String, Output) {
    let url = server.base_url();
    let mut all = vec![("FEISHU_TOKEN", TOKEN), ("FEISHU_BASE_URL", url.as_str())];
    all.extend_from_slice(env);
    let mut argv = vec!["-m", "feishu_task"];
    argv.extend_from_slice(args);
    let out = python(&argv, &all, name);
    (String::from_utf8_lossy(&out.stdout).into_owned(), out)
}

/// The log id the server sent for `task_id` (the first request for it).
fn logid_of(server: &Server, task_id: &str) -> String {
    server
        .requests()
        .iter()
        .find(|r| r.task_id_str().as_deref() == Some(task_id))
        .and_then(|r| r.logid.clone())
        .unwrap_or_else(|| panic!("no log id recorded for {task_id}"))
}

fn python_m_feishu_task_prints_statuses_and_errors_like_the_c_example() -> Outcome {
    have_python()?;
    let server = Server::start();

    // Statuses and a platform error with its log id; any failure: exit 1.
    let (stdout, out) = cli(
        &server,
        &[
            "success",
            "fail",
            "process",
            "err-1061003",
            "7360595374803812356",
        ],
        &[],
        "cli_mixed",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", show(&out));
    assert_eq!(lines[0], "success: success (the task has finished)");
    assert_eq!(lines[1], "fail: fail (the task has failed)");
    assert_eq!(lines[2], "process: process (still running)");
    let logid = logid_of(&server, "err-1061003");
    assert!(
        lines[3].starts_with(
            "err-1061003: error 1061003 (platform: not found (the task, file or folder)): "
        ) && lines[3].ends_with(&format!("[HTTP 404] [log id {logid}]")),
        "{}",
        show(&out)
    );
    assert_eq!(
        lines[4],
        "7360595374803812356: success (the task has finished)"
    );
    // The token went out as the bearer, and never into the output.
    let auth = server.last_request().unwrap();
    assert_eq!(
        auth.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(!stdout.contains(TOKEN) && !String::from_utf8_lossy(&out.stderr).contains(TOKEN));

    // Every task checked: exit 0.
    let (stdout, out) = cli(&server, &["success", "process"], &[], "cli_ok");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    // A rate limit: the advice to wait is shown.
    let (stdout, out) = cli(&server, &["rate-limited-1s"], &[], "cli_rate_limited");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stdout.contains("error 99991400") && stdout.contains("[retry after 1000 ms]"),
        "{stdout}"
    );
    Ok(())
}

fn python_m_feishu_task_waits_with_progress() -> Outcome {
    have_python()?;
    let server = Server::start();

    // A task that finishes after 700 ms: progress lines, then its status; exit 0.
    let (stdout, out) = cli(&server, &["--wait", "10", "after-700ms"], &[], "cli_wait");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let polls: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("  after-700ms: poll "))
        .collect();
    assert!(polls.len() >= 2, "{}", show(&out));
    assert!(
        polls[0].starts_with("  after-700ms: poll 1 at ")
            && polls[0].ends_with(" s: process (still running)"),
        "{}",
        show(&out)
    );
    assert!(
        polls
            .last()
            .unwrap()
            .ends_with("success (the task has finished)")
    );
    assert_eq!(
        stdout.lines().last(),
        Some("after-700ms: success (the task has finished)"),
        "{}",
        show(&out)
    );

    // A task that never finishes: the wait times out, exit 1, the last status named.
    let (stdout, out) = cli(
        &server,
        &["--wait", "1", "process"],
        &[],
        "cli_wait_timeout",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("process: error -3 (") && last.contains("last status process"),
        "{}",
        show(&out)
    );

    // The app's credentials instead of a token.
    server.add_app("cli_app", "app-secret");
    let url = server.base_url();
    let out = python(
        &["-m", "feishu_task", "--wait", "5", "success"],
        &[
            ("FEISHU_BASE_URL", url.as_str()),
            ("FEISHU_APP_ID", "cli_app"),
            ("FEISHU_APP_SECRET", "app-secret"),
        ],
        "cli_app",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .ends_with("success: success (the task has finished)\n")
    );
    assert_eq!(server.token_fetches_for("cli_app"), 1);
    Ok(())
}

fn python_m_feishu_task_usage_errors_exit_2() -> Outcome {
    have_python()?;
    let server = Server::start();
    for (i, args) in [
        &[][..],
        &["--wait"][..],
        &["--wait", "0", "success"][..],
        &["--wait", "86401", "success"][..],
        &["--wait", "soon", "success"][..],
        &["--no-such-option", "success"][..],
    ]
    .into_iter()
    .enumerate()
    {
        let (_, out) = cli(&server, args, &[], &format!("cli_usage_{i}"));
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{args:?}\n{}",
            show(&out)
        );
    }
    // Neither a token nor an app.
    let out = python(&["-m", "feishu_task", "success"], &[], "cli_no_token");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FEISHU_TOKEN"));
    assert_eq!(server.request_count(), 0, "nothing was sent");
    Ok(())
}

// ------------------------------------------------------------------------- pip install

/// The package as `pip install examples/python` installed it into a fresh venv, and the wheel
/// `pip wheel examples/python` built.
struct Installed {
    /// The venv's `bin/python`.
    python: PathBuf,
    venv: PathBuf,
    wheel: PathBuf,
}

enum Setup {
    Ready(Installed),
    /// Python's venv/pip or the package registry is missing (a skip, except in CI).
    Unavailable(String),
    Failed(String),
}

/// The package installed by pip, and its wheel, made once for every test here.
static SETUP: OnceLock<Setup> = OnceLock::new();

/// Whether the test named `name` (`python_binding::...`) uses the pip-built package.
pub fn needs_the_wheel(name: &str) -> bool {
    name.strip_prefix("python_binding::")
        .is_some_and(|t| t.starts_with("pip_") || t.starts_with("wheel_"))
}

/// Builds and installs the package (what [`installed`] waits for) ahead of the tests, when
/// python3 runs here; says nothing otherwise (the tests do).
pub fn prepare() {
    if have_python_quietly() {
        SETUP.get_or_init(install);
    }
}

/// The installed package, set up once for every test here; the test's skip when it cannot
/// be (a failure where skips are forbidden).
fn installed() -> Result<&'static Installed, Skip> {
    have_python()?;
    match SETUP.get_or_init(install) {
        Setup::Ready(installed) => Ok(installed),
        Setup::Unavailable(why) => Err(skip(why.clone())),
        Setup::Failed(why) => panic!("{why}"),
    }
}

/// `git status --porcelain -- examples/python`, or `None` outside a git checkout.
fn source_status() -> Option<String> {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all", "--"])
        .arg(root().join("examples/python"))
        .current_dir(root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `python -m pip ARGS` for the build: the caller's environment (proxies and pip's own
/// settings included, to reach the registry), cargo's output in the tests' release build.
fn pip(python: &Path, args: &[&str], name: &str) -> Result<Output, Setup> {
    let mut cmd = Command::new(python);
    native::release_build_env(&mut cmd);
    cmd.args(["-m", "pip"])
        .args(args)
        .current_dir(out_dir())
        .env("PIP_NO_INPUT", "1")
        .env("PIP_PROGRESS_BAR", "off")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("FEISHU_TASK_LIB");
    let out = {
        let _lock = native::release_build_lock();
        run(cmd, name, PIP_LIMIT)
    };
    if out.status.success() {
        return Ok(out);
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if NETWORK_ERRORS.iter().any(|e| text.contains(e)) {
        eprintln!("pip {args:?}:\n{}", show(&out));
        return Err(Setup::Unavailable(
            "pip could not reach the package registry (PyPI) for the build requirements".into(),
        ));
    }
    Err(Setup::Failed(format!(
        "pip {args:?} failed\n{}",
        show(&out)
    )))
}

/// Creates a venv with pip at `dir`, anew.
fn make_venv(python: &Path, dir: &Path, name: &str) -> Result<PathBuf, Setup> {
    let _ = std::fs::remove_dir_all(dir);
    let mut cmd = Command::new(python);
    cmd.args(["-m", "venv"]).arg(dir);
    let out = run(cmd, name, RUN_LIMIT);
    let venv_python = dir.join("bin/python");
    if !out.status.success() || !venv_python.exists() {
        eprintln!("{} -m venv:\n{}", python.display(), show(&out));
        return Err(Setup::Unavailable(format!(
            "{} -m venv failed (Debian and Ubuntu: apt-get install python3-venv)",
            python.display()
        )));
    }
    let mut cmd = Command::new(&venv_python);
    cmd.args(["-m", "pip", "--version"]);
    let out = run(cmd, &format!("{name}_pip"), RUN_LIMIT);
    if !out.status.success() {
        eprintln!(
            "{} -m pip --version:\n{}",
            venv_python.display(),
            show(&out)
        );
        return Err(Setup::Unavailable(format!(
            "the venv of {} has no pip (Debian and Ubuntu: apt-get install python3-venv)",
            python.display()
        )));
    }
    Ok(venv_python)
}

fn install() -> Setup {
    let dir = out_dir().join("installed");
    std::fs::create_dir_all(&dir).expect("create the install dir");
    let venv = dir.join("venv");
    let python = match make_venv(Path::new("python3"), &venv, "venv") {
        Ok(python) => python,
        Err(setup) => return setup,
    };
    let package = root().join("examples/python");
    let package = package.to_str().expect("a UTF-8 path");
    let before = source_status();

    // The issue's command, as a user types it: builds the library and the wheel, installs.
    let started = Instant::now();
    if let Err(setup) = pip(&python, &["install", package], "pip_install") {
        return setup;
    }
    eprintln!(
        "pip install examples/python: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The wheel itself (cargo's build is incremental by now).
    let wheelhouse = dir.join("wheelhouse");
    let _ = std::fs::remove_dir_all(&wheelhouse);
    let started = Instant::now();
    let wheelhouse_arg = wheelhouse.to_str().expect("a UTF-8 path");
    if let Err(setup) = pip(
        &python,
        &["wheel", "--no-deps", package, "-w", wheelhouse_arg],
        "pip_wheel",
    ) {
        return setup;
    }
    eprintln!(
        "pip wheel examples/python: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    if let (Some(before), Some(after)) = (before, source_status()) {
        if before != after {
            return Setup::Failed(format!(
                "pip wrote into the source tree (examples/python):\nbefore:\n{before}\nafter:\n{after}"
            ));
        }
    }
    let wheels: Vec<PathBuf> = std::fs::read_dir(&wheelhouse)
        .expect("read the wheelhouse")
        .map(|e| e.expect("a wheelhouse entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    let [wheel] = &wheels[..] else {
        return Setup::Failed(format!("pip wheel made {wheels:?}, not one wheel"));
    };
    Setup::Ready(Installed {
        python,
        venv,
        wheel: wheel.clone(),
    })
}

/// A directory holding a copy of the unittest module and nothing else: `import feishu_task`
/// there can only find the installed package.
fn tests_copy(name: &str) -> PathBuf {
    let dir = out_dir().join("installed").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the tests dir");
    std::fs::copy(
        root().join("examples/python/test_feishu_task.py"),
        dir.join("test_feishu_task.py"),
    )
    .expect("copy test_feishu_task.py");
    dir
}

/// `feishu_task.__file__` and `library_path` as `python` in `cwd` sees them.
fn where_loaded(python: &Path, cwd: &Path, env: &[(&str, &str)], name: &str) -> (String, String) {
    let out = venv_python(
        python,
        &[
            "-c",
            "import feishu_task as f; print(f.__file__); print(f.library_path); print(f.version())",
        ],
        cwd,
        env,
        name,
    );
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", show(&out));
    assert_eq!(lines[2], VERSION, "{}", show(&out));
    (lines[0].to_owned(), lines[1].to_owned())
}

fn pip_installed_package_passes_the_unittest_module() -> Outcome {
    let installed = installed()?;
    let cwd = tests_copy("unittest");
    // The package imported is the venv's, and the library it loaded its own copy.
    let (file, library) = where_loaded(&installed.python, &cwd, &[], "installed_where");
    let package = Path::new(&file).parent().expect("the package dir");
    assert!(
        package.starts_with(&installed.venv) && package.ends_with("site-packages/feishu_task"),
        "feishu_task was imported from {file}"
    );
    assert_eq!(
        Path::new(&library),
        package.join("libfeishu_task.so"),
        "the installed package loaded {library}, not its bundled library"
    );

    let ran = unittest_module(
        &|args, env, name| venv_python(&installed.python, args, &cwd, env, name),
        "installed_unittest",
        "the pip-installed package",
    );
    eprintln!("Python binding (pip install): {ran} tests passed, library {library}");
    Ok(())
}

fn pip_installed_package_lets_feishu_task_lib_override_its_library() -> Outcome {
    let installed = installed()?;
    let cwd = tests_copy("override");
    let fresh = fresh_library();
    let fresh = fresh.to_str().unwrap();
    let (_, library) = where_loaded(
        &installed.python,
        &cwd,
        &[("FEISHU_TASK_LIB", fresh)],
        "installed_override",
    );
    assert_eq!(library, fresh);

    // An explicit path is not second-guessed: no fallback to the bundled library.
    let missing = out_dir().join("no-such-dir/libfeishu_task.so");
    let out = venv_python(
        &installed.python,
        &["-c", "import feishu_task"],
        &cwd,
        &[("FEISHU_TASK_LIB", missing.to_str().unwrap())],
        "installed_missing",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ImportError") && stderr.contains("no-such-dir"),
        "{}",
        show(&out)
    );
    Ok(())
}

fn pip_installed_command_line_checks_and_waits() -> Outcome {
    let installed = installed()?;
    let cwd = tests_copy("cli");
    let server = Server::start();
    let url = server.base_url();
    let env = [("FEISHU_TOKEN", TOKEN), ("FEISHU_BASE_URL", url.as_str())];

    // The console script.
    let script = installed.venv.join("bin/feishu-task");
    let out = venv_python(
        &script,
        &["success", "err-1061003"],
        &cwd,
        &env,
        "installed_script",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logid = logid_of(&server, "err-1061003");
    assert!(
        stdout.starts_with("success: success (the task has finished)\n")
            && stdout.contains(&format!("[log id {logid}]")),
        "{}",
        show(&out)
    );

    // python -m feishu_task --wait.
    let out = venv_python(
        &installed.python,
        &["-m", "feishu_task", "--wait", "10", "after-700ms"],
        &cwd,
        &env,
        "installed_wait",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("  after-700ms: poll 1 at ")
            && stdout.ends_with("after-700ms: success (the task has finished)\n"),
        "{}",
        show(&out)
    );

    // The console script starts a task (a folder's delete) and waits for it.
    let out = venv_python(
        &script,
        &["delete", "fldScript", "--type", "folder", "--wait", "10"],
        &cwd,
        &env,
        "installed_script_delete",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let [task_id] = &server.task_ids()[..] else {
        panic!("not one task started\n{}", show(&out));
    };
    assert!(
        stdout.starts_with(&format!("  {task_id}: poll 1 at "))
            && stdout.ends_with(&format!("{task_id}: success (the task has finished)\n")),
        "{}",
        show(&out)
    );
    assert_eq!(server.writes_for("fldScript"), 1);
    Ok(())
}

/// The wheel's file names and sizes, its METADATA and entry_points.txt.
struct WheelContents {
    files: Vec<(String, u64)>,
    metadata: String,
    entry_points: String,
}

fn read_wheel(python: &Path, wheel: &Path) -> WheelContents {
    const SCRIPT: &str = r#"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        print("FILE", info.file_size, info.filename)
    for name in z.namelist():
        if name.endswith((".dist-info/METADATA", ".dist-info/entry_points.txt")):
            print("----", name.rsplit("/", 1)[1])
            sys.stdout.write(z.read(name).decode("utf-8"))
"#;
    let out = venv_python(
        python,
        &["-c", SCRIPT, wheel.to_str().unwrap()],
        &out_dir(),
        &[],
        "wheel_list",
    );
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut files = Vec::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("FILE ") {
            let (size, name) = rest.split_once(' ').expect("size and name");
            files.push((name.to_owned(), size.parse().expect("a size")));
        } else if let Some(name) = line.strip_prefix("---- ") {
            sections.push((name.to_owned(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let section = |name: &str| {
        sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| panic!("the wheel has no {name}\n{text}"))
    };
    WheelContents {
        files,
        metadata: section("METADATA"),
        entry_points: section("entry_points.txt"),
    }
}

fn wheel_carries_the_library_the_version_the_license_and_the_types() -> Outcome {
    let installed = installed()?;
    let name = installed
        .wheel
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // One wheel for every Python 3: the library does not link Python.
    assert!(
        name.starts_with(&format!("feishu_task-{VERSION}-py3-none-linux_")),
        "{name}"
    );
    let wheel = read_wheel(&installed.python, &installed.wheel);
    let package: Vec<&str> = wheel
        .files
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.starts_with("feishu_task/"))
        .collect();
    assert_eq!(
        package,
        [
            "feishu_task/__init__.py",
            "feishu_task/__main__.py",
            "feishu_task/libfeishu_task.so",
            "feishu_task/py.typed",
        ],
        "{:?}",
        wheel.files
    );
    let dist_info = format!("feishu_task-{VERSION}.dist-info/");
    assert!(
        wheel
            .files
            .iter()
            .all(|(n, _)| n.starts_with("feishu_task/") || n.starts_with(&dist_info)),
        "{:?}",
        wheel.files
    );
    let library_size = wheel
        .files
        .iter()
        .find(|(n, _)| n == "feishu_task/libfeishu_task.so")
        .map(|(_, size)| *size)
        .unwrap();
    assert!(library_size > 100_000, "{library_size} bytes");

    let metadata: Vec<&str> = wheel.metadata.lines().collect();
    for want in [
        "Name: feishu-task",
        &format!("Version: {VERSION}"),
        "Requires-Python: >=3.9",
        "Classifier: Typing :: Typed",
    ] {
        assert!(metadata.contains(&want), "{want}\n{}", wheel.metadata);
    }
    // setuptools >= 77 writes the SPDX expression (core metadata 2.4), older ones `License`.
    assert!(
        metadata.contains(&"License-Expression: MIT OR Apache-2.0")
            || metadata.contains(&"License: MIT OR Apache-2.0"),
        "{}",
        wheel.metadata
    );
    assert!(
        !metadata.iter().any(|l| l.starts_with("Requires-Dist:")),
        "the standard library only\n{}",
        wheel.metadata
    );
    assert!(
        wheel
            .entry_points
            .contains("feishu-task = feishu_task.__main__:main"),
        "{}",
        wheel.entry_points
    );
    let size = std::fs::metadata(&installed.wheel).unwrap().len();
    eprintln!(
        "wheel {name}: {size} bytes; {}",
        wheel
            .files
            .iter()
            .map(|(n, s)| format!("{n} ({s})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The `major.minor` of a Python command, if it runs.
fn python_version(python: &str) -> Option<(u32, u32)> {
    let out = Command::new(python)
        .args(["-c", "import sys; print(*sys.version_info[:2])"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Some((major, minor)),
        _ => None,
    }
}

/// The wheel, built once, installs (from the file, offline) into every other Python 3.9+
/// found, and passes the unittest module there: `python3.9` ... `python3.14` on PATH, and
/// the interpreters listed in FEISHU_TEST_PYTHONS (paths, separated by spaces).
fn wheel_passes_the_unittest_module_on_every_other_python_found() -> Outcome {
    let installed = installed()?;
    let own = python_version(installed.python.to_str().unwrap()).expect("the venv's python");
    let mut candidates: Vec<String> = std::env::var("FEISHU_TEST_PYTHONS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    candidates.extend((9..=14).map(|minor| format!("python3.{minor}")));
    let mut seen = vec![own];
    let mut passed = Vec::new();
    for candidate in candidates {
        let Some(version) = python_version(&candidate) else {
            continue;
        };
        if version < MIN_PYTHON || seen.contains(&version) {
            continue;
        }
        seen.push(version);
        let tag = format!("py{}.{}", version.0, version.1);
        let venv = out_dir().join("installed").join(format!("venv-{tag}"));
        let python = match make_venv(Path::new(&candidate), &venv, &format!("venv_{tag}")) {
            Ok(python) => python,
            Err(Setup::Unavailable(why) | Setup::Failed(why)) => {
                assert!(!support::harness::skips_forbidden(), "{candidate}: {why}");
                eprintln!("note: {candidate} skipped: {why}");
                continue;
            }
            Err(Setup::Ready(_)) => unreachable!(),
        };
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "pip", "install", "--no-index", "--no-deps"])
            .arg(&installed.wheel)
            .env_remove("PYTHONPATH");
        let out = run(cmd, &format!("pip_install_{tag}"), RUN_LIMIT);
        assert!(out.status.success(), "{candidate}\n{}", show(&out));

        let cwd = tests_copy(&format!("unittest-{tag}"));
        let (file, library) = where_loaded(&python, &cwd, &[], &format!("where_{tag}"));
        assert!(file.starts_with(venv.to_str().unwrap()), "{file}");
        assert!(library.starts_with(venv.to_str().unwrap()), "{library}");

        let ran = unittest_module(
            &|args, env, name| venv_python(&python, args, &cwd, env, name),
            &format!("unittest_{tag}"),
            &candidate,
        );
        passed.push(format!("Python {}.{} ({ran} tests)", version.0, version.1));
    }
    if passed.is_empty() {
        eprintln!(
            "note: no Python 3.9+ other than {}.{} found (FEISHU_TEST_PYTHONS lists more)",
            own.0, own.1
        );
    } else {
        eprintln!("the wheel passed on {}", passed.join(", "));
    }
    Ok(())
}

// The longest chain first: it waits for the release build and the wheel, then
// runs the whole unittest module, while the tests after it use the CPU.
support::native_tests!(
    pip_installed_package_passes_the_unittest_module,
    python_unittest_module_passes_against_the_mock_server,
    python_module_says_where_the_library_should_be,
    python_m_feishu_task_prints_statuses_and_errors_like_the_c_example,
    python_m_feishu_task_waits_with_progress,
    python_m_feishu_task_usage_errors_exit_2,
    pip_installed_package_lets_feishu_task_lib_override_its_library,
    pip_installed_command_line_checks_and_waits,
    wheel_carries_the_library_the_version_the_license_and_the_types,
    wheel_passes_the_unittest_module_on_every_other_python_found,
);

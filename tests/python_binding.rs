//! The Python binding (`examples/python/feishu_task.py`, ctypes): its unittest module,
//! run with the system `python3` against the freshly built shared library and the
//! mock Feishu server. Skipped (saying so) when python3 is missing, except in CI.

#[path = "support/native.rs"]
mod native;
#[path = "support/server.rs"]
mod server;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use native::{fresh_library, root, show};
use server::Server;

fn out_dir() -> PathBuf {
    native::scratch_dir("python")
}

/// The app the managed-token test uses.
const APP_ID: &str = "cli_py";
const APP_SECRET: &str = "py-secret";
/// The unittest run is killed (and fails) after this.
const RUN_LIMIT: Duration = Duration::from_secs(300);

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
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONWARNINGS",
];

/// Whether `python3` runs; panics in CI when it does not.
fn have_python(test: &str) -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the Python binding tests, but python3 is not installed"
        );
        eprintln!("SKIPPED: python3 not found ({test})");
    }
    found
}

/// `python3 ARGS` in examples/python with the library and `env`; output to files,
/// killed after [`RUN_LIMIT`].
fn python(args: &[&str], env: &[(&str, &str)], name: &str) -> Output {
    let stdout_path = out_dir().join(format!("{name}.stdout"));
    let stderr_path = out_dir().join(format!("{name}.stderr"));
    let mut cmd = Command::new("python3");
    cmd.args(args)
        .current_dir(root().join("examples/python"))
        .env("FEISHU_TASK_LIB", fresh_library())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONFAULTHANDLER", "1") // a crash in C shows the Python stack
        .env("EXPECT_VERSION", env!("CARGO_PKG_VERSION"))
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create the stdout file"))
        .stderr(File::create(&stderr_path).expect("create the stderr file"));
    for var in SCRUBBED {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run python3");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "python3 {args:?} ran longer than {RUN_LIMIT:?}; stderr so far:\n{}",
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

/// N of unittest's `Ran N tests` line.
fn tests_ran(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        l.strip_prefix("Ran ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

#[test]
fn python_unittest_module_passes_against_the_mock_server() {
    if !have_python("python_unittest_module_passes_against_the_mock_server") {
        return;
    }
    let server = Server::start();
    server.add_app(APP_ID, APP_SECRET);
    let url = server.base_url();
    let out = python(
        &["-m", "unittest", "-v", "test_feishu_task"],
        &[
            ("FEISHU_TEST_BASE_URL", url.as_str()),
            ("FEISHU_BASE_URL", url.as_str()),
            ("FEISHU_TEST_APP_ID", APP_ID),
            ("FEISHU_TEST_APP_SECRET", APP_SECRET),
        ],
        "unittest",
    );
    // unittest reports on stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(!text.contains("FAILED"), "{}", show(&out));
    let ran = tests_ran(&text).unwrap_or_else(|| panic!("no 'Ran N tests'\n{}", show(&out)));
    assert!(ran > 0, "no test ran\n{}", show(&out));
    // Every test ran for real: none was skipped for a missing server, app or library.
    assert!(!text.contains("skipped"), "{}", show(&out));
    eprintln!("Python binding: {ran} tests passed");
    assert!(
        server.request_count() > 300,
        "the tests hardly talked to the server"
    );
    assert!(server.token_fetches_for(APP_ID) >= 2);
}

#[test]
fn python_module_says_where_the_library_should_be() {
    if !have_python("python_module_says_where_the_library_should_be") {
        return;
    }
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
            "import feishu_task as f; print(f.version(), f.Status(3).name, f.strerror(-3))",
        ],
        &[],
        "import_ok",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.starts_with(&format!("{} PROCESS ", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

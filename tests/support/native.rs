//! What the harnesses that build and run native programs (C, C++, Go, Python,
//! sanitizers, cargo-c) share: where the freshly built library is, the one
//! release build of the library they share, a scratch directory per harness,
//! valgrind, and how to show a failed run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use crate::harness::{self, Skip};

/// valgrind's options: any error, or a definite leak, fails the run.
pub const VALGRIND_ARGS: &[&str] = &[
    "--quiet",
    "--error-exitcode=97",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--show-leak-kinds=definite",
];

/// The repository root (this crate is `tests/support` in it).
pub fn root() -> PathBuf {
    let support = Path::new(env!("CARGO_MANIFEST_DIR"));
    support
        .parent()
        .and_then(Path::parent)
        .expect("tests/support is two levels below the repository root")
        .to_path_buf()
}

/// The test binary's `CARGO_TARGET_TMPDIR` (`<target dir>/tmp`), which the
/// harness's `main` hands over (only test crates see it at compile time).
pub fn target_tmpdir() -> PathBuf {
    harness::target_tmpdir()
}

/// `CARGO_TARGET_TMPDIR/<name>`, created.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = target_tmpdir().join(name);
    std::fs::create_dir_all(&dir).expect("create the scratch dir");
    dir
}

/// The shared library this `cargo test` run built (unoptimised). `cargo test`
/// builds it into `target/<profile>/deps` and does not refresh the copy in
/// `target/<profile>` (that is `cargo build`'s).
pub fn fresh_library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>
    let built = exe
        .parent()
        .expect("target/<profile>/deps")
        .join("libfeishu_task.so");
    assert!(
        built.exists(),
        "the shared library is missing: {}",
        built.display()
    );
    built
}

/// A directory (under the harness's scratch dir `name`) holding the fresh
/// (unoptimised) library as `libfeishu_task.so` and under its soname
/// `libfeishu_task.so.0`, for `-L` and `-Wl,-rpath`.
pub fn lib_dir(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| link_library(&fresh_library(), &scratch_dir(name).join("lib")))
        .clone()
}

/// As [`lib_dir`], with the optimised library of [`release_library`].
pub fn release_lib_dir(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| link_library(&release_library(), &scratch_dir(name).join("release-lib")))
        .clone()
}

/// `dir` with `libfeishu_task.so` and `libfeishu_task.so.0` pointing at `built`.
fn link_library(built: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the lib dir");
    for link in ["libfeishu_task.so", "libfeishu_task.so.0"] {
        let link = dir.join(link);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(built, &link).expect("link the library");
    }
    dir.to_path_buf()
}

// ------------------------------------------------------------------ the one release build

/// The target directory of the release build every test shares:
/// `<target dir>/test-release`. The Python wheel (setuptools-rust), the cargo-c
/// install and [`release_library`] all build there with [`release_build_env`], so
/// the dependencies are compiled once for all of them (and kept between runs).
pub fn release_target_dir() -> PathBuf {
    target_tmpdir()
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target dir>/tmp")
        .join("test-release")
}

/// The host's target triple (`rustc -vV`).
pub fn host_triple() -> &'static str {
    static TRIPLE: OnceLock<String> = OnceLock::new();
    TRIPLE.get_or_init(|| {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = Command::new(&rustc)
            .arg("-vV")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {rustc} -vV: {e}"));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .unwrap_or_else(|| panic!("no host in {rustc} -vV:\n{}", show(&out)))
            .to_owned()
    })
}

/// Finishes a compiler command (its flags and include paths already set):
/// the `sources`, the executable `exe`, linked to libfeishu_task in `lib` (with
/// an rpath) and pthreads; runs it and panics with its output, naming `what`,
/// if it fails. Returns `exe`.
pub fn build_program(
    mut cmd: Command,
    sources: &[PathBuf],
    exe: PathBuf,
    lib: &Path,
    what: &str,
) -> PathBuf {
    cmd.args(sources)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lfeishu_task", "-lpthread"]);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(out.status.success(), "{what} failed\n{}", show(&out));
    exe
}

/// Points a cargo invocation (direct, or through pip's setuptools-rust or cargo-c) at the
/// shared release build: its target directory, LTO off and 16 codegen units (the release
/// profile's fat LTO takes most of a release build's time and tests nothing here), and an
/// explicit target triple, as cargo-c always builds with one (so the three share
/// `<target dir>/test-release/<triple>/release/deps`).
pub fn release_build_env(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_TARGET_DIR", release_target_dir())
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_BUILD_TARGET", host_triple())
        .env("CARGO_TERM_COLOR", "never")
}

/// The cargo that runs this test (`CARGO`), else `cargo`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Serialises the release builds of this process (a pip build, a cargo-c install, the
/// library): cargo would block on its lock anyway, and two builds at once only slow the
/// tests running next to them.
pub fn release_build_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The optimised shared library (release profile without LTO, see [`release_build_env`]),
/// built once per test process and copied out of cargo's directory (a pip build there
/// replaces cargo's copy).
///
/// The command is the one setuptools-rust runs for the wheel (`cargo rustc --lib --release
/// --crate-type cdylib`): the same unit for cargo, so neither build redoes the other's work.
/// (With `cargo build --lib`, whose unit has the crate's three crate types, each run rebuilt
/// the crate twice: once here, once again under pip.)
pub fn release_library() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let _lock = release_build_lock();
        let started = std::time::Instant::now();
        let mut cmd = Command::new(cargo());
        cmd.current_dir(root()).args([
            "rustc",
            "--lib",
            "--release",
            "--crate-type",
            "cdylib",
            "--locked",
            "--quiet",
        ]);
        release_build_env(&mut cmd);
        let out = cmd.output().expect("run cargo build --release");
        assert!(
            out.status.success(),
            "cargo rustc --release --lib (the tests' release build) failed\n{}",
            show(&out)
        );
        let built = release_target_dir()
            .join(host_triple())
            .join("release/libfeishu_task.so");
        let copy = scratch_dir("release").join(format!("libfeishu_task.so.{}", std::process::id()));
        std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
        eprintln!(
            "release build of the library: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        copy
    })
    .clone()
}

// ------------------------------------------------------------------ tools

/// Whether an executable named `name` is on PATH.
pub fn on_path(name: &str) -> bool {
    find_on_path(name).is_some()
}

/// The first `dir/name` on PATH that is a file.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// valgrind's path, or a [`Skip`] (a failure where skips are not allowed, as in CI) when
/// it is not installed.
pub fn valgrind() -> Result<&'static Path, Skip> {
    static VALGRIND: OnceLock<Option<PathBuf>> = OnceLock::new();
    VALGRIND
        .get_or_init(|| {
            ["/usr/bin/valgrind", "/usr/local/bin/valgrind"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .or_else(|| find_on_path("valgrind"))
        })
        .as_deref()
        .ok_or_else(|| harness::skip("valgrind is not installed (apt-get install valgrind)"))
}

/// A run's status and output, for a failure message.
pub fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ------------------------------------------------------------------ AddressSanitizer

/// Exit status ASan gives a run with a finding.
pub const ASAN_EXIT: i32 = 86;
/// ASan's (and LeakSanitizer's) options for every sanitized run: leaks are findings, the first
/// finding ends the run with [`ASAN_EXIT`].
pub const ASAN_OPTIONS: &str = "detect_leaks=1:abort_on_error=0:exitcode=86:halt_on_error=1:\
     detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1";

/// `Ok` when `compiler` (`cc`, `c++`) builds and runs an ASan program here; else the skip
/// (a failure where skips are forbidden).
pub fn asan(compiler: &str) -> Result<(), Skip> {
    static PROBES: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());
    let mut probes = PROBES.lock().unwrap_or_else(|e| e.into_inner());
    let why = match probes.iter().find(|(c, _)| c == compiler) {
        Some((_, why)) => why.clone(),
        None => {
            let why = asan_probe(compiler);
            probes.push((compiler.to_owned(), why.clone()));
            why
        }
    };
    match why {
        None => Ok(()),
        Some(why) => Err(harness::skip(format!(
            "AddressSanitizer is unavailable: {why}"
        ))),
    }
}

/// Why `compiler` cannot build and run an ASan program here, if it cannot.
fn asan_probe(compiler: &str) -> Option<String> {
    let dir = scratch_dir("asan-probe");
    let name = compiler.replace(['/', '+'], "_");
    let src = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&src, "int main(void) { return 0; }\n").expect("write the probe");
    let built = Command::new(compiler)
        .args(["-x", "c", "-fsanitize=address", "-o"])
        .arg(&exe)
        .arg(&src)
        .output();
    match built {
        Err(e) => return Some(format!("cannot run {compiler}: {e}")),
        Ok(out) if !out.status.success() => {
            return Some(format!(
                "{compiler} -fsanitize=address fails: {}",
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
}

/// Panics when a sanitized run reported a finding.
pub fn assert_no_sanitizer_report(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(ASAN_EXIT) && !stderr.contains("Sanitizer"),
        "{what}: AddressSanitizer finding\n{}",
        show(out)
    );
}

// ------------------------------------------------------------- a test program's workers

/// How many processes run a test program's tests at once (see [`Claims`]): its tests
/// mostly wait (for polls, write pacing, deadlines), not for the CPU.
pub const WORKERS: usize = 6;

/// Runs `worker(0)` ... `worker(n - 1)` in threads of their own, all at once, and returns
/// what they returned, in that order; a worker's panic is the caller's.
pub fn run_workers<T: Send>(n: usize, worker: impl Fn(usize) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let worker = &worker;
        let running: Vec<_> = (0..n).map(|i| s.spawn(move || worker(i))).collect();
        running
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The directory in which the workers of one test program (processes running at once,
/// each against a mock server of its own) claim its tests: a worker runs a test only if
/// it creates `<dir>/<test>` first, and writes the seconds the test took into that file.
/// The Python unittest module and the C++ test program both run this way.
pub struct Claims(PathBuf);

impl Claims {
    /// Empties `dir` for a new run, first ordering `tests` by the times the last run wrote
    /// there, longest first (the order in which the workers claim them), so that no worker
    /// starts a long test when the others are nearly done. Tests without a time keep their
    /// order, after the ones with a time.
    pub fn fresh(dir: PathBuf, tests: &mut [String]) -> Claims {
        let took = |test: &String| -> f64 {
            std::fs::read_to_string(dir.join(test))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0.0)
        };
        tests.sort_by_cached_key(|t| std::cmp::Reverse((took(t) * 1000.0) as u64));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Claims(dir)
    }

    /// The directory, for the workers' command line.
    pub fn dir(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }

    /// Panics unless every test in `tests` was claimed (so run) by a worker.
    pub fn assert_all_claimed(&self, tests: &[String], what: &str) {
        let missing: Vec<&String> = tests.iter().filter(|t| !self.0.join(t).exists()).collect();
        assert!(missing.is_empty(), "{what}: no worker ran {missing:?}");
    }
}

//! Installable packaging with cargo-c: `cargo cinstall` into a staging
//! directory, then a C program built with nothing but
//! `pkg-config --cflags --libs feishu_task`, and one built by CMake with
//! nothing but `CMAKE_PREFIX_PATH` (`examples/cmake`, the package config
//! `feishu_task::feishu_task`), each run against the mock server.
//!
//! cargo-c builds with the settings of the tests' release build (LTO off:
//! `support::native::release_build_env`), in a directory of its own below it,
//! `<target>/test-release/cargo-c`: cargo-c hands every dependency an (empty)
//! list of extra compiler arguments, which cargo's fingerprint counts, so
//! cargo-c and plain cargo can never reuse each other's dependencies, and in one
//! directory they would rebuild them for each other on every run. Its
//! dependencies are built with opt-level 0 (the library keeps its own 3).
//!
//! Needs `cargo-cinstall` (cargo-c), `pkg-config` and `cmake`; without them
//! the test is skipped (shown as ignored, with the reason), except where skips
//! are forbidden (CI: `.ci/run` installs them), where it fails.
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::harness::{Outcome, skip};
use support::native::{self, on_path};
use support::server::Server;

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn show(out: &std::process::Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir() && !path.is_symlink() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

/// `cargo cinstall` into `<scratch>/packaging/stage` (prefix /opt/feishu), once: its
/// output.
fn cinstall() -> &'static Output {
    static OUT: OnceLock<Output> = OnceLock::new();
    OUT.get_or_init(|| {
        let root = native::root();
        let stage = native::scratch_dir("packaging").join("stage");
        let _ = std::fs::remove_dir_all(&stage);
        let prefix = "/opt/feishu";
        let started = std::time::Instant::now();
        let mut cinstall = Command::new(native::cargo());
        native::release_build_env(&mut cinstall);
        // Its dependencies cannot be the shared build's (above), so they are built here
        // unoptimised (the library itself keeps its opt-level 3): nothing this test checks
        // depends on their speed, and an optimised copy would double the suite's build time.
        cinstall.env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0");
        let out = cinstall
            .current_dir(&root)
            .args([
                "cinstall",
                "--release",
                "--prefix",
                prefix,
                "--libdir",
                "/opt/feishu/lib",
            ])
            .arg("--destdir")
            .arg(&stage)
            .arg("--target-dir")
            .arg(native::release_target_dir().join("cargo-c"))
            .output()
            .expect("run cargo cinstall");
        eprintln!("cargo cinstall: {:.1} s", started.elapsed().as_secs_f64());
        out
    })
}

/// Runs the cargo-c install ahead of the test, when cargo-c is installed.
pub fn prepare() {
    if on_path("cargo-cinstall") {
        cinstall();
    }
}

fn cargo_cinstall_gives_a_pkg_config_library() -> Outcome {
    let missing: Vec<&str> = [
        ("cargo-c", on_path("cargo-cinstall")),
        ("pkg-config", have("pkg-config", "--version")),
        ("cmake", have("cmake", "--version")),
    ]
    .into_iter()
    .filter(|(_, found)| !found)
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        return Err(skip(format!(
            "{missing:?} not installed (cargo install cargo-c; apt-get install pkg-config cmake)"
        )));
    }
    let root = native::root();
    let work = native::scratch_dir("packaging");
    let stage = work.join("stage");
    let out = cinstall();
    assert!(out.status.success(), "cargo cinstall failed\n{}", show(out));

    let installed = stage.join("opt/feishu");
    let lib = installed.join("lib");
    for file in [
        "libfeishu_task.a",
        "libfeishu_task.so",
        "libfeishu_task.so.0",
        "pkgconfig/feishu_task.pc",
    ] {
        assert!(
            lib.join(file).exists(),
            "{file} was not installed: {:?}",
            find(&stage, "libfeishu_task.a")
        );
    }
    let header = installed.join("include/feishu_task.h");
    assert_eq!(
        std::fs::read(&header).unwrap(),
        std::fs::read(root.join("include/feishu_task.h")).unwrap(),
        "the installed header is the committed one"
    );
    let readelf = Command::new("readelf")
        .arg("-d")
        .arg(lib.join("libfeishu_task.so"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&readelf.stdout).contains("Library soname: [libfeishu_task.so.0]"),
        "{}",
        show(&readelf)
    );

    // A C program built with nothing but pkg-config.
    let pkg = |args: &[&str]| {
        let out = Command::new("pkg-config")
            .args(args)
            .arg("feishu_task")
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
            .env("PKG_CONFIG_SYSROOT_DIR", &stage)
            .output()
            .unwrap();
        assert!(out.status.success(), "pkg-config {args:?}\n{}", show(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let flags = pkg(&["--cflags", "--libs"]);
    assert!(flags.contains("-lfeishu_task"), "{flags}");
    let exe = work.join("task_check");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cc -std=c99 -Wall -Wextra -Werror {} -o {} {flags}",
            root.join("examples/c/task_check.c").display(),
            exe.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc with pkg-config flags failed\n{}",
        show(&out)
    );

    let server = Server::start();
    let out = Command::new(&exe)
        .arg("process")
        .env_clear()
        .env("LD_LIBRARY_PATH", &lib)
        .env("FEISHU_BASE_URL", server.base_url())
        .env("FEISHU_TOKEN", "t-packaged")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("process: process"),
        "{}",
        show(&out)
    );
    assert_eq!(server.request_count(), 1);

    // A CMake project with nothing but CMAKE_PREFIX_PATH: the installed
    // package config gives feishu_task::feishu_task, checks the version asked
    // for, and the program runs from the build tree (CMake's rpath).
    let cmake_dir = installed.join("share/feishu_task/cmake");
    for file in ["feishu_taskConfig.cmake", "feishu_taskConfigVersion.cmake"] {
        assert!(cmake_dir.join(file).is_file(), "{file} was not installed");
    }
    let build = work.join("cmake-build");
    let _ = std::fs::remove_dir_all(&build);
    let configure = |extra: &[&str]| {
        Command::new("cmake")
            .arg("-S")
            .arg(root.join("examples/cmake"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", installed.display()))
            .args(extra)
            .output()
            .expect("run cmake")
    };
    let out = configure(&[]);
    assert!(out.status.success(), "cmake configure\n{}", show(&out));
    println!("cmake configure:\n{}", String::from_utf8_lossy(&out.stdout));
    let out = Command::new("cmake")
        .arg("--build")
        .arg(&build)
        .output()
        .expect("run cmake --build");
    assert!(out.status.success(), "cmake --build\n{}", show(&out));
    let out = Command::new(build.join("task_check_cmake"))
        .args(["fail", "7360595374803812356"])
        .env_clear()
        .env("FEISHU_BASE_URL", server.base_url())
        .env("FEISHU_TOKEN", "t-cmake")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fail: fail") && stdout.contains("7360595374803812356: success"),
        "{stdout}"
    );
    println!("task_check_cmake:\n{stdout}");
    assert_eq!(server.request_count(), 3);

    // A version beyond the installed one is refused by the version file.
    let _ = std::fs::remove_dir_all(&build);
    let too_new = root.join("examples/cmake");
    let out = Command::new("cmake")
        .arg("-S")
        .arg(&too_new)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", installed.display()))
        .arg("-DFEISHU_TASK_MIN_VERSION=99.0")
        .output()
        .expect("run cmake");
    assert!(
        !out.status.success(),
        "found a version 99.0:\n{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("version"),
        "{}",
        show(&out)
    );
    Ok(())
}

support::native_tests!(cargo_cinstall_gives_a_pkg_config_library);

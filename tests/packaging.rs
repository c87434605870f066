//! Installable packaging with cargo-c: `cargo cinstall` into a staging
//! directory, then a C program built with nothing but
//! `pkg-config --cflags --libs feishu_task`, run against the mock server.
//!
//! Needs `cargo-cinstall` (cargo-c) and `pkg-config`; without them the test
//! says so and skips, except in CI (`.ci/run` installs both).

#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

use server::Server;

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether an executable named `name` is on PATH (cargo runs `cargo-NAME`
/// for `cargo NAME`).
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
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

#[test]
fn cargo_cinstall_gives_a_pkg_config_library() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if !on_path("cargo-cinstall") || !have("pkg-config", "--version") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install cargo-c and pkg-config for the packaging test"
        );
        eprintln!(
            "SKIPPED cargo_cinstall_gives_a_pkg_config_library: cargo-c or pkg-config is not installed"
        );
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("packaging");
    let stage = work.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&work).unwrap();
    let prefix = "/opt/feishu";

    let out = Command::new(&cargo)
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
        .arg(work.join("target"))
        .output()
        .expect("run cargo cinstall");
    assert!(
        out.status.success(),
        "cargo cinstall failed\n{}",
        show(&out)
    );

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
}

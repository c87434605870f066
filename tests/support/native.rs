//! What the harnesses that build and run native programs (C, C++, Go, Python,
//! sanitizers) share: where the freshly built library is, a scratch directory
//! per harness, valgrind, and how to show a failed run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// valgrind's options: any error, or a definite leak, fails the run.
pub const VALGRIND_ARGS: &[&str] = &[
    "--quiet",
    "--error-exitcode=97",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--show-leak-kinds=definite",
];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `CARGO_TARGET_TMPDIR/<name>`, created.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("create the scratch dir");
    dir
}

/// The shared library this `cargo test` run built. `cargo test` builds it
/// into `target/<profile>/deps` and does not refresh the copy in
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
/// library as `libfeishu_task.so` and under its soname `libfeishu_task.so.0`,
/// for `-L` and `-Wl,-rpath`.
pub fn lib_dir(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let built = fresh_library();
        let dir = scratch_dir(name).join("lib");
        std::fs::create_dir_all(&dir).expect("create the lib dir");
        for link in ["libfeishu_task.so", "libfeishu_task.so.0"] {
            let link = dir.join(link);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&built, &link).expect("link the library");
        }
        dir
    })
    .clone()
}

/// valgrind's path when native programs should run under it: whenever it is
/// installed (FEISHU_TEST_VALGRIND=0 turns it off), and always in CI.
pub fn valgrind() -> Option<&'static Path> {
    static VALGRIND: OnceLock<Option<PathBuf>> = OnceLock::new();
    VALGRIND
        .get_or_init(|| {
            if std::env::var("FEISHU_TEST_VALGRIND").as_deref() == Ok("0") {
                return None;
            }
            let found = ["/usr/bin/valgrind", "/usr/local/bin/valgrind"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists());
            if found.is_none() {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must run the native tests under valgrind, but valgrind is not installed"
                );
                eprintln!("note: valgrind not installed; native tests run without it");
            }
            found
        })
        .as_deref()
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

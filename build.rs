//! Generates `include/feishu_task.h` with cbindgen, writing it only when its
//! content changes (so the committed header stays byte-identical and builds
//! do not touch its mtime needlessly), and gives the shared library its soname.

use std::env;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // A versioned soname on Linux, as a C library is expected to carry. cargo-c
    // sets its own (the same) when it builds, so only set it outside cargo-c.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var_os("CARGO_FEATURE_CAPI").is_none()
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libfeishu_task.so.0");
        link_soname_in_target_dir();
    }

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    // The version macros, from Cargo.toml's version (what feishu_version()
    // returns at run time).
    let after = config.after_includes.get_or_insert_with(String::new);
    after.push_str(&version_macros());
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => panic!("cbindgen failed to generate include/feishu_task.h: {e}"),
    };
    // `write_to_file` compares with the existing file and only writes on change.
    bindings.write_to_file(crate_dir.join("include").join("feishu_task.h"));
}

/// `FEISHU_TASK_VERSION_*` for Cargo.toml's version, as libcurl's
/// `LIBCURL_VERSION_NUM` and `CURL_AT_LEAST_VERSION`.
fn version_macros() -> String {
    let part = |name: &str| -> u32 {
        let value = env::var(name).unwrap_or_else(|_| panic!("{name} is set by cargo"));
        let n = value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number"));
        assert!(
            n <= 255,
            "{name}={n} does not fit the 8 bits of FEISHU_TASK_VERSION_NUM"
        );
        n
    };
    let (major, minor, patch) = (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );
    format!(
        "
/** The library's version at compile time: major (the soname's number), minor, patch. */
#define FEISHU_TASK_VERSION_MAJOR {major}
/** Minor version: new functions, compatible. */
#define FEISHU_TASK_VERSION_MINOR {minor}
/** Patch version: fixes. */
#define FEISHU_TASK_VERSION_PATCH {patch}
/** The version as one number, `(MAJOR << 16) | (MINOR << 8) | PATCH`, for `#if`. */
#define FEISHU_TASK_VERSION_NUM 0x{num:06x}
/** The version as text, what `feishu_version()` returns. */
#define FEISHU_TASK_VERSION \"{major}.{minor}.{patch}\"
/**
 * Non-zero when the header is at least version major.minor.patch, e.g.
 * `#if FEISHU_TASK_VERSION_AT_LEAST(0, 2, 0)`. Compare with `feishu_version()`
 * at run time to find the library that was loaded.
 */
#define FEISHU_TASK_VERSION_AT_LEAST(major, minor, patch) \\
  (FEISHU_TASK_VERSION_NUM >= (((major) << 16) | ((minor) << 8) | (patch)))
",
        num = (major << 16) | (minor << 8) | patch
    )
}

/// A program linked with `-Ltarget/<profile> -lfeishu_task` records the soname
/// `libfeishu_task.so.0` and looks for that file at run time, so the profile
/// directory gets `libfeishu_task.so.0 -> libfeishu_task.so`, as an installed
/// library has. (The link target appears once cargo has linked the library.)
fn link_soname_in_target_dir() {
    #[cfg(unix)]
    {
        let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
            return;
        };
        // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
        let Some(profile_dir) = out_dir.ancestors().nth(3) else {
            return;
        };
        let link = profile_dir.join("libfeishu_task.so.0");
        if link.symlink_metadata().is_err() {
            // Best effort: a read-only or unusual target dir only loses the convenience.
            let _ = std::os::unix::fs::symlink("libfeishu_task.so", &link);
        }
    }
}

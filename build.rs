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

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
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

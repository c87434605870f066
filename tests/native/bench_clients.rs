//! The benchmark's C clients (`bench/`) build with warnings as errors and
//! measure what they claim: every mode of `lib_client` drives the library
//! through its C ABI against the mock server, which counts the requests each
//! mode must make; a failed call fails the run; the library, the floor and
//! libcurl send the same requests, over plain HTTP and over TLS. Nothing here is timed (the numbers are
//! `bench/run.sh`'s job). The clients link to the optimised library of the tests' release
//! build, as the benchmark does (without its LTO).
//!
//! A module of the native test binary (`tests/native/main.rs`): tests are listed at the end.

use support::harness::{Outcome, skip};
use support::native;
use support::server;
use support::tls;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use native::{root, show};
use server::{Reply, Server};
use tls::{TestPki, TlsFront};

/// The task id every bench client asks for (common.h's BENCH_TASK_ID).
const TASK_ID: &str = "7360595374803812356";
/// Calls a run makes besides the ones asked for: BENCH_WARMUP, BENCH_MEM_WARMUP
/// and the per-thread warm-up of common.h.
const WARMUP: usize = 1000;
const MEM_WARMUP: usize = 10_000;
const THREAD_WARMUP: usize = 50;

fn have_header(header: &str) -> bool {
    let probe = native::scratch_dir("bench").join(format!("probe-{}.c", header.replace('/', "_")));
    std::fs::write(
        &probe,
        format!("#include <{header}>\nint main(void) {{ return 0; }}\n"),
    )
    .unwrap();
    Command::new("cc")
        .args(["-fsyntax-only"])
        .arg(&probe)
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds bench/<name>.c as bench/run.sh does, with -Werror added.
fn build(name: &str, libs: &[&str]) -> PathBuf {
    let lib = native::release_lib_dir("bench");
    let exe = native::scratch_dir("bench").join(name);
    let out = Command::new("cc")
        .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(format!("-I{}", root().join("bench").display()))
        .arg("-o")
        .arg(&exe)
        .arg(root().join("bench").join(format!("{name}.c")))
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(libs)
        .args(["-lpthread", "-ldl"])
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc bench/{name}.c failed\n{}",
        show(&out)
    );
    exe
}

/// lib_client, built once for all the tests of this file.
fn lib_client() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build("lib_client", &["-lfeishu_task"]))
        .clone()
}

/// Runs a client against `server`, in a clean environment plus `env` (which
/// may point FEISHU_BASE_URL elsewhere, e.g. at a TLS front).
fn run(exe: &Path, args: &[&str], server: &Server, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env_clear()
        .env("FEISHU_BASE_URL", server.base_url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run a bench client")
}

/// Runs one mode: expects success and exactly `requests` new requests at the
/// server; returns the fields of each output line (`key=value` pairs).
fn measure(
    exe: &Path,
    args: &[&str],
    server: &Server,
    requests: usize,
    env: &[(&str, &str)],
) -> Vec<HashMap<String, String>> {
    let before = server.request_count();
    let out = run(exe, args, server, env);
    assert!(out.status.success(), "{exe:?} {args:?}\n{}", show(&out));
    assert_eq!(
        server.request_count() - before,
        requests,
        "{exe:?} {args:?} made the wrong number of requests\n{}",
        show(&out)
    );
    let lines: Vec<HashMap<String, String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect();
    assert!(!lines.is_empty(), "no output\n{}", show(&out));
    lines
}

fn num(fields: &HashMap<String, String>, key: &str) -> f64 {
    fields
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {fields:?}"))
}

fn lib_client_measures_every_mode_through_the_c_abi() -> Outcome {
    let server = Server::start();
    let exe = lib_client();

    let seq = &measure(&exe, &["seq", "200"], &server, 1 + WARMUP + 200, &[])[0];
    assert_eq!(seq["client"], "lib");
    assert_eq!(num(seq, "calls"), 200.0);
    assert!(num(seq, "min_ns") > 0.0 && num(seq, "min_ns") <= num(seq, "p50_ns"));
    assert!(num(seq, "p50_ns") <= num(seq, "p99_ns"));
    assert!(num(seq, "first_call_ns") > 0.0);

    // A cold call is a new client: its own connection each time.
    let conns = server.connection_count();
    let cold = &measure(&exe, &["cold", "3"], &server, 3, &[])[0];
    assert_eq!(num(cold, "cold"), 3.0);
    assert_eq!(server.connection_count() - conns, 3);
    assert!(num(cold, "new_plus_first_ns") >= num(cold, "first_call_ns"));

    let threads = &measure(
        &exe,
        &["threads", "4", "400"],
        &server,
        4 * THREAD_WARMUP + 400,
        &[],
    )[0];
    assert_eq!(num(threads, "threads"), 4.0);
    assert_eq!(num(threads, "calls"), 400.0);
    assert!(num(threads, "calls_per_s") > 0.0);

    // The allocation counter, preloaded as run.sh does: every allocation a
    // call makes is freed by the same call.
    let counter = native::scratch_dir("bench").join("malloc_count.so");
    let out = Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(&counter)
        .arg(root().join("bench/malloc_count.c"))
        .output()
        .expect("run cc");
    assert!(out.status.success(), "{}", show(&out));
    let preload = counter.to_str().unwrap();
    let mem = measure(
        &exe,
        &["mem", "500"],
        &server,
        MEM_WARMUP + 500,
        &[("LD_PRELOAD", preload)],
    );
    assert_eq!(mem.len(), 2, "{mem:?}");
    assert!(num(&mem[0], "rss_after_kb") > 0.0);
    assert_eq!(num(&mem[1], "calls"), 500.0);
    assert_eq!(
        num(&mem[1], "allocs_per_call"),
        num(&mem[1], "frees_per_call")
    );
    Ok(())
}

fn a_failed_call_or_a_bad_command_line_fails_the_benchmark() -> Outcome {
    let server = Server::start();
    let exe = lib_client();
    server.set_sequence(TASK_ID, vec![Reply::not_found()]);
    let out = run(&exe, &["seq", "10"], &server, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("call failed: rc=1061003"), "{stderr}");

    let sent = server.request_count();
    for args in [
        &["sideways", "10"][..],
        &["seq"],
        &["seq", "0"],
        &["threads", "4"],
    ] {
        let out = run(&exe, args, &server, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", show(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
    assert_eq!(server.request_count(), sent, "bad usage sent nothing");
    Ok(())
}

/// The library, the floor and libcurl over plain HTTP and over TLS (a front
/// with a test CA, given to each as FEISHU_CA_FILE): the same request, the
/// calls each mode claims, threads with a connection (or handle) each, and
/// exit status 1 when the server answers anything but success.
fn every_client_over_http_and_https_sends_the_same_requests() -> Outcome {
    let missing: Vec<&str> = ["openssl/ssl.h", "curl/curl.h"]
        .into_iter()
        .filter(|h| !have_header(h))
        .collect();
    if !missing.is_empty() {
        return Err(skip(format!(
            "the headers {missing:?} are not installed (apt-get install libssl-dev libcurl4-openssl-dev)"
        )));
    }
    let server = Server::start();
    let pki = TestPki::generate();
    let front = TlsFront::start(&pki, server.addr());
    let ca = pki.write_ca(&native::scratch_dir("bench"));
    let ca = ca.to_str().unwrap();
    let clients = [
        ("lib", lib_client()),
        ("raw", build("raw_client", &["-lssl", "-lcrypto"])),
        ("curl", build("curl_client", &["-lcurl"])),
    ];
    for (url, handshakes) in [(server.base_url(), 0), (front.base_url(), 1)] {
        let env = [("FEISHU_BASE_URL", url.as_str()), ("FEISHU_CA_FILE", ca)];
        for (client, exe) in &clients {
            let before = front.handshakes_completed();
            let seq = &measure(exe, &["seq", "100"], &server, 1 + WARMUP + 100, &env)[0];
            assert_eq!(&seq["client"], client, "{url}");
            assert_eq!(
                front.handshakes_completed() - before,
                handshakes,
                "{client} {url}"
            );
            let last = server.last_request().expect("a request");
            assert_eq!(last.path, "/open-apis/drive/v1/files/task_check");
            assert_eq!(last.raw_query, format!("task_id={TASK_ID}"));
            assert!(
                last.header("authorization")
                    .is_some_and(|v| v.starts_with("Bearer t-")),
                "{client}: {last:?}"
            );

            let threads = &measure(
                exe,
                &["threads", "3", "90"],
                &server,
                3 * THREAD_WARMUP + 90,
                &env,
            )[0];
            assert_eq!(num(threads, "calls"), 90.0, "{client} {url}");

            server.set_sequence(TASK_ID, vec![Reply::not_found()]);
            let out = run(exe, &["seq", "5"], &server, &env);
            assert_eq!(out.status.code(), Some(1), "{client} {url}\n{}", show(&out));
        }
    }
    Ok(())
}

support::native_tests!(
    lib_client_measures_every_mode_through_the_c_abi,
    a_failed_call_or_a_bad_command_line_fails_the_benchmark,
    every_client_over_http_and_https_sends_the_same_requests,
);

//! Runs the mock Feishu server of the test suite as a process, for tests written in C (or by
//! hand with curl):
//!
//! ```text
//! cargo run --example mock_server -- [--listen ADDR] [--addr-file PATH] [--exit-after SECS]
//! ```
//!
//! - `--listen ADDR`: where to listen (default `127.0.0.1:0`, a free port).
//! - `--addr-file PATH`: once listening, write the base URL and a newline there. The file is
//!   written under a temporary name and renamed, so a reader never sees half of it.
//! - `--exit-after SECS`: stop after that many seconds (fractions allowed); default: run until
//!   killed.
//!
//! The behaviour is chosen by task id (see `default_reply` in tests/support/server.rs), e.g.
//! `task_id=fail`, `task_id=rate-limited`, `task_id=stall`; `GET /_mock/stats` and
//! `POST /_mock/reset` inspect and reset the counters. The drive writes (move, delete) are
//! chosen by file token (see `write_reply_by_name` in tests/support/drive.rs), e.g.
//! `err-1061003`, `reset`; a `folder` gets a task id that task_check shows as `process`, then
//! `success`; `POST /_mock/drive?task_ms=N&write_ms=M&write_limit=K` sets the task duration,
//! the write latency and the writes per token per second.

#[path = "../tests/support/server.rs"]
mod server;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: mock_server [--listen ADDR] [--addr-file PATH] [--exit-after SECS]";

struct Options {
    listen: String,
    addr_file: Option<String>,
    exit_after: Option<Duration>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        listen: "127.0.0.1:0".to_owned(),
        addr_file: None,
        exit_after: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Both `--flag VALUE` and `--flag=VALUE`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => options.listen = value()?,
            "--addr-file" => options.addr_file = Some(value()?),
            "--exit-after" => {
                let text = value()?;
                let secs: f64 = text
                    .parse()
                    .map_err(|_| format!("--exit-after: not a number of seconds: {text}"))?;
                if !secs.is_finite() || secs < 0.0 {
                    return Err(format!("--exit-after: not a number of seconds: {text}"));
                }
                options.exit_after = Some(Duration::from_secs_f64(secs));
            }
            _ => return Err(format!("unknown argument: {arg}")),
        }
    }
    Ok(options)
}

/// Writes `contents` to `path` via a temporary file and a rename.
fn write_atomically(path: &str, contents: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp{}", std::process::id());
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock_server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match server::Server::start_on(&options.listen) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mock_server: cannot listen on {}: {e}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    let base_url = server.base_url();
    if let Some(path) = &options.addr_file
        && let Err(e) = write_atomically(path, &format!("{base_url}\n"))
    {
        eprintln!("mock_server: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    // stdout is line-buffered, so this line is out before we block.
    println!("mock Feishu server listening on {base_url}");
    match options.exit_after {
        Some(duration) => std::thread::sleep(duration),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    server.stop();
    ExitCode::SUCCESS
}

//! `FeishuClientOptions`: the builder a `FeishuClient` is made from.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use super::error::FEISHU_OK;
use crate::config::{self, Config, LogLevel, ProxySetting};
use crate::error::Error;

use super::c_bytes;
use super::error::set_last;

// The base URL presets FEISHU_BASE_URL_FEISHU and FEISHU_BASE_URL_LARK are
// string macros written by cbindgen.toml (cbindgen exports no string constants).

/// Longest URL or path accepted by the setters, in bytes.
const MAX_SETTING_LEN: usize = 4096;

/// How much a log line matters. An `int32_t` in C.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeishuLogLevel {
    /// A call failed for good (after any retries).
    Error = 1,
    /// An attempt failed and will be retried.
    Warn = 2,
    /// An attempt succeeded.
    Info = 3,
}

/// Receives one line per HTTP attempt (method, path, HTTP status, duration,
/// attempt number, log id, the retry decision) and per wait for a rate limit.
/// `message` is UTF-8, valid only during the call. Never receives a token,
/// app secret or proxy password.
///
/// Called on the thread that made the library call, inside that call, so it
/// must be thread-safe when the client is shared. It may call functions of
/// the library that do not use the same client (`feishu_strerror`, another
/// client); calling back into the same client from the callback may wait for
/// that very call (a managed token being fetched) until its deadline. It must
/// return normally: no C++ exception and no `longjmp` may leave it through
/// the library.
pub type FeishuLogCallback =
    Option<extern "C" fn(user_data: *mut c_void, level: FeishuLogLevel, message: *const c_char)>;

/// Options for `feishu_client_new`. Opaque; create with
/// `feishu_client_options_new`, free with `feishu_client_options_free`.
/// Not thread-safe: configure it from one thread, then build clients from it.
pub struct FeishuClientOptions {
    config: Config,
    /// `Some(None)`: no proxy, whatever the environment says.
    proxy: Option<Option<ProxySetting>>,
}

/// The C callback and its user data, callable from any thread.
struct CLogger {
    callback: extern "C" fn(*mut c_void, FeishuLogLevel, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: the header documents that the callback and its user data must be
// usable from any thread that uses the client; the library only passes the
// pointer back, never dereferences it.
unsafe impl Send for CLogger {}
// SAFETY: as above.
unsafe impl Sync for CLogger {}

impl CLogger {
    fn log(&self, level: LogLevel, line: &str) {
        let level = match level {
            LogLevel::Error => FeishuLogLevel::Error,
            LogLevel::Warn => FeishuLogLevel::Warn,
            LogLevel::Info => FeishuLogLevel::Info,
        };
        // Log lines hold no NUL (server text has control characters replaced).
        if let Ok(line) = CString::new(line) {
            (self.callback)(self.user_data, level, line.as_ptr());
        }
    }
}

impl FeishuClientOptions {
    /// The configuration a client is built from: the proxy, unless set
    /// explicitly, comes from the environment as curl's does.
    pub(crate) fn to_config(&self) -> Result<Config, Error> {
        let mut config = self.config.clone();
        config.proxy = match &self.proxy {
            Some(choice) => choice.clone(),
            None => config::proxy_from_env(&config.base_url)?,
        };
        Ok(config)
    }
}

/// Runs a setter on non-NULL options and records its outcome.
fn set(
    options: *mut FeishuClientOptions,
    apply: impl FnOnce(&mut FeishuClientOptions) -> Result<(), Error>,
) -> i32 {
    // SAFETY: `options` is NULL or a pointer from feishu_client_options_new
    // not yet freed, used by one thread at a time (the header's contract).
    let result = match unsafe { options.as_mut() } {
        Some(o) => apply(o),
        None => Err(Error::invalid("options is NULL")),
    };
    match result {
        Ok(()) => {
            set_last(None);
            FEISHU_OK
        }
        Err(e) => {
            let code = e.code();
            set_last(Some(e));
            code
        }
    }
}

/// Borrows a setting string as UTF-8 text.
///
/// # Safety
/// As [`c_bytes`].
unsafe fn c_text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    // SAFETY: forwarded from the caller.
    let bytes = unsafe { c_bytes(ptr, what, MAX_SETTING_LEN) }?;
    if bytes.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    std::str::from_utf8(bytes).map_err(|_| Error::invalid(format!("{what} is not UTF-8")))
}

/// New options with the built-in defaults: base URL `FEISHU_BASE_URL_FEISHU`,
/// connect timeout 10000 ms, whole-call deadline 30000 ms, 2 retries, the
/// bundled Mozilla roots, no log callback, and the proxy from the environment
/// (`HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`) unless `feishu_client_options_set_proxy`
/// is called. No other environment variable is read.
///
/// Returns NULL only if memory is exhausted or on an internal error. Free with
/// `feishu_client_options_free`. Thread-safe.
///
/// @return new options with the built-in defaults, or NULL if memory is exhausted; free with feishu_client_options_free()
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_new() -> *mut FeishuClientOptions {
    ffi_panic_boundary! {
        Box::into_raw(Box::new(FeishuClientOptions { config: Config::default(), proxy: None }))
    }
}

/// Frees options. NULL does nothing. Clients built from them are unaffected.
///
/// @param options options from feishu_client_options_new(), or NULL (nothing happens)
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_free(options: *mut FeishuClientOptions) {
    ffi_panic_boundary! {
        if !options.is_null() {
            // SAFETY: a non-NULL `options` came from feishu_client_options_new
            // and is freed once (the caller's contract).
            drop(unsafe { Box::from_raw(options) });
        }
    }
}

/// Sets the base URL: `FEISHU_BASE_URL_FEISHU`, `FEISHU_BASE_URL_LARK`, or a
/// private deployment's `http(s)://host[:port]` (no path, query or user info).
///
/// Returns `FEISHU_OK`, or `FEISHU_ERR_INVALID_ARGUMENT` (NULL, bad scheme,
/// a path or query; see `feishu_last_error`) leaving the options unchanged.
///
/// @param options the options to change
/// @param url `http(s)://host[:port]`, e.g. `FEISHU_BASE_URL_LARK`; copied
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_base_url(
    options: *mut FeishuClientOptions,
    url: *const c_char,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| {
            // SAFETY: `url` is NULL or a NUL-terminated string (caller's contract).
            let url = unsafe { c_text(url, "base URL") }?;
            o.config.set_base_url(url)
        })
    }
}

/// Sets the connect timeout and the whole-call deadline (which covers every
/// attempt, retry waits included), in milliseconds; both at least 1. A
/// connect timeout longer than the deadline is cut to it.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL options, a 0).
///
/// @param options the options to change
/// @param connect_ms the connect timeout of one attempt, in ms (>= 1)
/// @param call_ms the whole-call deadline, retries and waits included, in ms (>= 1)
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_timeouts(
    options: *mut FeishuClientOptions,
    connect_ms: u32,
    call_ms: u32,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| o.config.set_timeouts(connect_ms, call_ms))
    }
}

/// Sets how many extra attempts a transient failure gets (0 to 10, default 2).
/// Transient: no connection, a reset before any response, HTTP 5xx (platform
/// code 1061001 included), and 429 / 99991400 when the advised wait fits in
/// what is left of the deadline. Never retried: other 4xx, auth codes,
/// protocol errors, invalid input. Backoff is exponential from 100 ms with
/// jitter, capped at 2 s, and never runs past the deadline.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL options, > 10).
///
/// @param options the options to change
/// @param retries extra attempts after a transient failure, 0 to 10
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_max_retries(
    options: *mut FeishuClientOptions,
    retries: u32,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| o.config.set_max_retries(retries))
    }
}

/// Declares a budget for the task_check requests of clients built from these
/// options: at most `max_requests` requests *start* in any interval of
/// `per_ms` milliseconds, over all threads of a client together (a sliding
/// window, so a gateway that counts fixed windows never sees more than
/// `max_requests` in one). Feishu publishes no number for task_check ("special
/// frequency control"): set the one support gave you, or your own measurement.
///
/// Calls wait in arrival order, each no longer than its own deadline: a call
/// that cannot start in time returns `FEISHU_ERR_TIMEOUT` without sending,
/// its message naming the limit. Retries and wait polls count like any
/// request; the token endpoint does not count. A wait's cancel frees a queued
/// call at once. `max_requests` 0 turns the limit off (the default).
///
/// Independently of this, and always on: after the platform answers 99991400
/// with `x-ogw-ratelimit-reset`, no call of the client with that token is sent
/// before the reset; see `feishu_client_task_check`.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL options,
/// `per_ms` 0 with `max_requests` > 0, `max_requests` over 1000000).
///
/// @param options the options to change
/// @param max_requests the most task_check requests that may start in any interval of `per_ms`; 0: no limit
/// @param per_ms the interval, in ms (>= 1 when `max_requests` > 0)
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_rate_limit(
    options: *mut FeishuClientOptions,
    max_requests: u32,
    per_ms: u32,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| o.config.set_rate_limit(max_requests, per_ms))
    }
}

/// Sets an HTTP CONNECT proxy, `http://[user:password@]host[:port]` (port
/// 1080 if none; credentials percent-encoded), or NULL for no proxy at all,
/// whatever the environment says. Hosts matching `NO_PROXY` are reached
/// directly. Credentials never appear in messages or logs.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL options, a
/// scheme other than http, no host).
///
/// @param options the options to change
/// @param proxy_url `http://[user:password@]host[:port]`, or NULL for no proxy at all; copied
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_proxy(
    options: *mut FeishuClientOptions,
    proxy_url: *const c_char,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| {
            if proxy_url.is_null() {
                o.proxy = Some(None);
                return Ok(());
            }
            // SAFETY: `proxy_url` is a NUL-terminated string (caller's contract).
            let url = unsafe { c_text(proxy_url, "proxy URL") }?;
            let no_proxy = config::no_proxy_from_env()?;
            o.proxy = Some(Some(config::parse_proxy(url, no_proxy.as_deref())?));
            Ok(())
        })
    }
}

/// Trusts the PEM certificates of the file at `pem_path` *instead of* the
/// bundled Mozilla roots (as curl's `CURLOPT_CAINFO` does): for a private
/// deployment's CA, or a corporate TLS-inspecting proxy's. The file is read
/// and every certificate checked now. TLS verification can not be turned off.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL, unreadable,
/// no certificate in it, not valid PEM).
///
/// @param options the options to change
/// @param pem_path the path of a PEM file of CA certificates; read now
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_ca_file(
    options: *mut FeishuClientOptions,
    pem_path: *const c_char,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| {
            // SAFETY: `pem_path` is NULL or a NUL-terminated string (caller's contract).
            let path = unsafe { c_text(pem_path, "CA file path") }?;
            o.config.set_ca_file(path)
        })
    }
}

/// Sets a log callback that receives one line per HTTP attempt (see
/// `FeishuLogCallback`), or NULL for silence (the default). `user_data` is
/// passed back unchanged and must stay valid while clients built from these
/// options live.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL options).
///
/// @param options the options to change
/// @param callback receives the log lines, or NULL for none
/// @param user_data passed back to `callback` unchanged
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_log_callback(
    options: *mut FeishuClientOptions,
    callback: FeishuLogCallback,
    user_data: *mut c_void,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| {
            o.config.logger = callback.map(|callback| {
                let sink = CLogger { callback, user_data };
                Arc::new(move |level: LogLevel, line: &str| sink.log(level, line))
                    as config::Logger
            });
            Ok(())
        })
    }
}

/// Sets the app credentials of a self-built app (`cli_...` and its secret;
/// visible ASCII, at most 1024 bytes each). A client built with them accepts a
/// NULL token and manages its own tenant_access_token (see
/// `feishu_client_task_check`); an explicit token still overrides it. The
/// token is cached per client, never shared between clients. The secret is
/// copied, kept out of every message, log line and Debug output, and wiped
/// when the options or client are freed.
///
/// What the library wipes, and what it cannot: its own copies of the secret,
/// of the managed token, of each request's `Authorization` value and of the
/// token request's body are zeroed as soon as they are done with. It cannot
/// wipe the copies inside the HTTP stack (ureq's request header map, freed
/// after each request; each pooled connection's 16 KiB output buffer, which
/// keeps the last request until the next one overwrites it or the connection
/// closes; rustls's send buffer over TLS) nor response bodies (the token
/// endpoint's reply, freed unwiped). The same holds for tokens passed to
/// calls: they are borrowed, and copied only into those buffers.
///
/// Returns `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT` (NULL, empty, too
/// long, or characters outside visible ASCII; the message does not echo them).
///
/// @param options the options to change
/// @param app_id the self-built app's id (`cli_...`); copied
/// @param app_secret the app's secret; copied, wiped when freed, never shown
/// @return `FEISHU_OK` or `FEISHU_ERR_INVALID_ARGUMENT`
#[unsafe(no_mangle)]
pub extern "C" fn feishu_client_options_set_app_credentials(
    options: *mut FeishuClientOptions,
    app_id: *const c_char,
    app_secret: *const c_char,
) -> i32 {
    ffi_panic_boundary! {
        set(options, |o| {
            // SAFETY: `app_id` and `app_secret` are NULL or NUL-terminated
            // strings (caller's contract).
            let (id, secret) = unsafe {
                (c_bytes(app_id, "app_id", MAX_SETTING_LEN)?, c_bytes(app_secret, "app_secret", MAX_SETTING_LEN)?)
            };
            o.config.set_app_credentials(id, secret)
        })
    }
}

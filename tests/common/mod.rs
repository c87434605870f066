//! Helpers for calling the client API of the C ABI from Rust tests, as a C
//! caller would: C strings in, out-pointers, `FeishuError` out.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::Mutex;

use feishu_task::ffi::client::{
    FeishuClient, feishu_client_free, feishu_client_new, feishu_client_task_check,
};
use feishu_task::ffi::error::{FeishuError, feishu_last_error};
use feishu_task::ffi::options::{
    FeishuClientOptions, FeishuLogLevel, feishu_client_options_free, feishu_client_options_new,
    feishu_client_options_set_base_url, feishu_client_options_set_ca_file,
    feishu_client_options_set_log_callback, feishu_client_options_set_max_retries,
    feishu_client_options_set_proxy, feishu_client_options_set_rate_limit,
    feishu_client_options_set_timeouts,
};
use feishu_task::ffi::task::FeishuTaskStatus;

pub const FEISHU_OK: i32 = 0;
pub const FEISHU_ERR_INVALID_ARGUMENT: i32 = -1;
pub const FEISHU_ERR_NETWORK: i32 = -2;
pub const FEISHU_ERR_TIMEOUT: i32 = -3;
pub const FEISHU_ERR_HTTP: i32 = -4;
pub const FEISHU_ERR_PROTOCOL: i32 = -5;

pub const TOKEN: &str = "t-SECRETclient0123456789";

pub fn zeroed_error() -> FeishuError {
    // SAFETY: FeishuError is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

pub fn text(chars: &[c_char]) -> String {
    // SAFETY: the library always NUL-terminates these arrays.
    unsafe { CStr::from_ptr(chars.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The thread's last error message.
pub fn last_message() -> String {
    let mut err = zeroed_error();
    feishu_last_error(&mut err);
    text(&err.message)
}

/// Log lines collected by [`collect_log`].
pub struct LogSink {
    pub lines: Mutex<Vec<(i32, String)>>,
}

extern "C" fn collect_log(user_data: *mut c_void, level: FeishuLogLevel, message: *const c_char) {
    // SAFETY: `user_data` is the &'static LogSink passed at registration;
    // `message` is a NUL-terminated string valid for this call.
    let sink = unsafe { &*(user_data as *const LogSink) };
    let line = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    sink.lines.lock().unwrap().push((level as i32, line));
}

/// Owned options, freed on drop.
pub struct Options(pub *mut FeishuClientOptions);

impl Options {
    pub fn new() -> Options {
        let o = feishu_client_options_new();
        assert!(!o.is_null());
        Options(o)
    }
    pub fn base_url(self, url: &str) -> Options {
        assert_eq!(
            self.set_base_url(url),
            FEISHU_OK,
            "{url}: {}",
            last_message()
        );
        self
    }
    pub fn set_base_url(&self, url: &str) -> i32 {
        let url = CString::new(url).unwrap();
        feishu_client_options_set_base_url(self.0, url.as_ptr())
    }
    pub fn timeouts(self, connect_ms: u32, call_ms: u32) -> Options {
        assert_eq!(
            feishu_client_options_set_timeouts(self.0, connect_ms, call_ms),
            FEISHU_OK
        );
        self
    }
    pub fn rate_limit(self, max_requests: u32, per_ms: u32) -> Options {
        assert_eq!(
            feishu_client_options_set_rate_limit(self.0, max_requests, per_ms),
            FEISHU_OK,
            "{}",
            last_message()
        );
        self
    }
    pub fn retries(self, n: u32) -> Options {
        assert_eq!(feishu_client_options_set_max_retries(self.0, n), FEISHU_OK);
        self
    }
    pub fn set_proxy(&self, url: Option<&str>) -> i32 {
        let url = url.map(|u| CString::new(u).unwrap());
        feishu_client_options_set_proxy(
            self.0,
            url.as_ref().map_or(std::ptr::null(), |u| u.as_ptr()),
        )
    }
    pub fn set_ca_file(&self, path: &str) -> i32 {
        let path = CString::new(path).unwrap();
        feishu_client_options_set_ca_file(self.0, path.as_ptr())
    }
    /// Sends the log lines to a leaked sink (it must outlive the clients).
    pub fn log_to(self, sink: &'static LogSink) -> Options {
        let rc = feishu_client_options_set_log_callback(
            self.0,
            Some(collect_log),
            sink as *const LogSink as *mut c_void,
        );
        assert_eq!(rc, FEISHU_OK);
        self
    }
    pub fn build(&self) -> Client {
        let mut err = zeroed_error();
        let c = feishu_client_new(self.0, &mut err);
        assert!(!c.is_null(), "feishu_client_new: {}", text(&err.message));
        assert_eq!(err.code, FEISHU_OK);
        Client(c)
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        feishu_client_options_free(self.0);
    }
}

pub fn new_sink() -> &'static LogSink {
    Box::leak(Box::new(LogSink {
        lines: Mutex::new(Vec::new()),
    }))
}

/// An owned client, freed on drop.
pub struct Client(pub *mut FeishuClient);

// SAFETY: FeishuClient is documented as safe to share between threads.
unsafe impl Send for Client {}
// SAFETY: as above.
unsafe impl Sync for Client {}

pub struct Outcome {
    pub rc: i32,
    pub status: FeishuTaskStatus,
    pub err: FeishuError,
}

impl Outcome {
    pub fn message(&self) -> String {
        text(&self.err.message)
    }
}

impl Client {
    pub fn check(&self, task_id: &str) -> Outcome {
        self.check_with(TOKEN, task_id)
    }
    pub fn check_with(&self, token: &str, task_id: &str) -> Outcome {
        let token = CString::new(token).unwrap();
        let task_id = CString::new(task_id).unwrap();
        let mut status = FeishuTaskStatus::Process;
        let mut err = zeroed_error();
        err.code = 12345;
        let rc = feishu_client_task_check(
            self.0,
            token.as_ptr(),
            task_id.as_ptr(),
            &mut status,
            &mut err,
        );
        assert_eq!(err.code, rc, "err is filled with the call's code");
        assert_eq!(
            feishu_last_error(std::ptr::null_mut()),
            rc,
            "and the thread's last error"
        );
        let message = text(&err.message);
        assert!(!message.contains("SECRET"), "token in message: {message}");
        if rc != FEISHU_OK {
            assert_eq!(status, FeishuTaskStatus::Unknown);
            assert!(!message.is_empty());
        }
        Outcome { rc, status, err }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        feishu_client_free(self.0);
    }
}

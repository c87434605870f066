//! The one error type of the core, and the numeric codes of the C ABI.
//!
//! Every failure of the library is an [`Error`]: a [`Kind`] that decides the
//! return code, plus the details a developer needs to act on it (HTTP status,
//! rate-limit advice, the platform's log id, a message). Messages are built
//! only from our own text and from what the server sent; no token or secret is
//! ever formatted into one.

use std::ffi::CStr;
use std::fmt;

/// Return codes. Every function that returns `int32_t` returns one of these,
/// or a positive platform code: 0 is success, < 0 a failure on this side of
/// the wire, > 0 the Feishu platform's own `code` from the response body,
/// unchanged (1061003, 99991663, ...). `feishu_strerror` describes each.
///
/// cbindgen:prefix-with-name=false
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeishuCode {
    /// Success.
    FeishuOk = 0,
    /// NULL, empty, over-long or ill-formed input, or a bad configuration value; nothing was sent.
    FeishuErrInvalidArgument = -1,
    /// DNS, connect, TLS, reset, or truncated transfer.
    FeishuErrNetwork = -2,
    /// The call's deadline passed.
    FeishuErrTimeout = -3,
    /// A non-2xx HTTP status whose body is not a platform error (an HTML 502, a redirect, ...).
    FeishuErrHttp = -4,
    /// A 2xx response whose body is not the documented shape, or a body over 1 MiB.
    FeishuErrProtocol = -5,
    /// A wait was cancelled by the caller.
    FeishuErrCancelled = -6,
    /// A bug: a Rust panic was caught at the C boundary.
    FeishuErrInternal = -99,
}

// The codes as plain integers, for Rust code (the values are the enum's).
pub const FEISHU_OK: i32 = FeishuCode::FeishuOk as i32;
pub const FEISHU_ERR_INVALID_ARGUMENT: i32 = FeishuCode::FeishuErrInvalidArgument as i32;
pub const FEISHU_ERR_NETWORK: i32 = FeishuCode::FeishuErrNetwork as i32;
pub const FEISHU_ERR_TIMEOUT: i32 = FeishuCode::FeishuErrTimeout as i32;
pub const FEISHU_ERR_HTTP: i32 = FeishuCode::FeishuErrHttp as i32;
pub const FEISHU_ERR_PROTOCOL: i32 = FeishuCode::FeishuErrProtocol as i32;
pub const FEISHU_ERR_CANCELLED: i32 = FeishuCode::FeishuErrCancelled as i32;
pub const FEISHU_ERR_INTERNAL: i32 = FeishuCode::FeishuErrInternal as i32;

/// The room for a log id in `FeishuError`, its terminating NUL included.
pub const FEISHU_LOG_ID_SIZE: usize = 64;

/// A log id as kept in an [`Error`]: control characters blanked, cut to fit
/// `FeishuError.log_id`.
pub fn clean_log_id(log_id: &str) -> String {
    crate::api::clean(log_id, FEISHU_LOG_ID_SIZE - 1)
}

/// What went wrong, which decides the code a call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    InvalidArgument,
    Network,
    Timeout,
    Http,
    Protocol,
    Cancelled,
    Internal,
    /// The platform's own non-zero `code`, in `1..=i32::MAX`.
    Platform(i32),
}

impl Kind {
    /// The C return code of this kind.
    pub fn code(self) -> i32 {
        match self {
            Kind::InvalidArgument => FEISHU_ERR_INVALID_ARGUMENT,
            Kind::Network => FEISHU_ERR_NETWORK,
            Kind::Timeout => FEISHU_ERR_TIMEOUT,
            Kind::Http => FEISHU_ERR_HTTP,
            Kind::Protocol => FEISHU_ERR_PROTOCOL,
            Kind::Cancelled => FEISHU_ERR_CANCELLED,
            Kind::Internal => FEISHU_ERR_INTERNAL,
            Kind::Platform(code) => code,
        }
    }
}

/// Whether a failed attempt may be repeated (decided where the failure is
/// classified, which knows best; see `retry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Permanent: invalid input, 4xx, auth codes, protocol errors, TLS, DNS.
    Never,
    /// Transient: no connection, a reset before any response, HTTP 5xx, 1061001.
    Transient,
    /// Rate limited (429 / 99991400): wait `retry_after_ms`, then repeat.
    RateLimited,
}

/// A failure with everything known about it.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    /// Whether repeating the request may succeed.
    pub retry: Retry,
    /// The HTTP status of the response, 0 when none was received.
    pub http_status: u16,
    /// The wait advised by `x-ogw-ratelimit-reset`, in milliseconds; 0 if none.
    pub retry_after_ms: u32,
    /// `X-Tt-Logid`, else the body's `error.log_id`; empty if none.
    pub log_id: String,
    /// What happened, for a developer. Never contains a token or secret.
    pub message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            retry: Retry::Never,
            http_status: 0,
            retry_after_ms: 0,
            log_id: String::new(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Kind::InvalidArgument, message)
    }

    pub fn code(&self) -> i32 {
        self.kind.code()
    }

    /// Marks the error as worth repeating.
    pub fn retry(mut self, retry: Retry) -> Error {
        self.retry = retry;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.log_id.is_empty() {
            write!(f, " (log id {})", self.log_id)?;
        }
        Ok(())
    }
}

// Debug is written by hand so that it shows exactly the fields above, which
// hold no secret by construction.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code())
            .field("http_status", &self.http_status)
            .field("retry_after_ms", &self.retry_after_ms)
            .field("log_id", &self.log_id)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for Error {}

/// The static description of a return code, as `feishu_strerror` gives it.
pub fn describe(code: i32) -> &'static CStr {
    match code {
        FEISHU_OK => c"success",
        FEISHU_ERR_INVALID_ARGUMENT => c"invalid argument (nothing was sent)",
        FEISHU_ERR_NETWORK => c"network error (DNS, connect, TLS, reset or truncated transfer)",
        FEISHU_ERR_TIMEOUT => c"the call's deadline passed",
        FEISHU_ERR_HTTP => c"HTTP error without a platform error body",
        FEISHU_ERR_PROTOCOL => c"response not in the documented shape, or too large",
        FEISHU_ERR_CANCELLED => c"cancelled by the caller",
        FEISHU_ERR_INTERNAL => c"internal error (a bug in libfeishu_task)",
        1061001 => c"platform: internal error (transient, retry later)",
        1061002 => c"platform: params error",
        1061003 => c"platform: task not found",
        99991400 => c"platform: rate limited",
        99991661 => c"platform: missing or malformed Authorization",
        99991663 => c"platform: tenant_access_token invalid or expired",
        99991664 => c"platform: app_access_token invalid",
        99991668 => c"platform: user_access_token invalid",
        99991671 => c"platform: token format wrong (must start t- or u-)",
        99991672 => c"platform: app lacks the required scope",
        99991677 => c"platform: user_access_token expired",
        c if c > 0 => c"platform error (see the Feishu error code reference)",
        _ => c"unknown error code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        assert_eq!(Kind::InvalidArgument.code(), -1);
        assert_eq!(Kind::Network.code(), -2);
        assert_eq!(Kind::Timeout.code(), -3);
        assert_eq!(Kind::Http.code(), -4);
        assert_eq!(Kind::Protocol.code(), -5);
        assert_eq!(Kind::Cancelled.code(), -6);
        assert_eq!(Kind::Internal.code(), -99);
        assert_eq!(Kind::Platform(1061003).code(), 1061003);
    }

    #[test]
    fn every_code_has_a_description() {
        for code in [
            -99,
            -7,
            -6,
            -5,
            -4,
            -3,
            -2,
            -1,
            0,
            1,
            1061003,
            i32::MAX,
            i32::MIN,
        ] {
            assert!(!describe(code).is_empty());
        }
        assert_eq!(describe(-7), c"unknown error code");
    }
}

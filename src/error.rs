//! The one error type of the core.
//!
//! Every failure of the library is an [`Error`]: a [`Kind`] that decides the
//! return code, plus the details a developer needs to act on it (HTTP status,
//! rate-limit advice, the platform's log id, a message). Messages are built
//! only from our own text and from what the server sent; no token or secret is
//! ever formatted into one.

use std::fmt;

/// The room for a message in `FeishuError`, its terminating NUL included.
pub const FEISHU_MESSAGE_SIZE: usize = 256;

/// The room for a log id in `FeishuError`, its terminating NUL included.
pub const FEISHU_LOG_ID_SIZE: usize = 64;

/// A log id as kept in an [`Error`]: control characters blanked, cut to fit
/// `FeishuError.log_id`.
pub fn clean_log_id(log_id: &str) -> String {
    crate::text::clean(log_id, FEISHU_LOG_ID_SIZE - 1)
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
    /// The return code of this kind: 0 < code for the platform's, the C
    /// ABI's `FEISHU_ERR_*` values otherwise (the FFI layer checks at compile
    /// time that its `FeishuCode` agrees).
    pub const fn code(self) -> i32 {
        match self {
            Kind::InvalidArgument => -1,
            Kind::Network => -2,
            Kind::Timeout => -3,
            Kind::Http => -4,
            Kind::Protocol => -5,
            Kind::Cancelled => -6,
            Kind::Internal => -99,
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
    /// The platform said "retry later" (1061045: a write overlapped another,
    /// or came too soon): back off and repeat while the deadline allows.
    Later,
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
    /// The call's own deadline or cancel ended it (a timeout, a cancel, a
    /// retry that no longer fitted), not the failure itself: another call
    /// that shared the work, with more time, may still succeed.
    pub cut_short: bool,
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
            cut_short: matches!(kind, Kind::Timeout | Kind::Cancelled),
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
}

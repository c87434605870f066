package feishutask

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Return codes of the C library (FEISHU_OK and FEISHU_ERR_* in feishu_task.h).
// A positive code is the Feishu platform's own code, unchanged.
const (
	CodeOK              int32 = 0
	CodeInvalidArgument int32 = -1
	CodeNetwork         int32 = -2
	CodeTimeout         int32 = -3
	CodeHTTP            int32 = -4
	CodeProtocol        int32 = -5
	CodeCancelled       int32 = -6
	CodeInternal        int32 = -99
)

// Sentinel errors, for errors.Is. Every failure of this package is an
// *APIError whose Is method matches the sentinel of its Code; ErrClosed is the
// only error that is not an *APIError.
var (
	// ErrInvalidArgument: empty, over-long or ill-formed input, or a bad
	// option or environment value. Nothing was sent.
	ErrInvalidArgument = errors.New("feishutask: invalid argument")
	// ErrNetwork: DNS, connect, TLS, reset, truncated transfer.
	ErrNetwork = errors.New("feishutask: network error")
	// ErrTimeout: the call's (or the wait's) deadline passed.
	ErrTimeout = errors.New("feishutask: timeout")
	// ErrHTTP: a non-2xx status without a platform error body (an HTML 502,
	// a redirect, ...).
	ErrHTTP = errors.New("feishutask: unexpected HTTP response")
	// ErrProtocol: a 2xx body not in the documented shape, or over 1 MiB.
	ErrProtocol = errors.New("feishutask: protocol error")
	// ErrCancelled: a wait was cancelled (its context, or the client closing).
	ErrCancelled = errors.New("feishutask: cancelled")
	// ErrInternal: a bug in the library (a caught Rust panic).
	ErrInternal = errors.New("feishutask: internal error")
	// ErrPlatform: the Feishu platform answered with an error code (> 0);
	// APIError.Code holds it (1061003 not found, 99991400 rate limited, ...).
	ErrPlatform = errors.New("feishutask: platform error")
	// ErrClosed: the client was closed. Also matched (together with
	// ErrCancelled) by a wait that Close interrupted.
	ErrClosed = errors.New("feishutask: client is closed")
)

// APIError describes a failed call: what the C library reported in its
// FeishuError out-parameter for that very call (never a thread's "last
// error"), so it is exact however goroutines move between threads.
type APIError struct {
	// Code is the C return code: a CodeXxx constant (< 0) or the platform's
	// code (> 0).
	Code int32
	// HTTPStatus is the status of the response; 0 when no response arrived.
	HTTPStatus int
	// LogID is the platform's log id (X-Tt-Logid); quote it to Feishu
	// support. "" when there is none.
	LogID string
	// Message says what happened, for a developer. Never contains a token
	// or secret.
	Message string
	// RetryAfter is the wait the platform advised (x-ogw-ratelimit-reset);
	// 0 if none.
	RetryAfter time.Duration

	// cause is the context error (or ErrClosed) that ended a wait.
	cause error
}

// Error returns the message, with the code's description, the HTTP status
// (when the message does not already say it) and the log id.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("feishutask: ")
	if e.Message != "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString(strerror(e.Code))
	}
	fmt.Fprintf(&b, " [code %d]", e.Code)
	if e.HTTPStatus != 0 && !strings.Contains(e.Message, fmt.Sprintf("HTTP %d", e.HTTPStatus)) {
		fmt.Fprintf(&b, " [HTTP %d]", e.HTTPStatus)
	}
	if e.LogID != "" {
		fmt.Fprintf(&b, " [log id %s]", e.LogID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", e.RetryAfter)
	}
	if e.cause != nil {
		fmt.Fprintf(&b, " (%v)", e.cause)
	}
	return b.String()
}

// Is reports whether the error matches one of the sentinels: the one of its
// Code (ErrPlatform for any code > 0).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalidArgument:
		return e.Code == CodeInvalidArgument
	case ErrNetwork:
		return e.Code == CodeNetwork
	case ErrTimeout:
		return e.Code == CodeTimeout
	case ErrHTTP:
		return e.Code == CodeHTTP
	case ErrProtocol:
		return e.Code == CodeProtocol
	case ErrCancelled:
		return e.Code == CodeCancelled
	case ErrInternal:
		return e.Code == CodeInternal
	case ErrPlatform:
		return e.Code > 0
	}
	return false
}

// Unwrap returns the context error (context.Canceled or
// context.DeadlineExceeded) or ErrClosed that ended a wait, else nil.
func (e *APIError) Unwrap() error { return e.cause }

// invalid is an ErrInvalidArgument detected on the Go side (nothing reached C).
func invalid(format string, args ...interface{}) *APIError {
	return &APIError{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

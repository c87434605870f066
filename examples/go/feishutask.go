// Package feishutask is a Go binding (cgo) of libfeishu_task: it asks the
// Feishu / Lark Open Platform for the status of an asynchronous drive task
// (GET /open-apis/drive/v1/files/task_check), once or until it finishes, and
// starts such tasks: Move and Delete (a folder's task id; MoveAndWait and
// DeleteAndWait also wait for it).
//
// Build with the library on the linker path:
//
//	CGO_LDFLAGS="-L$LIBDIR -Wl,-rpath,$LIBDIR" go build
//
// Every call takes a context.Context, returns precise errors (*APIError,
// matched with errors.Is against ErrTimeout, ErrPlatform, ...) and is safe to
// make from any number of goroutines on one Client, which shares one
// keep-alive connection pool. Errors come from the C library's per-call
// FeishuError out-parameter, never from its per-thread "last error" (a
// goroutine may change threads between two cgo calls).
package feishutask

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -lfeishu_task
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "feishu_task.h"

// Defined in callbacks.go (//export).
extern int32_t feishutaskGoProgress(uintptr_t handle, int32_t status, uint32_t polls, uint64_t elapsed_ms);
extern void feishutaskGoLog(uintptr_t handle, int32_t level, char *message);

static int32_t feishutask_progress(void *user_data, FeishuTaskStatus status, uint32_t polls, uint64_t elapsed_ms) {
	return feishutaskGoProgress((uintptr_t)user_data, (int32_t)status, polls, elapsed_ms);
}

static void feishutask_log(void *user_data, FeishuLogLevel level, const char *message) {
	feishutaskGoLog((uintptr_t)user_data, (int32_t)level, (char *)message);
}

// The user data is a cgo.Handle (an integer), never a Go pointer.
static int32_t feishutask_wait(const FeishuClient *client, const char *token, const char *task_id,
                               uint32_t timeout_ms, const FeishuCancel *cancel, uintptr_t handle,
                               FeishuTaskStatus *out_status, FeishuError *err) {
	return feishu_client_task_wait(client, token, task_id, timeout_ms, cancel,
	                               handle != 0 ? feishutask_progress : NULL, (void *)handle,
	                               out_status, err);
}

static int32_t feishutask_set_log(FeishuClientOptions *options, uintptr_t handle) {
	return feishu_client_options_set_log_callback(options, feishutask_log, (void *)handle);
}

// Frees a C copy of a secret after wiping it.
static void feishutask_free_secret(char *s) {
	if (s != NULL) {
		volatile char *p = s;
		while (*p != '\0') *p++ = 0;
		free(s);
	}
}
*/
import "C"

import (
	"context"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Base URLs of the two public deployments (FEISHU_BASE_URL_FEISHU and
// FEISHU_BASE_URL_LARK).
const (
	BaseURLFeishu = "https://open.feishu.cn"
	BaseURLLark   = "https://open.larksuite.com"
)

// DefaultWaitTimeout bounds a Wait whose context has no deadline.
const DefaultWaitTimeout = 24 * time.Hour

// Status is the status of an asynchronous drive task.
type Status int32

// The statuses. StatusUnknown is what a failed call returns (except a Wait
// that timed out or was cancelled, which returns the last status it saw).
const (
	StatusUnknown Status = 0 // no status (a failure)
	StatusSuccess Status = 1 // "success": the task has finished
	StatusFail    Status = 2 // "fail" (or "failed"): the task has failed
	StatusProcess Status = 3 // "process" (or "pending"): the task is still running
)

// String returns "unknown", "success", "fail" or "process" (the platform's
// other spellings, "failed" and "pending", are StatusFail and StatusProcess).
func (s Status) String() string {
	switch s {
	case StatusSuccess:
		return "success"
	case StatusFail:
		return "fail"
	case StatusProcess:
		return "process"
	}
	return "unknown"
}

// Done reports whether the task has finished, successfully or not.
func (s Status) Done() bool { return s == StatusSuccess || s == StatusFail }

// LogLevel is how much a log line matters.
type LogLevel int32

// The log levels.
const (
	LogError LogLevel = 1 // a call failed for good (after any retries)
	LogWarn  LogLevel = 2 // an attempt failed and will be retried
	LogInfo  LogLevel = 3 // an attempt succeeded
)

// String returns "error", "warn" or "info".
func (l LogLevel) String() string {
	switch l {
	case LogError:
		return "error"
	case LogWarn:
		return "warn"
	case LogInfo:
		return "info"
	}
	return "unknown"
}

// LogFunc receives one line per HTTP attempt (method, path, HTTP status,
// duration, attempt number, log id, retry decision); never a token, secret
// or proxy password. It is called on the goroutine making the call, so it
// must be safe for concurrent use when the client is shared. It must not
// call Close; a panic in it is recovered and the line dropped.
type LogFunc func(level LogLevel, message string)

// Progress is what a Wait reports after each poll.
type Progress struct {
	// Status is the status that poll returned; StatusUnknown for a poll that
	// failed transiently and was absorbed.
	Status Status
	// Polls is the number of polls so far (1 for the first).
	Polls int
	// Elapsed is the time since the wait began.
	Elapsed time.Duration
}

// Version returns the C library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.feishu_version()) }

// strerror is the C library's static description of a code.
func strerror(code int32) string { return C.GoString(C.feishu_strerror(C.int32_t(code))) }

// Describe returns the C library's description of a code ("platform: task
// not found" for 1061003, ...), also for codes it does not know.
func Describe(code int32) string { return strerror(code) }

// options collects what the Option functions set.
type options struct {
	baseURL        string
	connectTimeout time.Duration
	callTimeout    time.Duration
	timeoutsSet    bool
	maxRetries     int
	retriesSet     bool
	proxy          string
	proxySet       bool
	caFile         string
	appID          string
	appSecret      string
	credsSet       bool
	rateMax        int
	ratePer        time.Duration
	rateSet        bool
	log            LogFunc
}

// An Option configures NewClient.
type Option func(*options)

// WithBaseURL sets the host: BaseURLFeishu (the default), BaseURLLark, or a
// private deployment's "http(s)://host[:port]" (no path, query or user info).
func WithBaseURL(url string) Option { return func(o *options) { o.baseURL = url } }

// WithConnectTimeout bounds the TCP + TLS connect (default 10s; rounded up
// to whole milliseconds; cut to the call timeout if longer).
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout, o.timeoutsSet = d, true }
}

// WithCallTimeout sets the whole-call deadline of TaskCheck, retries and
// their waits included, and of each poll of Wait (default 30s; rounded up to
// whole milliseconds).
func WithCallTimeout(d time.Duration) Option {
	return func(o *options) { o.callTimeout, o.timeoutsSet = d, true }
}

// WithMaxRetries sets how many extra attempts a transient failure gets
// (0 to 10, default 2): connection failures, 5xx, and rate limits whose
// advised wait fits the deadline.
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries, o.retriesSet = n, true } }

// WithRateLimit declares a budget for the client's task_check requests: at
// most maxRequests of them start in any interval of length per, over all
// goroutines using the client together (a sliding window, so a gateway that
// counts fixed windows never sees more than maxRequests in one). Feishu
// publishes no number for task_check: use the one its support gave you, or
// your own measurement.
//
// Calls wait their turn in arrival order, each no longer than its own
// deadline (the call timeout; for Wait, what is left of the context): a call
// that cannot start in time fails with ErrTimeout without sending anything,
// its message naming the limit. Retries and every poll of Wait count like any
// request; fetching the tenant_access_token does not. Cancelling a Wait's
// context frees its queued poll at once.
//
// maxRequests 0 turns the limit off (the default; per is then ignored).
// Otherwise maxRequests is at most 1000000 and per a whole number of
// milliseconds, at least 1ms; other values make NewClient fail with
// ErrInvalidArgument.
func WithRateLimit(maxRequests int, per time.Duration) Option {
	return func(o *options) { o.rateMax, o.ratePer, o.rateSet = maxRequests, per, true }
}

// WithProxy sets an HTTP CONNECT proxy, "http://[user:password@]host[:port]".
// Without WithProxy or WithNoProxy, HTTPS_PROXY / ALL_PROXY / NO_PROXY are used
// as curl reads them.
func WithProxy(url string) Option { return func(o *options) { o.proxy, o.proxySet = url, true } }

// WithNoProxy connects directly, whatever the environment says.
func WithNoProxy() Option { return func(o *options) { o.proxy, o.proxySet = "", true } }

// WithCAFile trusts the PEM certificates of a file instead of the bundled
// Mozilla roots (as Go's tls.Config.RootCAs does).
func WithCAFile(path string) Option { return func(o *options) { o.caFile = path } }

// WithAppCredentials makes the client manage its own tenant_access_token for
// a self-built app: calls with an empty token then use it (fetched on first
// need, cached, refreshed when it expires or is revoked).
func WithAppCredentials(appID, appSecret string) Option {
	return func(o *options) { o.appID, o.appSecret, o.credsSet = appID, appSecret, true }
}

// WithLogFunc sets a function that receives one line per HTTP attempt.
func WithLogFunc(f LogFunc) Option { return func(o *options) { o.log = f } }

// Client is a configured connection to the Feishu Open Platform. It is safe
// for concurrent use by any number of goroutines; create one and share it.
type Client struct {
	mu      sync.Mutex
	idle    *sync.Cond // signalled when active drops to 0 after Close
	ptr     *C.FeishuClient
	active  int  // calls running in C
	closed  bool // Close has begun
	closing chan struct{}
	logH    cgo.Handle // 0 without a LogFunc
}

// NewClient builds a client from options (built-in defaults otherwise; no
// environment variable but the proxy ones is read).
func NewClient(opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	copt := C.feishu_client_options_new()
	if copt == nil {
		return nil, &APIError{Code: CodeInternal, Message: "feishu_client_options_new returned NULL"}
	}
	defer C.feishu_client_options_free(copt)

	// The C setters report details only through the per-thread last error,
	// which Go must not use, so the messages here are built on the Go side.
	if o.baseURL != "" {
		if err := noNUL("base URL", o.baseURL); err != nil {
			return nil, err
		}
		cs := C.CString(o.baseURL)
		rc := C.feishu_client_options_set_base_url(copt, cs)
		C.free(unsafe.Pointer(cs))
		if rc != 0 {
			return nil, setterError(rc, "base URL %q: want http(s)://host[:port] without path, query or user info", o.baseURL)
		}
	}
	if o.timeoutsSet {
		connect, call := o.connectTimeout, o.callTimeout
		if connect == 0 {
			connect = 10 * time.Second
		}
		if call == 0 {
			call = 30 * time.Second
		}
		cms, ok1 := millis(connect)
		tms, ok2 := millis(call)
		if !ok1 || !ok2 {
			return nil, invalid("timeouts must be between 1ms and %v (connect %v, call %v)",
				time.Duration(math.MaxUint32)*time.Millisecond, connect, call)
		}
		if rc := C.feishu_client_options_set_timeouts(copt, C.uint32_t(cms), C.uint32_t(tms)); rc != 0 {
			return nil, setterError(rc, "timeouts: connect %v, call %v", connect, call)
		}
	}
	if o.retriesSet {
		if o.maxRetries < 0 || o.maxRetries > 10 {
			return nil, invalid("max retries %d: want 0 to 10", o.maxRetries)
		}
		if rc := C.feishu_client_options_set_max_retries(copt, C.uint32_t(o.maxRetries)); rc != 0 {
			return nil, setterError(rc, "max retries %d", o.maxRetries)
		}
	}
	if o.rateSet {
		n, perMS, err := rateLimit(o.rateMax, o.ratePer)
		if err != nil {
			return nil, err
		}
		if rc := C.feishu_client_options_set_rate_limit(copt, C.uint32_t(n), C.uint32_t(perMS)); rc != 0 {
			return nil, setterError(rc, "rate limit %d requests per %v", o.rateMax, o.ratePer)
		}
	}
	if o.proxySet {
		var cs *C.char
		if o.proxy != "" {
			if err := noNUL("proxy URL", o.proxy); err != nil {
				return nil, err
			}
			cs = C.CString(o.proxy)
		}
		rc := C.feishu_client_options_set_proxy(copt, cs)
		C.feishutask_free_secret(cs) // it may hold a password
		if rc != 0 {
			// The URL is not echoed: it may hold a password.
			return nil, setterError(rc, "proxy URL: want http://[user:password@]host[:port]")
		}
	}
	if o.caFile != "" {
		if err := noNUL("CA file path", o.caFile); err != nil {
			return nil, err
		}
		cs := C.CString(o.caFile)
		rc := C.feishu_client_options_set_ca_file(copt, cs)
		C.free(unsafe.Pointer(cs))
		if rc != 0 {
			return nil, setterError(rc, "CA file %q: unreadable, or no PEM certificate in it", o.caFile)
		}
	}
	if o.credsSet {
		if strings.IndexByte(o.appID, 0) >= 0 || strings.IndexByte(o.appSecret, 0) >= 0 {
			return nil, invalid("app credentials contain a NUL byte")
		}
		id, secret := C.CString(o.appID), C.CString(o.appSecret)
		rc := C.feishu_client_options_set_app_credentials(copt, id, secret)
		C.free(unsafe.Pointer(id))
		C.feishutask_free_secret(secret)
		if rc != 0 {
			return nil, setterError(rc, "app credentials: want non-empty visible ASCII, at most 1024 bytes each")
		}
	}
	var logH cgo.Handle
	if o.log != nil {
		logH = cgo.NewHandle(o.log)
		if rc := C.feishutask_set_log(copt, C.uintptr_t(logH)); rc != 0 {
			logH.Delete()
			return nil, setterError(rc, "log callback")
		}
	}
	var cerr C.FeishuError
	ptr := C.feishu_client_new(copt, &cerr)
	if ptr == nil {
		if logH != 0 {
			logH.Delete()
		}
		return nil, toError(&cerr, 0)
	}
	return newClient(ptr, logH), nil
}

// NewClientFromEnv builds a client exactly as the C library's default client
// is built: from FEISHU_BASE_URL, FEISHU_TIMEOUT_MS, FEISHU_CA_FILE and the
// proxy variables. A bad value is an ErrInvalidArgument naming the variable.
func NewClientFromEnv() (*Client, error) {
	var cerr C.FeishuError
	ptr := C.feishu_client_new(nil, &cerr)
	if ptr == nil {
		return nil, toError(&cerr, 0)
	}
	return newClient(ptr, 0), nil
}

func newClient(ptr *C.FeishuClient, logH cgo.Handle) *Client {
	c := &Client{ptr: ptr, logH: logH, closing: make(chan struct{})}
	c.idle = sync.NewCond(&c.mu)
	// A forgotten Close still frees the C client; the finalizer can only run
	// once no call is running (each call keeps c reachable).
	runtime.SetFinalizer(c, (*Client).Close)
	return c
}

// Close cancels running waits (they return ErrCancelled and ErrClosed),
// waits for running calls to return, and frees the client. Later calls
// return ErrClosed. Calling Close again does nothing. Close must not be
// called from a progress or log function. It always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	for c.active > 0 {
		c.idle.Wait()
	}
	ptr, logH := c.ptr, c.logH
	c.ptr, c.logH = nil, 0
	c.mu.Unlock()

	runtime.SetFinalizer(c, nil)
	C.feishu_client_free(ptr)
	if logH != 0 {
		logH.Delete()
	}
	return nil
}

// acquire registers a call; the C client stays alive until release.
func (c *Client) acquire() (*C.FeishuClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.active++
	return c.ptr, nil
}

func (c *Client) release() {
	c.mu.Lock()
	c.active--
	if c.active == 0 && c.closed {
		c.idle.Broadcast()
	}
	c.mu.Unlock()
}

// TaskCheck asks once for the status of task taskID, with the client's
// retries, bounded by its call timeout.
//
// token is a tenant_access_token ("t-...") or user_access_token ("u-...")
// without "Bearer "; "" uses the client's managed token (WithAppCredentials).
// If ctx is already done, TaskCheck returns its error (an *APIError that
// matches ctx.Err() and ErrCancelled or ErrTimeout) without sending
// anything; a call in flight is not interrupted by ctx (it ends within the
// call timeout).
//
// On success the status is StatusSuccess, StatusFail or StatusProcess; on
// failure it is StatusUnknown and the error is an *APIError.
func (c *Client) TaskCheck(ctx context.Context, token, taskID string) (Status, error) {
	if err := ctxDone(ctx); err != nil {
		return StatusUnknown, err
	}
	if err := checkInputs(token, taskID); err != nil {
		return StatusUnknown, err
	}
	ptr, err := c.acquire()
	if err != nil {
		return StatusUnknown, err
	}
	defer c.release()

	ctoken, cid := cstrings(token, taskID)
	defer freeStrings(ctoken, cid)
	var status C.FeishuTaskStatus
	var cerr C.FeishuError
	rc := C.feishu_client_task_check(ptr, ctoken, cid, &status, &cerr)
	if rc != 0 {
		return StatusUnknown, toError(&cerr, int32(rc))
	}
	return Status(status), nil
}

// Wait polls task taskID until it has finished (StatusSuccess or
// StatusFail), waiting out rate limits and absorbing transient failures.
//
// ctx bounds and stops it: the wait ends at ctx's deadline (DefaultWaitTimeout
// without one) and within milliseconds of ctx being cancelled. A wait ended
// by ctx returns an *APIError that matches ctx.Err() as well as ErrCancelled
// (context.Canceled) or ErrTimeout (context.DeadlineExceeded); Close
// interrupts it with ErrCancelled and ErrClosed. On a timeout or
// cancellation the status returned is the last one seen (StatusProcess, or
// StatusUnknown if no poll succeeded).
//
// progress (may be nil) is called on the waiting goroutine after every poll;
// to stop the wait from it, cancel ctx. A panic in progress stops the wait
// and is re-raised by Wait.
func (c *Client) Wait(ctx context.Context, token, taskID string, progress func(Progress)) (Status, error) {
	if err := ctxDone(ctx); err != nil {
		return StatusUnknown, err
	}
	timeout := DefaultWaitTimeout
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = time.Until(deadline)
		if timeout <= 0 {
			return StatusUnknown, ctxError(context.DeadlineExceeded)
		}
	}
	ms := uint64((timeout + time.Millisecond - 1) / time.Millisecond)
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	if err := checkInputs(token, taskID); err != nil {
		return StatusUnknown, err
	}
	ptr, err := c.acquire()
	if err != nil {
		return StatusUnknown, err
	}
	defer c.release()

	cancel := C.feishu_cancel_new()
	if cancel == nil {
		return StatusUnknown, &APIError{Code: CodeInternal, Message: "feishu_cancel_new returned NULL"}
	}
	defer C.feishu_cancel_free(cancel) // runs after the watcher has stopped

	// The watcher triggers the cancel handle when ctx is done or the client
	// closes; it stops when the wait returns.
	var closedByClient bool
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case <-ctx.Done():
			C.feishu_cancel_trigger(cancel)
		case <-c.closing:
			closedByClient = true
			C.feishu_cancel_trigger(cancel)
		case <-stop:
		}
	}()

	var state *waitState
	var h cgo.Handle
	if progress != nil {
		state = &waitState{progress: progress}
		h = cgo.NewHandle(state)
		defer h.Delete()
	}

	ctoken, cid := cstrings(token, taskID)
	defer freeStrings(ctoken, cid)
	var status C.FeishuTaskStatus
	var cerr C.FeishuError
	rc := int32(C.feishutask_wait(ptr, ctoken, cid, C.uint32_t(ms), cancel, C.uintptr_t(h), &status, &cerr))
	close(stop)
	watcher.Wait()

	if state != nil && state.panicked {
		panic(state.panicValue)
	}
	if rc == 0 {
		return Status(status), nil
	}
	apiErr := toError(&cerr, rc)
	if rc == CodeCancelled || rc == CodeTimeout {
		switch {
		case closedByClient:
			apiErr.Code, apiErr.cause = CodeCancelled, ErrClosed
		case ctx.Err() == context.Canceled:
			apiErr.Code, apiErr.cause = CodeCancelled, context.Canceled
		case ctx.Err() != nil || (hasDeadline && !time.Now().Before(deadline)):
			// ctx's deadline ended it, whether the watcher's cancel or the C
			// deadline came first (the latter can beat ctx's own timer, so
			// ctx.Err() may still be nil): report a timeout.
			apiErr.Code, apiErr.cause = CodeTimeout, context.DeadlineExceeded
			if rc == CodeCancelled {
				apiErr.Message = "the wait's deadline (from the context) passed"
			}
		}
	}
	return Status(status), apiErr
}

// waitState is what the progress trampoline reaches through a cgo.Handle.
type waitState struct {
	progress   func(Progress)
	panicked   bool
	panicValue interface{}
}

// ctxDone returns the error for a context that is already done, else nil.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	return nil
}

func ctxError(err error) *APIError {
	code := CodeCancelled
	if err == context.DeadlineExceeded {
		code = CodeTimeout
	}
	return &APIError{Code: code, Message: "the context is done; nothing was sent", cause: err}
}

// checkInputs rejects what C strings cannot carry: a NUL byte would cut the
// string short and send another task id.
func checkInputs(token, taskID string) error {
	if err := noNUL("token", token); err != nil {
		return err
	}
	return noNUL("task id", taskID)
}

func noNUL(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return invalid("%s contains a NUL byte; nothing was sent", what)
	}
	return nil
}

// cstrings copies the token ("" -> NULL: the managed token) and task id to C
// memory; free them with freeStrings once the call has returned.
func cstrings(token, taskID string) (*C.char, *C.char) {
	var ctoken *C.char
	if token != "" {
		ctoken = C.CString(token)
	}
	return ctoken, C.CString(taskID)
}

func freeStrings(token, taskID *C.char) {
	C.feishutask_free_secret(token)
	C.free(unsafe.Pointer(taskID))
}

// millis converts d to whole milliseconds, rounding up; ok is false outside
// 1ms..MaxUint32 ms.
func millis(d time.Duration) (ms uint64, ok bool) {
	if d <= 0 {
		return 0, false
	}
	ms = uint64((d + time.Millisecond - 1) / time.Millisecond)
	return ms, ms <= math.MaxUint32
}

// maxRateLimitRequests is the most requests WithRateLimit may allow per
// interval (the C library's bound).
const maxRateLimitRequests = 1000000

// rateLimit checks WithRateLimit's values and converts them for the C setter:
// (0, 0) turns the limit off.
func rateLimit(maxRequests int, per time.Duration) (n, perMS uint32, err error) {
	if maxRequests == 0 {
		return 0, 0, nil
	}
	if maxRequests < 0 || maxRequests > maxRateLimitRequests {
		return 0, 0, invalid("rate limit %d requests per %v: want 0 (no limit) to %d requests",
			maxRequests, per, maxRateLimitRequests)
	}
	if per < time.Millisecond || per%time.Millisecond != 0 || per/time.Millisecond > math.MaxUint32 {
		return 0, 0, invalid("rate limit %d requests per %v: want an interval of whole milliseconds, from 1ms to %v",
			maxRequests, per, time.Duration(math.MaxUint32)*time.Millisecond)
	}
	return uint32(maxRequests), uint32(per / time.Millisecond), nil
}

func setterError(rc C.int32_t, format string, args ...interface{}) *APIError {
	e := invalid(format, args...)
	e.Code = int32(rc)
	return e
}

// toError copies a FeishuError into Go memory. rc is the call's return code
// (0 to take err.code).
func toError(cerr *C.FeishuError, rc int32) *APIError {
	code := int32(cerr.code)
	if rc != 0 {
		code = rc
	}
	if code == 0 {
		code = CodeInternal
	}
	return &APIError{
		Code:       code,
		HTTPStatus: int(cerr.http_status),
		LogID:      C.GoString(&cerr.log_id[0]),
		Message:    C.GoString(&cerr.message[0]),
		RetryAfter: time.Duration(cerr.retry_after_ms) * time.Millisecond,
	}
}

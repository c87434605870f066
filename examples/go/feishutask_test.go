package feishutask_test

// These tests run against the mock Feishu server of the Rust test suite
// (tests/support/server.rs); tests/native/go_binding.rs starts one and passes its
// URL in FEISHU_TEST_BASE_URL. Without it they are skipped.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"example.com/feishutask"
)

const token = "t-go-test-token"

func baseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("FEISHU_TEST_BASE_URL")
	if u == "" {
		t.Skip("FEISHU_TEST_BASE_URL is not set (run through `cargo test --test native go_binding`)")
	}
	return u
}

func newClient(t *testing.T, opts ...feishutask.Option) *feishutask.Client {
	t.Helper()
	opts = append([]feishutask.Option{
		feishutask.WithBaseURL(baseURL(t)),
		feishutask.WithNoProxy(),
		feishutask.WithCallTimeout(5 * time.Second),
	}, opts...)
	c, err := feishutask.NewClient(opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mockPost calls an admin endpoint of the mock server.
func mockPost(t *testing.T, pathAndQuery string) {
	t.Helper()
	resp, err := http.Post(baseURL(t)+pathAndQuery, "application/json", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", pathAndQuery, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s %s", pathAndQuery, resp.Status, body)
	}
}

// requestCount is the mock server's count of task_check and token requests.
func requestCount(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(baseURL(t) + "/_mock/stats")
	if err != nil {
		t.Fatalf("GET /_mock/stats: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}

// mockStat is one number of the mock server's GET /_mock/stats: "requests",
// "connections", "token_fetches" or "limited" (requests its window limit
// answered with 429).
func mockStat(t *testing.T, name string) int {
	t.Helper()
	var stats map[string]int
	if err := json.Unmarshal([]byte(requestCount(t)), &stats); err != nil {
		t.Fatalf("GET /_mock/stats: %v", err)
	}
	n, ok := stats[name]
	if !ok {
		t.Fatalf("GET /_mock/stats has no %q: %v", name, stats)
	}
	return n
}

func apiError(t *testing.T, err error) *feishutask.APIError {
	t.Helper()
	var apiErr *feishutask.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return apiErr
}

func TestVersionAndStrings(t *testing.T) {
	if v := feishutask.Version(); strings.Count(v, ".") != 2 {
		t.Errorf("Version() = %q", v)
	}
	for s, want := range map[feishutask.Status]string{
		feishutask.StatusUnknown: "unknown", feishutask.StatusSuccess: "success",
		feishutask.StatusFail: "fail", feishutask.StatusProcess: "process", 42: "unknown",
	} {
		if s.String() != want {
			t.Errorf("Status(%d).String() = %q, want %q", s, s.String(), want)
		}
	}
	if !strings.Contains(feishutask.Describe(1061003), "not found") {
		t.Errorf("Describe(1061003) = %q", feishutask.Describe(1061003))
	}
}

func TestStatuses(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for taskID, want := range map[string]feishutask.Status{
		"success":             feishutask.StatusSuccess,
		"7360595374803812356": feishutask.StatusSuccess,
		"fail":                feishutask.StatusFail,
		"process":             feishutask.StatusProcess,
		// The spellings of Feishu's own CLI.
		"failed":  feishutask.StatusFail,
		"pending": feishutask.StatusProcess,
	} {
		got, err := c.TaskCheck(ctx, token, taskID)
		if err != nil || got != want {
			t.Errorf("TaskCheck(%q) = %v, %v; want %v, nil", taskID, got, err, want)
		}
	}
}

// The spellings of Feishu's own CLI in a wait: "failed" ends it, "pending"
// does not.
func TestStatusSpellingsInAWait(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if got, err := c.Wait(wctx, token, "failed", nil); err != nil || got != feishutask.StatusFail {
		t.Errorf("Wait(failed) = %v, %v; want fail, nil", got, err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer pcancel()
	got, err := c.Wait(pctx, token, "pending", nil)
	if !errors.Is(err, feishutask.ErrTimeout) || got != feishutask.StatusProcess {
		t.Errorf("Wait(pending) = %v, %v; want process, ErrTimeout", got, err)
	}
}

func TestPlatformError(t *testing.T) {
	c := newClient(t)
	status, err := c.TaskCheck(context.Background(), token, "err-1061003")
	if status != feishutask.StatusUnknown {
		t.Errorf("status = %v, want unknown", status)
	}
	e := apiError(t, err)
	if e.Code != 1061003 || e.HTTPStatus != 404 || e.LogID == "" || e.Message == "" {
		t.Errorf("APIError = %+v", e)
	}
	if !errors.Is(err, feishutask.ErrPlatform) {
		t.Errorf("errors.Is(%v, ErrPlatform) = false", err)
	}
	for _, not := range []error{feishutask.ErrTimeout, feishutask.ErrHTTP, feishutask.ErrCancelled, context.Canceled} {
		if errors.Is(err, not) {
			t.Errorf("errors.Is(%v, %v) = true", err, not)
		}
	}
	if msg := err.Error(); !strings.Contains(msg, "1061003") || !strings.Contains(msg, e.LogID) {
		t.Errorf("Error() = %q lacks the code or the log id", msg)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the token leaked into %q", err.Error())
	}

	// Other kinds of failure map to their sentinels.
	_, err = c.TaskCheck(context.Background(), token, "garbage")
	if !errors.Is(err, feishutask.ErrProtocol) {
		t.Errorf("garbage: %v, want ErrProtocol", err)
	}
	_, err = c.TaskCheck(context.Background(), token, "html-502")
	if !errors.Is(err, feishutask.ErrHTTP) || apiError(t, err).HTTPStatus != 502 {
		t.Errorf("html-502: %v, want ErrHTTP with HTTP 502", err)
	}
}

func TestRateLimitedCarriesRetryAfter(t *testing.T) {
	// The 3 s advice does not fit a 1 s deadline, so it is not retried.
	c := newClient(t, feishutask.WithCallTimeout(time.Second))
	_, err := c.TaskCheck(context.Background(), token, "rate-limited")
	e := apiError(t, err)
	if e.Code != 99991400 || e.RetryAfter != 3*time.Second || !errors.Is(err, feishutask.ErrPlatform) {
		t.Errorf("rate-limited: %+v", e)
	}
}

func TestTimeout(t *testing.T) {
	c := newClient(t, feishutask.WithCallTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := c.TaskCheck(context.Background(), token, "stall")
	took := time.Since(start)
	if !errors.Is(err, feishutask.ErrTimeout) {
		t.Fatalf("stall: %v, want ErrTimeout", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call timeout is not a context deadline: %v", err)
	}
	if took > 2*time.Second {
		t.Errorf("a 300ms call timeout took %v", took)
	}
}

func TestInvalidArgumentSendsNothing(t *testing.T) {
	c := newClient(t)
	before := requestCount(t)
	for _, tc := range []struct{ token, taskID string }{
		{token, ""},
		{token, "abc\x00def"},
		{"t-bad\x00token", "success"},
		{"Bearer " + token, "success"},
		{"t-with space", "success"},
		{"", "success"}, // no token and no app credentials
		{token, strings.Repeat("x", 1025)},
	} {
		status, err := c.TaskCheck(context.Background(), tc.token, tc.taskID)
		if status != feishutask.StatusUnknown || !errors.Is(err, feishutask.ErrInvalidArgument) {
			t.Errorf("TaskCheck(%q, %.20q) = %v, %v; want ErrInvalidArgument", tc.token, tc.taskID, status, err)
		}
		if err != nil && apiError(t, err).Message == "" {
			t.Errorf("no message for %q", tc.taskID)
		}
	}
	_, err := c.Wait(context.Background(), token, "", nil)
	if !errors.Is(err, feishutask.ErrInvalidArgument) {
		t.Errorf("Wait with an empty task id: %v", err)
	}
	if after := requestCount(t); after != before {
		t.Errorf("invalid input sent requests: %s -> %s", before, after)
	}
}

func TestBadOptions(t *testing.T) {
	for name, opts := range map[string][]feishutask.Option{
		"scheme":       {feishutask.WithBaseURL("ftp://127.0.0.1")},
		"path":         {feishutask.WithBaseURL("http://127.0.0.1:1/open-apis")},
		"retries":      {feishutask.WithMaxRetries(11)},
		"neg retries":  {feishutask.WithMaxRetries(-1)},
		"timeout":      {feishutask.WithCallTimeout(-time.Second)},
		"proxy":        {feishutask.WithProxy("socks5://user:hunter2@127.0.0.1:1080")},
		"ca file":      {feishutask.WithCAFile("/nonexistent/ca.pem")},
		"empty secret": {feishutask.WithAppCredentials("cli_x", "")},
	} {
		c, err := feishutask.NewClient(opts...)
		if c != nil || !errors.Is(err, feishutask.ErrInvalidArgument) {
			t.Errorf("%s: NewClient = %v, %v; want ErrInvalidArgument", name, c, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the proxy password leaked: %v", name, err)
		}
	}
	// The public hosts are accepted (no request is made).
	for _, u := range []string{feishutask.BaseURLFeishu, feishutask.BaseURLLark} {
		c, err := feishutask.NewClient(feishutask.WithBaseURL(u), feishutask.WithConnectTimeout(time.Second))
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		c.Close()
	}
}

func TestRateLimitOptions(t *testing.T) {
	for name, opt := range map[string]feishutask.Option{
		"per 0":         feishutask.WithRateLimit(5, 0),
		"negative per":  feishutask.WithRateLimit(5, -time.Second),
		"sub-ms per":    feishutask.WithRateLimit(5, 1500*time.Microsecond),
		"under 1ms":     feishutask.WithRateLimit(1, time.Microsecond),
		"per too long":  feishutask.WithRateLimit(1, (1<<32)*time.Millisecond),
		"negative max":  feishutask.WithRateLimit(-1, time.Second),
		"too many":      feishutask.WithRateLimit(1000001, time.Second),
		"too many, 0ms": feishutask.WithRateLimit(2000000, 0),
	} {
		c, err := feishutask.NewClient(feishutask.WithBaseURL(baseURL(t)), opt)
		if c != nil || !errors.Is(err, feishutask.ErrInvalidArgument) {
			t.Errorf("%s: NewClient = %v, %v; want ErrInvalidArgument", name, c, err)
			continue
		}
		if e := apiError(t, err); e.Code != feishutask.CodeInvalidArgument || !strings.Contains(e.Message, "rate limit") {
			t.Errorf("%s: %+v", name, e)
		}
	}
	// Off (per is ignored), and the extremes.
	for name, opt := range map[string]feishutask.Option{
		"off":       feishutask.WithRateLimit(0, 0),
		"off, junk": feishutask.WithRateLimit(0, -time.Nanosecond),
		"most":      feishutask.WithRateLimit(1000000, time.Millisecond),
		"one a day": feishutask.WithRateLimit(1, 24*time.Hour),
	} {
		c := newClient(t, opt)
		if s, err := c.TaskCheck(context.Background(), token, "success"); err != nil || s != feishutask.StatusSuccess {
			t.Errorf("%s: TaskCheck = %v, %v", name, s, err)
		}
	}
}

// With 2 requests per second, the third call starts a second after the first.
func TestRateLimitSpacesCalls(t *testing.T) {
	c := newClient(t, feishutask.WithRateLimit(2, time.Second))
	start := time.Now()
	var took [3]time.Duration
	for i := range took {
		if s, err := c.TaskCheck(context.Background(), "t-go-rate-spacing", "success"); err != nil || s != feishutask.StatusSuccess {
			t.Fatalf("call %d: %v, %v", i+1, s, err)
		}
		took[i] = time.Since(start)
	}
	t.Logf("calls returned after %v", took)
	if took[2] < 900*time.Millisecond {
		t.Errorf("the third call returned %v after the first started; want >= ~1s", took[2])
	}

	// Wait polls count too: 2 per second, so a third poll comes >= ~1s in.
	w := newClient(t, feishutask.WithRateLimit(2, time.Second))
	var polls []feishutask.Progress
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.Wait(ctx, "t-go-rate-wait", "pending", func(p feishutask.Progress) {
		polls = append(polls, p)
		if p.Polls == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v; want cancelled after 3 polls", err)
	}
	if len(polls) != 3 || polls[2].Elapsed < 900*time.Millisecond {
		t.Errorf("polls: %+v; want the third >= ~1s in", polls)
	}
}

// A call that cannot start before its deadline fails with ErrTimeout, sends
// nothing, and says why.
func TestRateLimitDeadline(t *testing.T) {
	c := newClient(t, feishutask.WithRateLimit(1, time.Minute), feishutask.WithCallTimeout(300*time.Millisecond))
	if _, err := c.TaskCheck(context.Background(), token, "success"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	before := mockStat(t, "requests")
	s, err := c.TaskCheck(context.Background(), token, "success")
	if s != feishutask.StatusUnknown || !errors.Is(err, feishutask.ErrTimeout) {
		t.Fatalf("second call = %v, %v; want ErrTimeout", s, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call deadline is not a context deadline: %v", err)
	}
	if e := apiError(t, err); !strings.Contains(e.Message, "rate limit") || e.HTTPStatus != 0 {
		t.Errorf("APIError = %+v; want a message naming the rate limit", e)
	}
	if after := mockStat(t, "requests"); after != before {
		t.Errorf("the refused call was sent: %d -> %d requests", before, after)
	}
}

// Against a gateway allowing 3 requests per token per 1 s window: a client
// declaring 2 per second never hears a 429; one declaring nothing does.
func TestRateLimitKeepsInsideTheGatewayWindow(t *testing.T) {
	mockPost(t, "/_mock/window?limit=3")
	t.Cleanup(func() { mockPost(t, "/_mock/window?limit=0") })

	limited := mockStat(t, "limited")
	c := newClient(t, feishutask.WithRateLimit(2, time.Second), feishutask.WithMaxRetries(0))
	start := time.Now()
	for i := 0; i < 6; i++ {
		if s, err := c.TaskCheck(context.Background(), "t-go-window-limited", "success"); err != nil || s != feishutask.StatusSuccess {
			t.Errorf("call %d with the declared limit: %v, %v", i+1, s, err)
		}
	}
	if took := time.Since(start); took < 1800*time.Millisecond {
		t.Errorf("6 calls at 2 per second took %v; want >= ~2s", took)
	}
	if n := mockStat(t, "limited"); n != limited {
		t.Errorf("the gateway answered %d requests with 429 despite the declared limit", n-limited)
	}

	// Without it, the same gateway answers 429: the check above can fail.
	u := newClient(t, feishutask.WithMaxRetries(0), feishutask.WithCallTimeout(300*time.Millisecond))
	rateLimited := 0
	for i := 0; i < 8; i++ {
		_, err := u.TaskCheck(context.Background(), "t-go-window-unlimited", "success")
		var e *feishutask.APIError
		if errors.As(err, &e) && e.Code == 99991400 {
			rateLimited++
		}
	}
	if rateLimited == 0 || mockStat(t, "limited") == limited {
		t.Errorf("without a declared limit: %d calls rate limited, %d 429s; want some",
			rateLimited, mockStat(t, "limited")-limited)
	}
}

func TestNewClientFromEnv(t *testing.T) {
	t.Setenv("FEISHU_BASE_URL", baseURL(t))
	t.Setenv("FEISHU_TIMEOUT_MS", "3000")
	c, err := feishutask.NewClientFromEnv()
	if err != nil {
		t.Fatalf("NewClientFromEnv: %v", err)
	}
	defer c.Close()
	if s, err := c.TaskCheck(context.Background(), token, "fail"); s != feishutask.StatusFail || err != nil {
		t.Errorf("TaskCheck = %v, %v", s, err)
	}

	t.Setenv("FEISHU_TIMEOUT_MS", "5s")
	c2, err := feishutask.NewClientFromEnv()
	if c2 != nil || !errors.Is(err, feishutask.ErrInvalidArgument) || !strings.Contains(err.Error(), "FEISHU_TIMEOUT_MS") {
		t.Errorf("a bad FEISHU_TIMEOUT_MS: %v, %v", c2, err)
	}
}

func TestContextAlreadyDoneSendsNothing(t *testing.T) {
	c := newClient(t)
	before := requestCount(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range map[string]func() error{
		"TaskCheck": func() error { _, err := c.TaskCheck(ctx, token, "success"); return err },
		"Wait":      func() error { _, err := c.Wait(ctx, token, "success", nil); return err },
	} {
		err := call()
		if !errors.Is(err, context.Canceled) || !errors.Is(err, feishutask.ErrCancelled) {
			t.Errorf("%s with a cancelled context: %v", name, err)
		}
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	_, err := c.TaskCheck(dctx, token, "success")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, feishutask.ErrTimeout) {
		t.Errorf("TaskCheck past its deadline: %v", err)
	}
	if after := requestCount(t); after != before {
		t.Errorf("a done context sent requests: %s -> %s", before, after)
	}
}

func TestWaitUntilSuccessWithProgress(t *testing.T) {
	// after-800ms finishes 800ms after the server first saw it: forget that,
	// in case these tests already ran against this server.
	mockPost(t, "/_mock/reset")
	c := newClient(t)
	var seen []feishutask.Progress
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	status, err := c.Wait(ctx, token, "after-800ms", func(p feishutask.Progress) {
		seen = append(seen, p)
	})
	if err != nil || status != feishutask.StatusSuccess {
		t.Fatalf("Wait = %v, %v; want success", status, err)
	}
	if took := time.Since(start); took < 800*time.Millisecond || took > 5*time.Second {
		t.Errorf("the wait took %v", took)
	}
	if len(seen) < 2 {
		t.Fatalf("progress called %d times: %+v", len(seen), seen)
	}
	for i, p := range seen {
		if p.Polls != i+1 {
			t.Errorf("progress %d reports poll %d", i, p.Polls)
		}
		if i > 0 && p.Elapsed < seen[i-1].Elapsed {
			t.Errorf("elapsed went backwards: %+v", seen)
		}
	}
	if seen[0].Status != feishutask.StatusProcess || seen[len(seen)-1].Status != feishutask.StatusSuccess {
		t.Errorf("progress statuses: %+v", seen)
	}
}

func TestWaitCancelledByContext(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledAt time.Time
	timer := time.AfterFunc(300*time.Millisecond, func() {
		cancelledAt = time.Now()
		cancel()
	})
	defer timer.Stop()
	polls := 0
	status, err := c.Wait(ctx, token, "process", func(feishutask.Progress) { polls++ })
	returnedAt := time.Now()
	if !errors.Is(err, context.Canceled) || !errors.Is(err, feishutask.ErrCancelled) {
		t.Fatalf("Wait = %v; want context.Canceled and ErrCancelled", err)
	}
	if errors.Is(err, feishutask.ErrTimeout) {
		t.Errorf("a cancel is not a timeout: %v", err)
	}
	if status != feishutask.StatusProcess {
		t.Errorf("status = %v, want the last seen (process)", status)
	}
	if polls < 1 {
		t.Errorf("no progress before the cancel")
	}
	// cancelledAt was written before cancel(), which happens before Wait sees ctx.Done().
	lag := returnedAt.Sub(cancelledAt)
	t.Logf("Wait returned %v after the cancel", lag)
	// The library ends a sleeping wait within 50 ms of a cancel; 500 ms leaves room for
	// the race detector and a loaded machine.
	if lag > 500*time.Millisecond {
		t.Errorf("Wait returned %v after the cancel, want within 500ms", lag)
	}
	var apiErr *feishutask.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != feishutask.CodeCancelled {
		t.Errorf("errors.As: %v", err)
	}
}

func TestWaitContextDeadline(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	status, err := c.Wait(ctx, token, "process", nil)
	took := time.Since(start)
	if !errors.Is(err, feishutask.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v; want ErrTimeout and context.DeadlineExceeded", err)
	}
	if errors.Is(err, feishutask.ErrCancelled) || errors.Is(err, context.Canceled) {
		t.Errorf("a deadline is not a cancel: %v", err)
	}
	if status != feishutask.StatusProcess {
		t.Errorf("status = %v, want process", status)
	}
	if took < 350*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("a 400ms wait took %v", took)
	}
}

func TestWaitPermanentErrorAndProgressPanic(t *testing.T) {
	c := newClient(t)
	_, err := c.Wait(context.Background(), token, "err-1061003", nil)
	if e := apiError(t, err); e.Code != 1061003 || e.LogID == "" {
		t.Errorf("Wait on a missing task: %v", err)
	}

	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the progress panic", v)
			}
		}()
		c.Wait(context.Background(), token, "process", func(feishutask.Progress) { panic("boom") })
		t.Errorf("Wait did not re-raise the progress panic")
	}()
	// The client still works.
	if s, err := c.TaskCheck(context.Background(), token, "success"); err != nil || s != feishutask.StatusSuccess {
		t.Errorf("after a panic: %v, %v", s, err)
	}
}

func TestManagedToken(t *testing.T) {
	mockPost(t, "/_mock/app?"+url.Values{"app_id": {"cli_go"}, "app_secret": {"go-secret"}}.Encode())
	var mu sync.Mutex
	var lines []string
	c := newClient(t,
		feishutask.WithAppCredentials("cli_go", "go-secret"),
		feishutask.WithLogFunc(func(level feishutask.LogLevel, msg string) {
			mu.Lock()
			lines = append(lines, level.String()+": "+msg)
			mu.Unlock()
		}))
	for _, id := range []string{"success", "fail"} {
		if _, err := c.TaskCheck(context.Background(), "", id); err != nil {
			t.Fatalf("TaskCheck with the managed token: %v", err)
		}
	}
	if s, err := c.Wait(context.Background(), "", "success", nil); err != nil || s != feishutask.StatusSuccess {
		t.Errorf("Wait with the managed token: %v, %v", s, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) < 3 {
		t.Errorf("log lines: %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, "go-secret") || strings.Contains(l, "t-cli_go") {
			t.Errorf("a secret or token reached the log: %q", l)
		}
	}

	wrong := newClient(t, feishutask.WithAppCredentials("cli_go", "not-the-secret"))
	_, err := wrong.TaskCheck(context.Background(), "", "success")
	if e := apiError(t, err); e.Code != 10014 || !strings.Contains(e.Message, "tenant_access_token") {
		t.Errorf("a wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("the secret leaked: %v", err)
	}
}

// Errors are per call, not per OS thread: many goroutines, each checking its
// own outcome, on one client.
func TestManyGoroutinesSeeTheirOwnErrors(t *testing.T) {
	c := newClient(t, feishutask.WithMaxRetries(0))
	type outcome struct {
		taskID string
		check  func(feishutask.Status, error) error
	}
	platform := func(code int32, http int) func(feishutask.Status, error) error {
		return func(s feishutask.Status, err error) error {
			var e *feishutask.APIError
			if !errors.As(err, &e) || e.Code != code || e.HTTPStatus != http || e.LogID == "" ||
				!errors.Is(err, feishutask.ErrPlatform) || s != feishutask.StatusUnknown {
				return fmt.Errorf("got %v, %v; want platform error %d (HTTP %d)", s, err, code, http)
			}
			return nil
		}
	}
	outcomes := []outcome{
		{"success", func(s feishutask.Status, err error) error {
			if err != nil || s != feishutask.StatusSuccess {
				return fmt.Errorf("got %v, %v; want success", s, err)
			}
			return nil
		}},
		{"err-1061003", platform(1061003, 404)},
		{"err-1061002", platform(1061002, 400)},
		{"html-502", func(s feishutask.Status, err error) error {
			var e *feishutask.APIError
			if !errors.As(err, &e) || !errors.Is(err, feishutask.ErrHTTP) || e.HTTPStatus != 502 || errors.Is(err, feishutask.ErrPlatform) {
				return fmt.Errorf("got %v, %v; want ErrHTTP (HTTP 502)", s, err)
			}
			return nil
		}},
	}
	const goroutines, calls = 64, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	logIDs := map[string]bool{}
	failures := make(chan error, goroutines*calls)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			o := outcomes[g%len(outcomes)]
			for i := 0; i < calls; i++ {
				s, err := c.TaskCheck(context.Background(), token, o.taskID)
				if cerr := o.check(s, err); cerr != nil {
					failures <- fmt.Errorf("goroutine %d call %d (%s): %v", g, i, o.taskID, cerr)
				}
				var e *feishutask.APIError
				if errors.As(err, &e) && e.LogID != "" {
					mu.Lock()
					if logIDs[e.LogID] {
						failures <- fmt.Errorf("log id %s seen twice", e.LogID)
					}
					logIDs[e.LogID] = true
					mu.Unlock()
				}
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	n := 0
	for err := range failures {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... %d failures in all", n)
	}
	// success sends no log id in an error; the three error kinds do.
	if want := goroutines * calls * 3 / 4; len(logIDs) != want {
		t.Errorf("%d distinct log ids, want %d", len(logIDs), want)
	}
}

func TestConcurrentWaitsAndClose(t *testing.T) {
	c := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Wait(context.Background(), token, "process", nil)
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v with waits running", took)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, feishutask.ErrClosed) || !errors.Is(err, feishutask.ErrCancelled) {
			t.Errorf("a wait interrupted by Close: %v", err)
		}
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	c, err := feishutask.NewClient(feishutask.WithBaseURL(baseURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.TaskCheck(context.Background(), token, "success"); !errors.Is(err, feishutask.ErrClosed) {
		t.Errorf("TaskCheck after Close: %v", err)
	}
	if _, err := c.Wait(context.Background(), token, "success", nil); !errors.Is(err, feishutask.ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
}

// Example shows the typical use.
func Example() {
	base := os.Getenv("FEISHU_TEST_BASE_URL")
	if base == "" {
		base = feishutask.BaseURLFeishu
	}
	client, err := feishutask.NewClient(
		feishutask.WithBaseURL(base),
		feishutask.WithCallTimeout(10*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, err := client.Wait(ctx, "t-your-token", "7360595374803812356", func(p feishutask.Progress) {
		// one call per poll: p.Polls, p.Status, p.Elapsed
	})
	var apiErr *feishutask.APIError
	switch {
	case err == nil:
		fmt.Println("status:", status)
	case errors.As(err, &apiErr):
		fmt.Println("failed:", apiErr.Code, apiErr.LogID)
	}
}

// ---- Starting the task: Move and Delete (the mock's drive writes, tests/support/drive.rs) ----

// mayHaveBeenApplied is what the message of a write that failed once sent says.
const mayHaveBeenApplied = "may have been applied"

// mockRequest is one entry of the mock server's GET /_mock/requests.
type mockRequest struct {
	Method   string  `json:"method"`
	Path     string  `json:"path"`
	RawQuery string  `json:"raw_query"`
	Body     *string `json:"body"`
}

func mockRequests(t *testing.T) []mockRequest {
	t.Helper()
	resp, err := http.Get(baseURL(t) + "/_mock/requests")
	if err != nil {
		t.Fatalf("GET /_mock/requests: %v", err)
	}
	defer resp.Body.Close()
	var reqs []mockRequest
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		t.Fatalf("GET /_mock/requests: %v", err)
	}
	return reqs
}

const filesPrefix = "/open-apis/drive/v1/files/"

// writesFor counts the recorded moves and deletes of a file token (one
// without characters that need percent-encoding).
func writesFor(t *testing.T, fileToken string) int {
	t.Helper()
	n := 0
	for _, r := range mockRequests(t) {
		if (r.Method == "POST" && r.Path == filesPrefix+fileToken+"/move") ||
			(r.Method == "DELETE" && r.Path == filesPrefix+fileToken) {
			n++
		}
	}
	return n
}

// mockDrive sets the mock's drive settings and restores the defaults
// (task 300 ms, write 20 ms, 5 writes per second) when the test ends.
func mockDrive(t *testing.T, query string) {
	t.Helper()
	mockPost(t, "/_mock/drive?"+query)
	t.Cleanup(func() { mockPost(t, "/_mock/drive?task_ms=300&write_ms=20&write_limit=5") })
}

func isTaskID(id string) bool {
	if len(id) != 19 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Files, and a folder already in place, are moved or deleted at once: "".
func TestMoveAndDeleteDoneAtOnce(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	// Two tokens, at most 5 writes each: none waits for the 5-per-second limit.
	tok := "t-go-write-at-once"
	writes := mockStat(t, "writes")
	for _, tc := range []struct{ file, kind string }{
		{"doxGoFile", "docx"}, {"boxGoFile", "file"}, {"fldGo-inplace", "folder"},
	} {
		if id, err := c.Move(ctx, tok, tc.file, tc.kind, "fldGoTarget"); id != "" || err != nil {
			t.Errorf("Move(%s, %s) = %q, %v; want \"\", nil", tc.file, tc.kind, id, err)
		}
	}
	if id, err := c.Delete(ctx, tok, "shtGoFile", "sheet"); id != "" || err != nil {
		t.Errorf("Delete(sheet) = %q, %v; want \"\", nil", id, err)
	}
	// The helpers: done at once is success, with no task id and no poll.
	tok = "t-go-write-at-once-2"
	polled := false
	onPoll := func(feishutask.Progress) { polled = true }
	if id, s, err := c.MoveAndWait(ctx, tok, "boxGoFile2", "file", "fldGoTarget", onPoll); id != "" || s != feishutask.StatusSuccess || err != nil {
		t.Errorf("MoveAndWait(file) = %q, %v, %v; want \"\", success, nil", id, s, err)
	}
	if id, s, err := c.DeleteAndWait(ctx, tok, "boxGoFile2", "file", onPoll); id != "" || s != feishutask.StatusSuccess || err != nil {
		t.Errorf("DeleteAndWait(file) = %q, %v, %v; want \"\", success, nil", id, s, err)
	}
	if polled {
		t.Errorf("progress was called for writes done at once")
	}
	if n := mockStat(t, "writes") - writes; n != 6 {
		t.Errorf("%d writes sent, want 6", n)
	}
}

// A folder is moved or deleted asynchronously: a task id that Wait sees finish.
func TestFolderMoveAndDeleteReturnTaskIDs(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok := "t-go-write-folder"
	id, err := c.Move(ctx, tok, "fldGoSource", "folder", "fldGoTarget")
	if err != nil || !isTaskID(id) {
		t.Fatalf("Move(folder) = %q, %v; want a task id", id, err)
	}
	// The request: the path, the JSON body with the type and the destination.
	var found bool
	for _, r := range mockRequests(t) {
		if r.Method == "POST" && r.Path == filesPrefix+"fldGoSource/move" {
			found = true
			var body map[string]string
			if r.Body == nil || json.Unmarshal([]byte(*r.Body), &body) != nil ||
				body["type"] != "folder" || body["folder_token"] != "fldGoTarget" {
				t.Errorf("move body %v", r.Body)
			}
		}
	}
	if !found {
		t.Errorf("no POST %sfldGoSource/move recorded", filesPrefix)
	}
	if s, err := c.TaskCheck(ctx, tok, id); err != nil || s != feishutask.StatusProcess {
		t.Errorf("TaskCheck(%s) right after the move = %v, %v; want process", id, s, err)
	}
	if s, err := c.Wait(ctx, tok, id, nil); err != nil || s != feishutask.StatusSuccess {
		t.Errorf("Wait(%s) = %v, %v; want success", id, s, err)
	}

	did, err := c.Delete(ctx, tok, "fldGoSource", "folder")
	if err != nil || !isTaskID(did) || did == id {
		t.Fatalf("Delete(folder) = %q, %v; want a new task id", did, err)
	}
	found = false
	for _, r := range mockRequests(t) {
		if r.Method == "DELETE" && r.Path == filesPrefix+"fldGoSource" && r.RawQuery == "type=folder" {
			found = true
		}
	}
	if !found {
		t.Errorf("no DELETE %sfldGoSource?type=folder recorded", filesPrefix)
	}
	if s, err := c.Wait(ctx, tok, did, nil); err != nil || s != feishutask.StatusSuccess {
		t.Errorf("Wait(%s) = %v, %v; want success", did, s, err)
	}
}

func TestMoveAndWaitAndDeleteAndWait(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok := "t-go-write-and-wait"
	var seen []feishutask.Progress
	id, s, err := c.MoveAndWait(ctx, tok, "fldGoMoveWait", "folder", "fldGoTarget", func(p feishutask.Progress) {
		seen = append(seen, p)
	})
	if err != nil || s != feishutask.StatusSuccess || !isTaskID(id) {
		t.Fatalf("MoveAndWait(folder) = %q, %v, %v; want a task id, success", id, s, err)
	}
	if len(seen) < 2 || seen[0].Status != feishutask.StatusProcess || seen[len(seen)-1].Status != feishutask.StatusSuccess {
		t.Errorf("progress: %+v; want process ... success", seen)
	}
	id, s, err = c.DeleteAndWait(ctx, tok, "fldGoMoveWait", "folder", nil)
	if err != nil || s != feishutask.StatusSuccess || !isTaskID(id) {
		t.Errorf("DeleteAndWait(folder) = %q, %v, %v; want a task id, success", id, s, err)
	}
	// A task that fails: its status, no error (as Wait).
	id, s, err = c.DeleteAndWait(ctx, tok, "fldGo-task-fail", "folder", nil)
	if err != nil || s != feishutask.StatusFail || !isTaskID(id) {
		t.Errorf("DeleteAndWait(task-fail) = %q, %v, %v; want a task id, fail, nil", id, s, err)
	}
	// The start fails: no task id, unknown, the write's error.
	id, s, err = c.MoveAndWait(ctx, tok, "err-1061003-go-and-wait", "folder", "fldGoTarget", nil)
	if e := apiError(t, err); id != "" || s != feishutask.StatusUnknown || e.Code != 1061003 || e.LogID == "" {
		t.Errorf("MoveAndWait(err-1061003) = %q, %v, %v", id, s, err)
	}
}

// The wait runs out (ctx's deadline) after the task started: the task id is
// returned with the error, and Wait resumes with it.
func TestMoveAndWaitTimeoutKeepsTheTaskID(t *testing.T) {
	mockDrive(t, "task_ms=1500")
	c := newClient(t)
	tok := "t-go-write-resume"
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	id, s, err := c.MoveAndWait(ctx, tok, "fldGoSlow", "folder", "fldGoTarget", nil)
	if !isTaskID(id) || s != feishutask.StatusProcess || !errors.Is(err, feishutask.ErrTimeout) ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("MoveAndWait past ctx's deadline = %q, %v, %v; want the task id, process, ErrTimeout", id, s, err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if s, err := c.Wait(wctx, tok, id, nil); err != nil || s != feishutask.StatusSuccess {
		t.Errorf("Wait(%s) resumed = %v, %v; want success", id, s, err)
	}
	if n := writesFor(t, "fldGoSlow"); n != 1 {
		t.Errorf("fldGoSlow: %d writes, want 1", n)
	}
}

// Each documented platform code comes back as it is, with its HTTP status
// and log id, sent once (permanent failures are not retried).
func TestWriteErrorCodes(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		code int32
		http int
	}{
		{1061002, 400}, {1061003, 404}, {1061004, 403}, {1061007, 400},
		{1062501, 403}, {1062507, 400}, {99991403, 400},
	} {
		// A token per code: these writes never wait for each other's turn.
		tok := fmt.Sprintf("t-go-code-%d", tc.code)
		file := fmt.Sprintf("err-%d-go", tc.code)
		moveID, moveErr := c.Move(ctx, tok, file, "folder", "fldGoTarget")
		delID, delErr := c.Delete(ctx, tok, file, "file")
		for name, r := range map[string]struct {
			id  string
			err error
		}{"Move": {moveID, moveErr}, "Delete": {delID, delErr}} {
			var e *feishutask.APIError
			if !errors.As(r.err, &e) || e.Code != tc.code || e.HTTPStatus != tc.http || e.LogID == "" ||
				e.Message == "" || !errors.Is(r.err, feishutask.ErrPlatform) || r.id != "" {
				t.Errorf("%s(%s) = %q, %v; want platform error %d (HTTP %d) with a log id", name, file, r.id, r.err, tc.code, tc.http)
				continue
			}
			if msg := r.err.Error(); !strings.Contains(msg, fmt.Sprint(tc.code)) || !strings.Contains(msg, e.LogID) ||
				strings.Contains(msg, tok) {
				t.Errorf("%s(%s).Error() = %q", name, file, msg)
			}
		}
		if n := writesFor(t, file); n != 2 {
			t.Errorf("%s: %d writes, want 2 (one each, never retried)", file, n)
		}
	}
	if got := feishutask.Describe(1061007); got == "" {
		t.Errorf("Describe(1061007) is empty")
	}

	// A task id too long for the library's buffer: the platform accepted the move.
	_, err := c.Move(ctx, "t-go-code-long", "taskid-long-go", "folder", "fldGoTarget")
	if e := apiError(t, err); !errors.Is(err, feishutask.ErrProtocol) || !strings.Contains(e.Message, "accepted the operation") {
		t.Errorf("taskid-long: %v; want ErrProtocol saying it was accepted", err)
	}
}

// Invalid input is ErrInvalidArgument and sends nothing; so does a done
// context, and a closed client.
func TestWriteBadInputSendsNothing(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	writes, requests := mockStat(t, "writes"), mockStat(t, "requests")
	long := strings.Repeat("f", 257)
	for _, tc := range []struct{ token, file, kind, to string }{
		{"Bearer t-go", "fld", "folder", "fldT"},
		{"t-go with space", "fld", "folder", "fldT"},
		{"t-go\x00nul", "fld", "folder", "fldT"},
		{"", "fld", "folder", "fldT"}, // no token, no app credentials
		{token, "", "folder", "fldT"},
		{token, "fld a", "folder", "fldT"},
		{token, "fld\u00e9", "folder", "fldT"},
		{token, "fld\x00x", "folder", "fldT"},
		{token, long, "folder", "fldT"},
		{token, "fld", "", "fldT"},
		{token, "fld", "Folder", "fldT"},
		{token, "fld", "doc-x", "fldT"},
		{token, "fld", "fold\x00er", "fldT"},
		{token, "fld", strings.Repeat("a", 33), "fldT"},
		{token, "fld", "folder", ""},
		{token, "fld", "folder", "fld\x00T"},
		{token, "fld", "folder", long},
	} {
		id, err := c.Move(ctx, tc.token, tc.file, tc.kind, tc.to)
		if id != "" || !errors.Is(err, feishutask.ErrInvalidArgument) || apiError(t, err).Message == "" {
			t.Errorf("Move(%q, %.20q, %q, %.20q) = %q, %v; want ErrInvalidArgument", tc.token, tc.file, tc.kind, tc.to, id, err)
		}
		if tc.to == "fldT" {
			id, s, err := c.DeleteAndWait(ctx, tc.token, tc.file, tc.kind, nil)
			if id != "" || s != feishutask.StatusUnknown || !errors.Is(err, feishutask.ErrInvalidArgument) {
				t.Errorf("DeleteAndWait(%q, %.20q, %q) = %q, %v, %v; want ErrInvalidArgument", tc.token, tc.file, tc.kind, id, s, err)
			}
		}
		if err != nil && strings.Contains(err.Error(), "t-go") {
			t.Errorf("the token leaked into %q", err.Error())
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Delete(done, token, "fldGo", "folder"); !errors.Is(err, context.Canceled) || !errors.Is(err, feishutask.ErrCancelled) {
		t.Errorf("Delete with a cancelled context: %v", err)
	}
	if _, _, err := c.MoveAndWait(done, token, "fldGo", "folder", "fldT", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("MoveAndWait with a cancelled context: %v", err)
	}
	closed := newClient(t)
	closed.Close()
	if _, err := closed.Move(ctx, token, "fldGo", "folder", "fldT"); !errors.Is(err, feishutask.ErrClosed) {
		t.Errorf("Move after Close: %v", err)
	}
	if w, r := mockStat(t, "writes")-writes, mockStat(t, "requests")-requests; w != 0 || r != 0 {
		t.Errorf("invalid input sent %d writes, %d other requests", w, r)
	}
}

// Eight goroutines writing with one token on one client: the client never
// lets two overlap nor more than 5 start in a second, so the platform's
// rules (no concurrency, 5 per second) never answer 1061045.
func TestWritesWithOneTokenNeverOverlap(t *testing.T) {
	mockDrive(t, "write_ms=40")
	c := newClient(t, feishutask.WithCallTimeout(20*time.Second))
	tok := "t-go-write-lane"
	// A connection in the pool first: the client paces the writes' starts, the
	// platform their arrivals, and a first write that also has to connect
	// arrives late enough for the sixth, started a second after it on the
	// warm connection, to arrive within the platform's second.
	if _, err := c.TaskCheck(context.Background(), tok, "success"); err != nil {
		t.Fatal(err)
	}
	writes := mockStat(t, "writes")
	conflicts, limited := mockStat(t, "write_conflicts"), mockStat(t, "write_rate_limited")
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			file := fmt.Sprintf("fldGoLane-%d", i)
			if i%2 == 0 {
				ids[i], errs[i] = c.Move(context.Background(), tok, file, "folder", "fldGoTarget")
			} else {
				ids[i], errs[i] = c.Delete(context.Background(), tok, file, "folder")
			}
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	seen := map[string]bool{}
	for i := range ids {
		if errs[i] != nil || !isTaskID(ids[i]) || seen[ids[i]] {
			t.Errorf("write %d = %q, %v; want a new task id", i, ids[i], errs[i])
		}
		seen[ids[i]] = true
	}
	if w := mockStat(t, "writes") - writes; w != n {
		t.Errorf("%d writes sent, want %d (each once)", w, n)
	}
	if cf, rl := mockStat(t, "write_conflicts")-conflicts, mockStat(t, "write_rate_limited")-limited; cf != 0 || rl != 0 {
		t.Errorf("the platform answered 1061045 to %d overlapping and %d too fast writes; want 0 and 0", cf, rl)
	}
	// 8 writes at 5 per second: the 6th starts a second after the first.
	if took < 900*time.Millisecond {
		t.Errorf("%d writes took %v; want >= ~1s at 5 per second", n, took)
	}
}

// 1061045 ("retry later") is waited out and retried: a second client (its
// own lane) writing with the same token while the first one's write is
// being processed gets 1061045 from the platform, then succeeds.
func TestRetryLaterIsRetried(t *testing.T) {
	mockDrive(t, "write_ms=600")
	tok := "t-go-write-busy"
	a := newClient(t, feishutask.WithMaxRetries(0))
	b := newClient(t, feishutask.WithMaxRetries(0)) // 1061045 is retried anyway
	conflicts, writes := mockStat(t, "write_conflicts"), mockStat(t, "writes")
	var wg sync.WaitGroup
	var aErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, aErr = a.Delete(context.Background(), tok, "fldGoBusyA", "folder")
	}()
	time.Sleep(200 * time.Millisecond) // a's write is held 600 ms by the platform
	id, bErr := b.Move(context.Background(), tok, "fldGoBusyB", "folder", "fldGoTarget")
	wg.Wait()
	if aErr != nil || bErr != nil || !isTaskID(id) {
		t.Fatalf("a: %v; b: %q, %v; want both to succeed", aErr, id, bErr)
	}
	if cf := mockStat(t, "write_conflicts") - conflicts; cf < 1 {
		t.Errorf("no 1061045 was answered (%d conflicts): the test proved nothing", cf)
	}
	if n := writesFor(t, "fldGoBusyB"); n < 2 {
		t.Errorf("fldGoBusyB sent %d times; want a retry after 1061045", n)
	}
	if n := writesFor(t, "fldGoBusyA"); n != 1 {
		t.Errorf("fldGoBusyA sent %d times, want 1", n)
	}
	t.Logf("%d writes, %d answered 1061045", mockStat(t, "writes")-writes, mockStat(t, "write_conflicts")-conflicts)
}

// A platform that always answers 1061045: retried until the client's
// deadline (also past WithMaxRetries), then that code is returned.
func TestRetryLaterUntilTheDeadline(t *testing.T) {
	c := newClient(t, feishutask.WithMaxRetries(0), feishutask.WithCallTimeout(1500*time.Millisecond))
	start := time.Now()
	_, err := c.Move(context.Background(), "t-go-write-later", "err-1061045-go", "folder", "fldGoTarget")
	took := time.Since(start)
	if e := apiError(t, err); e.Code != 1061045 || !errors.Is(err, feishutask.ErrPlatform) {
		t.Errorf("err-1061045: %v; want 1061045", err)
	}
	if took > 5*time.Second {
		t.Errorf("a 1.5s deadline took %v", took)
	}
	if n := writesFor(t, "err-1061045-go"); n < 2 {
		t.Errorf("err-1061045-go sent %d times; want retries", n)
	}
}

// Once the request was written, a failure is never followed by a second
// request, and the message says the operation may have been applied.
func TestFailureAfterTheWriteIsSentOnce(t *testing.T) {
	c := newClient(t, feishutask.WithMaxRetries(3), feishutask.WithCallTimeout(3*time.Second))
	ctx := context.Background()
	for _, tc := range []struct {
		file     string
		sentinel error
		code     int32
		http     int
	}{
		{"reset-go", feishutask.ErrNetwork, feishutask.CodeNetwork, 0},
		{"html-502-go", feishutask.ErrHTTP, feishutask.CodeHTTP, 502},
		{"err-1061001-go", feishutask.ErrPlatform, 1061001, 500},
	} {
		tok := "t-go-applied-" + tc.file
		_, err := c.Move(ctx, tok, tc.file, "folder", "fldGoTarget")
		e := apiError(t, err)
		if e.Code != tc.code || e.HTTPStatus != tc.http || !errors.Is(err, tc.sentinel) {
			t.Errorf("Move(%s) = %v; want code %d (HTTP %d)", tc.file, err, tc.code, tc.http)
		}
		if !strings.Contains(e.Message, mayHaveBeenApplied) {
			t.Errorf("Move(%s): message %q does not say it %s", tc.file, e.Message, mayHaveBeenApplied)
		}
		if n := writesFor(t, tc.file); n != 1 {
			t.Errorf("Move(%s) sent %d times, want 1", tc.file, n)
		}
		id, s, err := c.DeleteAndWait(ctx, tok, tc.file, "folder", nil)
		if e := apiError(t, err); id != "" || s != feishutask.StatusUnknown || e.Code != tc.code ||
			!strings.Contains(e.Message, mayHaveBeenApplied) {
			t.Errorf("DeleteAndWait(%s) = %q, %v, %v", tc.file, id, s, err)
		}
		if n := writesFor(t, tc.file); n != 2 {
			t.Errorf("%s: %d writes after the delete, want 2", tc.file, n)
		}
	}
}

// The managed token serves writes too.
func TestWriteWithManagedToken(t *testing.T) {
	mockPost(t, "/_mock/app?"+url.Values{"app_id": {"cli_go"}, "app_secret": {"go-secret"}}.Encode())
	c := newClient(t, feishutask.WithAppCredentials("cli_go", "go-secret"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, s, err := c.MoveAndWait(ctx, "", "fldGoManaged", "folder", "fldGoTarget", nil)
	if err != nil || s != feishutask.StatusSuccess || !isTaskID(id) {
		t.Errorf("MoveAndWait with the managed token = %q, %v, %v", id, s, err)
	}
	if id, err := c.Delete(ctx, "", "boxGoManaged", "file"); err != nil || id != "" {
		t.Errorf("Delete with the managed token = %q, %v", id, err)
	}
}

// ExampleClient_MoveAndWait moves a folder and waits for its task (not run:
// it needs a real token).
func ExampleClient_MoveAndWait() {
	client, err := feishutask.NewClient(feishutask.WithCallTimeout(10 * time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token := "t-your-token"
	taskID, status, err := client.MoveAndWait(ctx, token, "fldcnSource", "folder", "fldcnTarget",
		func(p feishutask.Progress) { fmt.Println("poll", p.Polls, p.Status) })
	var apiErr *feishutask.APIError
	switch {
	case err == nil:
		fmt.Println("moved:", status) // success, or fail (the task failed)
	case taskID != "":
		// The move started, only the wait failed: do not move again, resume.
		status, err = client.Wait(context.Background(), token, taskID, nil)
		fmt.Println("moved:", status, err)
	case errors.As(err, &apiErr) && strings.Contains(apiErr.Message, "may have been applied"):
		fmt.Println("unknown outcome: check the folder before moving it again; log id", apiErr.LogID)
	default:
		fmt.Println("not moved:", err)
	}
}

// ExampleClient_Delete starts a delete and waits only when the platform
// answers with a task id (a folder).
func ExampleClient_Delete() {
	client, err := feishutask.NewClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	ctx := context.Background()
	taskID, err := client.Delete(ctx, "t-your-token", "doxcnFile", "docx")
	switch {
	case err != nil:
		fmt.Println("not deleted:", err) // 1061007: already deleted
	case taskID == "":
		fmt.Println("deleted") // done at once
	default:
		status, err := client.Wait(ctx, "t-your-token", taskID, nil)
		fmt.Println("deleted:", status, err)
	}
}

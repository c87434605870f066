// Tests of the C++ wrapper (feishu_task.hpp) against the mock Feishu server.
//
// Environment: FEISHU_TEST_BASE_URL (the mock server), FEISHU_BASE_URL (the same,
// for Client::from_env), FEISHU_TEST_APP_ID / FEISHU_TEST_APP_SECRET (an app
// registered on the mock server), EXPECT_VERSION (optional).
// Prints "N passed, M failed"; exit status 0 only when nothing failed.
//
//   test                       runs every test
//   test --list                prints the test names, one per line
//   test --claims DIR NAME...  runs each named test, in that order, that no other process
//                              sharing DIR has claimed first (by creating DIR/NAME), and
//                              writes the seconds it took into DIR/NAME
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "feishu_task.hpp"

namespace {

std::atomic<int> g_passed{0};
std::atomic<int> g_failed{0};
std::mutex g_print;

void record(bool ok, const char *expr, const std::string &detail, const char *file, int line)
{
    if (ok) {
        ++g_passed;
        return;
    }
    ++g_failed;
    std::lock_guard<std::mutex> lock(g_print);
    std::cerr << file << ":" << line << ": CHECK(" << expr << ") failed";
    if (!detail.empty())
        std::cerr << ": " << detail;
    std::cerr << std::endl;
}

} // namespace

// CHECK(cond) and CHECKM(cond, a << b ...): record a pass or a failure and go on.
#define CHECK(cond) record(static_cast<bool>(cond), #cond, std::string(), __FILE__, __LINE__)
#define CHECKM(cond, msg)                                                                      \
    do {                                                                                       \
        const bool check_ok_ = static_cast<bool>(cond);                                        \
        std::ostringstream check_os_;                                                          \
        if (!check_ok_)                                                                        \
            check_os_ << msg;                                                                  \
        record(check_ok_, #cond, check_os_.str(), __FILE__, __LINE__);                         \
    } while (0)

namespace {

using namespace std::chrono_literals;
using feishu::Status;
using Clock = std::chrono::steady_clock;

// The token every test uses; no message or log line may ever contain it.
const std::string TOKEN = "t-SECRET0123456789abcdef";

std::string g_base_url;

std::string env(const char *name)
{
    const char *v = std::getenv(name);
    return v != nullptr ? v : "";
}

bool has(std::string_view haystack, std::string_view needle)
{
    return haystack.find(needle) != std::string_view::npos;
}

long long ms_since(Clock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Options pointing at the mock server, with no proxy whatever the environment says.
feishu::Options base_options()
{
    feishu::Options o;
    o.base_url(g_base_url).timeouts(2s, 5s).proxy(std::nullopt);
    return o;
}

feishu::Client client() { return feishu::Client(base_options()); }

// Runs f; returns the feishu::Error it threw, or nothing.
template <typename F>
std::optional<feishu::Error> error_of(F &&f)
{
    try {
        f();
    } catch (const feishu::Error &e) {
        return e;
    }
    return std::nullopt;
}

template <typename T>
void self_move_assign(T &x)
{
    T &alias = x;
    x = std::move(alias);
}

void test_basics()
{
    CHECK(!feishu::version().empty());
    const std::string want = env("EXPECT_VERSION");
    CHECKM(want.empty() || feishu::version() == want, "version " << feishu::version());
    CHECK(std::string_view(feishu::to_string(Status::Success)) == "success");
    CHECK(std::string_view(feishu::to_string(Status::Fail)) == "fail");
    CHECK(std::string_view(feishu::to_string(Status::Process)) == "process");
    CHECK(std::string_view(feishu::to_string(Status::Unknown)) == "unknown");
    CHECK(std::string_view(feishu::to_string(feishu::LogLevel::Warn)) == "warn");
    CHECK(has(feishu::describe(1061003), "not found"));
    CHECK(has(feishu::describe(FEISHU_ERR_TIMEOUT), "deadline"));
    static_assert(static_cast<int>(Status::Process) == FEISHU_TASK_STATUS_PROCESS, "");
    static_assert(!std::is_copy_constructible<feishu::Client>::value, "move-only");
    static_assert(std::is_nothrow_move_constructible<feishu::Client>::value, "move");
    static_assert(std::is_nothrow_move_assignable<feishu::Options>::value, "move");
    static_assert(std::is_nothrow_move_constructible<feishu::Cancel>::value, "move");
    static_assert(std::is_base_of<std::runtime_error, feishu::Error>::value, "");
}

void test_statuses()
{
    const feishu::Client c = client();
    CHECK(c.task_check(TOKEN, "success") == Status::Success);
    CHECK(c.task_check(TOKEN, "fail") == Status::Fail);
    CHECK(c.task_check(TOKEN, "process") == Status::Process);
    CHECK(c.task_check(TOKEN, "7360595374803812356") == Status::Success);
    // The platform's other spellings.
    CHECK(c.task_check(TOKEN, "failed") == Status::Fail);
    CHECK(c.task_check(TOKEN, "pending") == Status::Process);
    const feishu::Result<Status> failed = c.try_task_check(TOKEN, "failed");
    CHECK(failed && *failed == Status::Fail);
    CHECK(c.wait(TOKEN, "failed", 5s) == Status::Fail);
    auto e = error_of([&] { c.wait(TOKEN, "pending", 400ms); });
    CHECKM(e && e->is_timeout() && e->last_status() == Status::Process,
           (e ? e->what() : "no error"));
    // A std::string_view into a bigger buffer is cut where the view ends.
    const std::string buffer = "success-and-more";
    CHECK(c.task_check(TOKEN, std::string_view(buffer).substr(0, 7)) == Status::Success);
}

void test_platform_errors()
{
    feishu::Options o = base_options();
    o.timeouts(2s, 1500ms); // shorter than the 3 s rate-limit advice: 429 is not retried
    const feishu::Client c(o);

    auto e = error_of([&] { c.task_check(TOKEN, "err-1061003"); });
    CHECK(e.has_value());
    if (e) {
        CHECKM(e->code() == 1061003, e->what());
        CHECK(e->is_platform() && !e->is_timeout() && !e->is_network());
        CHECK(e->http_status() == 404);
        CHECKM(e->log_id().size() == 30, "log id '" << e->log_id() << "'");
        CHECK(e->log_id().find_first_not_of("0123456789") == std::string_view::npos);
        CHECK(e->retry_after() == 0ms);
        CHECKM(has(e->message(), "not found"), e->message());
        CHECKM(has(e->what(), "not found") && has(e->what(), "[log id ") &&
                   has(e->what(), "1061003") && has(e->what(), "[HTTP 404]"),
               e->what());
        CHECK(has(e->description(), "not found (the task, file or folder)"));
        CHECK(!has(e->what(), "SECRET"));
        CHECK(e->info().raw().code == 1061003);
    }

    // Caught as what it derives from.
    bool caught = false;
    try {
        c.task_check(TOKEN, "err-1061002");
    } catch (const std::runtime_error &re) {
        caught = has(re.what(), "1061002");
    }
    CHECK(caught);

    // Its own token: after a 429 the client holds that token back until the advised reset.
    const std::string limited_token = "t-SECRET-rate-limited";
    e = error_of([&] { c.task_check(limited_token, "rate-limited"); });
    CHECK(e && e->code() == 99991400 && e->http_status() == 429);
    CHECKM(e && e->retry_after() == 3000ms, (e ? e->what() : "no error"));
    CHECK(e && has(e->what(), "[retry after 3000 ms]"));
    // ... so the next call with it is refused at once, unsent (the reset is past the deadline).
    e = error_of([&] { c.task_check(limited_token, "success"); });
    CHECKM(e && e->code() == 99991400 && e->http_status() == 0 && has(e->message(), "not sent"),
           (e ? e->what() : "no error"));

    e = error_of([&] { c.task_check(TOKEN, "token-expired"); });
    CHECK(e && e->code() == 99991663 && e->is_platform());

    e = error_of([&] { c.task_check(TOKEN, "html-502"); });
    CHECKM(e && e->is_http() && e->code() == FEISHU_ERR_HTTP && e->http_status() == 502,
           (e ? e->what() : "no error"));

    e = error_of([&] { c.task_check(TOKEN, "garbage"); });
    CHECK(e && e->is_protocol());

    e = error_of([&] { c.task_check(TOKEN, "redirect"); });
    CHECK(e && e->is_http() && e->http_status() == 302);

    e = error_of([&] { c.task_check(TOKEN, "reset"); });
    CHECKM(e && e->is_network() && e->http_status() == 0, (e ? e->what() : "no error"));
}

void test_non_throwing()
{
    const feishu::Client c = client();
    static_assert(noexcept(c.try_task_check("", "")), "try_task_check is noexcept");
    const std::chrono::milliseconds one_ms(1);
    static_assert(noexcept(c.try_wait("", "", one_ms)), "try_wait is noexcept");

    feishu::Result<Status> r = c.try_task_check(TOKEN, "success");
    CHECK(r.ok() && static_cast<bool>(r));
    CHECK(r && *r == Status::Success && r.value() == Status::Success);
    CHECK(r.error().code() == FEISHU_OK && r.error().ok() && r.error().message().empty());

    r = c.try_task_check(TOKEN, "err-1061003");
    CHECK(!r.ok());
    CHECK(r.error().code() == 1061003 && r.error().http_status() == 404);
    CHECK(!r.error().log_id().empty() && r.error().is_platform());
    CHECK(r.value_or(Status::Unknown) == Status::Unknown);
    auto e = error_of([&] { (void)r.value(); });
    CHECK(e && e->code() == 1061003);

    r = c.try_task_check(TOKEN, "");
    CHECK(!r && r.error().is_invalid_argument());

    r = c.try_task_check(TOKEN, "garbage");
    CHECK(!r && r.error().is_protocol() && r.error().http_status() == 200);

    r = c.try_task_check(TOKEN, "fail");
    CHECK(r && *r == Status::Fail);
}

void test_timeout()
{
    feishu::Options o = base_options();
    o.timeouts(300ms, 300ms).max_retries(0);
    const feishu::Client c(o);

    auto start = Clock::now();
    auto e = error_of([&] { c.task_check(TOKEN, "stall"); });
    const long long took = ms_since(start);
    CHECK(e.has_value());
    CHECKM(e && e->is_timeout() && e->code() == FEISHU_ERR_TIMEOUT, (e ? e->what() : "no error"));
    CHECK(e && e->http_status() == 0);
    CHECKM(took >= 250 && took < 5000, "took " << took << " ms");

    const feishu::Result<Status> r = c.try_task_check(TOKEN, "stall");
    CHECK(!r && r.error().is_timeout());
}

void test_invalid_input()
{
    const feishu::Client c = client();
    auto invalid = [&](std::string_view token, std::string_view task_id) {
        auto e = error_of([&] { c.task_check(token, task_id); });
        return e && e->is_invalid_argument() && e->code() == FEISHU_ERR_INVALID_ARGUMENT &&
               !e->message().empty() && !has(e->what(), "SECRET");
    };
    CHECK(invalid(TOKEN, ""));
    CHECK(invalid("Bearer t-abc", "success"));
    CHECK(invalid("t-with space", "success"));
    CHECK(invalid("t-newline\r\n", "success"));
    CHECK(invalid(TOKEN, std::string(1025, 'x')));
    CHECK(invalid(std::string(4097, 't'), "success"));
    // An embedded NUL would silently cut the string in C: refused by the wrapper.
    CHECK(invalid(TOKEN, std::string_view("succ\0ess", 8)));
    CHECK(invalid(std::string_view("t-SECRET\0x", 10), "success"));
    auto e = error_of([&] { c.task_check(TOKEN, std::string_view("a\0b", 3)); });
    CHECKM(e && has(e->message(), "NUL"), (e ? e->what() : "no error"));
    // No credentials: an empty token can not mean the managed one.
    e = error_of([&] { c.task_check("", "success"); });
    CHECK(e && e->is_invalid_argument());
    // A wait of 0 ms (or less).
    e = error_of([&] { c.wait(TOKEN, "success", 0ms); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { c.wait(TOKEN, "success", -5ms); });
    CHECK(e && e->is_invalid_argument());
    CHECK(c.try_wait(TOKEN, "", 1s).error().is_invalid_argument());

    // Option setters throw at once and leave the options unchanged.
    feishu::Options o = base_options();
    e = error_of([&] { o.base_url("gopher://x"); });
    CHECKM(e && e->is_invalid_argument() && has(e->message(), "scheme"),
           (e ? e->what() : "no error"));
    e = error_of([&] { o.base_url("http://127.0.0.1:1/open-apis"); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { o.base_url(std::string_view("http://a\0b", 10)); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { o.timeouts(0ms, 0ms); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { o.max_retries(11); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { o.proxy("socks5://u:hunter2@h:1"); });
    CHECKM(e && e->is_invalid_argument() && !has(e->what(), "hunter2"),
           (e ? e->what() : "no error"));
    e = error_of([&] { o.ca_file("/nonexistent/ca.pem"); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { o.app_credentials("", "secret"); });
    CHECK(e && e->is_invalid_argument());
    e = error_of([&] { o.app_credentials("cli_x", "hunter2 with space"); });
    CHECKM(e && e->is_invalid_argument() && !has(e->what(), "hunter2"),
           (e ? e->what() : "no error"));
    const feishu::Client still(o);
    CHECK(still.task_check(TOKEN, "process") == Status::Process);
}

void test_wait_and_progress()
{
    const feishu::Client c = client();
    struct Seen {
        Status status;
        std::uint32_t polls;
        std::chrono::milliseconds elapsed;
    };
    std::vector<Seen> seen;
    const Status s = c.wait(TOKEN, "after-700ms", 20s, nullptr,
                            [&](Status st, std::uint32_t polls, std::chrono::milliseconds el) {
                                seen.push_back({st, polls, el});
                                return false;
                            });
    CHECK(s == Status::Success);
    CHECKM(seen.size() >= 2, seen.size() << " progress calls");
    if (!seen.empty()) {
        CHECK(seen.front().status == Status::Process && seen.front().polls == 1);
        CHECK(seen.back().status == Status::Success);
        CHECKM(seen.back().elapsed >= 600ms, seen.back().elapsed.count() << " ms");
        bool increasing = true;
        for (std::size_t i = 0; i < seen.size(); i++)
            increasing = increasing && seen[i].polls == i + 1;
        CHECK(increasing);
    }

    // Without a progress callback.
    CHECK(c.wait(TOKEN, "fail", 5s) == Status::Fail);

    // Returning true stops the wait: cancelled, with the last status seen.
    int calls = 0;
    auto e = error_of([&] {
        c.wait(TOKEN, "process", 20s, nullptr, [&](Status, std::uint32_t, std::chrono::milliseconds) {
            return ++calls == 2;
        });
    });
    CHECK(e && e->is_cancelled() && e->last_status() == Status::Process);
    CHECK(calls == 2);

    // The wait's own deadline.
    auto start = Clock::now();
    e = error_of([&] { c.wait(TOKEN, "process", 500ms); });
    CHECKM(e && e->is_timeout() && e->last_status() == Status::Process,
           (e ? e->what() : "no error"));
    CHECKM(ms_since(start) < 5000, ms_since(start) << " ms");

    // A permanent failure ends the wait at once, with UNKNOWN.
    e = error_of([&] { c.wait(TOKEN, "err-1061003", 5s); });
    CHECK(e && e->code() == 1061003 && e->last_status() == Status::Unknown);

    // An exception thrown by the progress callback stops the wait and comes back as itself.
    bool rethrown = false;
    try {
        c.wait(TOKEN, "process", 20s, nullptr,
               [](Status, std::uint32_t, std::chrono::milliseconds) -> bool {
                   throw std::logic_error("boom from progress");
               });
    } catch (const std::logic_error &le) {
        rethrown = std::string_view(le.what()) == "boom from progress";
    } catch (...) {
    }
    CHECK(rethrown);

    // ... and, without exceptions, as a cancel that says so.
    const feishu::Result<Status> r =
        c.try_wait(TOKEN, "process", 20s, nullptr,
                   [](Status, std::uint32_t, std::chrono::milliseconds) -> bool {
                       throw std::runtime_error("boom");
                   });
    CHECKM(!r && r.error().is_cancelled() && has(r.error().message(), "progress callback threw"),
           r.error().to_string());
    CHECK(!r && r.error().last_status() == Status::Process);

    const feishu::Result<Status> ok = c.try_wait(TOKEN, "after-300ms", 20s);
    CHECK(ok && *ok == Status::Success);
}

void test_cancel_from_thread()
{
    const feishu::Client c = client();
    const feishu::Cancel cancel;
    std::thread canceller([&cancel] {
        std::this_thread::sleep_for(300ms);
        cancel.trigger();
    });
    auto start = Clock::now();
    auto e = error_of([&] { c.wait(TOKEN, "process", 60s, &cancel); });
    const long long took = ms_since(start);
    canceller.join();
    CHECKM(e && e->is_cancelled() && e->code() == FEISHU_ERR_CANCELLED,
           (e ? e->what() : "no error"));
    CHECK(e && e->last_status() == Status::Process);
    CHECKM(took >= 250 && took < 10000, "took " << took << " ms");

    // Triggering is permanent: the next wait with it ends at once.
    const feishu::Result<Status> r = c.try_wait(TOKEN, "process", 60s, &cancel);
    CHECK(!r && r.error().is_cancelled());
    cancel.trigger(); // any number of times

    // Several waits on several threads, one cancel.
    const feishu::Cancel all;
    std::atomic<int> cancelled{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; i++)
        waiters.emplace_back([&] {
            if (c.try_wait(TOKEN, "process", 60s, &all).error().is_cancelled())
                ++cancelled;
        });
    std::this_thread::sleep_for(200ms);
    all.trigger();
    for (auto &t : waiters)
        t.join();
    CHECK(cancelled == 4);
}

void test_log_callback()
{
    struct Lines {
        std::mutex lock;
        std::vector<std::pair<feishu::LogLevel, std::string>> lines;
        int count(feishu::LogLevel level)
        {
            std::lock_guard<std::mutex> g(lock);
            int n = 0;
            for (auto &l : lines)
                n += l.first == level;
            return n;
        }
    };
    auto lines = std::make_shared<Lines>();

    // The options (and the lambda given to them) go away before the client is used.
    const feishu::Client c = [&] {
        feishu::Options o = base_options();
        o.max_retries(2).log([lines](feishu::LogLevel level, std::string_view message) {
            std::lock_guard<std::mutex> g(lines->lock);
            lines->lines.emplace_back(level, std::string(message));
        });
        return feishu::Client(o);
    }();
    CHECK(c.task_check(TOKEN, "success") == Status::Success);
    CHECK(lines->count(feishu::LogLevel::Info) == 1);
    {
        std::lock_guard<std::mutex> g(lines->lock);
        CHECK(lines->lines.size() == 1);
        if (!lines->lines.empty())
            CHECKM(has(lines->lines[0].second, "task_check") &&
                       has(lines->lines[0].second, "attempt 1") &&
                       has(lines->lines[0].second, "log id"),
                   lines->lines[0].second);
    }
    auto e = error_of([&] { c.task_check(TOKEN, "err-1061001"); });
    CHECK(e && e->code() == 1061001);
    CHECK(lines->count(feishu::LogLevel::Warn) == 2);
    CHECK(lines->count(feishu::LogLevel::Error) == 1);
    {
        std::lock_guard<std::mutex> g(lines->lock);
        bool secret = false;
        for (auto &l : lines->lines)
            secret = secret || has(l.second, "SECRET");
        CHECK(!secret);
    }

    // A logger that throws loses its line; the call is not disturbed.
    std::atomic<int> thrown{0};
    feishu::Options o = base_options();
    o.log([&thrown](feishu::LogLevel, std::string_view) {
        ++thrown;
        throw std::runtime_error("logger failed");
    });
    const feishu::Client noisy(o);
    CHECK(noisy.task_check(TOKEN, "fail") == Status::Fail);
    CHECK(noisy.wait(TOKEN, "success", 5s) == Status::Success);
    CHECK(thrown == 2);

    // An empty function means silence; clients built before keep theirs.
    o.log({});
    const feishu::Client quiet(o);
    CHECK(quiet.task_check(TOKEN, "fail") == Status::Fail);
    CHECK(thrown == 2);
    CHECK(noisy.task_check(TOKEN, "fail") == Status::Fail);
    CHECK(thrown == 3);
}

void test_move_semantics()
{
    // Client
    feishu::Client a = client();
    feishu::Client b(std::move(a));
    CHECK(a.get() == nullptr && b.get() != nullptr);
    CHECK(b.task_check(TOKEN, "success") == Status::Success);
    auto e = error_of([&] { a.task_check(TOKEN, "success"); });
    CHECK(e && e->is_invalid_argument());
    CHECK(a.try_wait(TOKEN, "success", 1s).error().is_invalid_argument());
    feishu::Client c = client();
    c = std::move(b); // frees c's own client
    CHECK(c.task_check(TOKEN, "fail") == Status::Fail);
    CHECK(b.get() == nullptr);
    self_move_assign(c);
    CHECK(c.get() != nullptr && c.task_check(TOKEN, "process") == Status::Process);
    a = std::move(c);
    CHECK(a.task_check(TOKEN, "success") == Status::Success);

    // Options: moved-from options build no client (NULL would mean "from the environment").
    feishu::Options o1 = base_options();
    feishu::Options o2(std::move(o1));
    CHECK(o1.get() == nullptr && o2.get() != nullptr);
    e = error_of([&] { feishu::Client x(o1); });
    CHECK(e && e->is_invalid_argument() && has(e->message(), "moved"));
    e = error_of([&] { o1.max_retries(1); });
    CHECK(e && e->is_invalid_argument());
    feishu::Options o3;
    o3 = std::move(o2);
    CHECK(feishu::Client(o3).task_check(TOKEN, "success") == Status::Success);

    // The log function travels with the options that own it.
    std::atomic<int> logged{0};
    feishu::Options o4 = base_options();
    o4.log([&logged](feishu::LogLevel, std::string_view) { ++logged; });
    feishu::Options o5(std::move(o4));
    const feishu::Client logging(o5);
    CHECK(logging.task_check(TOKEN, "success") == Status::Success);
    CHECK(logged == 1);

    // Cancel: a moved-from handle does nothing and is NULL for a wait (no cancel).
    feishu::Cancel k1;
    feishu::Cancel k2(std::move(k1));
    CHECK(k1.get() == nullptr && k2.get() != nullptr);
    k1.trigger();
    CHECK(logging.wait(TOKEN, "success", 5s, &k1) == Status::Success);
    feishu::Cancel k3;
    k3 = std::move(k2);
    k3.trigger();
    e = error_of([&] { logging.wait(TOKEN, "process", 5s, &k3); });
    CHECK(e && e->is_cancelled());
    // Every moved-from object is destroyed here (valgrind checks for leaks and bad frees).
}

void test_managed_token()
{
    const std::string app_id = env("FEISHU_TEST_APP_ID");
    const std::string secret = env("FEISHU_TEST_APP_SECRET");
    CHECKM(!app_id.empty() && !secret.empty(), "FEISHU_TEST_APP_ID/SECRET not set");
    if (app_id.empty() || secret.empty())
        return;

    feishu::Options o = base_options();
    o.app_credentials(app_id, secret);
    const feishu::Client c(o);
    CHECK(c.task_check("", "success") == Status::Success);
    CHECK(c.task_check("", "fail") == Status::Fail);
    CHECK(c.wait("", "after-400ms", 20s) == Status::Success);
    const feishu::Result<Status> r = c.try_task_check("", "process");
    CHECK(r && *r == Status::Process);
    // An explicit token still wins.
    CHECK(c.task_check(TOKEN, "process") == Status::Process);
    auto e = error_of([&] { c.task_check("", "err-1061003"); });
    CHECK(e && e->code() == 1061003);

    // A wrong secret: the token request's failure, without the secret.
    feishu::Options bad = base_options();
    bad.app_credentials(app_id, "wrong-secret-hunter2");
    const feishu::Client wrong(bad);
    e = error_of([&] { wrong.task_check("", "success"); });
    CHECKM(e && e->code() == 10014 && has(e->message(), "tenant_access_token request failed"),
           (e ? e->what() : "no error"));
    CHECK(e && !has(e->what(), "hunter2"));
}

void test_threads()
{
    const feishu::Client c = [] {
        feishu::Options o = base_options();
        o.timeouts(2s, 2500ms);
        return feishu::Client(o);
    }();
    struct Kind {
        const char *task_id;
        std::int32_t code;
        Status status;
    };
    static const Kind kinds[] = {
        {"success", FEISHU_OK, Status::Success},
        {"fail", FEISHU_OK, Status::Fail},
        {"process", FEISHU_OK, Status::Process},
        {"err-1061003", 1061003, Status::Unknown},
        {"err-1061002", 1061002, Status::Unknown},
        {"garbage", FEISHU_ERR_PROTOCOL, Status::Unknown},
        {"", FEISHU_ERR_INVALID_ARGUMENT, Status::Unknown},
        {"token-expired", 99991663, Status::Unknown},
    };
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; t++)
        threads.emplace_back([&, t] {
            const Kind &k = kinds[t];
            for (int i = 0; i < 10; i++) {
                if (i % 2 == 0) {
                    const feishu::Result<Status> r = c.try_task_check(TOKEN, k.task_id);
                    if (r.error().code() != k.code || r.value_or(Status::Unknown) != k.status)
                        ++mismatches;
                } else {
                    try {
                        if (c.task_check(TOKEN, k.task_id) != k.status || k.code != FEISHU_OK)
                            ++mismatches;
                    } catch (const feishu::Error &e) {
                        if (e.code() != k.code)
                            ++mismatches;
                    }
                }
            }
        });
    for (auto &t : threads)
        t.join();
    CHECK(mismatches == 0);
}

void test_rate_limit()
{
    // Bad values throw is_invalid_argument() and leave the options unchanged.
    feishu::Options bad = base_options();
    for (const auto &[max, per] : {std::pair<std::uint32_t, std::chrono::milliseconds>{5, 0ms},
                                   {5, -1s},
                                   {1000001, 1s},
                                   {std::numeric_limits<std::uint32_t>::max(), 1s}}) {
        auto e = error_of([&, max = max, per = per] { bad.rate_limit(max, per); });
        CHECKM(e && e->is_invalid_argument() && has(e->message(), "rate limit"),
               max << " per " << per.count() << " ms: " << (e ? e->what() : "no error"));
    }
    bad.rate_limit(0, 0ms).rate_limit(0, -5ms); // 0: off, whatever the interval
    bad.rate_limit(1000000, 1ms);
    const feishu::Client unlimited(bad.rate_limit(0, 0ms));
    CHECK(unlimited.task_check(TOKEN, "success") == Status::Success);

    // 2 per second: the third call starts a second after the first.
    {
        feishu::Options o = base_options();
        o.rate_limit(2, 1s);
        const feishu::Client c(o);
        const auto start = Clock::now();
        long long took[3] = {0, 0, 0};
        for (long long &t : took) {
            CHECK(c.task_check(TOKEN, "success") == Status::Success);
            t = ms_since(start);
        }
        CHECKM(took[2] >= 900, "calls returned after " << took[0] << ", " << took[1] << ", "
                                                         << took[2] << " ms");
    }

    // Over all threads of the client: 4 threads, one call each, 2 per second.
    {
        feishu::Options o = base_options();
        o.rate_limit(2, std::chrono::seconds(1));
        const feishu::Client c(o);
        std::atomic<int> ok{0};
        const auto start = Clock::now();
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; i++)
            threads.emplace_back([&] {
                if (c.try_task_check(TOKEN, "fail").value_or(Status::Unknown) == Status::Fail)
                    ++ok;
            });
        for (auto &t : threads)
            t.join();
        const long long took = ms_since(start);
        CHECK(ok == 4);
        CHECKM(took >= 900, "4 calls on 4 threads at 2 per second took " << took << " ms");
    }

    // Wait polls count too: the third poll comes a second after the first.
    {
        feishu::Options o = base_options();
        o.rate_limit(2, 1s);
        const feishu::Client c(o);
        std::chrono::milliseconds third{0};
        const auto start = Clock::now();
        auto e = error_of([&] {
            c.wait(TOKEN, "pending", 20s, nullptr,
                   [&](Status, std::uint32_t polls, std::chrono::milliseconds elapsed) {
                       third = elapsed;
                       return polls == 3;
                   });
        });
        const long long took = ms_since(start);
        CHECKM(e && e->is_cancelled() && e->last_status() == Status::Process,
               (e ? e->what() : "no error"));
        CHECKM(third >= 900ms && took >= 900,
               "third poll at " << third.count() << " ms, wait took " << took << " ms");
    }

    // A call that cannot start before its deadline: is_timeout(), not sent, says why.
    {
        feishu::Options o = base_options();
        o.timeouts(300ms, 300ms).rate_limit(1, 60s);
        const feishu::Client c(o);
        CHECK(c.task_check(TOKEN, "success") == Status::Success);
        const auto start = Clock::now();
        const feishu::Result<Status> r = c.try_task_check(TOKEN, "success");
        const long long took = ms_since(start);
        CHECKM(!r && r.error().is_timeout() && r.error().http_status() == 0 &&
                   has(r.error().message(), "rate limit"),
               r.error().to_string());
        CHECKM(took < 10000, "took " << took << " ms");
    }

    // A Cancel frees a wait queued for the limit at once.
    {
        feishu::Options o = base_options(); // 5 s per call: each poll may queue that long
        o.rate_limit(1, 60s);
        const feishu::Client c(o);
        CHECK(c.task_check(TOKEN, "success") == Status::Success);
        const feishu::Cancel cancel;
        std::thread canceller([&cancel] {
            std::this_thread::sleep_for(200ms);
            cancel.trigger();
        });
        const auto queued = Clock::now();
        auto e = error_of([&] { c.wait(TOKEN, "success", 20s, &cancel); });
        const long long waited = ms_since(queued);
        canceller.join();
        CHECKM(e && e->is_cancelled() && e->last_status() == Status::Unknown,
               (e ? e->what() : "no error"));
        CHECKM(waited >= 150 && waited < 3000, "the queued wait took " << waited << " ms");
    }
}

// ---- Starting the task: move and remove (the mock's drive writes, tests/support/drive.rs) ----

// One HTTP/1.0 request to the mock server's admin endpoints (the server closes
// the connection after the answer); the body of the answer, "" on any failure.
std::string mock_http(const char *method, const std::string &path_and_query)
{
    const std::string prefix = "http://";
    if (g_base_url.compare(0, prefix.size(), prefix) != 0)
        return "";
    const std::string hostport = g_base_url.substr(prefix.size());
    const std::size_t colon = hostport.rfind(':');
    if (colon == std::string::npos)
        return "";
    std::string host = hostport.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    const std::string port = hostport.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr)
        return "";
    const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd < 0 || connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(found);
        return "";
    }
    freeaddrinfo(found);
    const std::string request = std::string(method) + " " + path_and_query +
                                " HTTP/1.0\r\nHost: " + hostport +
                                "\r\nContent-Length: 0\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
        if (n <= 0)
            break;
        sent += static_cast<std::size_t>(n);
    }
    std::string response;
    char buf[4096];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        response.append(buf, static_cast<std::size_t>(n));
    }
    close(fd);
    const std::size_t body = response.find("\r\n\r\n");
    if (response.compare(0, 12, "HTTP/1.1 200") != 0 && response.compare(0, 12, "HTTP/1.0 200") != 0)
        return "";
    return body == std::string::npos ? "" : response.substr(body + 4);
}

// One number of GET /_mock/stats ("writes", "write_conflicts", ...); -1 if missing.
long stat(const char *name)
{
    const std::string stats = mock_http("GET", "/_mock/stats");
    const std::string key = std::string("\"") + name + "\":";
    const std::size_t at = stats.find(key);
    if (at == std::string::npos)
        return -1;
    return std::strtol(stats.c_str() + at + key.size(), nullptr, 10);
}

// The recorded moves and deletes of a file token (one without characters that
// need percent-encoding), from GET /_mock/requests.
int writes_for(const std::string &file_token)
{
    const std::string requests = mock_http("GET", "/_mock/requests");
    const std::string path = "\"path\":\"/open-apis/drive/v1/files/" + file_token;
    int n = 0;
    for (const std::string &needle : {"\"method\":\"POST\"," + path + "/move\"",
                                      "\"method\":\"DELETE\"," + path + "\""})
        for (std::size_t at = requests.find(needle); at != std::string::npos;
             at = requests.find(needle, at + 1))
            n++;
    return n;
}

// Sets the mock's drive settings until the object goes (then the defaults: task
// 300 ms, write 20 ms, 5 writes per second).
struct MockDrive {
    explicit MockDrive(const std::string &query)
    {
        CHECKM(mock_http("POST", "/_mock/drive?" + query) == "{\"ok\":true}", query);
    }
    ~MockDrive() { mock_http("POST", "/_mock/drive?task_ms=300&write_ms=20&write_limit=5"); }
    MockDrive(const MockDrive &) = delete;
    MockDrive &operator=(const MockDrive &) = delete;
};

bool is_task_id(const std::optional<std::string> &id)
{
    return id && id->size() == 19 && id->find_first_not_of("0123456789") == std::string::npos;
}

const char *const APPLIED = "may have been applied";

void test_write_at_once_and_async()
{
    const feishu::Client c = client();
    // Two tokens, at most 5 writes each: none waits for the 5-per-second limit.
    std::string tok = "t-SECRET-cpp-write";
    const long writes = stat("writes");
    CHECK(writes >= 0);

    // Files, and a folder already in place: done at once (std::nullopt).
    CHECK(c.move(tok, "doxCppFile", "docx", "fldCppTarget") == std::nullopt);
    CHECK(c.move(tok, "fldCpp-inplace", "folder", "fldCppTarget") == std::nullopt);
    CHECK(c.remove(tok, "shtCppFile", "sheet") == std::nullopt);
    const feishu::Result<std::optional<std::string>> r = c.try_move(tok, "boxCppFile", "file", "fldCppTarget");
    CHECK(r && *r == std::nullopt && r.error().ok());

    // A folder: a task id that task_check and wait see.
    tok = "t-SECRET-cpp-write-folder";
    const std::optional<std::string> id = c.move(tok, "fldCppSource", "folder", "fldCppTarget");
    CHECKM(is_task_id(id), id.value_or("nullopt"));
    if (id) {
        CHECK(c.task_check(tok, *id) == Status::Process);
        CHECK(c.wait(tok, *id, 20s) == Status::Success);
    }
    const std::string requests = mock_http("GET", "/_mock/requests");
    CHECKM(has(requests, "\"path\":\"/open-apis/drive/v1/files/fldCppSource/move\"") &&
               has(requests, "{\\\"type\\\":\\\"folder\\\",\\\"folder_token\\\":\\\"fldCppTarget\\\"}"),
           requests.substr(0, 2000));
    const feishu::Result<std::optional<std::string>> d = c.try_remove(tok, "fldCppSource", "folder");
    CHECKM(d && is_task_id(*d) && *d != id, d.error().to_string());
    CHECKM(has(mock_http("GET", "/_mock/requests"),
               "\"method\":\"DELETE\",\"path\":\"/open-apis/drive/v1/files/fldCppSource\","
               "\"raw_query\":\"type=folder\""),
           "no DELETE ?type=folder recorded");
    if (d && *d)
        CHECK(c.try_wait(tok, **d, 20s).value_or(Status::Unknown) == Status::Success);
    CHECKM(stat("writes") - writes == 6, stat("writes") - writes << " writes");
}

void test_write_and_wait()
{
    const feishu::Client c = client();
    const std::string tok = "t-SECRET-cpp-and-wait";
    std::vector<Status> seen;
    auto record_poll = [&](Status st, std::uint32_t, std::chrono::milliseconds) {
        seen.push_back(st);
        return false;
    };
    CHECK(c.move_and_wait(tok, "fldCppMoveWait", "folder", "fldCppTarget", 20s, nullptr, record_poll) ==
          Status::Success);
    CHECKM(seen.size() >= 2 && seen.front() == Status::Process && seen.back() == Status::Success,
           seen.size() << " polls");
    seen.clear();
    // Done at once: success, no poll.
    CHECK(c.move_and_wait(tok, "boxCppMoveWait", "file", "fldCppTarget", 20s, nullptr, record_poll) ==
          Status::Success);
    CHECK(c.remove_and_wait(tok, "boxCppMoveWait", "file", 20s, nullptr, record_poll) == Status::Success);
    CHECK(seen.empty());
    CHECK(c.remove_and_wait(tok, "fldCppMoveWait", "folder", 20s) == Status::Success);
    // A task that fails: its status, no exception (as wait).
    CHECK(c.remove_and_wait(tok, "fldCpp-task-fail", "folder", 20s) == Status::Fail);
    const feishu::Result<Status> f = c.try_move_and_wait(tok, "fldCpp-task-fail-2", "folder", "fldCppTarget", 20s);
    CHECK(f && *f == Status::Fail);
    // The start fails: the write's error, no task id.
    auto e = error_of([&] { c.move_and_wait(tok, "err-1061003-cpp-and-wait", "folder", "fldCppTarget", 20s); });
    CHECKM(e && e->code() == 1061003 && e->task_id().empty() && !e->log_id().empty(),
           (e ? e->what() : "no error"));

    // The wait runs out after the task started: the task id comes with the error,
    // and wait() resumes with it.
    {
        MockDrive slow("task_ms=1500");
        e = error_of([&] { c.move_and_wait(tok, "fldCppSlow", "folder", "fldCppTarget", 400ms); });
        CHECKM(e && e->is_timeout() && e->last_status() == Status::Process &&
                   is_task_id(std::string(e->task_id())) && has(e->what(), "[task id "),
               (e ? e->what() : "no error"));
        if (e && !e->task_id().empty())
            CHECK(c.wait(tok, e->task_id(), 20s) == Status::Success);
        CHECK(writes_for("fldCppSlow") == 1);
        // Without exceptions, and a cancel: the same.
        const feishu::Cancel cancel;
        cancel.trigger();
        const feishu::Result<Status> r =
            c.try_remove_and_wait(tok, "fldCppSlow", "folder", 20s, &cancel);
        CHECKM(!r && r.error().is_cancelled() && is_task_id(std::string(r.error().task_id())),
               r.error().to_string());
        // A progress callback that throws: rethrown as itself by the throwing form.
        bool rethrown = false;
        try {
            c.move_and_wait(tok, "fldCppSlow2", "folder", "fldCppTarget", 20s, nullptr,
                            [](Status, std::uint32_t, std::chrono::milliseconds) -> bool {
                                throw std::logic_error("boom from progress");
                            });
        } catch (const std::logic_error &) {
            rethrown = true;
        } catch (...) {
        }
        CHECK(rethrown);
    }
}

void test_write_errors()
{
    const feishu::Client c = client();
    const struct {
        std::int32_t code;
        int http;
    } codes[] = {{1061002, 400}, {1061003, 404}, {1061004, 403}, {1061007, 400},
                 {1062501, 403}, {1062507, 400}, {99991403, 400}};
    for (const auto &k : codes) {
        // A token per code: these writes never wait for each other's turn.
        const std::string tok = "t-SECRET-cpp-code-" + std::to_string(k.code);
        const std::string file = "err-" + std::to_string(k.code) + "-cpp";
        auto e = error_of([&] { c.move(tok, file, "folder", "fldCppTarget"); });
        CHECKM(e && e->code() == k.code && e->http_status() == k.http && e->is_platform() &&
                   !e->log_id().empty() && !e->message().empty() &&
                   has(e->what(), std::to_string(k.code)) && !has(e->what(), "SECRET"),
               file << ": " << (e ? e->what() : "no error"));
        const feishu::Result<std::optional<std::string>> r = c.try_remove(tok, file, "file");
        CHECKM(!r && r.error().code() == k.code && r.error().http_status() == k.http &&
                   !r.error().log_id().empty(),
               file << ": " << r.error().to_string());
        CHECKM(writes_for(file) == 2, file << ": " << writes_for(file) << " writes, want 2");
    }
    // A task id too long for FEISHU_TASK_ID_SIZE: the platform accepted the move.
    auto e = error_of([&] { c.move("t-SECRET-cpp-long", "taskid-long-cpp", "folder", "fldCppTarget"); });
    CHECKM(e && e->is_protocol() && has(e->message(), "accepted the operation"),
           (e ? e->what() : "no error"));
}

void test_write_invalid_input()
{
    const feishu::Client c = client();
    const long writes = stat("writes");
    const long requests = stat("requests");
    const std::string long_token(257, 'f');
    const std::string long_type(33, 'a');
    const struct {
        std::string_view token, file, type, folder;
    } cases[] = {
        {"Bearer t-SECRET", "fld", "folder", "fldT"},
        {"t-SECRET with space", "fld", "folder", "fldT"},
        {std::string_view("t-SECRET\0x", 10), "fld", "folder", "fldT"},
        {"", "fld", "folder", "fldT"}, // no token, no app credentials
        {TOKEN, "", "folder", "fldT"},
        {TOKEN, "fld a", "folder", "fldT"},
        {TOKEN, "fld\xc3\xa9", "folder", "fldT"},
        {TOKEN, std::string_view("fld\0x", 5), "folder", "fldT"},
        {TOKEN, long_token, "folder", "fldT"},
        {TOKEN, "fld", "", "fldT"},
        {TOKEN, "fld", "Folder", "fldT"},
        {TOKEN, "fld", "doc-x", "fldT"},
        {TOKEN, "fld", std::string_view("fold\0er", 7), "fldT"},
        {TOKEN, "fld", long_type, "fldT"},
        {TOKEN, "fld", "folder", ""},
        {TOKEN, "fld", "folder", std::string_view("fld\0T", 5)},
        {TOKEN, "fld", "folder", long_token},
    };
    for (const auto &k : cases) {
        auto e = error_of([&] { c.move(k.token, k.file, k.type, k.folder); });
        CHECKM(e && e->is_invalid_argument() && !e->message().empty() && !has(e->what(), "SECRET"),
               k.file.substr(0, 20) << " " << k.type << ": " << (e ? e->what() : "no error"));
        CHECK(!c.try_move_and_wait(k.token, k.file, k.type, k.folder, 5s).ok());
        if (k.folder == "fldT") {
            const feishu::Result<std::optional<std::string>> r = c.try_remove(k.token, k.file, k.type);
            CHECK(!r && r.error().is_invalid_argument());
            e = error_of([&] { c.remove_and_wait(k.token, k.file, k.type, 5s); });
            CHECK(e && e->is_invalid_argument() && e->task_id().empty());
        }
    }
    auto e = error_of([&] { c.move(TOKEN, std::string_view("a\0b", 3), "folder", "fldT"); });
    CHECKM(e && has(e->message(), "file_token") && has(e->message(), "NUL"), (e ? e->what() : "no error"));
    // A wait of 0 ms is refused before the write is sent.
    e = error_of([&] { c.move_and_wait(TOKEN, "fldCppNoWait", "folder", "fldT", 0ms); });
    CHECK(e && e->is_invalid_argument());
    CHECK(c.try_remove_and_wait(TOKEN, "fldCppNoWait", "folder", -1s).error().is_invalid_argument());
    // A moved-from client.
    feishu::Client a = client();
    const feishu::Client b(std::move(a));
    CHECK(a.try_move(TOKEN, "fld", "folder", "fldT").error().is_invalid_argument());
    e = error_of([&] { a.remove(TOKEN, "fld", "folder"); });
    CHECK(e && e->is_invalid_argument());
    CHECKM(stat("writes") == writes && stat("requests") == requests,
           "invalid input sent " << stat("writes") - writes << " writes, "
                                 << stat("requests") - requests << " requests");
}

// Eight threads, one client, one token: the client never lets two writes
// overlap, so the platform never answers 1061045 (no concurrency, 5 per second).
//
// Each write is held 300 ms, so five take longer than the platform's second
// and the sixth starts after it: this checks the no-overlap rule. The
// client's own 5-per-second pacing (with quicker writes) is checked by the Go
// tests only: it counts starts on the client, the platform arrivals, and
// under valgrind the first write of a burst (code run for the first time)
// can arrive so late that the sixth, started a second after it, arrives
// within the platform's second (1061045, then retried).
void test_write_threads_one_token()
{
    MockDrive latency("write_ms=300");
    feishu::Options o = base_options();
    o.timeouts(2s, 20s);
    const feishu::Client c(o);
    const std::string tok = "t-SECRET-cpp-lane";
    const long writes = stat("writes");
    const long conflicts = stat("write_conflicts");
    const long limited = stat("write_rate_limited");
    constexpr int n = 8;
    std::vector<feishu::Result<std::optional<std::string>>> results(
        n, feishu::Result<std::optional<std::string>>(feishu::ErrorInfo()));
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int i = 0; i < n; i++)
        threads.emplace_back([&, i] {
            const std::string file = "fldCppLane-" + std::to_string(i);
            results[i] = i % 2 == 0 ? c.try_move(tok, file, "folder", "fldCppTarget")
                                    : c.try_remove(tok, file, "folder");
        });
    for (auto &t : threads)
        t.join();
    const long long took = ms_since(start);
    std::vector<std::string> ids;
    for (const auto &r : results) {
        CHECKM(r && is_task_id(*r), r.error().to_string());
        if (r && *r) {
            for (const auto &other : ids)
                CHECK(other != **r);
            ids.push_back(**r);
        }
    }
    CHECKM(stat("writes") - writes == n, stat("writes") - writes << " writes, want " << n);
    CHECKM(stat("write_conflicts") == conflicts && stat("write_rate_limited") == limited,
           "1061045 for " << stat("write_conflicts") - conflicts << " overlapping and "
                          << stat("write_rate_limited") - limited << " too fast writes");
    CHECKM(took >= n * 300 - 100, n << " writes took " << took << " ms; want >= ~" << n * 300
                                     << " ms, one at a time");
}

void test_write_retry_later()
{
    // Two clients (each its own lane), one token: the second's write arrives
    // while the first's is being processed, gets 1061045, is retried, succeeds.
    {
        MockDrive latency("write_ms=1500");
        feishu::Options o = base_options();
        o.timeouts(2s, 10s).max_retries(0); // 1061045 is retried anyway
        const feishu::Client a(o), b(o);
        const std::string tok = "t-SECRET-cpp-busy";
        const long conflicts = stat("write_conflicts");
        feishu::Result<std::optional<std::string>> first{feishu::ErrorInfo()};
        std::thread t([&] { first = a.try_remove(tok, "fldCppBusyA", "folder"); });
        std::this_thread::sleep_for(500ms);
        const feishu::Result<std::optional<std::string>> second =
            b.try_move(tok, "fldCppBusyB", "folder", "fldCppTarget");
        t.join();
        CHECKM(first && is_task_id(*first), first.error().to_string());
        CHECKM(second && is_task_id(*second), second.error().to_string());
        CHECKM(stat("write_conflicts") > conflicts, "no 1061045 was answered: the test proved nothing");
        CHECKM(writes_for("fldCppBusyB") >= 2, writes_for("fldCppBusyB") << " writes");
        CHECK(writes_for("fldCppBusyA") == 1);
    }
    // Always 1061045: retried until the call's deadline, then that code.
    feishu::Options o = base_options();
    o.timeouts(1500ms, 1500ms).max_retries(0);
    const feishu::Client c(o);
    const auto start = Clock::now();
    auto e = error_of([&] { c.move("t-SECRET-cpp-later", "err-1061045-cpp", "folder", "fldCppTarget"); });
    const long long took = ms_since(start);
    CHECKM(e && e->code() == 1061045 && e->is_platform(), (e ? e->what() : "no error"));
    CHECKM(took < 10000, "took " << took << " ms");
    CHECKM(writes_for("err-1061045-cpp") >= 2, writes_for("err-1061045-cpp") << " writes");
}

// A failure once the request was written: never sent again, and the message
// says that the operation may have been applied.
void test_write_may_have_been_applied()
{
    feishu::Options o = base_options();
    o.max_retries(3);
    const feishu::Client c(o);
    const struct {
        const char *file;
        std::int32_t code;
        int http;
    } cases[] = {{"reset-cpp", FEISHU_ERR_NETWORK, 0},
                 {"html-502-cpp", FEISHU_ERR_HTTP, 502},
                 {"err-1061001-cpp", 1061001, 500}};
    for (const auto &k : cases) {
        const std::string tok = std::string("t-SECRET-cpp-applied-") + k.file;
        auto e = error_of([&] { c.move(tok, k.file, "folder", "fldCppTarget"); });
        CHECKM(e && e->code() == k.code && e->http_status() == k.http && has(e->message(), APPLIED),
               k.file << ": " << (e ? e->what() : "no error"));
        CHECKM(writes_for(k.file) == 1, k.file << ": sent " << writes_for(k.file) << " times");
        const feishu::Result<Status> r = c.try_remove_and_wait(tok, k.file, "folder", 5s);
        CHECKM(!r && r.error().code() == k.code && has(r.error().message(), APPLIED) &&
                   r.error().task_id().empty(),
               k.file << ": " << r.error().to_string());
        CHECKM(writes_for(k.file) == 2, k.file << ": sent " << writes_for(k.file) << " times");
    }
}

void test_write_managed_token()
{
    const std::string app_id = env("FEISHU_TEST_APP_ID");
    const std::string secret = env("FEISHU_TEST_APP_SECRET");
    if (app_id.empty() || secret.empty())
        return; // test_managed_token reports it
    feishu::Options o = base_options();
    o.app_credentials(app_id, secret);
    const feishu::Client c(o);
    CHECK(c.move_and_wait("", "fldCppManaged", "folder", "fldCppTarget", 20s) == Status::Success);
    CHECK(c.remove("", "boxCppManaged", "file") == std::nullopt);
}

void test_from_env()
{
    // The harness sets FEISHU_BASE_URL to the mock server.
    const feishu::Client c = feishu::Client::from_env();
    CHECK(c.task_check(TOKEN, "success") == Status::Success);
    auto e = error_of([&] { c.task_check(TOKEN, "err-1061003"); });
    CHECK(e && e->code() == 1061003);
}

} // namespace

// Creates DIR/NAME if nobody has: the descriptor to write the test's time into, or -1.
int claim(const std::string &dir, const std::string &name)
{
    return ::open((dir + "/" + name).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
}

int main(int argc, char **argv)
{
    const struct {
        const char *name;
        void (*run)();
    } tests[] = {
        {"basics", test_basics},
        {"statuses", test_statuses},
        {"platform errors", test_platform_errors},
        {"non-throwing", test_non_throwing},
        {"timeout", test_timeout},
        {"invalid input", test_invalid_input},
        {"wait and progress", test_wait_and_progress},
        {"cancel from a thread", test_cancel_from_thread},
        {"log callback", test_log_callback},
        {"move semantics", test_move_semantics},
        {"managed token", test_managed_token},
        {"threads", test_threads},
        {"rate limit", test_rate_limit},
        {"from_env", test_from_env},
        {"write: at once and async", test_write_at_once_and_async},
        {"write: and wait", test_write_and_wait},
        {"write: error codes", test_write_errors},
        {"write: invalid input", test_write_invalid_input},
        {"write: threads, one token", test_write_threads_one_token},
        {"write: retry later", test_write_retry_later},
        {"write: may have been applied", test_write_may_have_been_applied},
        {"write: managed token", test_write_managed_token},
    };
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "--list") {
        for (const auto &t : tests)
            std::cout << t.name << "\n";
        return 0;
    }
    std::string claims;
    std::vector<std::string> names;
    if (!args.empty()) {
        if (args.size() < 2 || args[0] != "--claims") {
            std::cerr << "usage: test [--list | --claims DIR NAME...]\n";
            return 2;
        }
        claims = args[1];
        names.assign(args.begin() + 2, args.end());
    } else {
        for (const auto &t : tests)
            names.emplace_back(t.name);
    }

    g_base_url = env("FEISHU_TEST_BASE_URL");
    if (g_base_url.empty()) {
        std::cerr << "FEISHU_TEST_BASE_URL must name the mock server\n";
        return 2;
    }
    for (const auto &name : names) {
        const auto *t = std::find_if(std::begin(tests), std::end(tests),
                                     [&](const auto &t) { return name == t.name; });
        if (t == std::end(tests)) {
            std::cerr << "no test named \"" << name << "\"\n";
            return 2;
        }
        const int fd = claims.empty() ? -1 : claim(claims, name);
        if (!claims.empty() && fd < 0)
            continue; // another process has it
        const auto started = Clock::now();
        const int failed_before = g_failed;
        try {
            t->run();
        } catch (const std::exception &e) {
            ++g_failed;
            std::cerr << t->name << ": unexpected exception: " << e.what() << std::endl;
        }
        std::cout << (g_failed == failed_before ? "ok   " : "FAIL ") << t->name << std::endl;
        if (fd >= 0) {
            const std::string took = std::to_string(ms_since(started) / 1000.0);
            (void)!::write(fd, took.data(), took.size());
            ::close(fd);
        }
    }
    std::cout << "cpp: " << g_passed << " passed, " << g_failed << " failed" << std::endl;
    return g_failed == 0 ? 0 : 1;
}

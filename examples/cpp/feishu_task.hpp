/*
 * feishu_task.hpp: a header-only C++17 RAII wrapper of libfeishu_task.
 *
 *   #include "feishu_task.hpp"
 *
 *   feishu::Client client(feishu::Options().base_url(FEISHU_BASE_URL_LARK)
 *                                          .timeouts(std::chrono::seconds(3),
 *                                                    std::chrono::seconds(10)));
 *   try {
 *       feishu::Status s = client.task_check(token, task_id);
 *       // Start a task: its id, or std::nullopt when the platform finished at once.
 *       std::optional<std::string> id = client.move(token, file_token, "folder", folder_token);
 *       s = client.remove_and_wait(token, file_token, "folder", std::chrono::minutes(1));
 *   } catch (const feishu::Error &e) {
 *       std::cerr << e.what() << " (log id " << e.log_id() << ")\n";
 *   }
 *
 * Build: c++ -std=c++17 -I include -I examples/cpp app.cpp -L target/release -lfeishu_task
 *
 * - Every failure of the library is a feishu::Error (a std::runtime_error) carrying
 *   the code, HTTP status, log id, retry advice and message; the try_* methods
 *   return a feishu::Result instead and never throw.
 * - Details always come from the FeishuError out-parameter of the call itself,
 *   never from feishu_last_error (except for the option setters, which have no
 *   out-parameter; they are used on one thread, right after the call).
 * - No C++ exception ever crosses into the library: the log and progress
 *   trampolines catch everything. An exception thrown by a progress callback
 *   stops the wait and is rethrown by Client::wait.
 * - A Client is immutable and may be used from any number of threads at once;
 *   Options are not thread-safe; Cancel::trigger may be called from any thread.
 */
#ifndef FEISHU_TASK_HPP
#define FEISHU_TASK_HPP

#if !defined(__cplusplus) || (__cplusplus < 201703L && (!defined(_MSVC_LANG) || _MSVC_LANG < 201703L))
#error "feishu_task.hpp needs C++17"
#endif

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "feishu_task.h"

namespace feishu {

/** The status of a drive task (FeishuTaskStatus). */
enum class Status : std::int32_t {
    Unknown = FEISHU_TASK_STATUS_UNKNOWN, /**< only on failure */
    Success = FEISHU_TASK_STATUS_SUCCESS, /**< the task has finished */
    Fail = FEISHU_TASK_STATUS_FAIL,       /**< the task has failed ("fail" or "failed") */
    Process = FEISHU_TASK_STATUS_PROCESS, /**< the task is still running ("process" or "pending") */
};

/** How much a log line matters (FeishuLogLevel). */
enum class LogLevel : std::int32_t {
    Error = FEISHU_LOG_LEVEL_ERROR, /**< a call failed for good */
    Warn = FEISHU_LOG_LEVEL_WARN,   /**< an attempt failed and will be retried */
    Info = FEISHU_LOG_LEVEL_INFO,   /**< an attempt succeeded */
};

/** "success", "fail", "process" or "unknown". */
inline constexpr const char *to_string(Status status) noexcept
{
    switch (status) {
    case Status::Success: return "success";
    case Status::Fail: return "fail";
    case Status::Process: return "process";
    case Status::Unknown: break;
    }
    return "unknown";
}

/** "error", "warn" or "info". */
inline constexpr const char *to_string(LogLevel level) noexcept
{
    switch (level) {
    case LogLevel::Error: return "error";
    case LogLevel::Warn: return "warn";
    case LogLevel::Info: return "info";
    }
    return "log";
}

/** The library's version, "MAJOR.MINOR.PATCH". */
inline std::string_view version() noexcept { return feishu_version(); }

/** The static description of a return code (feishu_strerror). */
inline std::string_view describe(std::int32_t code) noexcept { return feishu_strerror(code); }

/** Receives one line per HTTP attempt; called on the thread making the request. */
using LogFunction = std::function<void(LogLevel level, std::string_view message)>;

/** Called after every poll of a wait; return true to stop the wait (FEISHU_ERR_CANCELLED). */
using Progress =
    std::function<bool(Status status, std::uint32_t polls, std::chrono::milliseconds elapsed)>;

/**
 * The details of one failure: a copy of the library's FeishuError (no
 * allocation, so it is usable where exceptions are not), plus, for waits that
 * timed out or were cancelled, the last status seen.
 */
class ErrorInfo {
public:
    /** Code 0 ("success"), empty strings. */
    ErrorInfo() noexcept : raw_() {}

    explicit ErrorInfo(const FeishuError &raw, Status last_status = Status::Unknown) noexcept
        : raw_(raw), last_status_(last_status)
    {
        // The library always terminates them; make sure, since we read them as strings.
        raw_.log_id[sizeof raw_.log_id - 1] = '\0';
        raw_.message[sizeof raw_.message - 1] = '\0';
    }

    /** A failure detected by the wrapper itself (nothing was sent). */
    static ErrorInfo local(std::int32_t code, const char *message) noexcept
    {
        FeishuError raw = FeishuError();
        raw.code = code;
        std::snprintf(raw.message, sizeof raw.message, "%s", message);
        return ErrorInfo(raw);
    }

    /** 0 for success, FEISHU_ERR_* (< 0) for a local failure, > 0 the platform's code. */
    std::int32_t code() const noexcept { return raw_.code; }
    /** The HTTP status of the response; 0 when none was received. */
    int http_status() const noexcept { return raw_.http_status; }
    /** The wait the platform advised (x-ogw-ratelimit-reset); 0 if none. */
    std::chrono::milliseconds retry_after() const noexcept
    {
        return std::chrono::milliseconds(raw_.retry_after_ms);
    }
    /** The platform's log id (quote it to Feishu support); empty if none. Valid while *this lives. */
    std::string_view log_id() const noexcept { return raw_.log_id; }
    /** What happened (UTF-8, never contains a token or secret). Valid while *this lives. */
    std::string_view message() const noexcept { return raw_.message; }
    /** The static description of code() (feishu_strerror). */
    std::string_view description() const noexcept { return feishu_strerror(raw_.code); }
    /** For a wait that timed out or was cancelled: the last status seen (Process or Unknown). */
    Status last_status() const noexcept { return last_status_; }
    /**
     * For move_and_wait / remove_and_wait whose wait failed after the operation
     * had started: the task id (wait() on it resumes waiting; do not start the
     * operation again). Empty otherwise. Valid while *this lives.
     */
    std::string_view task_id() const noexcept { return task_id_; }

    /** A copy that also carries the task id of a started operation (cut to FEISHU_TASK_ID_SIZE - 1 bytes). */
    ErrorInfo with_task_id(std::string_view task_id) const noexcept
    {
        ErrorInfo copy(*this);
        const std::size_t n = task_id.size() < sizeof copy.task_id_ - 1 ? task_id.size()
                                                                         : sizeof copy.task_id_ - 1;
        std::memcpy(copy.task_id_, task_id.data(), n);
        copy.task_id_[n] = '\0';
        return copy;
    }

    bool ok() const noexcept { return raw_.code == FEISHU_OK; }
    bool is_platform() const noexcept { return raw_.code > 0; }
    bool is_invalid_argument() const noexcept { return raw_.code == FEISHU_ERR_INVALID_ARGUMENT; }
    bool is_network() const noexcept { return raw_.code == FEISHU_ERR_NETWORK; }
    bool is_timeout() const noexcept { return raw_.code == FEISHU_ERR_TIMEOUT; }
    bool is_http() const noexcept { return raw_.code == FEISHU_ERR_HTTP; }
    bool is_protocol() const noexcept { return raw_.code == FEISHU_ERR_PROTOCOL; }
    bool is_cancelled() const noexcept { return raw_.code == FEISHU_ERR_CANCELLED; }
    bool is_internal() const noexcept { return raw_.code == FEISHU_ERR_INTERNAL; }

    /** The FeishuError as the library filled it. */
    const FeishuError &raw() const noexcept { return raw_; }

    /** One line: "message (code N: description) [HTTP s] [log id x] [retry after N ms] [task id t]". */
    std::string to_string() const
    {
        std::string s(message());
        s += " (code ";
        s += std::to_string(code());
        s += ": ";
        s += description();
        s += ")";
        if (http_status() != 0)
            s += " [HTTP " + std::to_string(http_status()) + "]";
        if (!log_id().empty()) {
            s += " [log id ";
            s += log_id();
            s += "]";
        }
        if (raw_.retry_after_ms != 0)
            s += " [retry after " + std::to_string(raw_.retry_after_ms) + " ms]";
        if (task_id_[0] != '\0') {
            s += " [task id ";
            s += task_id_;
            s += "]";
        }
        return s;
    }

private:
    FeishuError raw_;
    Status last_status_ = Status::Unknown;
    char task_id_[FEISHU_TASK_ID_SIZE] = {};
};

/** A failure of the library, thrown by the throwing API. */
class Error : public std::runtime_error {
public:
    explicit Error(const ErrorInfo &info) : std::runtime_error(info.to_string()), info_(info) {}

    const ErrorInfo &info() const noexcept { return info_; }
    std::int32_t code() const noexcept { return info_.code(); }
    int http_status() const noexcept { return info_.http_status(); }
    std::chrono::milliseconds retry_after() const noexcept { return info_.retry_after(); }
    std::string_view log_id() const noexcept { return info_.log_id(); }
    std::string_view message() const noexcept { return info_.message(); }
    std::string_view description() const noexcept { return info_.description(); }
    Status last_status() const noexcept { return info_.last_status(); }
    std::string_view task_id() const noexcept { return info_.task_id(); }
    bool is_platform() const noexcept { return info_.is_platform(); }
    bool is_invalid_argument() const noexcept { return info_.is_invalid_argument(); }
    bool is_network() const noexcept { return info_.is_network(); }
    bool is_timeout() const noexcept { return info_.is_timeout(); }
    bool is_http() const noexcept { return info_.is_http(); }
    bool is_protocol() const noexcept { return info_.is_protocol(); }
    bool is_cancelled() const noexcept { return info_.is_cancelled(); }
    bool is_internal() const noexcept { return info_.is_internal(); }

private:
    ErrorInfo info_;
};

/**
 * A value or the ErrorInfo of a failure, returned by the try_* methods.
 * error() is always valid (code 0 on success).
 */
template <typename T>
class Result {
public:
    Result(T value) noexcept(std::is_nothrow_move_constructible<T>::value)
        : value_(std::move(value))
    {
    }
    Result(const ErrorInfo &error) noexcept : error_(error) {}

    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }

    /** The value; throws feishu::Error (the failure) if there is none. */
    const T &value() const
    {
        if (!value_)
            throw Error(error_);
        return *value_;
    }
    T value_or(T fallback) const { return value_ ? *value_ : std::move(fallback); }
    /** The value; must be ok(). */
    const T &operator*() const noexcept { return *value_; }
    const T *operator->() const noexcept { return &*value_; }

    const ErrorInfo &error() const noexcept { return error_; }

private:
    std::optional<T> value_;
    ErrorInfo error_;
};

namespace detail {

/* Trampolines with C language linkage, as the library's function pointer
 * types ask. Nothing may escape them: an exception unwinding into Rust
 * frames would be undefined behaviour. */
extern "C" {

inline void feishu_cpp_log_trampoline(void *user_data, FeishuLogLevel level,
                                      const char *message) noexcept
{
    try {
        const auto *fn = static_cast<const LogFunction *>(user_data);
        if (fn != nullptr && *fn)
            (*fn)(static_cast<LogLevel>(level),
                  message != nullptr ? std::string_view(message) : std::string_view());
    } catch (...) {
        // A logger that throws loses its line, nothing else.
    }
}

struct ProgressState {
    const Progress *fn;
    std::exception_ptr thrown;
};

inline std::int32_t feishu_cpp_progress_trampoline(void *user_data, FeishuTaskStatus status,
                                                   std::uint32_t polls,
                                                   std::uint64_t elapsed_ms) noexcept
{
    auto *state = static_cast<ProgressState *>(user_data);
    try {
        using rep = std::chrono::milliseconds::rep;
        const auto elapsed = std::chrono::milliseconds(
            elapsed_ms > static_cast<std::uint64_t>(std::numeric_limits<rep>::max())
                ? std::numeric_limits<rep>::max()
                : static_cast<rep>(elapsed_ms));
        return (*state->fn)(static_cast<Status>(status), polls, elapsed) ? 1 : 0;
    } catch (...) {
        state->thrown = std::current_exception();
        return 1; // stop the wait; Client::wait rethrows
    }
}

} // extern "C"

/* A NUL-terminated copy for the C API. An embedded NUL would silently cut the
 * string, so it is an error here. May throw std::bad_alloc. */
inline bool c_copy(std::string_view in, std::string &out) noexcept(false)
{
    if (in.find('\0') != std::string_view::npos)
        return false;
    out.assign(in.data(), in.size());
    return true;
}

/* Milliseconds for a uint32_t parameter: <= 0 becomes 0 (which the library
 * rejects as invalid), more than UINT32_MAX is cut to it. */
inline std::uint32_t ms32(std::chrono::milliseconds d) noexcept
{
    if (d.count() <= 0)
        return 0;
    if (static_cast<std::uint64_t>(d.count()) > std::numeric_limits<std::uint32_t>::max())
        return std::numeric_limits<std::uint32_t>::max();
    return static_cast<std::uint32_t>(d.count());
}

/* Overwrites a string that held a secret before it is freed. */
inline void wipe(std::string &s) noexcept
{
    volatile char *p = s.empty() ? nullptr : &s[0];
    for (std::size_t i = 0; i < s.size(); i++)
        p[i] = '\0';
}

/* The thread's last error, for the option setters (they have no FeishuError out-parameter). */
inline ErrorInfo last_error() noexcept
{
    FeishuError raw = FeishuError();
    feishu_last_error(&raw);
    return ErrorInfo(raw);
}

} // namespace detail

/**
 * Options for a Client (FeishuClientOptions): defaults are the library's
 * (open.feishu.cn, 10 s connect, 30 s per call, 2 retries, no rate limit,
 * proxy from the environment). Setters throw feishu::Error on an invalid value
 * and leave the options unchanged. Move-only; not thread-safe.
 */
class Options {
public:
    Options() : raw_(feishu_client_options_new())
    {
        if (raw_ == nullptr)
            throw std::bad_alloc();
    }
    ~Options() { feishu_client_options_free(raw_); }

    Options(Options &&other) noexcept
        : raw_(std::exchange(other.raw_, nullptr)), log_(std::move(other.log_))
    {
    }
    Options &operator=(Options &&other) noexcept
    {
        if (this != &other) {
            feishu_client_options_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
            log_ = std::move(other.log_);
        }
        return *this;
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;

    /** FEISHU_BASE_URL_FEISHU, FEISHU_BASE_URL_LARK, or http(s)://host[:port]. */
    Options &base_url(std::string_view url)
    {
        std::string s;
        check(detail::c_copy(url, s), "base_url contains a NUL byte");
        check(feishu_client_options_set_base_url(raw_, s.c_str()));
        return *this;
    }

    /** The connect timeout and the whole-call deadline (every attempt and retry wait). */
    Options &timeouts(std::chrono::milliseconds connect, std::chrono::milliseconds call)
    {
        check(feishu_client_options_set_timeouts(raw_, detail::ms32(connect), detail::ms32(call)));
        return *this;
    }

    /** Extra attempts for transient failures, 0 to 10 (default 2). */
    Options &max_retries(std::uint32_t retries)
    {
        check(feishu_client_options_set_max_retries(raw_, retries));
        return *this;
    }

    /**
     * A budget for the task_check requests of clients built from these options: at
     * most `max_requests` of them start in any interval of `per`, over all threads
     * of a client together (a sliding window). Calls queue in arrival order, each
     * no longer than its own deadline: one that cannot start in time fails with
     * is_timeout() without sending, its message naming the limit. Retries and wait
     * polls count; the token request does not; a Cancel frees a queued wait poll.
     * `max_requests` 0 turns the limit off (the default; `per` is then ignored);
     * otherwise `per` must be at least 1 ms (longer than UINT32_MAX ms is cut to
     * it) and `max_requests` at most 1000000.
     */
    Options &rate_limit(std::uint32_t max_requests, std::chrono::milliseconds per)
    {
        check(feishu_client_options_set_rate_limit(raw_, max_requests, detail::ms32(per)));
        return *this;
    }

    /** An HTTP CONNECT proxy "http://[user:pass@]host[:port]", or std::nullopt for none
     *  whatever the environment says. Without this call: HTTPS_PROXY/ALL_PROXY/NO_PROXY. */
    Options &proxy(std::optional<std::string> url)
    {
        if (url && url->find('\0') != std::string::npos)
            check(false, "proxy contains a NUL byte");
        check(feishu_client_options_set_proxy(raw_, url ? url->c_str() : nullptr));
        return *this;
    }

    /** PEM certificates trusted instead of the bundled roots; the file is read now. */
    Options &ca_file(std::string_view pem_path)
    {
        std::string s;
        check(detail::c_copy(pem_path, s), "ca_file contains a NUL byte");
        check(feishu_client_options_set_ca_file(raw_, s.c_str()));
        return *this;
    }

    /** A self-built app's credentials: an empty token then means the managed tenant_access_token. */
    Options &app_credentials(std::string_view app_id, std::string_view app_secret)
    {
        std::string id, secret;
        const bool ok = detail::c_copy(app_id, id) && detail::c_copy(app_secret, secret);
        const std::int32_t rc =
            ok ? feishu_client_options_set_app_credentials(raw_, id.c_str(), secret.c_str())
               : FEISHU_ERR_INVALID_ARGUMENT;
        detail::wipe(secret);
        check(ok, "app credentials contain a NUL byte");
        check(rc);
        return *this;
    }

    /**
     * One line per HTTP attempt, on the thread making the request (so it must be
     * thread-safe if the client is shared). An empty function means silence.
     * Exceptions it throws are swallowed. Clients built from these options keep
     * their own reference to it, so it lives as long as they do.
     */
    Options &log(LogFunction fn)
    {
        if (!fn) {
            check(feishu_client_options_set_log_callback(raw_, nullptr, nullptr));
            log_.reset();
            return *this;
        }
        auto held = std::make_shared<const LogFunction>(std::move(fn));
        // The pointer handed to C is that of the std::function object, which is
        // shared (not copied) by every Client built from these options.
        check(feishu_client_options_set_log_callback(
            raw_, detail::feishu_cpp_log_trampoline,
            const_cast<void *>(static_cast<const void *>(held.get()))));
        log_ = std::move(held);
        return *this;
    }

    /** The C handle (NULL once moved from). */
    const FeishuClientOptions *get() const noexcept { return raw_; }

private:
    friend class Client;

    static void check(std::int32_t rc)
    {
        if (rc != FEISHU_OK)
            throw Error(detail::last_error());
    }
    static void check(bool ok, const char *message)
    {
        if (!ok)
            throw Error(ErrorInfo::local(FEISHU_ERR_INVALID_ARGUMENT, message));
    }

    FeishuClientOptions *raw_;
    std::shared_ptr<const LogFunction> log_;
};

/**
 * A cancel handle for waits (FeishuCancel). trigger() is permanent, thread-safe,
 * and ends every wait using the handle within milliseconds. The handle must
 * outlive the waits that use it. Move-only; a moved-from handle does nothing.
 */
class Cancel {
public:
    Cancel() : raw_(feishu_cancel_new())
    {
        if (raw_ == nullptr)
            throw std::bad_alloc();
    }
    ~Cancel() { feishu_cancel_free(raw_); }
    Cancel(Cancel &&other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
    Cancel &operator=(Cancel &&other) noexcept
    {
        if (this != &other) {
            feishu_cancel_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
        }
        return *this;
    }
    Cancel(const Cancel &) = delete;
    Cancel &operator=(const Cancel &) = delete;

    void trigger() const noexcept { feishu_cancel_trigger(raw_); }

    const FeishuCancel *get() const noexcept { return raw_; }

private:
    FeishuCancel *raw_;
};

/**
 * A client (FeishuClient): its own configuration and keep-alive pool.
 * Thread-safe (all methods are const); move-only. A moved-from client is safe
 * to destroy, and calls on it fail with FEISHU_ERR_INVALID_ARGUMENT.
 */
class Client {
public:
    /** Builds a client from options (which may be destroyed afterwards). Throws feishu::Error. */
    explicit Client(const Options &options) : raw_(nullptr), log_(options.log_)
    {
        if (options.raw_ == nullptr) // NULL options would mean "from the environment"
            throw Error(ErrorInfo::local(FEISHU_ERR_INVALID_ARGUMENT,
                                         "the options were moved from"));
        FeishuError err = FeishuError();
        raw_ = feishu_client_new(options.raw_, &err);
        if (raw_ == nullptr)
            throw Error(ErrorInfo(err));
    }

    /** Configured like the default client: FEISHU_BASE_URL, FEISHU_TIMEOUT_MS, FEISHU_CA_FILE, proxies. */
    static Client from_env()
    {
        FeishuError err = FeishuError();
        FeishuClient *raw = feishu_client_new(nullptr, &err);
        if (raw == nullptr)
            throw Error(ErrorInfo(err));
        return Client(raw);
    }

    ~Client() { feishu_client_free(raw_); }
    Client(Client &&other) noexcept
        : raw_(std::exchange(other.raw_, nullptr)), log_(std::move(other.log_))
    {
    }
    Client &operator=(Client &&other) noexcept
    {
        if (this != &other) {
            feishu_client_free(raw_);
            raw_ = std::exchange(other.raw_, nullptr);
            log_ = std::move(other.log_);
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    /**
     * The task's status. An empty token means the client's managed
     * tenant_access_token (needs app credentials). Throws feishu::Error.
     */
    Status task_check(std::string_view token, std::string_view task_id) const
    {
        ErrorInfo error;
        const Status status = check_impl(token, task_id, error);
        if (!error.ok())
            throw Error(error);
        return status;
    }

    /** task_check without exceptions. */
    Result<Status> try_task_check(std::string_view token, std::string_view task_id) const noexcept
    {
        try {
            ErrorInfo error;
            const Status status = check_impl(token, task_id, error);
            if (!error.ok())
                return error;
            return status;
        } catch (...) { // std::bad_alloc from a string copy
            return ErrorInfo::local(FEISHU_ERR_INTERNAL, "out of memory");
        }
    }

    /**
     * Polls until the task is success or fail and returns that status. Throws
     * feishu::Error on failure: is_timeout() when `timeout` passed,
     * is_cancelled() for `cancel` or a progress callback returning true (both
     * with last_status()), or the failure that ended the wait. An exception
     * thrown by `progress` stops the wait and is rethrown here.
     */
    Status wait(std::string_view token, std::string_view task_id, std::chrono::milliseconds timeout,
                const Cancel *cancel = nullptr, Progress progress = {}) const
    {
        ErrorInfo error;
        std::exception_ptr thrown;
        const Status status = wait_impl(token, task_id, timeout, cancel, progress, error, thrown);
        if (thrown)
            std::rethrow_exception(thrown);
        if (!error.ok())
            throw Error(error);
        return status;
    }

    /** wait without exceptions; a progress callback that throws counts as a cancel. */
    Result<Status> try_wait(std::string_view token, std::string_view task_id,
                            std::chrono::milliseconds timeout, const Cancel *cancel = nullptr,
                            Progress progress = {}) const noexcept
    {
        try {
            ErrorInfo error;
            std::exception_ptr thrown;
            const Status status =
                wait_impl(token, task_id, timeout, cancel, progress, error, thrown);
            if (thrown) {
                FeishuError raw = error.raw();
                std::snprintf(raw.message, sizeof raw.message,
                              "the progress callback threw an exception; the wait was stopped");
                return ErrorInfo(raw, error.last_status());
            }
            if (!error.ok())
                return error;
            return status;
        } catch (...) {
            return ErrorInfo::local(FEISHU_ERR_INTERNAL, "out of memory");
        }
    }

    /*
     * Starting the task: move and remove (feishu_client_move, feishu_client_delete).
     *
     * Each returns the task id of an asynchronous operation (a folder: pass it to
     * wait() or task_check()), or std::nullopt when the platform finished at once
     * (a file, or a folder already in place). An empty token means the client's
     * managed tenant_access_token. `file_type` is the platform's type word of
     * `file_token` ("folder", "file", "docx", "doc", "sheet", "bitable",
     * "mindnote", "slides", "shortcut", ...: lowercase ASCII letters and '_', at
     * most 32 bytes); the tokens are non-empty visible ASCII, at most 256 bytes.
     *
     * Write limits: the platform allows these calls no concurrency and 5 per
     * second. The client keeps them: two writes with the same token never
     * overlap (a later one waits its turn, in arrival order, on any thread), at
     * most 5 start per second per token, and the platform's 1061045 ("retry
     * later") is waited out and retried, all within the client's call timeout
     * (a write that could not start by then is is_timeout(), unsent).
     * task_check() and wait() are never held back by writes.
     *
     * Write safety: a write is never sent twice when the first may have been
     * applied. A failure once the request was sent (a timeout while waiting for
     * the answer, a reset, a 5xx such as an HTML 502 or 1061001) has a message
     * saying "the operation may have been applied: check before repeating it".
     *
     * Errors (feishu::Error, or the ErrorInfo of the try_* forms):
     * is_invalid_argument() for bad input (also an embedded NUL; nothing sent),
     * is_platform() with the platform's code (1061002 params error, 1061003 not
     * found, 1061004 forbidden, 1061007 already deleted, 1061045 retry later
     * when the deadline ran out, 1062501 no permission, 1062507 more than 1,500
     * items in the folder, 99991400 rate limited, 99991403 monthly quota spent,
     * ...), is_network(), is_timeout(), is_http(), is_protocol() (also a task id
     * that does not fit FEISHU_TASK_ID_SIZE: the platform accepted the
     * operation, and the message quotes the id).
     */

    /** Moves `file_token` into the folder `folder_token`; its task id, or std::nullopt (done at once). Throws feishu::Error. */
    std::optional<std::string> move(std::string_view token, std::string_view file_token,
                                    std::string_view file_type,
                                    std::string_view folder_token) const
    {
        ErrorInfo error;
        std::optional<std::string> id = write_impl(token, file_token, file_type, &folder_token, error);
        if (!error.ok())
            throw Error(error);
        return id;
    }

    /** Deletes `file_token` (to the recycle bin); its task id (a folder), or std::nullopt (done at once). Throws feishu::Error. */
    std::optional<std::string> remove(std::string_view token, std::string_view file_token,
                                      std::string_view file_type) const
    {
        ErrorInfo error;
        std::optional<std::string> id = write_impl(token, file_token, file_type, nullptr, error);
        if (!error.ok())
            throw Error(error);
        return id;
    }

    /** move without exceptions: `*r` is the task id or std::nullopt. */
    Result<std::optional<std::string>> try_move(std::string_view token, std::string_view file_token,
                                                std::string_view file_type,
                                                std::string_view folder_token) const noexcept
    {
        return try_write(token, file_token, file_type, &folder_token);
    }

    /** remove without exceptions: `*r` is the task id or std::nullopt. */
    Result<std::optional<std::string>> try_remove(std::string_view token,
                                                  std::string_view file_token,
                                                  std::string_view file_type) const noexcept
    {
        return try_write(token, file_token, file_type, nullptr);
    }

    /**
     * move, then, for an asynchronous move, wait() until the task has finished.
     * Returns Status::Success (also when the move was done at once) or
     * Status::Fail (the task failed). `timeout`, `cancel` and `progress` are the
     * wait's (the move itself is bounded by the client's call timeout; a
     * timeout <= 0 is is_invalid_argument() before anything is sent).
     *
     * Throws feishu::Error: the move's failure (task_id() empty), or the
     * wait's once the move has started (task_id() holds the task id, so that
     * wait() can resume; do not move again). An exception thrown by `progress`
     * is rethrown as itself.
     */
    Status move_and_wait(std::string_view token, std::string_view file_token,
                         std::string_view file_type, std::string_view folder_token,
                         std::chrono::milliseconds timeout, const Cancel *cancel = nullptr,
                         Progress progress = {}) const
    {
        return and_wait(token, file_token, file_type, &folder_token, timeout, cancel, progress);
    }

    /** remove, then, for a folder, wait() until the task has finished; as move_and_wait. */
    Status remove_and_wait(std::string_view token, std::string_view file_token,
                           std::string_view file_type, std::chrono::milliseconds timeout,
                           const Cancel *cancel = nullptr, Progress progress = {}) const
    {
        return and_wait(token, file_token, file_type, nullptr, timeout, cancel, progress);
    }

    /** move_and_wait without exceptions (error().task_id() as there; a throwing progress counts as a cancel). */
    Result<Status> try_move_and_wait(std::string_view token, std::string_view file_token,
                                     std::string_view file_type, std::string_view folder_token,
                                     std::chrono::milliseconds timeout,
                                     const Cancel *cancel = nullptr,
                                     Progress progress = {}) const noexcept
    {
        return try_and_wait(token, file_token, file_type, &folder_token, timeout, cancel,
                            progress);
    }

    /** remove_and_wait without exceptions. */
    Result<Status> try_remove_and_wait(std::string_view token, std::string_view file_token,
                                       std::string_view file_type,
                                       std::chrono::milliseconds timeout,
                                       const Cancel *cancel = nullptr,
                                       Progress progress = {}) const noexcept
    {
        return try_and_wait(token, file_token, file_type, nullptr, timeout, cancel, progress);
    }

    /** The C handle (NULL once moved from). */
    const FeishuClient *get() const noexcept { return raw_; }

private:
    explicit Client(FeishuClient *raw) noexcept : raw_(raw) {}

    /* A move (folder_token != nullptr) or a delete: the task id, or nullopt for
     * "done at once" and for a failure (then `error` says which). */
    std::optional<std::string> write_impl(std::string_view token, std::string_view file_token,
                                          std::string_view file_type,
                                          const std::string_view *folder_token,
                                          ErrorInfo &error) const
    {
        std::string tok, file, type, folder;
        const char *bad = nullptr;
        if (!detail::c_copy(token, tok))
            bad = "token contains a NUL byte; nothing was sent";
        else if (!detail::c_copy(file_token, file))
            bad = "file_token contains a NUL byte; nothing was sent";
        else if (!detail::c_copy(file_type, type))
            bad = "file_type contains a NUL byte; nothing was sent";
        else if (folder_token != nullptr && !detail::c_copy(*folder_token, folder))
            bad = "folder_token contains a NUL byte; nothing was sent";
        if (bad != nullptr) {
            error = ErrorInfo::local(FEISHU_ERR_INVALID_ARGUMENT, bad);
            return std::nullopt;
        }
        char out[FEISHU_TASK_ID_SIZE] = {};
        FeishuError err = FeishuError();
        const char *ctoken = token.empty() ? nullptr : tok.c_str();
        const std::int32_t rc =
            folder_token != nullptr
                ? feishu_client_move(raw_, ctoken, file.c_str(), type.c_str(), folder.c_str(),
                                     out, &err)
                : feishu_client_delete(raw_, ctoken, file.c_str(), type.c_str(), out, &err);
        if (rc != FEISHU_OK) {
            err.code = rc;
            error = ErrorInfo(err);
            return std::nullopt;
        }
        out[sizeof out - 1] = '\0';
        if (out[0] == '\0')
            return std::nullopt;
        return std::string(out);
    }

    Result<std::optional<std::string>> try_write(std::string_view token,
                                                 std::string_view file_token,
                                                 std::string_view file_type,
                                                 const std::string_view *folder_token) const noexcept
    {
        try {
            ErrorInfo error;
            std::optional<std::string> id =
                write_impl(token, file_token, file_type, folder_token, error);
            if (!error.ok())
                return error;
            return Result<std::optional<std::string>>(std::move(id));
        } catch (...) { // std::bad_alloc from a string copy
            return ErrorInfo::local(FEISHU_ERR_INTERNAL, "out of memory");
        }
    }

    /* The write, then the wait: `status` on success, else `error` (with the task id
     * once the operation has started) and perhaps `thrown` (from progress). */
    Status and_wait_impl(std::string_view token, std::string_view file_token,
                         std::string_view file_type, const std::string_view *folder_token,
                         std::chrono::milliseconds timeout, const Cancel *cancel,
                         const Progress &progress, ErrorInfo &error,
                         std::exception_ptr &thrown) const
    {
        if (detail::ms32(timeout) == 0) { // checked before the write is sent
            error = ErrorInfo::local(FEISHU_ERR_INVALID_ARGUMENT,
                                     "the wait's timeout must be at least 1 ms; nothing was sent");
            return Status::Unknown;
        }
        const std::optional<std::string> id =
            write_impl(token, file_token, file_type, folder_token, error);
        if (!error.ok())
            return Status::Unknown;
        if (!id)
            return Status::Success; // done at once
        const Status status = wait_impl(token, *id, timeout, cancel, progress, error, thrown);
        if (!error.ok())
            error = error.with_task_id(*id);
        return status;
    }

    Status and_wait(std::string_view token, std::string_view file_token,
                    std::string_view file_type, const std::string_view *folder_token,
                    std::chrono::milliseconds timeout, const Cancel *cancel,
                    const Progress &progress) const
    {
        ErrorInfo error;
        std::exception_ptr thrown;
        const Status status = and_wait_impl(token, file_token, file_type, folder_token, timeout,
                                            cancel, progress, error, thrown);
        if (thrown)
            std::rethrow_exception(thrown);
        if (!error.ok())
            throw Error(error);
        return status;
    }

    Result<Status> try_and_wait(std::string_view token, std::string_view file_token,
                                std::string_view file_type, const std::string_view *folder_token,
                                std::chrono::milliseconds timeout, const Cancel *cancel,
                                const Progress &progress) const noexcept
    {
        try {
            ErrorInfo error;
            std::exception_ptr thrown;
            const Status status = and_wait_impl(token, file_token, file_type, folder_token,
                                                timeout, cancel, progress, error, thrown);
            if (thrown) {
                FeishuError raw = error.raw();
                std::snprintf(raw.message, sizeof raw.message,
                              "the progress callback threw an exception; the wait was stopped");
                return ErrorInfo(raw, error.last_status()).with_task_id(error.task_id());
            }
            if (!error.ok())
                return error;
            return status;
        } catch (...) {
            return ErrorInfo::local(FEISHU_ERR_INTERNAL, "out of memory");
        }
    }

    static bool strings(std::string_view token, std::string_view task_id, std::string &tok,
                        std::string &id, ErrorInfo &error)
    {
        if (!detail::c_copy(token, tok)) {
            error = ErrorInfo::local(FEISHU_ERR_INVALID_ARGUMENT,
                                     "token contains a NUL byte; nothing was sent");
            return false;
        }
        if (!detail::c_copy(task_id, id)) {
            error = ErrorInfo::local(FEISHU_ERR_INVALID_ARGUMENT,
                                     "task_id contains a NUL byte; nothing was sent");
            return false;
        }
        return true;
    }

    Status check_impl(std::string_view token, std::string_view task_id, ErrorInfo &error) const
    {
        std::string tok, id;
        if (!strings(token, task_id, tok, id, error))
            return Status::Unknown;
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        FeishuError err = FeishuError();
        const std::int32_t rc = feishu_client_task_check(
            raw_, token.empty() ? nullptr : tok.c_str(), id.c_str(), &status, &err);
        if (rc != FEISHU_OK) {
            err.code = rc;
            error = ErrorInfo(err);
            return Status::Unknown;
        }
        return static_cast<Status>(status);
    }

    Status wait_impl(std::string_view token, std::string_view task_id,
                     std::chrono::milliseconds timeout, const Cancel *cancel,
                     const Progress &progress, ErrorInfo &error, std::exception_ptr &thrown) const
    {
        std::string tok, id;
        if (!strings(token, task_id, tok, id, error))
            return Status::Unknown;
        detail::ProgressState state{&progress, nullptr};
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        FeishuError err = FeishuError();
        const std::int32_t rc = feishu_client_task_wait(
            raw_, token.empty() ? nullptr : tok.c_str(), id.c_str(), detail::ms32(timeout),
            cancel != nullptr ? cancel->get() : nullptr,
            progress ? detail::feishu_cpp_progress_trampoline : nullptr,
            progress ? &state : nullptr, &status, &err);
        thrown = state.thrown;
        if (rc != FEISHU_OK) {
            err.code = rc;
            error = ErrorInfo(err, static_cast<Status>(status));
            return Status::Unknown;
        }
        return static_cast<Status>(status);
    }

    FeishuClient *raw_;
    std::shared_ptr<const LogFunction> log_; // the log callback's target lives as long as the client
};

} // namespace feishu

#endif /* FEISHU_TASK_HPP */

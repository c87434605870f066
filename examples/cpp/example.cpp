// example: print the status of Feishu drive tasks, or wait for them, with the C++ wrapper;
// or start them: move or delete files and folders (then wait for a folder's task).
//
//   FEISHU_TOKEN=t-xxxx ./example 7360595374803812356 [more task ids...]
//   FEISHU_TOKEN=t-xxxx ./example --wait 60 7360595374803812356
//   FEISHU_APP_ID=cli_xxx FEISHU_APP_SECRET=xxx ./example 7360595374803812356
//   FEISHU_TOKEN=t-xxxx ./example [--wait 60] --move folder fldDestination fldToken [more...]
//   FEISHU_TOKEN=t-xxxx ./example [--wait 60] --delete docx doxToken [more...]
//
// --move TYPE FOLDER / --delete TYPE: each argument is a file token of that type (folder,
// file, docx, sheet, ...). A file is moved or deleted at once; a folder gets a task id,
// which is printed and, with --wait, waited for.
//
// FEISHU_BASE_URL selects another host (e.g. https://open.larksuite.com). The token
// comes from the environment so it never shows up in `ps` or shell history; with
// FEISHU_APP_ID and FEISHU_APP_SECRET instead, the library fetches the app's token.
//
// Exit status: 0 when every task was checked (or finished, with --wait; or every
// move or delete succeeded), 1 when any failed, 2 on a usage error.
//
// Build (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Iinclude -Iexamples/cpp examples/cpp/example.cpp -Ltarget/release
//       -lfeishu_task -Wl,-rpath,"$PWD/target/release" -o example
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "feishu_task.hpp"

namespace {

std::string env(const char *name)
{
    const char *value = std::getenv(name);
    return value != nullptr ? value : "";
}

const char *explain(feishu::Status status)
{
    switch (status) {
    case feishu::Status::Success: return "success (the task has finished)";
    case feishu::Status::Fail: return "fail (the task has failed)";
    case feishu::Status::Process: return "process (still running)";
    case feishu::Status::Unknown: break;
    }
    return "no answer (retrying)";
}

int usage(const char *argv0)
{
    std::cerr << "usage: " << argv0 << " [--wait SECONDS] <task_id> [task_id...]\n"
              << "       " << argv0
              << " [--wait SECONDS] --move TYPE FOLDER_TOKEN <file_token> [file_token...]\n"
              << "       " << argv0 << " [--wait SECONDS] --delete TYPE <file_token> [file_token...]\n"
              << "  with FEISHU_TOKEN=<access token>, or FEISHU_APP_ID and FEISHU_APP_SECRET\n";
    return 2;
}

void print_error(const std::string &what, const feishu::Error &e)
{
    // code() > 0 is the platform's own code; < 0 a local failure.
    std::printf("%s: error %ld (%.*s): %.*s", what.c_str(), static_cast<long>(e.code()),
                static_cast<int>(e.description().size()), e.description().data(),
                static_cast<int>(e.message().size()), e.message().data());
    if (e.http_status() != 0)
        std::printf(" [HTTP %d]", e.http_status());
    if (!e.log_id().empty())
        std::printf(" [log id %.*s]", static_cast<int>(e.log_id().size()), e.log_id().data());
    if (e.retry_after().count() != 0)
        std::printf(" [retry after %lld ms]", static_cast<long long>(e.retry_after().count()));
    std::printf("\n");
}

} // namespace

int main(int argc, char **argv)
{
    const std::string token = env("FEISHU_TOKEN");
    const std::string app_id = env("FEISHU_APP_ID");
    long wait_s = 0;
    int first = 1;

    if (argc > 2 && std::string_view(argv[1]) == "--wait") {
        wait_s = std::strtol(argv[2], nullptr, 10);
        first = 3;
        if (wait_s <= 0 || wait_s > 86400)
            return usage(argv[0]);
    }
    // --move TYPE FOLDER_TOKEN / --delete TYPE: start the tasks instead of checking them.
    std::string op, file_type, folder_token;
    if (first < argc && (std::string_view(argv[first]) == "--move" ||
                         std::string_view(argv[first]) == "--delete")) {
        op = argv[first] + 2;
        const int params = op == "move" ? 2 : 1;
        if (first + params >= argc)
            return usage(argv[0]);
        file_type = argv[first + 1];
        if (op == "move")
            folder_token = argv[first + 2];
        first += 1 + params;
    }
    if (first >= argc)
        return usage(argv[0]);
    if (token.empty() && app_id.empty()) {
        std::cerr << argv[0] << ": set FEISHU_TOKEN to a tenant_access_token or "
                  << "user_access_token, or FEISHU_APP_ID and FEISHU_APP_SECRET\n";
        return 2;
    }

    std::optional<feishu::Client> client;
    try {
        feishu::Options options;
        if (!env("FEISHU_BASE_URL").empty())
            options.base_url(env("FEISHU_BASE_URL"));
        if (token.empty())
            options.app_credentials(app_id, env("FEISHU_APP_SECRET"));
        client.emplace(options);
    } catch (const feishu::Error &e) {
        std::cerr << argv[0] << ": cannot configure the client: " << e.message() << "\n";
        return 1;
    }

    // One progress line per poll; returning true would stop the wait.
    auto progress_for = [](const std::string &task_id) {
        return [task_id](feishu::Status s, std::uint32_t polls, std::chrono::milliseconds elapsed) {
            std::printf("  %s: poll %u at %lld.%lld s: %s\n", task_id.c_str(),
                        static_cast<unsigned>(polls),
                        static_cast<long long>(elapsed.count() / 1000),
                        static_cast<long long>(elapsed.count() % 1000 / 100), explain(s));
            std::fflush(stdout);
            return false;
        };
    };

    int failures = 0;
    for (int i = first; !op.empty() && i < argc; i++) {
        const std::string file_token = argv[i];
        try {
            // A task id for a folder; std::nullopt when the platform finished at once.
            // (move_and_wait / remove_and_wait do both steps in one call.)
            const std::optional<std::string> task_id =
                op == "move" ? client->move(token, file_token, file_type, folder_token)
                             : client->remove(token, file_token, file_type);
            if (!task_id) {
                std::printf("%s: %s (done at once)\n", file_token.c_str(),
                            op == "move" ? "moved" : "deleted");
                continue;
            }
            std::printf("%s: task %s started\n", file_token.c_str(), task_id->c_str());
            if (wait_s != 0) {
                const feishu::Status status = client->wait(
                    token, *task_id, std::chrono::seconds(wait_s), nullptr, progress_for(*task_id));
                std::printf("%s: %s\n", task_id->c_str(), explain(status));
                if (status != feishu::Status::Success)
                    failures++;
            }
        } catch (const feishu::Error &e) {
            failures++;
            // A failure once the request was sent says "may have been applied": check
            // the item before repeating the operation.
            print_error(file_token, e);
        }
    }
    for (int i = first; op.empty() && i < argc; i++) {
        const std::string task_id = argv[i];
        try {
            feishu::Status status;
            if (wait_s != 0) {
                status = client->wait(token, task_id, std::chrono::seconds(wait_s), nullptr,
                                      progress_for(task_id));
            } else {
                status = client->task_check(token, task_id); // empty token: the app's own
            }
            std::printf("%s: %s\n", task_id.c_str(), explain(status));
        } catch (const feishu::Error &e) {
            failures++;
            print_error(task_id, e);
        }
    }
    return failures == 0 ? 0 : 1;
}

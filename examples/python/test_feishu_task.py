"""Tests of the ctypes binding against the mock Feishu server of the test suite.

    FEISHU_TASK_LIB=target/debug/libfeishu_task.so FEISHU_TEST_BASE_URL=http://127.0.0.1:PORT \
    FEISHU_TEST_APP_ID=cli_py FEISHU_TEST_APP_SECRET=py-secret python3 -m unittest -v test_feishu_task

Skipped when FEISHU_TEST_BASE_URL is unset. tests/native/python_binding.rs runs it with a fresh
mock server (cargo test --test native python_binding). Standard library only.
"""

import json
import math
import os
import pickle
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import feishu_task
from feishu_task import Cancel, Client, FeishuTaskError, LogLevel, Status

BASE_URL = os.environ.get("FEISHU_TEST_BASE_URL")
TOKEN = "t-SECRET0123456789abcdef"  # must never appear in a message or log line


def mock(method, path):
    """Calls an admin endpoint of the mock server; returns its JSON answer."""
    req = urllib.request.Request(BASE_URL + path, data=b"" if method == "POST" else None, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def mock_stat(name):
    """One number of GET /_mock/stats: requests, connections, token_fetches, limited,
    writes, write_conflicts, write_rate_limited."""
    return mock("GET", "/_mock/stats")[name]


FILES = "/open-apis/drive/v1/files/"
APPLIED = "the operation may have been applied"
TASK_ID = re.compile(r"^\d{19}$")  # the mock's task ids


def writes_of(file_token):
    """The recorded drive writes (moves and deletes) of ``file_token`` (GET /_mock/requests)."""
    found = []
    for r in mock("GET", "/_mock/requests"):
        path = r["path"]
        if not path.startswith(FILES) or r["method"] not in ("POST", "DELETE"):
            continue
        rest = path[len(FILES):]
        if r["method"] == "POST":
            rest = rest[: -len("/move")] if rest.endswith("/move") else None
        if rest == file_token:
            found.append(r)
    return found


def write_stats():
    stats = mock("GET", "/_mock/stats")
    return {k: stats[k] for k in ("requests", "writes", "write_conflicts", "write_rate_limited")}


def client(**kwargs):
    options = {"base_url": BASE_URL, "connect_timeout": 2, "timeout": 5, "proxy": None}
    options.update(kwargs)
    return Client(**options)


@unittest.skipUnless(BASE_URL, "FEISHU_TEST_BASE_URL is not set (no mock server)")
class FeishuTaskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    # ------------------------------------------------------------- basics

    def test_version_and_codes(self):
        want = os.environ.get("EXPECT_VERSION")
        self.assertRegex(feishu_task.version(), r"^\d+\.\d+\.\d+$")
        if want:
            self.assertEqual(feishu_task.version(), want)
        self.assertIn("not found", feishu_task.strerror(1061003))
        self.assertIn("deadline", feishu_task.strerror(feishu_task.Code.TIMEOUT))
        self.assertEqual(int(Status.PROCESS), 3)
        self.assertEqual(int(LogLevel.WARN), 2)
        self.assertEqual(feishu_task.BASE_URL_LARK, "https://open.larksuite.com")

    def test_statuses(self):
        c = self.client
        self.assertIs(c.task_check("success", token=TOKEN), Status.SUCCESS)
        self.assertIs(c.task_check("fail", TOKEN), Status.FAIL)
        self.assertIs(c.task_check("process", TOKEN), Status.PROCESS)
        self.assertIs(c.task_check("7360595374803812356", TOKEN), Status.SUCCESS)
        self.assertIs(c.task_check(b"success", token=TOKEN.encode()), Status.SUCCESS)

    def test_status_spellings(self):
        # The platform's other spellings: "failed" is FAIL, "pending" PROCESS.
        c = self.client
        self.assertIs(c.task_check("failed", TOKEN), Status.FAIL)
        self.assertIs(c.task_check("pending", TOKEN), Status.PROCESS)
        self.assertIs(c.wait("failed", TOKEN, timeout=5), Status.FAIL)
        with self.assertRaises(feishu_task.FeishuTimeoutError) as cm:
            c.wait("pending", TOKEN, timeout=0.4)
        self.assertIs(cm.exception.last_status, Status.PROCESS)

    def test_from_env(self):
        # The harness sets FEISHU_BASE_URL to the mock server too.
        if os.environ.get("FEISHU_BASE_URL") != BASE_URL:
            self.skipTest("FEISHU_BASE_URL does not name the mock server")
        with Client.from_env() as c:
            self.assertIs(c.task_check("fail", TOKEN), Status.FAIL)
        self.assertTrue(c.closed)

    # ------------------------------------------------------------- errors

    def test_platform_error_attributes(self):
        with self.assertRaises(feishu_task.PlatformError) as cm:
            self.client.task_check("err-1061003", TOKEN)
        e = cm.exception
        self.assertIsInstance(e, FeishuTaskError)
        self.assertEqual(e.code, 1061003)
        self.assertEqual(e.kind, "platform")
        self.assertEqual(e.http_status, 404)
        self.assertRegex(e.log_id, r"^\d{30}$")
        self.assertEqual(e.retry_after, 0.0)
        self.assertIn("not found", e.message)
        self.assertIn("not found (the task, file or folder)", e.description)
        self.assertEqual(e.last_status, Status.UNKNOWN)
        text = str(e)
        for part in ("not found", "1061003", "[HTTP 404]", "[log id " + e.log_id + "]"):
            self.assertIn(part, text)
        self.assertNotIn("SECRET", text)
        # Picklable (e.g. across multiprocessing), attributes intact.
        copy = pickle.loads(pickle.dumps(e))
        self.assertIs(type(copy), feishu_task.PlatformError)
        self.assertEqual((copy.code, copy.log_id, copy.http_status), (e.code, e.log_id, 404))

    def test_rate_limit_advice(self):
        # A deadline shorter than the 3 s advice: the 429 is not retried.
        with client(timeout=1.5) as c:
            with self.assertRaises(feishu_task.PlatformError) as cm:
                c.task_check("rate-limited", TOKEN)
        e = cm.exception
        self.assertEqual((e.code, e.http_status), (99991400, 429))
        self.assertEqual(e.retry_after, 3.0)
        self.assertIn("[retry after 3 s]", str(e))

    def test_local_error_kinds(self):
        cases = [
            ("html-502", feishu_task.HttpError, feishu_task.Code.HTTP, 502),
            ("redirect", feishu_task.HttpError, feishu_task.Code.HTTP, 302),
            ("garbage", feishu_task.ProtocolError, feishu_task.Code.PROTOCOL, 200),
            ("status-unknown", feishu_task.ProtocolError, feishu_task.Code.PROTOCOL, 200),
            ("reset", feishu_task.NetworkError, feishu_task.Code.NETWORK, 0),
            ("token-expired", feishu_task.PlatformError, 99991663, 200),
        ]
        for task_id, cls, code, http in cases:
            with self.subTest(task_id=task_id):
                with self.assertRaises(cls) as cm:
                    self.client.task_check(task_id, TOKEN)
                self.assertEqual(cm.exception.code, code)
                self.assertEqual(cm.exception.http_status, http)
                self.assertTrue(cm.exception.message)

    def test_timeout(self):
        with client(connect_timeout=0.3, timeout=0.3, max_retries=0) as c:
            start = time.monotonic()
            with self.assertRaises(feishu_task.FeishuTimeoutError) as cm:
                c.task_check("stall", TOKEN)
            took = time.monotonic() - start
        e = cm.exception
        self.assertIsInstance(e, TimeoutError)  # the builtin, too
        self.assertEqual((e.code, e.kind, e.http_status), (feishu_task.Code.TIMEOUT, "timeout", 0))
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 5.0)

    def test_invalid_input(self):
        c = self.client
        bad = [
            ("", TOKEN),
            ("success", "Bearer t-abc"),
            ("success", "t-with space"),
            ("success", "t-line\r\n"),
            ("success", ""),  # an empty token is not "the managed one": None is
            ("x" * 1025, TOKEN),
            ("success", "t" * 4097),
            ("succ\0ess", TOKEN),  # an embedded NUL would cut the string in C
            ("success", "t-SECRET\0x"),
            ("\udcff", TOKEN),  # not encodable as UTF-8
            ("success", None),  # no app credentials: no managed token
        ]
        for task_id, token in bad:
            with self.subTest(task_id=task_id[:20], token=(token or "")[:20]):
                with self.assertRaises(feishu_task.InvalidArgumentError) as cm:
                    c.task_check(task_id, token)
                e = cm.exception
                self.assertIsInstance(e, ValueError)
                self.assertEqual((e.code, e.kind), (-1, "invalid_argument"))
                self.assertTrue(e.message)
                self.assertNotIn("SECRET", str(e))
        with self.assertRaises(TypeError):
            c.task_check(42, TOKEN)
        with self.assertRaises(feishu_task.InvalidArgumentError):
            c.wait("success", TOKEN, timeout=0)
        with self.assertRaises(feishu_task.InvalidArgumentError):
            c.wait("success", TOKEN, timeout=-1)
        with self.assertRaises(feishu_task.InvalidArgumentError):
            c.wait("", TOKEN, timeout=1)

    def test_invalid_options(self):
        cases = [
            dict(base_url="gopher://x"),
            dict(base_url="http://127.0.0.1:1/open-apis"),
            dict(base_url="http://a\0b"),
            dict(timeout=0),
            dict(connect_timeout=0),
            dict(timeout=float("nan")),
            dict(max_retries=11),
            dict(max_retries=-1),
            dict(proxy="socks5://u:hunter2@h:1"),
            dict(ca_file="/nonexistent/ca.pem"),
            dict(app_id="cli_x"),  # without a secret
            dict(app_id="", app_secret="secret"),
            dict(app_id="cli_x", app_secret="hunter2 with space"),
            dict(rate_limit=(5, 0)),
            dict(rate_limit=(5, -1)),
            dict(rate_limit=(5, float("nan"))),
            dict(rate_limit=(1000001, 1)),
            dict(rate_limit=(-1, 1)),
            dict(rate_limit=(2**32, 1)),
        ]
        for kwargs in cases:
            with self.subTest(**{k: repr(v) for k, v in kwargs.items()}):
                with self.assertRaises(feishu_task.InvalidArgumentError) as cm:
                    client(**kwargs)
                self.assertNotIn("hunter2", str(cm.exception))
        with self.assertRaises(feishu_task.InvalidArgumentError) as cm:
            client(base_url="gopher://x")
        self.assertIn("scheme", cm.exception.message)
        with self.assertRaises(TypeError):
            client(max_retries="2")
        with self.assertRaises(TypeError):
            client(log="not callable")
        for rate_limit in [5, (5,), (5, 1, 1), [5, 1], ("5", 1), (5, "1"), (True, 1), (5.0, 1)]:
            with self.subTest(rate_limit=rate_limit):
                with self.assertRaises(TypeError):
                    client(rate_limit=rate_limit)
        with self.assertRaises(feishu_task.InvalidArgumentError) as cm:
            client(rate_limit=(5, 0))
        self.assertIn("rate limit", cm.exception.message)

    # ------------------------------------------------------------- rate limit

    def test_rate_limit_values_accepted(self):
        for rate_limit in [(0, 0), (0, 1), (1, 0.0001), (1000000, 0.001), (3, 2.5), (1, 86400)]:
            with self.subTest(rate_limit=rate_limit):
                with client(rate_limit=rate_limit) as c:
                    self.assertIs(c.task_check("success", TOKEN), Status.SUCCESS)

    def test_rate_limit_spaces_calls(self):
        # 2 per second: the third call starts a second after the first.
        with client(rate_limit=(2, 1.0)) as c:
            start = time.monotonic()
            took = []
            for _ in range(3):
                self.assertIs(c.task_check("success", TOKEN), Status.SUCCESS)
                took.append(time.monotonic() - start)
        self.assertGreaterEqual(took[2], 0.9, took)

    def test_rate_limit_is_shared_by_threads(self):
        # 4 threads, one call each, 2 per second: the last starts a second in.
        results = []
        with client(rate_limit=(2, 1)) as c:
            start = time.monotonic()
            threads = [
                threading.Thread(target=lambda: results.append(c.task_check("fail", TOKEN)))
                for _ in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            took = time.monotonic() - start
        self.assertEqual(results, [Status.FAIL] * 4)
        self.assertGreaterEqual(took, 0.9)

    def test_rate_limit_counts_wait_polls(self):
        seen = []

        def progress(status, polls, elapsed):
            seen.append(elapsed)
            return polls == 3

        with client(rate_limit=(2, 1)) as c:
            start = time.monotonic()
            with self.assertRaises(feishu_task.CancelledError) as cm:
                c.wait("pending", TOKEN, timeout=20, progress=progress)
            took = time.monotonic() - start
        self.assertIs(cm.exception.last_status, Status.PROCESS)
        self.assertEqual(len(seen), 3)
        self.assertGreaterEqual(seen[2], 0.9, seen)
        self.assertGreaterEqual(took, 0.9)

    def test_rate_limit_deadline(self):
        # A call that cannot start before its deadline: a timeout, nothing sent.
        with client(rate_limit=(1, 60), connect_timeout=0.3, timeout=0.3) as c:
            self.assertIs(c.task_check("success", TOKEN), Status.SUCCESS)
            before = mock_stat("requests")
            with self.assertRaises(feishu_task.FeishuTimeoutError) as cm:
                c.task_check("success", TOKEN)
            self.assertEqual(mock_stat("requests"), before)
        e = cm.exception
        self.assertEqual((e.code, e.http_status), (feishu_task.Code.TIMEOUT, 0))
        self.assertIn("rate limit", e.message)
        self.assertNotIn("SECRET", str(e))

    def test_rate_limit_keeps_inside_the_gateways_window(self):
        # The mock gateway allows 3 requests per token in each fixed 1 s window.
        mock("POST", "/_mock/window?limit=3")
        self.addCleanup(mock, "POST", "/_mock/window?limit=0")
        limited = mock_stat("limited")
        with client(rate_limit=(2, 1), max_retries=0) as c:
            start = time.monotonic()
            for _ in range(6):
                self.assertIs(c.task_check("success", "t-py-window-limited"), Status.SUCCESS)
            self.assertGreaterEqual(time.monotonic() - start, 1.8)
        self.assertEqual(mock_stat("limited"), limited, "the gateway answered 429")
        # Without the declared limit the same gateway answers 429 (the check above can fail).
        codes = []
        with client(max_retries=0, timeout=0.3) as c:
            for _ in range(8):
                try:
                    c.task_check("success", "t-py-window-unlimited")
                except feishu_task.PlatformError as e:
                    codes.append(e.code)
        self.assertIn(99991400, codes)
        self.assertGreater(mock_stat("limited"), limited)

    # ------------------------------------------------------------- waiting

    def test_wait_with_progress(self):
        seen = []

        def progress(status, polls, elapsed):
            seen.append((status, polls, elapsed))

        status = self.client.wait("after-700ms", TOKEN, timeout=20, progress=progress)
        self.assertIs(status, Status.SUCCESS)
        self.assertGreaterEqual(len(seen), 2, seen)
        self.assertEqual(seen[0][:2], (Status.PROCESS, 1))
        self.assertIs(seen[-1][0], Status.SUCCESS)
        self.assertGreaterEqual(seen[-1][2], 0.6)
        self.assertEqual([p for _, p, _ in seen], list(range(1, len(seen) + 1)))
        self.assertTrue(all(isinstance(s, Status) for s, _, _ in seen))
        self.assertTrue(all(isinstance(e, float) for _, _, e in seen))

    def test_wait_outcomes(self):
        c = self.client
        self.assertIs(c.wait("fail", TOKEN, timeout=5), Status.FAIL)
        # A true value from progress stops the wait, with the last status seen.
        calls = []
        with self.assertRaises(feishu_task.CancelledError) as cm:
            c.wait("process", TOKEN, timeout=20, progress=lambda *a: calls.append(a) or len(calls) == 2)
        self.assertEqual(len(calls), 2)
        self.assertEqual(cm.exception.last_status, Status.PROCESS)
        # The wait's own deadline.
        start = time.monotonic()
        with self.assertRaises(feishu_task.FeishuTimeoutError) as cm:
            c.wait("process", TOKEN, timeout=0.5)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(cm.exception.last_status, Status.PROCESS)
        # A permanent failure ends it at once.
        with self.assertRaises(feishu_task.PlatformError) as cm:
            c.wait("err-1061003", TOKEN, timeout=5)
        self.assertEqual((cm.exception.code, cm.exception.last_status), (1061003, Status.UNKNOWN))

    def test_progress_exception_is_raised_after_the_call(self):
        class Boom(Exception):
            pass

        def progress(status, polls, elapsed):
            raise Boom("from progress")

        start = time.monotonic()
        with self.assertRaises(Boom) as cm:
            self.client.wait("process", TOKEN, timeout=20, progress=progress)
        self.assertLess(time.monotonic() - start, 5)  # it stopped the wait
        self.assertIsInstance(cm.exception.__context__, feishu_task.CancelledError)
        # Even KeyboardInterrupt does not unwind into C; it comes back after the call.
        with self.assertRaises(KeyboardInterrupt):
            self.client.wait("process", TOKEN, timeout=20, progress=lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        # The client is still fine.
        self.assertIs(self.client.task_check("success", TOKEN), Status.SUCCESS)

    def test_cancel_from_another_thread(self):
        cancel = Cancel()
        timer = threading.Timer(0.3, cancel.trigger)
        start = time.monotonic()
        timer.start()
        try:
            with self.assertRaises(feishu_task.CancelledError) as cm:
                self.client.wait("process", TOKEN, timeout=60, cancel=cancel)
        finally:
            timer.join()
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 5)
        self.assertEqual((cm.exception.code, cm.exception.kind), (-6, "cancelled"))
        self.assertEqual(cm.exception.last_status, Status.PROCESS)
        self.assertTrue(cancel.triggered)
        # Permanent: the next wait with it ends at once.
        with self.assertRaises(feishu_task.CancelledError):
            self.client.wait("process", TOKEN, timeout=60, cancel=cancel)
        cancel.trigger()
        cancel.close()
        cancel.trigger()  # a closed handle does nothing
        with self.assertRaises(ValueError):
            self.client.wait("process", TOKEN, timeout=60, cancel=cancel)
        with self.assertRaises(TypeError):
            self.client.wait("process", TOKEN, timeout=1, cancel=object())

    def test_one_cancel_many_waits(self):
        results = []
        with Cancel() as cancel:

            def waiter():
                try:
                    self.client.wait("process", TOKEN, timeout=60, cancel=cancel)
                except feishu_task.CancelledError as e:
                    results.append(e.code)

            threads = [threading.Thread(target=waiter) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.2)
            cancel.trigger()
            for t in threads:
                t.join(10)
        self.assertEqual(results, [-6] * 4)

    # ------------------------------------------------------------- managed token

    def test_managed_token(self):
        app_id = os.environ.get("FEISHU_TEST_APP_ID")
        app_secret = os.environ.get("FEISHU_TEST_APP_SECRET")
        if not (app_id and app_secret):
            self.skipTest("FEISHU_TEST_APP_ID / FEISHU_TEST_APP_SECRET not set")
        with client(app_id=app_id, app_secret=app_secret) as c:
            self.assertIs(c.task_check("success"), Status.SUCCESS)
            self.assertIs(c.task_check("fail", token=None), Status.FAIL)
            self.assertIs(c.wait("after-400ms", timeout=20), Status.SUCCESS)
            self.assertIs(c.task_check("process", TOKEN), Status.PROCESS)  # explicit wins
            with self.assertRaises(feishu_task.PlatformError) as cm:
                c.task_check("err-1061003")
            self.assertEqual(cm.exception.code, 1061003)
        with client(app_id=app_id, app_secret="wrong-secret-hunter2") as c:
            with self.assertRaises(feishu_task.PlatformError) as cm:
                c.task_check("success")
        e = cm.exception
        self.assertEqual(e.code, 10014)
        self.assertTrue(e.message.startswith("tenant_access_token request failed"), e.message)
        self.assertNotIn("hunter2", str(e))

    # ------------------------------------------------------------- starting a task

    def test_a_file_and_a_folder_in_place_are_done_at_once(self):
        c = self.client
        token = "t-SECRET-py-sync"
        before = mock_stat("writes")
        self.assertIsNone(c.move("boxPyFile", "file", "fldPyTarget", token=token))
        self.assertIsNone(c.move("doxPyFile", "docx", "fldPyTarget", token))
        self.assertIsNone(c.move("fldPyinplace", "folder", "fldPyTarget", token))
        self.assertIsNone(c.delete("shtPyFile", "sheet", token=token))
        self.assertIsNone(c.delete(b"boxPyFile", b"file", token.encode()))  # bytes too
        self.assertEqual(mock_stat("writes"), before + 5)
        # What went out: the path, the JSON body, the type in the query, the bearer.
        [moved] = writes_of("doxPyFile")
        self.assertEqual((moved["method"], moved["path"]), ("POST", FILES + "doxPyFile/move"))
        self.assertEqual(json.loads(moved["body"]), {"type": "docx", "folder_token": "fldPyTarget"})
        self.assertIn(["authorization", "Bearer " + token], [[k.lower(), v] for k, v in moved["headers"]])
        [deleted] = writes_of("shtPyFile")
        self.assertEqual((deleted["method"], deleted["raw_query"]), ("DELETE", "type=sheet"))
        # Start and wait: done at once is SUCCESS, without a poll.
        polls = []
        status = c.move_and_wait("boxPyFile", "file", "fldPyTarget", token, progress=lambda *a: polls.append(a))
        self.assertIs(status, Status.SUCCESS)
        self.assertIs(c.delete_and_wait("boxPyFile2", "file", token, timeout=5), Status.SUCCESS)
        self.assertEqual(polls, [])

    def test_a_folder_move_and_delete_start_a_task_that_a_wait_sees_finish(self):
        c = self.client
        token = "t-SECRET-py-async"
        task_id = c.move("fldPyMove", "folder", "fldPyTarget", token)
        self.assertIsInstance(task_id, str)
        self.assertRegex(task_id, TASK_ID)
        self.assertIn(c.task_check(task_id, token), (Status.PROCESS, Status.SUCCESS))
        seen = []
        status = c.wait(task_id, token, timeout=20, progress=lambda s, p, e: seen.append(s))
        self.assertIs(status, Status.SUCCESS)
        self.assertIs(seen[-1], Status.SUCCESS)
        task_id2 = c.delete("fldPyDelete", "folder", token)
        self.assertRegex(task_id2, TASK_ID)
        self.assertNotEqual(task_id, task_id2)
        self.assertIs(c.wait(task_id2, token, timeout=20), Status.SUCCESS)
        # Start and wait, in one call, with progress.
        seen = []
        status = c.move_and_wait(
            "fldPyMoveWait", "folder", "fldPyTarget", token, timeout=20,
            progress=lambda s, p, e: seen.append((s, p)),
        )
        self.assertIs(status, Status.SUCCESS)
        self.assertEqual(seen[0], (Status.PROCESS, 1))
        self.assertEqual(seen[-1][0], Status.SUCCESS)
        # A task that fails: FAIL, as wait() returns it.
        self.assertIs(c.delete_and_wait("fldPytask-fail", "folder", token, timeout=20), Status.FAIL)
        # The wait's own outcomes carry the task's id, to resume it.
        with self.assertRaises(feishu_task.CancelledError) as cm:
            c.delete_and_wait("fldPyCancelled", "folder", token, timeout=20, progress=lambda *a: True)
        self.assertRegex(cm.exception.task_id, TASK_ID)
        self.assertIs(cm.exception.last_status, Status.PROCESS)
        self.assertIs(c.wait(cm.exception.task_id, token, timeout=20), Status.SUCCESS)
        copy = pickle.loads(pickle.dumps(cm.exception))
        self.assertEqual(copy.task_id, cm.exception.task_id)

    def test_documented_write_errors_are_raised_with_their_code(self):
        c = self.client
        for code, http in [
            (1061003, 404),
            (1061004, 403),
            (1061007, 400),
            (1062507, 400),
            (99991403, 400),
        ]:
            for what in ("move", "delete"):
                with self.subTest(code=code, call=what):
                    file_token = f"err-{code}-py-{what}"
                    # A token each: one token's writes are paced at 5 per second.
                    token = f"t-SECRET-py-{code}-{what}"
                    before = mock_stat("writes")
                    with self.assertRaises(feishu_task.PlatformError) as cm:
                        if what == "move":
                            c.move(file_token, "folder", "fldPyTarget", token)
                        else:
                            c.delete(file_token, "folder", token)
                    e = cm.exception
                    self.assertEqual((e.code, e.kind, e.http_status), (code, "platform", http))
                    self.assertRegex(e.log_id, r"^\d{30}$")
                    self.assertIsNone(e.task_id)
                    self.assertTrue(e.message)
                    self.assertNotIn("SECRET", str(e))
                    self.assertNotIn(APPLIED, e.message)
                    self.assertEqual(mock_stat("writes"), before + 1, "sent once, not retried")
        with self.assertRaises(feishu_task.PlatformError) as cm:
            c.delete_and_wait("err-1061007-py-wait", "folder", "t-SECRET-py-errors")
        self.assertEqual((cm.exception.code, cm.exception.task_id), (1061007, None))

    def test_bad_write_input_is_rejected_and_nothing_is_sent(self):
        c = self.client
        token = "t-SECRET-py-bad"
        long = "f" * 257
        moves = [
            (("fld", "folder", "fldT"), ""),
            (("fld", "folder", "fldT"), "Bearer t-x"),
            (("fld", "folder", "fldT"), "t-with space"),
            (("fld", "folder", "fldT"), None),  # no app credentials: no managed token
            (("", "folder", "fldT"), token),
            (("fld a", "folder", "fldT"), token),
            (("fld\u00e9", "folder", "fldT"), token),
            (("fld\0x", "folder", "fldT"), token),
            (("\udcff", "folder", "fldT"), token),
            ((long, "folder", "fldT"), token),
            (("fld", "", "fldT"), token),
            (("fld", "Folder", "fldT"), token),
            (("fld", "doc-x", "fldT"), token),
            (("fld", "a" * 33, "fldT"), token),
            (("fld", "folder", ""), token),
            (("fld", "folder", long), token),
        ]
        before = write_stats()
        for (file_token, file_type, folder), tok in moves:
            with self.subTest(file_token=file_token[:20], file_type=file_type[:20], folder=folder[:20], token=tok):
                with self.assertRaises(feishu_task.InvalidArgumentError) as cm:
                    c.move(file_token, file_type, folder, tok)
                e = cm.exception
                self.assertIsInstance(e, ValueError)
                self.assertEqual((e.code, e.kind), (-1, "invalid_argument"))
                self.assertNotIn("SECRET", str(e))
                if folder == "fldT":
                    with self.assertRaises(feishu_task.InvalidArgumentError):
                        c.delete(file_token, file_type, tok)
                    with self.assertRaises(feishu_task.InvalidArgumentError):
                        c.delete_and_wait(file_token, file_type, tok, timeout=5)
        for args in [(42, "folder", "fldT"), ("fld", None, "fldT"), ("fld", "folder", None)]:
            with self.subTest(args=args):
                with self.assertRaises(TypeError):
                    c.move(*args, token=token)
        # What the wait would refuse is refused before the write.
        for timeout in (0, -1):
            with self.assertRaises(feishu_task.InvalidArgumentError):
                c.move_and_wait("fldPyBad", "folder", "fldT", token, timeout=timeout)
        with self.assertRaises(TypeError):
            c.delete_and_wait("fldPyBad", "folder", token, cancel=object())
        with self.assertRaises(TypeError):
            c.delete_and_wait("fldPyBad", "folder", token, progress="not callable")
        with Cancel() as cancel:
            cancel.trigger()
            with self.assertRaises(feishu_task.CancelledError) as cm:
                c.delete_and_wait("fldPyBad", "folder", token, cancel=cancel)
            self.assertIsNone(cm.exception.task_id)
        self.assertEqual(write_stats(), before, "something was sent")

    def test_writes_from_many_threads_with_one_token_take_turns(self):
        # 8 threads, one client, one token: the client never lets two writes of the
        # token overlap or start more than 5 in a second, so the platform (the mock)
        # never refuses one (1061045); the 6th starts a second after the first.
        token = "t-SECRET-py-threads"
        results = []
        errors = []
        before = write_stats()
        with client(timeout=30) as c:
            barrier = threading.Barrier(8)

            def run(i):
                barrier.wait()
                try:
                    if i % 2:
                        results.append(c.delete(f"fldPyThread{i}", "folder", token))
                    else:
                        results.append(c.move(f"fldPyThread{i}", "folder", "fldPyTarget", token))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            start = time.monotonic()
            threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            took = time.monotonic() - start
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 8)
        self.assertTrue(all(TASK_ID.match(r) for r in results), results)
        after = write_stats()
        self.assertEqual(after["writes"] - before["writes"], 8, "each sent once")
        self.assertEqual(after["write_conflicts"], before["write_conflicts"], "two writes overlapped")
        self.assertEqual(after["write_rate_limited"], before["write_rate_limited"], "over 5 a second")
        self.assertGreaterEqual(took, 0.9)

    def test_retry_later_is_waited_out_and_retried(self):
        # The mock allows one write a second: the second write gets 1061045, which the
        # client waits out and retries (max_retries does not bound it).
        token = "t-SECRET-py-retry-later"
        mock("POST", "/_mock/drive?write_limit=1")
        self.addCleanup(mock, "POST", "/_mock/drive?write_limit=5")
        before = write_stats()
        with client(timeout=10, max_retries=0) as c:
            start = time.monotonic()
            self.assertRegex(c.delete("fldPyLater1", "folder", token), TASK_ID)
            self.assertRegex(c.delete("fldPyLater2", "folder", token), TASK_ID)
            took = time.monotonic() - start
        after = write_stats()
        self.assertGreater(after["write_rate_limited"], before["write_rate_limited"])
        self.assertGreater(len(writes_of("fldPyLater2")), 1)
        self.assertGreaterEqual(took, 0.9)
        mock("POST", "/_mock/drive?write_limit=5")
        # Always 1061045: retried until the deadline, then raised.
        with client(timeout=0.8, max_retries=0) as c:
            start = time.monotonic()
            with self.assertRaises(feishu_task.PlatformError) as cm:
                c.move("err-1061045-py", "folder", "fldPyTarget", token)
            self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(cm.exception.code, 1061045)
        self.assertGreaterEqual(len(writes_of("err-1061045-py")), 2)

    def test_a_failure_after_the_request_was_sent_is_never_sent_again(self):
        token = "t-SECRET-py-applied"
        cases = [
            ("reset-py-move", "move", feishu_task.NetworkError, feishu_task.Code.NETWORK),
            ("reset-py-delete", "delete", feishu_task.NetworkError, feishu_task.Code.NETWORK),
            ("err-1061001-py-move", "move", feishu_task.PlatformError, 1061001),
            ("err-1061001-py-delete", "delete", feishu_task.PlatformError, 1061001),
            ("reset-py-wait", "move_and_wait", feishu_task.NetworkError, feishu_task.Code.NETWORK),
        ]
        with client(max_retries=3, timeout=5) as c:
            for file_token, call, cls, code in cases:
                with self.subTest(file_token=file_token):
                    with self.assertRaises(cls) as cm:
                        if call == "move":
                            c.move(file_token, "folder", "fldPyTarget", token)
                        elif call == "delete":
                            c.delete(file_token, "folder", token)
                        else:
                            c.move_and_wait(file_token, "folder", "fldPyTarget", token, timeout=5)
                    e = cm.exception
                    self.assertEqual(e.code, code)
                    self.assertIn(APPLIED, e.message)
                    self.assertIn(APPLIED, str(e))
                    self.assertIsNone(e.task_id)
                    self.assertNotIn("SECRET", str(e))
                    self.assertEqual(len(writes_of(file_token)), 1, "sent again")

    def test_writes_with_the_managed_token(self):
        app_id = os.environ.get("FEISHU_TEST_APP_ID")
        app_secret = os.environ.get("FEISHU_TEST_APP_SECRET")
        if not (app_id and app_secret):
            self.skipTest("FEISHU_TEST_APP_ID / FEISHU_TEST_APP_SECRET not set")
        with client(app_id=app_id, app_secret=app_secret) as c:
            task_id = c.move("fldPyManaged", "folder", "fldPyTarget")
            self.assertRegex(task_id, TASK_ID)
            self.assertIs(c.wait(task_id, timeout=20), Status.SUCCESS)
            self.assertIs(c.delete_and_wait("fldPyManaged", "folder", timeout=20), Status.SUCCESS)
        [first, second] = writes_of("fldPyManaged")
        auth = dict((k.lower(), v) for k, v in first["headers"])["authorization"]
        self.assertTrue(auth.startswith("Bearer t-" + app_id), auth)

    def test_command_line_move_and_delete(self):
        token = "t-SECRET-py-cli"
        env = dict(os.environ, FEISHU_TOKEN=token, FEISHU_BASE_URL=BASE_URL)
        for name in ("FEISHU_APP_ID", "FEISHU_APP_SECRET", "FEISHU_TIMEOUT_MS"):
            env.pop(name, None)

        def cli(*args):
            out = subprocess.run(
                [sys.executable, "-m", "feishu_task", *args],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, timeout=120, check=False,
            )
            stdout, stderr = out.stdout.decode(), out.stderr.decode()
            self.assertNotIn(token, stdout + stderr)
            return out.returncode, stdout, stderr

        def finished(rc, stdout, stderr):
            # Progress lines, then the task's status; the id is the mock's.
            self.assertEqual(rc, 0, stdout + stderr)
            lines = stdout.splitlines()
            task_id = lines[-1].split(":")[0]
            self.assertRegex(task_id, TASK_ID)
            self.assertEqual(lines[-1], f"{task_id}: success (the task has finished)")
            polls = lines[:-1]
            self.assertGreaterEqual(len(polls), 1, stdout)
            self.assertTrue(polls[0].startswith(f"  {task_id}: poll 1 at "), stdout)
            self.assertTrue(all(re.match(rf"  {task_id}: poll \d+ at [\d.]+ s: ", p) for p in polls), stdout)
            return task_id

        finished(*cli("move", "fldPyCli", "--type", "folder", "--to", "fldPyTarget", "--wait", "20"))
        finished(*cli("delete", "fldPyCli", "--type", "folder", "--wait", "20"))
        finished(*cli("--wait", "20", "delete", "fldPyCli2", "--type=folder"))  # --wait first
        # Without --wait: the task id, or "done"; the task_check command reads the id.
        rc, stdout, stderr = cli("move", "fldPyCli3", "--type", "folder", "--to", "fldPyTarget")
        self.assertEqual(rc, 0, stdout + stderr)
        self.assertRegex(stdout, r"^\d{19}\n$")
        rc, stdout2, stderr = cli("--wait", "20", stdout.strip())
        self.assertEqual((rc, stdout2.splitlines()[-1]), (0, f"{stdout.strip()}: success (the task has finished)"))
        self.assertEqual(cli("delete", "boxPyCli", "--type", "file"), (0, "done\n", ""))
        self.assertEqual(cli("move", "boxPyCli", "--type", "file", "--to", "fldPyTarget", "--wait", "5"), (0, "done\n", ""))
        # A failure: its error line, exit 1; a failure after sending says so.
        rc, stdout, stderr = cli("delete", "err-1061003-py-cli", "--type", "folder")
        self.assertEqual(rc, 1, stdout + stderr)
        self.assertTrue(stdout.startswith("err-1061003-py-cli: error 1061003 ("), stdout)
        self.assertRegex(stdout, r"\[HTTP 404\] \[log id \d{30}\]\n$")
        rc, stdout, stderr = cli("move", "reset-py-cli", "--type", "folder", "--to", "fldPyTarget", "--wait", "5")
        self.assertEqual(rc, 1, stdout + stderr)
        self.assertTrue(stdout.startswith("reset-py-cli: error -2 ("), stdout)
        self.assertIn(APPLIED, stdout)
        # A task that fails: exit 1.
        rc, stdout, stderr = cli("delete", "fldPytask-fail-cli", "--type", "folder", "--wait", "20")
        self.assertEqual(rc, 1, stdout + stderr)
        self.assertTrue(stdout.endswith(": fail (the task has failed)\n"), stdout)
        # Usage errors: exit 2, nothing sent.
        before = mock_stat("writes")
        for args in [
            ("move", "fldPyCli"),
            ("move", "fldPyCli", "--type", "folder"),
            ("delete", "fldPyCli"),
            ("delete", "--type", "folder"),
            ("delete", "fldPyCli", "--type", "folder", "--wait", "0"),
            ("delete", "fldPyCli", "--type", "folder", "--to", "fldPyTarget"),
        ]:
            with self.subTest(args=args):
                rc, stdout, stderr = cli(*args)
                self.assertEqual(rc, 2, stdout + stderr)
                self.assertIn("usage:", stderr)
        self.assertEqual(mock_stat("writes"), before)

    # ------------------------------------------------------------- threads

    def test_threads(self):
        # 16 threads x 20 calls on one client, each thread with its own outcome.
        kinds = [
            ("success", None, Status.SUCCESS),
            ("fail", None, Status.FAIL),
            ("process", None, Status.PROCESS),
            ("7360595374803812356", None, Status.SUCCESS),
            ("err-1061001", 1061001, None),
            ("err-1061002", 1061002, None),
            ("err-1061003", 1061003, None),
            ("token-expired", 99991663, None),
            ("rate-limited", 99991400, None),
            ("html-502", -4, None),
            ("garbage", -5, None),
            ("status-unknown", -5, None),
            ("redirect", -4, None),
            ("missing-data", -5, None),
            ("", -1, None),
            ("x" * 1025, -1, None),
        ]
        mismatches = []
        barrier = threading.Barrier(len(kinds))
        # A deadline shorter than the 3 s rate-limit advice, so 429s are not retried.
        with client(timeout=2.5) as c:

            def run(task_id, code, status):
                # After a 429 the client holds its token back until the advised reset
                # (later calls fail at once, unsent, with the same code): its own token.
                token = "t-SECRET-rate-limited" if task_id == "rate-limited" else TOKEN
                barrier.wait()
                for i in range(20):
                    try:
                        got = c.task_check(task_id, token)
                        if code is not None or got is not status:
                            mismatches.append((task_id, i, got))
                    except FeishuTaskError as e:
                        if e.code != code or "SECRET" in str(e):
                            mismatches.append((task_id, i, e))

            threads = [threading.Thread(target=run, args=k) for k in kinds]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(mismatches, [])

    def test_close_is_safe(self):
        c = client()
        self.assertIs(c.task_check("success", TOKEN), Status.SUCCESS)
        # close() while a wait runs on another thread frees the client only after it.
        cancel = Cancel()
        outcome = []

        def waiter():
            try:
                c.wait("process", TOKEN, timeout=30, cancel=cancel)
            except FeishuTaskError as e:
                outcome.append(e.kind)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        c.close()
        self.assertTrue(c.closed)
        cancel.trigger()
        t.join(10)
        self.assertEqual(outcome, ["cancelled"])
        with self.assertRaises(ValueError):
            c.task_check("success", TOKEN)
        c.close()  # twice is fine
        self.assertIn("closed", repr(c))

    # ------------------------------------------------------------- log callback

    def test_log_callback(self):
        lines = []
        lock = threading.Lock()

        def log(level, line):
            with lock:
                lines.append((level, line))

        with client(log=log, max_retries=2) as c:
            self.assertIs(c.task_check("success", TOKEN), Status.SUCCESS)
            self.assertEqual(len(lines), 1)
            level, line = lines[0]
            self.assertIs(level, LogLevel.INFO)
            self.assertIn("task_check", line)
            self.assertIn("attempt 1", line)
            self.assertIn("log id", line)
            with self.assertRaises(feishu_task.PlatformError):
                c.task_check("err-1061001", TOKEN)
            levels = [lvl for lvl, _ in lines[1:]]
            self.assertEqual(levels, [LogLevel.WARN, LogLevel.WARN, LogLevel.ERROR])
            # Lines from several threads.
            threads = [threading.Thread(target=c.task_check, args=("fail", TOKEN)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(len(lines), 8)
        self.assertFalse(any("SECRET" in line for _, line in lines))

    def test_log_callback_exception_is_raised_after_the_call(self):
        class LogFailed(Exception):
            pass

        calls = []

        def log(level, line):
            calls.append(line)
            raise LogFailed(line)

        with client(log=log) as c:
            with self.assertRaises(LogFailed):
                c.task_check("success", TOKEN)
            # A failing call: the callback's exception, with the call's error as context.
            with self.assertRaises(LogFailed) as cm:
                c.task_check("err-1061003", TOKEN)
            self.assertIsInstance(cm.exception.__context__, feishu_task.PlatformError)
            with self.assertRaises(LogFailed):
                c.wait("success", TOKEN, timeout=5)
            self.assertEqual(len(calls), 3)
        # Nothing is left over for a later call on this thread.
        with client() as quiet:
            self.assertIs(quiet.task_check("success", TOKEN), Status.SUCCESS)

    def test_log_callback_outlives_the_arguments(self):
        # The ctypes callback object is kept by the client, not by the caller.
        lines = []
        c = client(log=lambda level, line: lines.append(line))
        import gc

        gc.collect()
        self.assertIs(c.task_check("success", TOKEN), Status.SUCCESS)
        self.assertEqual(len(lines), 1)
        c.close()


if __name__ == "__main__":
    unittest.main()

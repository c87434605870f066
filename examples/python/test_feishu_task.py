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
    """One number of GET /_mock/stats: requests, connections, token_fetches, limited."""
    return mock("GET", "/_mock/stats")[name]


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
        self.assertIn("task not found", e.description)
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

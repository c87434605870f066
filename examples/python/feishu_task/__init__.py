"""feishu_task: a ctypes binding of libfeishu_task (Python 3.9+, standard library only).

Asks the Feishu / Lark Open Platform for the status of an asynchronous drive task
(``GET /open-apis/drive/v1/files/task_check``), or waits until it has finished; and starts
such tasks: moves and deletes of drive files and folders::

    import feishu_task

    with feishu_task.Client(base_url=feishu_task.BASE_URL_LARK, timeout=10) as client:
        try:
            status = client.task_check("7360595374803812356", token="t-...")
            task_id = client.delete("fldcnXXXX", "folder", token="t-...")  # None: done at once
            status = client.move_and_wait("fldcnYYYY", "folder", "fldcnZZZZ", token="t-...")
        except feishu_task.FeishuTaskError as e:
            print(e.code, e.http_status, e.log_id, e.message)

The library is loaded from ``$FEISHU_TASK_LIB`` (a path) if set, else from the copy
bundled in this package (``pip install`` puts it there), else
``ctypes.util.find_library("feishu_task")``, else ``libfeishu_task.so``; ``library_path``
tells which one was loaded. ``python -m feishu_task TASK_ID...`` (and ``python -m feishu_task
move ...`` / ``delete ...``) is a command-line client.

- Every failure raises a :class:`FeishuTaskError` subclass carrying the code, HTTP
  status, log id, retry advice and message of that very call (always from the
  library's ``FeishuError`` out-parameter, never from ``feishu_last_error``, except
  for the option setters, which have no out-parameter).
- A :class:`Client` may be used from any number of threads at once; calls release
  the GIL while they block.
- Exceptions raised inside Python callbacks (``log``, ``progress``) never reach C:
  they are caught, and raised again once the call returns.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import math
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

__all__ = [
    "BASE_URL_FEISHU",
    "BASE_URL_LARK",
    "FROM_ENV",
    "Cancel",
    "CancelledError",
    "Client",
    "Code",
    "FeishuTaskError",
    "FeishuTimeoutError",
    "HttpError",
    "InternalError",
    "InvalidArgumentError",
    "LogLevel",
    "NetworkError",
    "PlatformError",
    "ProtocolError",
    "Status",
    "library_path",
    "strerror",
    "version",
]

BASE_URL_FEISHU = "https://open.feishu.cn"
BASE_URL_LARK = "https://open.larksuite.com"

MAX_TOKEN_LEN = 4096
MAX_TASK_ID_LEN = 1024
#: Room for a task id and its NUL: the buffer ``feishu_client_move`` / ``_delete`` write into.
TASK_ID_SIZE = 128

Text = Union[str, bytes]


# --------------------------------------------------------------------------- the library


#: The names the bundled library may have in this package's directory: cargo's name for
#: the platform (what the build gives it), then any ``libfeishu_task.*`` shared object (a
#: build backend that names the file like an extension module).
_BUNDLED_NAMES = ("libfeishu_task.so", "libfeishu_task.dylib", "feishu_task.dll")


def _bundled_library() -> Optional[str]:
    """The path of the library ``pip install`` put into this package, if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _BUNDLED_NAMES:
        path = os.path.join(here, name)
        if os.path.isfile(path):
            return path
    try:
        names = sorted(os.listdir(here))
    except OSError:
        return None
    for name in names:
        if name.startswith("libfeishu_task.") and name.endswith((".so", ".dylib", ".dll", ".pyd")):
            return os.path.join(here, name)
    return None


def _load_library() -> Tuple[ctypes.CDLL, str]:
    """The library and the path (or name) it was loaded from."""
    path = os.environ.get("FEISHU_TASK_LIB")
    candidates: List[Optional[str]]
    if path:
        candidates = [path]  # an explicit path is not second-guessed
    else:
        candidates = [
            _bundled_library(),
            ctypes.util.find_library("feishu_task"),
            "libfeishu_task.so",
        ]
    errors = []
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return ctypes.CDLL(candidate), candidate  # CDLL: the GIL is released during calls
        except OSError as e:
            errors.append(f"{candidate}: {e}")
    raise ImportError(
        "feishu_task: cannot load libfeishu_task (set FEISHU_TASK_LIB to the path of "
        "libfeishu_task.so): " + "; ".join(errors or ["not found"])
    )


class _FeishuError(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_int32),
        ("http_status", ctypes.c_int32),
        ("retry_after_ms", ctypes.c_uint32),
        ("log_id", ctypes.c_char * 64),
        ("message", ctypes.c_char * 256),
    ]


_c_int32_p = ctypes.POINTER(ctypes.c_int32)
_error_p = ctypes.POINTER(_FeishuError)

#: void (*)(void *user_data, FeishuLogLevel level, const char *message)
_LogCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
#: int32_t (*)(void *user_data, FeishuTaskStatus status, uint32_t polls, uint64_t elapsed_ms)
_ProgressCallback = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32, ctypes.c_uint64
)

_PROTOTYPES = {
    # name: (restype, argtypes)
    "feishu_task_check": (ctypes.c_int32, [ctypes.c_char_p, ctypes.c_char_p, _c_int32_p]),
    "feishu_last_error": (ctypes.c_int32, [_error_p]),
    "feishu_strerror": (ctypes.c_char_p, [ctypes.c_int32]),
    "feishu_version": (ctypes.c_char_p, []),
    "feishu_client_options_new": (ctypes.c_void_p, []),
    "feishu_client_options_free": (None, [ctypes.c_void_p]),
    "feishu_client_options_set_base_url": (ctypes.c_int32, [ctypes.c_void_p, ctypes.c_char_p]),
    "feishu_client_options_set_timeouts": (
        ctypes.c_int32,
        [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32],
    ),
    "feishu_client_options_set_max_retries": (ctypes.c_int32, [ctypes.c_void_p, ctypes.c_uint32]),
    "feishu_client_options_set_rate_limit": (
        ctypes.c_int32,
        [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32],
    ),
    "feishu_client_options_set_proxy": (ctypes.c_int32, [ctypes.c_void_p, ctypes.c_char_p]),
    "feishu_client_options_set_ca_file": (ctypes.c_int32, [ctypes.c_void_p, ctypes.c_char_p]),
    "feishu_client_options_set_log_callback": (
        ctypes.c_int32,
        [ctypes.c_void_p, _LogCallback, ctypes.c_void_p],
    ),
    "feishu_client_options_set_app_credentials": (
        ctypes.c_int32,
        [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p],
    ),
    "feishu_client_new": (ctypes.c_void_p, [ctypes.c_void_p, _error_p]),
    "feishu_client_free": (None, [ctypes.c_void_p]),
    "feishu_client_task_check": (
        ctypes.c_int32,
        [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, _c_int32_p, _error_p],
    ),
    "feishu_cancel_new": (ctypes.c_void_p, []),
    "feishu_cancel_trigger": (None, [ctypes.c_void_p]),
    "feishu_cancel_free": (None, [ctypes.c_void_p]),
    "feishu_client_task_wait": (
        ctypes.c_int32,
        [
            ctypes.c_void_p,  # client
            ctypes.c_char_p,  # token
            ctypes.c_char_p,  # task_id
            ctypes.c_uint32,  # timeout_ms
            ctypes.c_void_p,  # cancel
            _ProgressCallback,  # progress
            ctypes.c_void_p,  # user_data
            _c_int32_p,  # out_status
            _error_p,  # err
        ],
    ),
}

#: The calls that start a task (library 0.3's move and delete): declared when the library
#: has them, so that an older library (``$FEISHU_TASK_LIB``) still serves the rest; then
#: :meth:`Client.move` and :meth:`Client.delete` raise ``NotImplementedError``.
_WRITE_PROTOTYPES = {
    "feishu_client_move": (
        ctypes.c_int32,
        [
            ctypes.c_void_p,  # client
            ctypes.c_char_p,  # token
            ctypes.c_char_p,  # file_token
            ctypes.c_char_p,  # file_type
            ctypes.c_char_p,  # folder_token
            ctypes.c_char_p,  # out_task_id: a buffer of TASK_ID_SIZE bytes
            _error_p,  # err
        ],
    ),
    "feishu_client_delete": (
        ctypes.c_int32,
        [
            ctypes.c_void_p,  # client
            ctypes.c_char_p,  # token
            ctypes.c_char_p,  # file_token
            ctypes.c_char_p,  # file_type
            ctypes.c_char_p,  # out_task_id: a buffer of TASK_ID_SIZE bytes
            _error_p,  # err
        ],
    ),
}

_lib, _loaded_from = _load_library()
#: Where the library was loaded from: ``$FEISHU_TASK_LIB``, the bundled copy's path, or the
#: name ``dlopen`` searched for.
library_path: str = _loaded_from
for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _fn = getattr(_lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes
#: The write functions the library has, by name.
_write_functions: Dict[str, Any] = {}
for _name, (_restype, _argtypes) in _WRITE_PROTOTYPES.items():
    _fn = getattr(_lib, _name, None)
    if _fn is not None:
        _fn.restype = _restype
        _fn.argtypes = _argtypes
        _write_functions[_name] = _fn
del _name, _restype, _argtypes, _fn, _loaded_from


def _write_function(name: str) -> Any:
    fn = _write_functions.get(name)
    if fn is None:
        raise NotImplementedError(
            f"feishu_task: the library loaded from {library_path} (version {version()}) has no "
            f"{name}; the one bundled with this package has it"
        )
    return fn


# --------------------------------------------------------------------------- values


class Status(enum.IntEnum):
    """The status of a drive task (``FeishuTaskStatus``)."""

    UNKNOWN = 0  #: only on failure
    SUCCESS = 1  #: the task has finished
    FAIL = 2  #: the task has failed (the platform says "fail" or "failed")
    PROCESS = 3  #: the task is still running (the platform says "process" or "pending")


class LogLevel(enum.IntEnum):
    """How much a log line matters (``FeishuLogLevel``)."""

    ERROR = 1  #: a call failed for good
    WARN = 2  #: an attempt failed and will be retried
    INFO = 3  #: an attempt succeeded


class Code(enum.IntEnum):
    """The library's own return codes; codes > 0 are the platform's (1061003, 99991663...)."""

    OK = 0
    INVALID_ARGUMENT = -1
    NETWORK = -2
    TIMEOUT = -3
    HTTP = -4
    PROTOCOL = -5
    CANCELLED = -6
    INTERNAL = -99


def version() -> str:
    """The library's version, ``"MAJOR.MINOR.PATCH"``."""
    text: bytes = _lib.feishu_version()
    return text.decode("ascii")


def strerror(code: int) -> str:
    """The library's static description of a return code."""
    text: bytes = _lib.feishu_strerror(int(code))
    return text.decode("utf-8", "replace")


class _FromEnv:
    def __repr__(self) -> str:
        return "FROM_ENV"


#: ``Client(proxy=FROM_ENV)``, the default: HTTPS_PROXY / ALL_PROXY / NO_PROXY as curl reads them.
FROM_ENV: Any = _FromEnv()


# --------------------------------------------------------------------------- errors


class FeishuTaskError(Exception):
    """A failure of the library.

    Attributes: ``code`` (< 0 a local failure, see :class:`Code`; > 0 the platform's
    code), ``http_status`` (0 when no response arrived), ``log_id`` (quote it to Feishu
    support; "" if none), ``retry_after`` (seconds the platform advised waiting, 0.0 if
    none), ``message``, ``kind`` ("platform", "timeout", "network", ...),
    ``last_status`` (for a wait that timed out or was cancelled: the last status seen) and
    ``task_id`` (for :meth:`Client.move_and_wait` / :meth:`Client.delete_and_wait`: the id
    of the task that was started when the wait for it failed; ``None`` otherwise, and when
    the write itself failed).
    """

    kind = "error"

    def __init__(
        self,
        code: int,
        message: str,
        http_status: int = 0,
        log_id: str = "",
        retry_after: float = 0.0,
        last_status: Status = Status.UNKNOWN,
        task_id: Optional[str] = None,
    ) -> None:
        self.code = code
        self.message = message
        self.http_status = http_status
        self.log_id = log_id
        self.retry_after = retry_after
        self.last_status = last_status
        self.task_id = task_id
        super().__init__(self._text())

    @property
    def description(self) -> str:
        """The library's static description of ``code``."""
        return strerror(self.code)

    def _text(self) -> str:
        return f"{self.message} (code {self.code}: {self.description}){self.details()}"

    def details(self, retry_after_unit: str = "s") -> str:
        """`` [HTTP n] [log id x] [retry after n s]``, each part only when known;
        ``retry_after_unit`` ``"ms"`` gives the advice in milliseconds."""
        text = ""
        if self.http_status:
            text += f" [HTTP {self.http_status}]"
        if self.log_id:
            text += f" [log id {self.log_id}]"
        if self.retry_after:
            if retry_after_unit == "ms":
                text += f" [retry after {round(self.retry_after * 1000)} ms]"
            else:
                text += f" [retry after {self.retry_after:g} s]"
        return text

    def __reduce__(self) -> Tuple[Any, ...]:  # picklable despite the extra constructor arguments
        return (
            _rebuild_error,
            (
                type(self),
                self.code,
                self.message,
                self.http_status,
                self.log_id,
                self.retry_after,
                int(self.last_status),
                self.task_id,
            ),
        )


def _rebuild_error(
    cls: Type[FeishuTaskError],
    code: int,
    message: str,
    http_status: int,
    log_id: str,
    retry_after: float,
    last_status: int,
    task_id: Optional[str] = None,  # absent from pickles of versions before 0.3
) -> FeishuTaskError:
    return cls(code, message, http_status, log_id, retry_after, Status(last_status), task_id)


class InvalidArgumentError(FeishuTaskError, ValueError):
    """Bad input or configuration; nothing was sent (code -1)."""

    kind = "invalid_argument"


class NetworkError(FeishuTaskError):
    """DNS, connect, TLS, reset or truncated transfer (code -2)."""

    kind = "network"


class FeishuTimeoutError(FeishuTaskError, TimeoutError):
    """The call's deadline, or the wait's timeout, passed (code -3). Also a ``TimeoutError``."""

    kind = "timeout"


class HttpError(FeishuTaskError):
    """A non-2xx response without a platform error body, or a redirect (code -4)."""

    kind = "http"


class ProtocolError(FeishuTaskError):
    """A 2xx body not in the documented shape, or too large (code -5)."""

    kind = "protocol"


class CancelledError(FeishuTaskError):
    """A wait was cancelled by a :class:`Cancel` or its progress callback (code -6)."""

    kind = "cancelled"


class InternalError(FeishuTaskError):
    """A bug in the library (code -99)."""

    kind = "internal"


class PlatformError(FeishuTaskError):
    """The Feishu platform's own error (code > 0): 1061003 not found, 99991400 rate limited..."""

    kind = "platform"


_ERRORS: Dict[int, Type[FeishuTaskError]] = {
    Code.INVALID_ARGUMENT: InvalidArgumentError,
    Code.NETWORK: NetworkError,
    Code.TIMEOUT: FeishuTimeoutError,
    Code.HTTP: HttpError,
    Code.PROTOCOL: ProtocolError,
    Code.CANCELLED: CancelledError,
    Code.INTERNAL: InternalError,
}


def _error_class(code: int) -> Type[FeishuTaskError]:
    if code > 0:
        return PlatformError
    return _ERRORS.get(code, FeishuTaskError)


def _error(raw: _FeishuError, code: int, last_status: Status = Status.UNKNOWN) -> FeishuTaskError:
    return _error_class(code)(
        code,
        raw.message.decode("utf-8", "replace"),
        raw.http_status,
        raw.log_id.decode("utf-8", "replace"),
        raw.retry_after_ms / 1000.0,
        last_status,
    )


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(Code.INVALID_ARGUMENT, message)


def _last_error(code: int) -> FeishuTaskError:
    """For the option setters only: they report through the thread's last error."""
    raw = _FeishuError()
    _lib.feishu_last_error(ctypes.byref(raw))
    return _error(raw, code)


def _check_setter(code: int) -> None:
    if code != Code.OK:
        raise _last_error(code)


# --------------------------------------------------------------------------- helpers


def _c_text(value: Any, what: str, path: bool = False) -> bytes:
    """A NUL-free byte string for the C API (an embedded NUL would cut it silently)."""
    if path and isinstance(value, os.PathLike):
        value = os.fsencode(value)
    data: bytes
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(f"{what} is not valid UTF-8; nothing was sent") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if b"\0" in data:
        raise _invalid(f"{what} contains a NUL byte; nothing was sent")
    return data


def _ms(seconds: Any, what: str) -> int:
    """Seconds to milliseconds for a uint32_t: 0 or less stays 0 (the library rejects it)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if math.isnan(seconds):
        raise _invalid(f"{what} is NaN")
    if seconds <= 0:
        return 0
    if seconds >= 0xFFFFFFFF / 1000:
        return 0xFFFFFFFF
    return max(1, math.ceil(round(seconds * 1000, 3)))


def _rate_limit(value: Any) -> Tuple[int, int]:
    """``(max_requests, per_seconds)`` for feishu_client_options_set_rate_limit: the
    requests checked for a uint32_t, the interval in milliseconds (the library rejects
    0 with requests > 0, and requests over 1000000)."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError("rate_limit must be a (max_requests, per_seconds) tuple")
    max_requests, per = value
    if isinstance(max_requests, bool) or not isinstance(max_requests, int):
        raise TypeError("rate_limit's max_requests must be an int")
    if not 0 <= max_requests <= 0xFFFFFFFF:
        raise _invalid(f"rate limit of {max_requests} requests; 0 (no limit) to 1000000 are allowed")
    per_ms = _ms(per, "rate_limit's per_seconds")
    return max_requests, per_ms if max_requests else 0


class _Handle:
    """A C handle that is freed once closed and no call is using it (so close() from
    another thread, or garbage collection, never frees it under a running call)."""

    def __init__(self, ptr: int, free: Callable[[int], None], what: str) -> None:
        self._ptr: Optional[int] = ptr
        self._free = free
        self._what = what
        self._users = 0
        self._closing = False
        self._lock = threading.Lock()

    def acquire(self) -> int:
        with self._lock:
            if self._ptr is None or self._closing:
                raise ValueError(f"{self._what} is closed")
            self._users += 1
            return self._ptr

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._closing and self._users == 0:
                self._free_locked()

    def close(self) -> None:
        with self._lock:
            if self._ptr is None:
                return
            self._closing = True
            if self._users == 0:
                self._free_locked()

    @property
    def closed(self) -> bool:
        return self._closing or self._ptr is None

    def _free_locked(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            self._free(ptr)


# --------------------------------------------------------------------------- owners

_Owner_T = TypeVar("_Owner_T", bound="_Owner")


class _Owner:
    """An object that owns a :class:`_Handle` in ``self._handle``: a context manager
    whose exit calls :meth:`close`, and which frees the handle when collected."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Owner_T) -> _Owner_T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            try:
                handle.close()
            except Exception:  # interpreter shutdown
                pass


# --------------------------------------------------------------------------- cancel


class Cancel(_Owner):
    """A cancel handle for :meth:`Client.wait`: :meth:`trigger` (from any thread) ends
    every wait using it within milliseconds; triggering is permanent."""

    def __init__(self) -> None:
        ptr = _lib.feishu_cancel_new()
        if not ptr:
            raise MemoryError("feishu_cancel_new failed")
        self._handle = _Handle(ptr, _lib.feishu_cancel_free, "Cancel")
        self._triggered = False

    def trigger(self) -> None:
        """Cancels every wait using this handle, now and later. A closed handle does nothing."""
        try:
            ptr = self._handle.acquire()
        except ValueError:
            return
        try:
            _lib.feishu_cancel_trigger(ptr)
            self._triggered = True
        finally:
            self._handle.release()

    @property
    def triggered(self) -> bool:
        return self._triggered

    def close(self) -> None:
        """Frees the handle (once no wait uses it any more)."""
        self._handle.close()

    def __repr__(self) -> str:
        return f"<feishu_task.Cancel triggered={self._triggered}>"


# --------------------------------------------------------------------------- client

LogFunction = Callable[[LogLevel, str], None]
ProgressFunction = Callable[[Status, int, float], Any]


class Client(_Owner):
    """A client with its own configuration and keep-alive connection pool.

    Keyword arguments (all optional; the defaults are the library's, not the
    environment's, except for the proxy):

    - ``base_url``: ``BASE_URL_FEISHU`` (default), ``BASE_URL_LARK`` or ``http(s)://host[:port]``;
    - ``connect_timeout`` (default 10) and ``timeout`` (the whole-call deadline, every
      attempt and retry wait included; default 30), in seconds;
    - ``max_retries``: extra attempts for transient failures, 0 to 10 (default 2);
    - ``rate_limit``: ``(max_requests, per_seconds)``, a budget for the client's
      task_check requests: at most ``max_requests`` of them start in any interval of
      ``per_seconds`` (rounded up to whole milliseconds), over all threads using the
      client (a sliding window). Calls queue in arrival order, each no longer than its
      own deadline: one that cannot start in time raises :class:`FeishuTimeoutError`
      without sending, its message naming the limit. Retries and wait polls count;
      the token request does not. ``None`` (default) or ``max_requests`` 0: no limit;
      otherwise ``max_requests`` is at most 1000000 and ``per_seconds`` more than 0;
    - ``proxy``: ``"http://[user:pass@]host[:port]"``, ``None`` for no proxy at all, or
      ``FROM_ENV`` (default: HTTPS_PROXY / ALL_PROXY / NO_PROXY);
    - ``ca_file``: PEM certificates trusted instead of the bundled roots, as
      requests' ``verify=`` does (read now);
    - ``app_id`` and ``app_secret``: a self-built app's credentials; calls without a
      token then use the client's own tenant_access_token;
    - ``log``: ``log(level: LogLevel, line: str)``, called on the calling thread for
      every HTTP attempt; an exception it raises is raised again by the call.

    Calls: :meth:`task_check` and :meth:`wait` read a task's status; :meth:`move` and
    :meth:`delete` start one (or finish at once), :meth:`move_and_wait` and
    :meth:`delete_and_wait` start one and wait for it.

    Thread-safe; a context manager; :meth:`close` frees it once no call uses it.
    Raises :class:`InvalidArgumentError` for a bad setting.
    """

    def __init__(
        self,
        *,
        base_url: Optional[str] = None,
        connect_timeout: Optional[float] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        rate_limit: Optional[Tuple[int, float]] = None,
        proxy: Any = FROM_ENV,
        ca_file: Union[str, bytes, "os.PathLike[str]", None] = None,
        app_id: Optional[Text] = None,
        app_secret: Optional[Text] = None,
        log: Optional[LogFunction] = None,
    ) -> None:
        self._handle: Optional[_Handle] = None
        self._log_callback = None  # the ctypes object C calls: alive as long as the client
        self._callback_errors = threading.local()
        if (app_id is None) != (app_secret is None):
            raise _invalid("app_id and app_secret go together")
        if log is not None and not callable(log):
            raise TypeError("log must be callable")

        options = _lib.feishu_client_options_new()
        if not options:
            raise MemoryError("feishu_client_options_new failed")
        try:
            if base_url is not None:
                _check_setter(
                    _lib.feishu_client_options_set_base_url(options, _c_text(base_url, "base_url"))
                )
            if connect_timeout is not None or timeout is not None:
                connect_ms = _ms(10.0 if connect_timeout is None else connect_timeout, "connect_timeout")
                call_ms = _ms(30.0 if timeout is None else timeout, "timeout")
                _check_setter(_lib.feishu_client_options_set_timeouts(options, connect_ms, call_ms))
            if max_retries is not None:
                if isinstance(max_retries, bool) or not isinstance(max_retries, int):
                    raise TypeError("max_retries must be an int")
                if not 0 <= max_retries <= 0xFFFFFFFF:
                    raise _invalid(f"max_retries is {max_retries}; 0 to 10 are allowed")
                _check_setter(_lib.feishu_client_options_set_max_retries(options, max_retries))
            if rate_limit is not None:
                max_requests, per_ms = _rate_limit(rate_limit)
                _check_setter(_lib.feishu_client_options_set_rate_limit(options, max_requests, per_ms))
            if proxy is not FROM_ENV:
                url = None if proxy is None else _c_text(proxy, "proxy")
                _check_setter(_lib.feishu_client_options_set_proxy(options, url))
            if ca_file is not None:
                _check_setter(
                    _lib.feishu_client_options_set_ca_file(options, _c_text(ca_file, "ca_file", path=True))
                )
            if app_id is not None:
                _check_setter(
                    _lib.feishu_client_options_set_app_credentials(
                        options, _c_text(app_id, "app_id"), _c_text(app_secret, "app_secret")
                    )
                )
            if log is not None:
                self._log_callback = _LogCallback(_log_trampoline(log, self._callback_errors))
                _check_setter(
                    _lib.feishu_client_options_set_log_callback(options, self._log_callback, None)
                )
            err = _FeishuError()
            client = _lib.feishu_client_new(options, ctypes.byref(err))
            if not client:
                raise _error(err, err.code)
        finally:
            _lib.feishu_client_options_free(options)
        self._handle = _Handle(client, _lib.feishu_client_free, "Client")

    @classmethod
    def from_env(cls) -> "Client":
        """A client configured like the library's default one: FEISHU_BASE_URL,
        FEISHU_TIMEOUT_MS, FEISHU_CA_FILE and the proxy variables."""
        self = cls.__new__(cls)
        self._handle = None
        self._log_callback = None
        self._callback_errors = threading.local()
        err = _FeishuError()
        client = _lib.feishu_client_new(None, ctypes.byref(err))
        if not client:
            raise _error(err, err.code)
        self._handle = _Handle(client, _lib.feishu_client_free, "Client")
        return self

    # ----------------------------------------------------------------- calls

    def task_check(self, task_id: Text, token: Optional[Text] = None) -> Status:
        """The task's status: ``Status.SUCCESS``, ``FAIL`` or ``PROCESS``.

        ``token``: a tenant_access_token or user_access_token without ``Bearer ``;
        ``None`` means the client's managed token (needs ``app_id``/``app_secret``).
        Raises a :class:`FeishuTaskError` subclass on failure.
        """
        tid = _c_text(task_id, "task_id")
        tok = None if token is None else _c_text(token, "token")
        status = ctypes.c_int32(0)
        err = _FeishuError()
        handle, ptr = self._acquire()
        try:
            rc = _lib.feishu_client_task_check(ptr, tok, tid, ctypes.byref(status), ctypes.byref(err))
        finally:
            handle.release()
        failure = _error(err, rc) if rc != Code.OK else None
        self._raise_callback_error(failure)
        if failure is not None:
            raise failure
        return Status(status.value)

    def wait(
        self,
        task_id: Text,
        token: Optional[Text] = None,
        timeout: float = 60.0,
        progress: Optional[ProgressFunction] = None,
        cancel: Optional[Cancel] = None,
    ) -> Status:
        """Polls until the task is ``SUCCESS`` or ``FAIL`` and returns that status.

        - ``timeout``: seconds for the whole wait (:class:`FeishuTimeoutError` after it);
        - ``progress(status, polls, elapsed_seconds)``: called after every poll on this
          thread; return a true value to stop the wait (:class:`CancelledError`); an
          exception it raises stops the wait and is raised again here;
        - ``cancel``: a :class:`Cancel` that another thread may trigger.

        On timeout or cancel the error's ``last_status`` is the last status seen.
        """
        tid = _c_text(task_id, "task_id")
        tok = None if token is None else _c_text(token, "token")
        timeout_ms = _ms(timeout, "timeout")
        if cancel is not None and not isinstance(cancel, Cancel):
            raise TypeError("cancel must be a feishu_task.Cancel")
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable")

        raised: List[BaseException] = []

        def trampoline(_user_data: Any, status: int, polls: int, elapsed_ms: int) -> int:
            try:
                try:
                    st = Status(status)
                except ValueError:
                    st = Status.UNKNOWN
                return 1 if progress is not None and progress(st, polls, elapsed_ms / 1000.0) else 0
            except BaseException as e:  # noqa: BLE001 - nothing may unwind into C
                raised.append(e)
                return 1

        # The ctypes object must outlive the call: it is referenced here until the end.
        # _ProgressCallback() is a NULL function pointer (ctypes refuses None here).
        progress_cb = _ProgressCallback(trampoline) if progress is not None else _ProgressCallback()
        status = ctypes.c_int32(0)
        err = _FeishuError()
        handle, ptr = self._acquire()
        try:
            cancel_ptr = cancel._handle.acquire() if cancel is not None else None
            try:
                rc = _lib.feishu_client_task_wait(
                    ptr,
                    tok,
                    tid,
                    timeout_ms,
                    cancel_ptr,
                    progress_cb,
                    None,
                    ctypes.byref(status),
                    ctypes.byref(err),
                )
            finally:
                if cancel is not None:
                    cancel._handle.release()
        finally:
            handle.release()
        del progress_cb

        failure = _error(err, rc, _status(status.value)) if rc != Code.OK else None
        if raised:
            exc = raised[0]
            exc.__context__ = failure
            self._callback_errors.__dict__.pop("error", None)
            raise exc
        self._raise_callback_error(failure)
        if failure is not None:
            raise failure
        return Status(status.value)

    # ----------------------------------------------------------------- starting a task

    def move(
        self,
        file_token: Text,
        file_type: Text,
        folder_token: Text,
        token: Optional[Text] = None,
    ) -> Optional[str]:
        """Moves a file or folder into the folder ``folder_token``
        (``POST /open-apis/drive/v1/files/{file_token}/move``).

        Returns the id of the task the platform started (a folder: pass it to
        :meth:`wait` or :meth:`task_check`), or ``None`` when the platform finished at
        once (a file, or a folder already in place). Never ``""``.

        - ``file_token``, ``folder_token``: the platform's tokens (non-empty visible
          ASCII, at most 256 bytes each);
        - ``file_type``: the type word of ``file_token``: ``"folder"``, ``"file"``,
          ``"docx"``, ``"doc"``, ``"sheet"``, ``"bitable"``, ``"mindnote"``,
          ``"slides"``, ``"shortcut"``... (lowercase ASCII letters and ``_``, at most
          32 bytes; any such word is sent);
        - ``token``: as for :meth:`task_check` (``None``: the client's managed token).

        Bad input raises :class:`InvalidArgumentError` (a ``ValueError``) and sends
        nothing; a failure raises a :class:`FeishuTaskError` subclass, e.g.
        :class:`PlatformError` 1061003 not found, 1061004 forbidden, 1062507 more than
        1,500 items in the folder, 99991403 monthly quota spent.

        The platform allows these writes no concurrency and 5 per second per token: the
        client's calls with one token take turns (in arrival order, within the client's
        ``timeout``), and its "retry later" (1061045) is waited out and retried until
        that deadline. A write is never sent twice when the first may have been applied:
        after a reset, a timeout or a 5xx once the request was sent, the error's
        ``message`` says "the operation may have been applied: check before repeating
        it". If the ``log`` callback raised during a write that succeeded, its exception
        is raised with the task id (or ``None``) in its ``task_id`` attribute.
        """
        args = (
            _c_text(file_token, "file_token"),
            _c_text(file_type, "file_type"),
            _c_text(folder_token, "folder_token"),
        )
        return self._write("feishu_client_move", token, args)

    def delete(
        self,
        file_token: Text,
        file_type: Text,
        token: Optional[Text] = None,
    ) -> Optional[str]:
        """Deletes a file or folder: it goes to the recycle bin
        (``DELETE /open-apis/drive/v1/files/{file_token}?type={file_type}``).

        Returns the task id of a folder's delete (asynchronous), or ``None`` when the
        platform finished at once (anything else). Inputs, write limits, write safety and
        errors are those of :meth:`move`; :class:`PlatformError` 1061007 means the item
        was already deleted.
        """
        args = (_c_text(file_token, "file_token"), _c_text(file_type, "file_type"))
        return self._write("feishu_client_delete", token, args)

    def move_and_wait(
        self,
        file_token: Text,
        file_type: Text,
        folder_token: Text,
        token: Optional[Text] = None,
        timeout: float = 60.0,
        progress: Optional[ProgressFunction] = None,
        cancel: Optional[Cancel] = None,
    ) -> Status:
        """:meth:`move`, then :meth:`wait` for the task it started; returns the task's
        final status (``SUCCESS`` or ``FAIL``), or ``SUCCESS`` when the move was done
        at once (no poll, ``progress`` not called).

        ``timeout``, ``progress`` and ``cancel`` are :meth:`wait`'s and bound the wait;
        the move itself is bounded by the client's ``timeout``. They are checked before
        anything is sent: a bad one raises, and a ``cancel`` already triggered raises
        :class:`CancelledError`, without moving anything. An exception raised by the
        wait (a timeout, a cancel, ``progress``'s own) carries the started task's id in
        its ``task_id`` attribute, so that the wait can be resumed with :meth:`wait`.
        """
        args = (
            _c_text(file_token, "file_token"),
            _c_text(file_type, "file_type"),
            _c_text(folder_token, "folder_token"),
        )
        return self._write_and_wait("feishu_client_move", token, args, timeout, progress, cancel)

    def delete_and_wait(
        self,
        file_token: Text,
        file_type: Text,
        token: Optional[Text] = None,
        timeout: float = 60.0,
        progress: Optional[ProgressFunction] = None,
        cancel: Optional[Cancel] = None,
    ) -> Status:
        """:meth:`delete`, then :meth:`wait` for the task it started: as
        :meth:`move_and_wait`."""
        args = (_c_text(file_token, "file_token"), _c_text(file_type, "file_type"))
        return self._write_and_wait("feishu_client_delete", token, args, timeout, progress, cancel)

    def _write(self, name: str, token: Optional[Text], args: Tuple[bytes, ...]) -> Optional[str]:
        """Calls the write function ``name`` with ``args`` between the token and the
        task id buffer; the task id, or ``None`` (done at once)."""
        fn = _write_function(name)
        tok = None if token is None else _c_text(token, "token")
        out = ctypes.create_string_buffer(TASK_ID_SIZE)
        err = _FeishuError()
        handle, ptr = self._acquire()
        try:
            rc = fn(ptr, tok, *args, out, ctypes.byref(err))
        finally:
            handle.release()
        failure = _error(err, rc) if rc != Code.OK else None
        task_id = None if failure is not None else (out.value.decode("utf-8", "replace") or None)
        try:
            self._raise_callback_error(failure)
        except BaseException as e:
            if failure is None:  # the write was done: the caller must still learn its task
                _set_task_id(e, task_id)
            raise
        if failure is not None:
            raise failure
        return task_id

    def _write_and_wait(
        self,
        name: str,
        token: Optional[Text],
        args: Tuple[bytes, ...],
        timeout: float,
        progress: Optional[ProgressFunction],
        cancel: Optional[Cancel],
    ) -> Status:
        # What the wait would reject, rejected before the write is sent.
        if _ms(timeout, "timeout") == 0:
            raise _invalid(f"timeout is {timeout} s; more than 0 is needed; nothing was sent")
        if cancel is not None and not isinstance(cancel, Cancel):
            raise TypeError("cancel must be a feishu_task.Cancel")
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable")
        if cancel is not None:
            if cancel._handle.closed:
                raise ValueError("Cancel is closed")
            if cancel.triggered:
                raise CancelledError(Code.CANCELLED, "cancelled before the write; nothing was sent")
        task_id = self._write(name, token, args)
        if task_id is None:
            return Status.SUCCESS
        try:
            return self.wait(task_id, token, timeout=timeout, progress=progress, cancel=cancel)
        except BaseException as e:
            _set_task_id(e, task_id)
            raise

    # ----------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Frees the client (at once, or when the last running call returns)."""
        if self._handle is not None:
            self._handle.close()

    @property
    def closed(self) -> bool:
        return self._handle is None or self._handle.closed

    def __repr__(self) -> str:
        return f"<feishu_task.Client {'closed' if self.closed else 'open'}>"

    def _acquire(self) -> Tuple[_Handle, int]:
        """The client's handle, marked in use (``release()`` it), and its pointer."""
        handle = self._handle
        if handle is None:
            raise ValueError("Client is closed")
        return handle, handle.acquire()

    def _raise_callback_error(self, failure: Optional[FeishuTaskError]) -> None:
        """Raises what the log callback raised on this thread during the call, if anything."""
        exc = self._callback_errors.__dict__.pop("error", None)
        if exc is not None:
            exc.__context__ = failure
            raise exc


def _set_task_id(exc: BaseException, task_id: Optional[str]) -> None:
    """Gives ``exc`` the ``task_id`` of the task a write started (best effort: an
    exception that takes no attributes is raised as it is)."""
    try:
        exc.task_id = task_id  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - e.g. __slots__
        pass


def _status(value: int) -> Status:
    try:
        return Status(value)
    except ValueError:
        return Status.UNKNOWN


def _log_trampoline(log: LogFunction, errors: threading.local) -> Callable[..., None]:
    """The function C calls for every log line. It does not refer to the client (no
    reference cycle); an exception is kept for the calling thread's call to raise."""

    def trampoline(_user_data: Any, level: int, message: Optional[bytes]) -> None:
        try:
            try:
                lvl = LogLevel(level)
            except ValueError:
                lvl = LogLevel.INFO
            log(lvl, (message or b"").decode("utf-8", "replace"))
        except BaseException as e:  # noqa: BLE001 - nothing may unwind into C
            if "error" not in errors.__dict__:  # the first one of the call wins
                errors.error = e

    return trampoline

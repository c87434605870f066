//! System calls that std does not offer, each behind a safe function, so that
//! the `unsafe` code stays in this directory.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// Looks at the next byte of `stream` without taking it and without waiting:
/// one `recv(fd, 1 byte, MSG_PEEK | MSG_DONTWAIT)`, whatever the socket's
/// blocking mode and timeouts. `Ok(0)` is end of stream (the peer closed),
/// `Ok(1)` a byte is waiting, `WouldBlock` nothing is waiting; other errors are
/// the socket's (a reset, …).
pub(crate) fn peek_nonblocking(stream: &TcpStream) -> io::Result<usize> {
    let mut byte = 0u8;
    // SAFETY: the descriptor is `stream`'s, open for as long as the borrow; the
    // kernel writes at most the 1 byte passed as the length into `byte`, a live
    // local. MSG_PEEK leaves the byte in the socket; MSG_DONTWAIT makes this one
    // call non-blocking without changing the descriptor's flags.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&raw mut byte).cast::<libc::c_void>(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    // Negative means failure, with the reason in errno.
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

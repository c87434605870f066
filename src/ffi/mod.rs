//! The C ABI. Everything that touches raw pointers, panics or C strings lives
//! here; the core below it (`client`, `api`, `config`, ...) is safe Rust.
//!
//! Pattern (after rustls-ffi): every `extern "C"` function wraps its body in
//! [`ffi_panic_boundary!`] so cbindgen still sees a plain signature; inputs are
//! converted by the helpers of this module; results are written only through
//! out-parameters.

// The entry points take raw pointers from C and are `extern "C" fn`, not
// `unsafe fn`, as in rustls-ffi: their pointer contracts are stated in the
// header, and every dereference sits in an `unsafe` block with its SAFETY note.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
mod boundary;
// In the order the header presents them (cbindgen follows the source; a
// blank line keeps rustfmt from sorting them): the mission call and its
// companions, then the client API, then starting a task, then waiting.
pub mod task;

pub mod error;

pub mod options;

pub mod client;

pub mod write;

pub mod wait;

use std::ffi::c_char;

use crate::api::{MAX_TASK_ID_LEN, MAX_TOKEN_LEN};
use crate::error::Error;

/// Longest token accepted, in bytes.
pub const FEISHU_MAX_TOKEN_LEN: usize = 4096;
/// Longest task id accepted, in bytes.
pub const FEISHU_MAX_TASK_ID_LEN: usize = 1024;
const _: () =
    assert!(FEISHU_MAX_TOKEN_LEN == MAX_TOKEN_LEN && FEISHU_MAX_TASK_ID_LEN == MAX_TASK_ID_LEN);

/// Borrows a C string of at most `max` bytes as bytes. NULL and over-long
/// strings are errors; nothing past `max + 1` bytes is read, so a huge or
/// unterminated-within-reason input is rejected without scanning it all.
///
/// # Safety
/// `ptr` is NULL or points to a readable NUL-terminated string (or to at least
/// `max + 1` readable bytes) that outlives `'a`.
unsafe fn c_bytes<'a>(ptr: *const c_char, what: &str, max: usize) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: the caller guarantees `ptr` is readable up to its NUL or `max + 1`
    // bytes; strnlen reads no further than either.
    let len = unsafe { libc::strnlen(ptr, max + 1) };
    if len > max {
        return Err(Error::invalid(format!("{what} is longer than {max} bytes")));
    }
    // SAFETY: `len` bytes from `ptr` were just found readable and NUL-free.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// A token argument: NULL asks for the client's managed token.
///
/// # Safety
/// `token` is NULL or a NUL-terminated string that outlives `'a`.
unsafe fn optional_token<'a>(token: *const c_char) -> Result<Option<&'a [u8]>, Error> {
    if token.is_null() {
        return Ok(None);
    }
    // SAFETY: guaranteed by the caller.
    unsafe { c_bytes(token, "token", MAX_TOKEN_LEN) }.map(Some)
}

//! The panic boundary: no Rust panic unwinds into C, and none prints.

use std::cell::Cell;
use std::ffi::{CStr, c_char};
use std::sync::Once;

use super::error::FEISHU_ERR_INTERNAL;
use crate::error::{Error, Kind};

/// Runs the body of an `extern "C"` function, turning a panic into the
/// function's [`PanicDefault`] value (and, for codes, the thread's last error).
macro_rules! ffi_panic_boundary {
    ( $($body:tt)* ) => {{
        let _quiet = $crate::ffi::boundary::QuietPanics::enter();
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(_) => $crate::ffi::boundary::PanicDefault::on_panic(),
        }
    }};
}

/// The value an `extern "C"` function returns when its body panicked.
pub trait PanicDefault {
    fn on_panic() -> Self;
}

impl PanicDefault for i32 {
    fn on_panic() -> i32 {
        super::error::set_last(Some(Error::new(
            Kind::Internal,
            "internal error: a panic was caught at the C boundary (please report this bug)",
        )));
        FEISHU_ERR_INTERNAL
    }
}

impl PanicDefault for () {
    fn on_panic() {}
}

impl PanicDefault for *const c_char {
    fn on_panic() -> *const c_char {
        static INTERNAL: &CStr = c"internal error";
        INTERNAL.as_ptr()
    }
}

impl<T> PanicDefault for *mut T {
    fn on_panic() -> *mut T {
        std::ptr::null_mut()
    }
}

thread_local! {
    static IN_BOUNDARY: Cell<u32> = const { Cell::new(0) };
}

/// Marks the current thread as inside a boundary for the guard's lifetime,
/// so that the panic hook stays silent for panics we catch. Panics elsewhere
/// in the host process still reach the host's own hook.
pub struct QuietPanics(());

impl QuietPanics {
    pub fn enter() -> QuietPanics {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // A thread being torn down cannot tell: stay quiet.
                if IN_BOUNDARY.try_with(Cell::get).unwrap_or(1) == 0 {
                    previous(info);
                }
            }));
        });
        let _ = IN_BOUNDARY.try_with(|n| n.set(n.get() + 1));
        QuietPanics(())
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        let _ = IN_BOUNDARY.try_with(|n| n.set(n.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicking_code() -> i32 {
        ffi_panic_boundary! {
            if std::hint::black_box(true) {
                panic!("a bug");
            }
            0
        }
    }

    fn panicking_ptr() -> *const c_char {
        ffi_panic_boundary! {
            if std::hint::black_box(true) {
                panic!("a bug");
            }
            std::ptr::null()
        }
    }

    #[test]
    fn panics_become_internal_errors() {
        assert_eq!(panicking_code(), FEISHU_ERR_INTERNAL);
        assert_eq!(
            super::super::error::feishu_last_error(std::ptr::null_mut()),
            FEISHU_ERR_INTERNAL
        );
        assert!(
            !panicking_ptr().is_null(),
            "string functions never return NULL"
        );
        // The boundary leaves the thread usable and the counter balanced.
        assert_eq!(IN_BOUNDARY.with(Cell::get), 0);
    }
}

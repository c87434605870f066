//! The HTTP/1.1 response reader (`http::receive`): arbitrary bytes arriving
//! in arbitrary pieces, as a server (or anything between it and us) may send
//! them.
//!
//! Input format: the first byte seeds the sizes of the pieces the bytes
//! arrive in (1 to 256 bytes each, from a small generator); every byte after
//! it is what the connection receives, then the end of the stream.

#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use feishu_task::error::{Kind, Retry};
use feishu_task::http::{self, Deadline, Response};
use libfuzzer_sys::fuzz_target;
use ureq::unversioned::transport::{Buffers, LazyBuffers, NextTimeout, Transport};

/// The body limit of `http::receive`.
const MAX_BODY: usize = 1024 * 1024;
/// The connection's input buffer, as the client makes it.
const INPUT: usize = 16 * 1024;
/// Longest message the reader may produce.
const MAX_MESSAGE: usize = 512;

#[derive(Debug)]
struct Pieces {
    buffers: LazyBuffers,
    pieces: VecDeque<Vec<u8>>,
}

impl Transport for Pieces {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, _: usize, _: NextTimeout) -> Result<(), ureq::Error> {
        Ok(())
    }

    fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
        let Some(mut piece) = self.pieces.pop_front() else {
            return Ok(false);
        };
        let free = self.buffers.input_append_buf();
        // The reader never waits for input with its buffer full (that would
        // read nothing and look like the end of the stream).
        assert!(!free.is_empty(), "input awaited with a full buffer");
        let n = piece.len().min(free.len());
        free[..n].copy_from_slice(&piece[..n]);
        self.buffers.input_appended(n);
        if n < piece.len() {
            self.pieces.push_front(piece.split_off(n));
        }
        Ok(true)
    }

    fn is_open(&mut self) -> bool {
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let mut state = u32::from(seed) | 0x100;
    let mut pieces = VecDeque::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = ((state >> 16) as usize % 256 + 1).min(rest.len());
        pieces.push_back(rest[..len].to_vec());
        rest = &rest[len..];
    }
    let mut conn = Pieces {
        buffers: LazyBuffers::new(INPUT, 1024),
        pieces,
    };
    let deadline = Deadline {
        at: Instant::now() + Duration::from_secs(3600),
        whole: Duration::from_secs(3600),
    };
    let mut resp = Response::default();
    match http::receive(&mut conn, &deadline, &mut resp) {
        Ok(reusable) => {
            let reply = resp.reply();
            assert!((200..1000).contains(&reply.status), "status {}", reply.status);
            assert!(reply.body.len() <= MAX_BODY);
            assert!(reply.body.len() <= bytes.len());
            if reusable {
                assert!(conn.buffers.input().is_empty(), "reused with bytes left over");
            }
            // What the classification reads is there and bounded.
            for v in [reply.log_id, reply.ratelimit_reset, reply.content_type, reply.location] {
                assert!(v.is_none_or(|v| v.len() <= INPUT));
            }
        }
        Err(e) => {
            assert!(
                matches!(e.kind, Kind::Network | Kind::Protocol),
                "unexpected kind {:?}",
                e.kind
            );
            assert!(!e.message.is_empty() && e.message.len() <= MAX_MESSAGE);
            assert!(!e.message.chars().any(char::is_control), "{:?}", e.message);
            assert!(e.log_id.len() <= 63);
            // Only a failure before any response is worth another attempt.
            if e.http_status != 0 {
                assert_eq!(e.retry, Retry::Never);
            }
            if e.retry == Retry::Transient {
                assert_eq!(e.http_status, 0);
            }
        }
    }
});

//! The test support of libfeishu_task, one crate compiled once for all the test binaries
//! (`support` in them: `use support::server::Server;`).
//!
//! `server.rs` is also included, alone and by path, by `examples/mock_server.rs` (the demo's
//! server), so it and the modules it includes stay std-only and self-contained.

pub mod chaos;
pub mod harness;
pub mod native;
pub mod proxy;
pub mod server;
pub mod timing;
pub mod tls;

//! The default client keeps one keep-alive connection: many sequential calls
//! from one thread, and calls from many threads, reuse pooled connections.
//! (Its own test binary, so the server's connection count is this test's.)

use support::server;

use std::ffi::CString;

use feishu_task::ffi::task::{FeishuTaskStatus, feishu_task_check};
use server::Server;

#[test]
fn calls_reuse_keep_alive_connections() {
    let server = Server::start();
    // SAFETY (test setup): the only test of this binary, before the first call.
    unsafe { std::env::set_var("FEISHU_BASE_URL", server.base_url()) };
    let token = CString::new("t-pool").unwrap();
    let id = CString::new("process").unwrap();

    for _ in 0..200 {
        let mut status = FeishuTaskStatus::Unknown;
        assert_eq!(
            feishu_task_check(token.as_ptr(), id.as_ptr(), &mut status),
            0
        );
        assert_eq!(status, FeishuTaskStatus::Process);
    }
    assert_eq!(server.request_count(), 200);
    assert_eq!(
        server.connection_count(),
        1,
        "one connection for sequential calls"
    );

    // 8 threads at once: at most one connection each, and they are kept.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    let mut status = FeishuTaskStatus::Unknown;
                    assert_eq!(
                        feishu_task_check(token.as_ptr(), id.as_ptr(), &mut status),
                        0
                    );
                }
            });
        }
    });
    assert_eq!(server.request_count(), 600);
    assert!(
        server.connection_count() <= 9,
        "connections: {}",
        server.connection_count()
    );
}

//! TLS with a private CA, and HTTP CONNECT proxies, through the C ABI: a real
//! TLS server (a test CA's certificate, in front of the mock server) and a real
//! CONNECT proxy on loopback.
//!
//! Tests that set environment variables run in one test function, one after
//! another, holding `ENV`; the other tests that read the environment (an
//! explicit proxy honours NO_PROXY) hold it too.

use support::proxy;
use support::server;
use support::tls;

mod common;

use std::ffi::CString;
use std::path::PathBuf;

use common::*;
use feishu_task::ffi::client::{feishu_client_free, feishu_client_new, feishu_client_task_check};
use feishu_task::ffi::task::FeishuTaskStatus;
use proxy::ConnectProxy;
use server::Server;
use tls::{TestPki, TlsFront};

/// Serializes the tests that set or read proxy variables.
static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|p| p.into_inner())
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-proxy-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn direct(base_url: &str) -> Options {
    let o = Options::new().base_url(base_url).timeouts(2000, 5000);
    assert_eq!(o.set_proxy(None), FEISHU_OK);
    o
}

#[test]
fn a_private_ca_is_needed_and_enough() {
    let server = Server::start();
    let pki = TestPki::generate();
    let front = TlsFront::start(&pki, server.addr());

    // Bundled roots only: the certificate is not trusted, and that is not retried.
    let client = direct(&front.base_url()).build();
    let o = client.check("success");
    assert_eq!(o.rc, FEISHU_ERR_NETWORK, "{}", o.message());
    // Named as curl would: the host, then rustls's reason.
    assert!(
        o.message().starts_with("TLS with 127.0.0.1 failed: ")
            && o.message().to_lowercase().contains("certificate"),
        "{}",
        o.message()
    );
    assert!(
        front.wait_for(std::time::Duration::from_secs(2), |f| f.handshakes_failed()
            == 1)
    );
    assert_eq!(server.request_count(), 0);

    // With the CA file: trusted, by IP and by name, on one kept-alive connection.
    let ca = pki.write_ca(&scratch_dir("ca"));
    for base in [front.base_url(), front.base_url_localhost()] {
        let options = direct(&base);
        assert_eq!(
            options.set_ca_file(ca.to_str().unwrap()),
            FEISHU_OK,
            "{}",
            last_message()
        );
        let client = options.build();
        for _ in 0..5 {
            let o = client.check("process");
            assert_eq!(
                (o.rc, o.status),
                (FEISHU_OK, FeishuTaskStatus::Process),
                "{}",
                o.message()
            );
        }
    }
    assert_eq!(server.request_count(), 10);
    assert_eq!(
        front.handshakes_completed(),
        2,
        "one TLS connection per client"
    );

    // Another CA's file does not help: it replaces the bundled roots, and
    // verification stays on.
    let other = scratch_dir("other").join("other.pem");
    std::fs::write(&other, tls::other_ca_pem()).unwrap();
    let options = direct(&front.base_url());
    assert_eq!(options.set_ca_file(other.to_str().unwrap()), FEISHU_OK);
    assert_eq!(options.build().check("success").rc, FEISHU_ERR_NETWORK);
}

#[test]
fn requests_go_through_a_configured_connect_proxy() {
    let _env = env_lock();
    let server = Server::start();
    let proxy = ConnectProxy::start();
    let options = Options::new().base_url(&server.base_url());
    assert_eq!(options.set_proxy(Some(&proxy.url())), FEISHU_OK);
    let client = options.build();
    for _ in 0..3 {
        assert_eq!(client.check("success").rc, FEISHU_OK);
    }
    assert_eq!(proxy.tunnels(), 1, "one tunnel, kept alive");
    assert_eq!(proxy.targets(), vec![server.addr().to_string()]);
    assert_eq!(server.request_count(), 3);
}

#[test]
fn tls_works_through_the_proxy() {
    let _env = env_lock();
    let server = Server::start();
    let pki = TestPki::generate();
    let front = TlsFront::start(&pki, server.addr());
    let proxy = ConnectProxy::start();
    let ca = pki.write_ca(&scratch_dir("through"));
    let options = Options::new().base_url(&front.base_url_localhost());
    assert_eq!(options.set_ca_file(ca.to_str().unwrap()), FEISHU_OK);
    assert_eq!(options.set_proxy(Some(&proxy.url())), FEISHU_OK);
    let o = options.build().check("fail");
    assert_eq!(
        (o.rc, o.status),
        (FEISHU_OK, FeishuTaskStatus::Fail),
        "{}",
        o.message()
    );
    assert_eq!(
        proxy.targets(),
        vec![format!("localhost:{}", front.addr().port())]
    );
}

#[test]
fn proxy_credentials_work_and_never_show() {
    let _env = env_lock();
    let server = Server::start();
    let proxy = ConnectProxy::start_with_auth("bob", "hunter2");
    let sink = new_sink();
    let options = Options::new()
        .base_url(&server.base_url())
        .retries(0)
        .log_to(sink);
    assert_eq!(
        options.set_proxy(Some(&proxy.url_with_credentials("bob", "hunter2"))),
        FEISHU_OK
    );
    assert_eq!(options.build().check("success").rc, FEISHU_OK);
    assert_eq!(proxy.tunnels(), 1);

    assert_eq!(
        options.set_proxy(Some(&proxy.url_with_credentials("bob", "wrong-hunter3"))),
        FEISHU_OK
    );
    let o = options.build().check("success");
    assert_eq!(o.rc, FEISHU_ERR_NETWORK, "{}", o.message());
    assert!(o.message().contains("proxy"), "{}", o.message());
    assert!(!o.message().contains("hunter"), "{}", o.message());
    assert_eq!(proxy.rejected(), 1);
    for (_, line) in sink.lines.lock().unwrap().iter() {
        assert!(!line.contains("hunter"), "proxy password in log: {line}");
    }
}

/// User info is percent-decoded once, and only well-formed escapes: "%+A"
/// is the three characters it is (a sign is no hex digit), not a line feed;
/// "%40" is "@".
#[test]
fn proxy_user_info_is_decoded_strictly() {
    let server = Server::start();
    let proxy = ConnectProxy::start_with_auth("bob@corp", "pa%+Ass");
    let options = Options::new().base_url(&server.base_url()).retries(0);
    let url = format!("http://bob%40corp:pa%+Ass@{}", proxy.addr());
    assert_eq!(options.set_proxy(Some(&url)), FEISHU_OK);
    let o = options.build().check("success");
    assert_eq!(o.rc, FEISHU_OK, "{}", o.message());
    assert_eq!((proxy.tunnels(), proxy.rejected()), (1, 0));
}

/// Everything that reads the environment, in sequence.
#[test]
fn the_environment_configures_proxies_and_roots() {
    let _env = env_lock();
    let server = Server::start();
    let pki = TestPki::generate();
    let front = TlsFront::start(&pki, server.addr());
    let proxy = ConnectProxy::start();
    let ca = pki.write_ca(&scratch_dir("env"));
    // SAFETY (test setup): only this test touches the environment, and the
    // library reads it only when options or clients are created below.
    let set = |k: &str, v: Option<&str>| unsafe {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    };
    for k in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        set(k, None);
    }

    // HTTPS_PROXY applies to an options-built client that did not set a proxy.
    set("HTTPS_PROXY", Some(&proxy.url()));
    let options = Options::new().base_url(&front.base_url_localhost());
    assert_eq!(options.set_ca_file(ca.to_str().unwrap()), FEISHU_OK);
    assert_eq!(options.build().check("success").rc, FEISHU_OK);
    assert_eq!(proxy.tunnels(), 1);

    // NO_PROXY matching the host: straight to the server, proxy untouched.
    set("NO_PROXY", Some("localhost,127.0.0.1"));
    let options = Options::new().base_url(&front.base_url_localhost());
    assert_eq!(options.set_ca_file(ca.to_str().unwrap()), FEISHU_OK);
    assert_eq!(options.build().check("success").rc, FEISHU_OK);
    // ... also for an explicitly set proxy, as curl does.
    let options = Options::new().base_url(&server.base_url());
    assert_eq!(options.set_proxy(Some(&proxy.url())), FEISHU_OK);
    assert_eq!(options.build().check("success").rc, FEISHU_OK);
    assert_eq!(proxy.tunnels(), 1, "NO_PROXY hosts bypass the proxy");
    set("NO_PROXY", None);
    set("HTTPS_PROXY", None);

    // NULL options: FEISHU_BASE_URL and FEISHU_CA_FILE, as the default client.
    set("FEISHU_BASE_URL", Some(&front.base_url()));
    set("FEISHU_CA_FILE", Some(ca.to_str().unwrap()));
    let mut err = zeroed_error();
    let client = feishu_client_new(std::ptr::null(), &mut err);
    assert!(!client.is_null(), "{}", text(&err.message));
    let mut status = FeishuTaskStatus::Unknown;
    let token = CString::new(TOKEN).unwrap();
    let rc = feishu_client_task_check(
        client,
        token.as_ptr(),
        c"fail".as_ptr(),
        &mut status,
        &mut err,
    );
    assert_eq!(
        (rc, status),
        (FEISHU_OK, FeishuTaskStatus::Fail),
        "{}",
        text(&err.message)
    );
    feishu_client_free(client);

    // A bad variable: NULL and a message naming it.
    set("HTTPS_PROXY", Some("socks5://u:hunter2@127.0.0.1:1"));
    let client = feishu_client_new(std::ptr::null(), &mut err);
    assert!(client.is_null());
    assert_eq!(err.code, FEISHU_ERR_INVALID_ARGUMENT);
    assert!(
        text(&err.message).contains("HTTPS_PROXY"),
        "{}",
        text(&err.message)
    );
    assert!(!text(&err.message).contains("hunter2"));
    for k in ["HTTPS_PROXY", "FEISHU_BASE_URL", "FEISHU_CA_FILE"] {
        set(k, None);
    }
}

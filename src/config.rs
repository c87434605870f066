//! Client configuration: the validated settings a [`Client`](crate::client::Client)
//! is built from, and their loading from the environment for the default client.
//!
//! Every parser here returns a message that names what was wrong (and, for
//! environment variables, which variable) but never echoes a secret such as a
//! proxy password.

use std::time::Duration;

use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem};
use ureq::{Proxy, ProxyProtocol};

use crate::error::Error;
pub use crate::secret::Credentials;
use crate::secret::Secret;

/// Feishu (China) Open Platform.
pub(crate) const FEISHU_BASE_URL: &str = "https://open.feishu.cn";
/// The whole-call deadline unless configured.
pub(crate) const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// The connect timeout unless configured (never longer than the deadline).
pub(crate) const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Retries after the first attempt unless configured.
pub(crate) const DEFAULT_MAX_RETRIES: u32 = 2;
/// Most retries a client may be configured with.
pub(crate) const MAX_RETRIES_LIMIT: u32 = 10;
/// The certificates of a CA file, as ureq takes them.
pub type CaRoots = Vec<Certificate<'static>>;

/// Most requests a declared rate limit may allow per interval.
pub(crate) const MAX_RATE_LIMIT_REQUESTS: u32 = 1_000_000;
/// Largest CA file read.
const MAX_CA_FILE_LEN: u64 = 4 * 1024 * 1024;

/// Validated client settings.
#[derive(Clone)]
pub struct Config {
    /// `scheme://authority`, lowercase scheme, no trailing slash.
    pub base_url: String,
    pub connect_timeout: Duration,
    /// The whole-call deadline.
    pub timeout: Duration,
    /// The roots of a CA file, which replace the bundled Mozilla roots;
    /// empty: the bundled roots.
    pub ca_roots: CaRoots,
    pub proxy: Option<ProxySetting>,
    /// Extra attempts after a transient failure.
    pub max_retries: u32,
    /// Receives a line per attempt; `None`: silent.
    pub logger: Option<Logger>,
    /// App credentials for a managed tenant_access_token.
    pub credentials: Option<Credentials>,
    /// The caller's declared budget for task_check requests; `None`: none.
    pub rate_limit: Option<RateLimit>,
}

/// A declared budget: at most `max` request starts in any interval of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} requests per {} ms", self.max, self.per.as_millis())
    }
}

/// How much a log line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// A call failed for good.
    Error,
    /// An attempt failed and is retried.
    Warn,
    /// An attempt succeeded.
    Info,
}

/// A log sink: called with each line; must be callable from any thread.
pub type Logger = std::sync::Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// An HTTP CONNECT proxy.
#[derive(Clone)]
pub struct ProxySetting {
    pub proxy: Proxy,
    /// `http://host:port`, without credentials: safe to show.
    pub display: String,
}

// Debug by hand: the proxy's credentials are left out.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("ca_roots", &self.ca_roots.len())
            .field("proxy", &self.proxy)
            .field("max_retries", &self.max_retries)
            .field("logger", &self.logger.is_some())
            .field("credentials", &self.credentials)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

impl std::fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Default for Config {
    /// Built-in defaults: Feishu, 30 s deadline, bundled roots, no proxy.
    fn default() -> Config {
        Config {
            base_url: FEISHU_BASE_URL.to_owned(),
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS.into()),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS.into()),
            ca_roots: Vec::new(),
            proxy: None,
            max_retries: DEFAULT_MAX_RETRIES,
            logger: None,
            credentials: None,
            rate_limit: None,
        }
    }
}

impl Config {
    /// The default client's configuration: the built-in defaults overridden by
    /// `FEISHU_BASE_URL`, `FEISHU_TIMEOUT_MS`, `FEISHU_CA_FILE` and the proxy
    /// variables (`HTTPS_PROXY`/`ALL_PROXY` with `NO_PROXY`, as curl reads them).
    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|name| std::env::var_os(name))
    }

    /// [`Config::from_env`] with the variables read through `var` (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Config, Error> {
        // An unset or empty variable means "not set", as in curl.
        let get = |name: &str| env_value(name, var(name));
        let named = |name: &str, e: Error| Error::invalid(format!("{name}: {}", e.message));

        let mut config = Config::default();
        if let Some(url) = get("FEISHU_BASE_URL")? {
            config.base_url = parse_base_url(&url).map_err(|e| named("FEISHU_BASE_URL", e))?;
        }
        if let Some(ms) = get("FEISHU_TIMEOUT_MS")? {
            let ms: u32 = ms.trim().parse().ok().filter(|&ms| ms > 0).ok_or_else(|| {
                Error::invalid(format!(
                    "FEISHU_TIMEOUT_MS={:?} is not a whole number of milliseconds from 1 to {}",
                    crate::text::clean(&ms, 40),
                    u32::MAX
                ))
            })?;
            config.timeout = Duration::from_millis(ms.into());
        }
        if let Some(path) = get("FEISHU_CA_FILE")? {
            config.ca_roots = load_ca_file(&path).map_err(|e| named("FEISHU_CA_FILE", e))?;
        }

        config.proxy = proxy_from_vars(&config.base_url, &get)?;
        Ok(config)
    }
}

impl Config {
    /// Sets the base URL (validated, see [`parse_base_url`]).
    pub fn set_base_url(&mut self, url: &str) -> Result<(), Error> {
        self.base_url = parse_base_url(url)?;
        Ok(())
    }

    /// Sets the connect timeout and the whole-call deadline; both must be
    /// at least 1 ms. A connect timeout longer than the deadline is cut to it.
    pub fn set_timeouts(&mut self, connect_ms: u32, call_ms: u32) -> Result<(), Error> {
        if connect_ms == 0 || call_ms == 0 {
            return Err(Error::invalid(format!(
                "timeouts must be at least 1 ms (connect_ms={connect_ms}, call_ms={call_ms})"
            )));
        }
        self.connect_timeout = Duration::from_millis(connect_ms.min(call_ms).into());
        self.timeout = Duration::from_millis(call_ms.into());
        Ok(())
    }

    /// Sets how many times a transient failure is retried (0 to 10).
    pub fn set_max_retries(&mut self, retries: u32) -> Result<(), Error> {
        if retries > MAX_RETRIES_LIMIT {
            return Err(Error::invalid(format!(
                "max_retries {retries} is more than {MAX_RETRIES_LIMIT}"
            )));
        }
        self.max_retries = retries;
        Ok(())
    }

    /// Sets the app credentials (`app_id`, `app_secret`: visible ASCII).
    pub fn set_app_credentials(&mut self, app_id: &[u8], app_secret: &[u8]) -> Result<(), Error> {
        let app_id = crate::api::check_credential(app_id, "app_id")?;
        crate::api::check_credential(app_secret, "app_secret")?;
        self.credentials = Some(Credentials {
            app_id: app_id.to_owned(),
            app_secret: Secret::new(app_secret),
        });
        Ok(())
    }

    /// Declares a budget: at most `max_requests` task_check requests start in
    /// any interval of `per_ms` milliseconds. 0 requests: no limit.
    pub fn set_rate_limit(&mut self, max_requests: u32, per_ms: u32) -> Result<(), Error> {
        if max_requests == 0 {
            self.rate_limit = None;
            return Ok(());
        }
        if per_ms == 0 || max_requests > MAX_RATE_LIMIT_REQUESTS {
            return Err(Error::invalid(format!(
                "rate limit {max_requests} requests per {per_ms} ms: the interval must be at least 1 ms and the requests at most {MAX_RATE_LIMIT_REQUESTS} (0 requests: no limit)"
            )));
        }
        self.rate_limit = Some(RateLimit {
            max: max_requests,
            per: Duration::from_millis(per_ms.into()),
        });
        Ok(())
    }

    /// Trusts the PEM certificates of `path` instead of the bundled roots.
    pub fn set_ca_file(&mut self, path: &str) -> Result<(), Error> {
        self.ca_roots = load_ca_file(path)?;
        Ok(())
    }

    /// `host:port` of the base URL, the port always given (`[::1]:8080`).
    pub fn server(&self) -> String {
        let (host, port) = self.host_and_port();
        format!("{host}:{port}")
    }

    /// The host of the base URL, without the brackets of an IPv6 literal.
    pub fn host(&self) -> String {
        let (host, _) = self.host_and_port();
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }

    /// The base URL's host (an IPv6 literal in brackets) and port (the
    /// scheme's default when none is given), parsed as [`parse_base_url`]
    /// checked it.
    fn host_and_port(&self) -> (String, u16) {
        let uri: Option<Uri> = self.base_url.parse().ok();
        let authority = uri.as_ref().and_then(Uri::authority);
        let default = if self.base_url.starts_with("https:") {
            443
        } else {
            80
        };
        (
            authority.map_or_else(String::new, |a| a.host().to_owned()),
            authority.and_then(|a| a.port_u16()).unwrap_or(default),
        )
    }
}

/// The proxy the environment gives for `base_url`, with curl's choice of
/// variables: https_proxy/HTTPS_PROXY for https, only lowercase http_proxy for
/// http, then ALL_PROXY; NO_PROXY (or no_proxy) excludes hosts.
fn proxy_from_vars(
    base_url: &str,
    get: &dyn Fn(&str) -> Result<Option<String>, Error>,
) -> Result<Option<ProxySetting>, Error> {
    let candidates: &[&str] = if base_url.starts_with("https:") {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    for name in candidates {
        if let Some(url) = get(name)? {
            return parse_proxy(&url, no_proxy_from(get)?.as_deref())
                .map(Some)
                .map_err(|e| Error::invalid(format!("{name}: {}", e.message)));
        }
    }
    Ok(None)
}

fn no_proxy_from(
    get: &dyn Fn(&str) -> Result<Option<String>, Error>,
) -> Result<Option<String>, Error> {
    match get("no_proxy")? {
        Some(v) => Ok(Some(v)),
        None => get("NO_PROXY"),
    }
}

/// Reads an environment variable.
fn env_var(name: &str) -> Result<Option<String>, Error> {
    env_value(name, std::env::var_os(name))
}

/// An environment variable's value: unset or empty is `None`, as in curl.
fn env_value(name: &str, value: Option<std::ffi::OsString>) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8"))),
    }
}

/// The environment's proxy for `base_url` (HTTPS_PROXY, ALL_PROXY, NO_PROXY...).
pub fn proxy_from_env(base_url: &str) -> Result<Option<ProxySetting>, Error> {
    proxy_from_vars(base_url, &env_var)
}

/// The environment's NO_PROXY list, applied to explicitly set proxies too.
pub fn no_proxy_from_env() -> Result<Option<String>, Error> {
    no_proxy_from(&env_var)
}

/// Validates a base URL: `http` or `https`, a host, an optional port, and no
/// user info, path (other than `/`), query or fragment. Returns it normalized.
pub fn parse_base_url(url: &str) -> Result<String, Error> {
    // A URL with user info is not echoed: it may hold a password.
    let shown = if url.contains('@') {
        "(with user info)".to_owned()
    } else {
        crate::text::clean(url, 100)
    };
    let bad = |why: &str| Error::invalid(format!("base URL \"{shown}\" {why}"));
    if url.contains('#') {
        return Err(bad("has a fragment; give only scheme://host[:port]"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| bad("is not a valid URL; expected e.g. https://open.feishu.cn"))?;
    let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => "https",
        Some("http") => "http",
        Some(_) => return Err(bad("has an unsupported scheme; use https:// (or http://)")),
        None => return Err(bad("has no scheme; expected e.g. https://open.feishu.cn")),
    };
    let Some(authority) = uri.authority() else {
        return Err(bad("has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(bad(
            "contains user info; credentials do not belong in the base URL",
        ));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(bad(
            "has a path; give only scheme://host[:port] (the library adds /open-apis/...)",
        ));
    }
    if uri.query().is_some() {
        return Err(bad("has a query string; give only scheme://host[:port]"));
    }
    Ok(format!(
        "{scheme}://{}",
        authority.as_str().to_ascii_lowercase()
    ))
}

/// Reads the PEM certificates of `path`. A file that cannot be read, is too
/// large, or holds no certificate is an error.
pub fn load_ca_file(path: &str) -> Result<CaRoots, Error> {
    let shown = crate::text::clean(path, 120);
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::invalid(format!("cannot read CA file \"{shown}\": {e}")))?;
    if meta.len() > MAX_CA_FILE_LEN {
        return Err(Error::invalid(format!(
            "CA file \"{shown}\" is larger than {MAX_CA_FILE_LEN} bytes"
        )));
    }
    let pem = std::fs::read(path)
        .map_err(|e| Error::invalid(format!("cannot read CA file \"{shown}\": {e}")))?;
    parse_ca_pem(&pem, &shown)
}

/// The certificates of a CA file's text (`shown`: its name in messages),
/// each checked to be usable as a root.
pub fn parse_ca_pem(pem: &[u8], shown: &str) -> Result<CaRoots, Error> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => {
                check_root(&c).map_err(|e| {
                    Error::invalid(format!(
                        "CA file \"{shown}\": certificate {} cannot be used as a root: {e}",
                        certs.len() + 1
                    ))
                })?;
                certs.push(c);
            }
            Ok(_) => {} // keys and other sections are ignored
            Err(e) => {
                return Err(Error::invalid(format!(
                    "CA file \"{shown}\" is not valid PEM: {e}"
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "CA file \"{shown}\" contains no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

/// Checks that `cert` can serve as a root when the file is loaded (ureq would
/// skip an unusable one silently at the first connection).
fn check_root(cert: &Certificate<'static>) -> Result<(), String> {
    rustls::RootCertStore::empty()
        .add(rustls::pki_types::CertificateDer::from(cert.der()))
        .map_err(|e| e.to_string())
}

/// Parses an HTTP CONNECT proxy URL (`http://[user:pass@]host[:port]`; a URL
/// without a scheme is taken as http, and the port defaults to 1080, as in
/// curl) and the `NO_PROXY` list. ureq parses the URL and decodes the user
/// info; only the default port and NO_PROXY are added here.
pub fn parse_proxy(url: &str, no_proxy: Option<&str>) -> Result<ProxySetting, Error> {
    if let Some((scheme, _)) = url.split_once("://") {
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(Error::invalid(format!(
                "proxy URL has the unsupported scheme \"{}\"; only http:// (HTTP CONNECT) proxies are supported",
                crate::text::clean(scheme, 20)
            )));
        }
    }
    // Never echoed: the URL may hold a password.
    let invalid =
        || Error::invalid("proxy URL is not of the form http://[user:password@]host[:port]");
    let parsed = Proxy::new(url).map_err(|_| invalid())?;
    let host = parsed.host();
    if host.is_empty() || parsed.protocol() != ProxyProtocol::Http {
        return Err(invalid());
    }
    let port = parsed
        .uri()
        .authority()
        .and_then(|a| a.port_u16())
        .unwrap_or(1080);
    let mut builder = Proxy::builder(ProxyProtocol::Http).host(host).port(port);
    if let Some(user) = parsed.username() {
        builder = builder
            .username(user)
            .password(parsed.password().unwrap_or(""));
    }
    for entry in no_proxy.unwrap_or("").split(',').map(str::trim) {
        if !entry.is_empty() {
            builder = builder.no_proxy(entry);
        }
    }
    let proxy = builder.build().map_err(|_| invalid())?;
    Ok(ProxySetting {
        proxy,
        display: format!("http://{host}:{port}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn from(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("https://open.feishu.cn").unwrap(),
            "https://open.feishu.cn"
        );
        assert_eq!(
            parse_base_url("HTTPS://Open.Larksuite.com/").unwrap(),
            "https://open.larksuite.com"
        );
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse_base_url("http://[::1]:8080").unwrap(),
            "http://[::1]:8080"
        );
        for bad in [
            "",
            "open.feishu.cn",
            "ftp://open.feishu.cn",
            "https://open.feishu.cn/open-apis",
            "https://open.feishu.cn?x=1",
            "https://open.feishu.cn#frag",
            "https://user:pw@open.feishu.cn",
            "https://",
            "https://open feishu.cn",
        ] {
            let e = parse_base_url(bad).unwrap_err();
            assert!(e.message.starts_with("base URL"), "{bad}: {}", e.message);
        }
        let e = parse_base_url("https://user:hunter2@host").unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn env_defaults_and_overrides() {
        let c = from(&[]).unwrap();
        assert_eq!(c.base_url, FEISHU_BASE_URL);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert!(c.proxy.is_none());
        let c = from(&[
            ("FEISHU_BASE_URL", "http://127.0.0.1:9"),
            ("FEISHU_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(c.timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        for (var, val) in [
            ("FEISHU_BASE_URL", "ftp://x"),
            ("FEISHU_TIMEOUT_MS", "0"),
            ("FEISHU_TIMEOUT_MS", "abc"),
            ("FEISHU_TIMEOUT_MS", "99999999999"),
            ("FEISHU_CA_FILE", "/nonexistent/ca.pem"),
            ("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
        ] {
            let e = from(&[(var, val)]).unwrap_err();
            assert!(e.message.contains(var), "{var}: {}", e.message);
        }
    }

    #[test]
    fn proxies_follow_curl_and_hide_passwords() {
        let c = from(&[
            ("HTTPS_PROXY", "http://bob:s3cret@proxy.local:3128"),
            ("NO_PROXY", "localhost"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
        let p = c.proxy.unwrap();
        assert_eq!(p.display, "http://proxy.local:3128");
        assert_eq!(p.proxy.username(), Some("bob"));
        assert_eq!(p.proxy.password(), Some("s3cret"));
        // Plain-http base URLs ignore HTTPS_PROXY, as curl does.
        let c = from(&[
            ("FEISHU_BASE_URL", "http://127.0.0.1:1"),
            ("HTTPS_PROXY", "proxy:3128"),
        ])
        .unwrap();
        assert!(c.proxy.is_none());
        let e = parse_proxy("socks5://u:hunter2@h:1", None).unwrap_err();
        assert!(!e.message.contains("hunter2"));
        let e = parse_proxy("http://u:hunter2@", None).unwrap_err();
        assert!(!e.message.contains("hunter2"));
        // Escapes are decoded once, and only well-formed ones: "%+A" is not a
        // line feed (a sign is no hex digit).
        let p = parse_proxy("http://u%40x:a%2Bb%+A@h", None).unwrap();
        assert_eq!(p.proxy.username(), Some("u@x"));
        assert_eq!(p.proxy.password(), Some("a+b%+A"));
        assert_eq!(p.display, "http://h:1080");
    }

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("feishu-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let e = load_ca_file(empty.to_str().unwrap()).unwrap_err();
        assert!(e.message.contains("no PEM certificate"), "{}", e.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn server_and_host_come_from_the_base_url() {
        let mut c = Config::default();
        assert_eq!(
            (c.server().as_str(), c.host().as_str()),
            ("open.feishu.cn:443", "open.feishu.cn")
        );
        for (url, server, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1"),
            ("http://example.com", "example.com:80", "example.com"),
            ("https://[::1]:8443", "[::1]:8443", "::1"),
            ("https://[::1]", "[::1]:443", "::1"),
        ] {
            c.set_base_url(url).unwrap();
            assert_eq!(
                (c.server().as_str(), c.host().as_str()),
                (server, host),
                "{url}"
            );
        }
    }
}

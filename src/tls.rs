//! TLS on a connection (rustls, with ring): the client configuration (the
//! Mozilla roots of `webpki-roots` plus the caller's CA file) and a connector
//! for ureq's chain that wraps an `https` connection after TCP (or after a
//! CONNECT proxy's tunnel).
//!
//! Our own, not ureq's `RustlsConnector`, for one reason: ureq takes roots as
//! whole certificates, and the bundled Mozilla set as certificates is 0.2 MB
//! of the library and is parsed again by every new client; `webpki-roots`
//! holds them as trust anchors, ready to use.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::Error;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// The client configuration: TLS 1.3 and 1.2 with rustls's safe defaults,
/// the bundled roots plus `extra_roots`; verification can not be turned off.
/// The crypto provider is given explicitly, so that a host process's
/// process-wide rustls default never changes ours.
pub fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| format!("a CA certificate cannot be used as a root: {e}"))?;
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration failed: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(config)
}

/// Checks that `cert` can serve as a root (a CA file is checked when it is
/// loaded, not at the first connection).
pub fn check_root(cert: &CertificateDer<'static>) -> Result<(), String> {
    RootCertStore::empty()
        .add(cert.clone())
        .map_err(|e| e.to_string())
}

/// Wraps the chained connection in TLS when the target is `https`.
#[derive(Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    input_size: usize,
    output_size: usize,
}

impl TlsConnector {
    /// `input_size` / `output_size`: the plaintext buffers of a connection.
    pub fn new(config: ClientConfig, input_size: usize, output_size: usize) -> TlsConnector {
        TlsConnector {
            config: Arc::new(config),
            input_size,
            output_size,
        }
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Error::Tls("the host is not a valid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        // The handshake, within the connect budget.
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(self.input_size, self.output_size),
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// A TLS connection: plaintext in its own buffers, records through the
/// connection below.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        use std::io::Write;
        self.stream.sock.set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        use std::io::Read;
        self.stream.sock.set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    /// Open when the connection below is: a peer's close_notify or any
    /// unexpected record shows there as unread bytes.
    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

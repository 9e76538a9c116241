//! The console over TLS, with the certificate and key the gRPC servers
//! use: a listener that hands axum connections whose handshake is done.
//! Handshakes run beside the accept loop (a slow or silent client holds
//! only its own task, for at most [`HANDSHAKE_TIME`]), and at most
//! [`HANDSHAKES`] at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// Handshakes in progress at once.
const HANDSHAKES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleTlsError {
    #[error("the TLS certificate (tls_cert): {0}")]
    Certificate(String),
    #[error("the TLS private key (tls_key): {0}")]
    Key(String),
    #[error("the private key (tls_key) does not belong to the certificate (tls_cert)")]
    KeyMismatch,
    #[error("the TLS certificate and key: {0}")]
    Config(tokio_rustls::rustls::Error),
}

impl From<tokio_rustls::rustls::Error> for ConsoleTlsError {
    fn from(e: tokio_rustls::rustls::Error) -> Self {
        use tokio_rustls::rustls::{Error, InconsistentKeys};
        match e {
            Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => Self::KeyMismatch,
            other => Self::Config(other),
        }
    }
}

/// How many certificates a PEM file holds; an error if it holds none or
/// cannot be read as PEM (a CA file that is empty, or a key by mistake).
pub fn count_certificates(pem: &[u8]) -> Result<usize, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    match chain.len() {
        0 => Err("no PEM certificate in it (-----BEGIN CERTIFICATE-----)".to_owned()),
        n => Ok(n),
    }
}

/// The certificate chain and key, PEM, as `tls_cert` and `tls_key` hold them.
#[derive(Clone)]
pub struct ConsoleTls {
    pub certificate_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ConsoleTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ConsoleTls { .. }")
    }
}

impl ConsoleTls {
    /// Whether the certificate and key make a TLS server: checked at start,
    /// so a bad key is refused before anything listens.
    pub fn check(&self) -> Result<(), ConsoleTlsError> {
        self.acceptor().map(drop)
    }

    fn acceptor(&self) -> Result<TlsAcceptor, ConsoleTlsError> {
        let chain = CertificateDer::pem_slice_iter(&self.certificate_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConsoleTlsError::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(ConsoleTlsError::Certificate(
                "no certificate in the PEM".to_owned(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| ConsoleTlsError::Key(e.to_string()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// A listener of finished TLS connections, for `axum::serve`.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; stops when the listener is dropped.
    pub fn new(tcp: TcpListener, tls: &ConsoleTls) -> Result<Self, ConsoleTlsError> {
        let acceptor = tls.acceptor()?;
        let local = tcp
            .local_addr()
            .map_err(|e| ConsoleTlsError::Certificate(format!("the listener: {e}")))?;
        let (tx, ready) = mpsc::channel(64);
        let slots = Arc::new(Semaphore::new(HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    () = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::warn!(error = %e, "console: cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    // Too many handshakes at once: this one is dropped.
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIME, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "console: TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "console: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

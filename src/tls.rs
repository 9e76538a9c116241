//! TLS for the gRPC servers and the clients the node runs itself: the
//! configured certificate and key, or with `dev_tls` a self-signed one made
//! once in `<data_dir>/dev-tls/` (for trying it out; clients trust it with
//! `--tls-ca <data_dir>/dev-tls/cert.pem`).

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::config::Config;

/// The folder `dev_tls` keeps its certificate and key in.
pub const DEV_TLS_DIR: &str = "dev-tls";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} {path}: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tls_ca {path} is not a CA certificate: {reason}")]
    NotCertificate { path: PathBuf, reason: String },
    #[error("cannot write the development certificate to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the development certificate: {0}")]
    Generate(String),
    #[error("the certificate and key cannot serve TLS: {0}")]
    Console(String),
}

/// What this node serves TLS with, and the certificate its own clients
/// trust for it.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub identity: Identity,
    pub certificate: Vec<u8>,
    /// The private key, PEM: the web console serves TLS with it too.
    pub key: Vec<u8>,
}

/// The server side: `tls_cert`/`tls_key`, or the development certificate,
/// or none (plaintext).
pub fn server(config: &Config) -> Result<Option<ServerTls>, TlsError> {
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (read("tls_cert", cert)?, read("tls_key", key)?),
        _ if config.dev_tls => dev_certificate(&config.data_dir.join(DEV_TLS_DIR))?,
        _ => return Ok(None),
    };
    Ok(Some(ServerTls {
        identity: Identity::from_pem(&cert, &key),
        certificate: cert,
        key,
    }))
}

/// A client's TLS: trusting `ca` (PEM).
pub fn client(ca: &[u8]) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca))
}

/// The CA file's content, refused unless it holds a PEM certificate: an
/// empty file or a key given by mistake would otherwise start, and fail
/// only at the first call that reaches ticketing.
pub fn read_ca(path: &Path) -> Result<Vec<u8>, TlsError> {
    let pem = read("tls_ca", path)?;
    hotline_ticketing::web::count_certificates(&pem).map_err(|reason| {
        TlsError::NotCertificate {
            path: path.to_owned(),
            reason,
        }
    })?;
    Ok(pem)
}

/// `path`, the value of the setting `key`.
fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

/// The development certificate in `dir`, made (for localhost, 127.0.0.1
/// and ::1) the first time; the key is written 0600.
fn dev_certificate(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert_path.exists() && key_path.exists() {
        return Ok((
            read("the development certificate", &cert_path)?,
            read("the development key", &key_path)?,
        ));
    }
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = made.cert.pem().into_bytes();
    let key = made.signing_key.serialize_pem().into_bytes();
    let write = |path: &Path, bytes: &[u8]| -> Result<(), TlsError> {
        use std::io::Write;
        let failed = |source| TlsError::Write {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(failed)
    };
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    write(&key_path, &key)?;
    write(&cert_path, &cert)?;
    Ok((cert, key))
}

/// Whether `url` names this machine (localhost, 127.0.0.0/8, ::1): where
/// plaintext and the admin token file may go.
pub fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<tonic::codegen::http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_a_ticketing_on_this_machine_gets_the_admin_token_file() {
        for url in [
            "http://127.0.0.1:50051",
            "https://localhost:50051",
            "http://[::1]:50051",
            "http://127.0.0.9:1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://10.0.0.5:50051",
            "https://ticketing.example:50051",
            "not a url",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}

//! TLS for `wss://`: a rustls server configuration built from PEM files.
//!
//! Uses rustls with the `ring` provider (pure Rust plus a little assembly; no CMake or C
//! toolchain beyond `cc`, unlike aws-lc). TLS 1.2 and 1.3 with rustls' safe defaults; no client
//! certificates. Errors name the file and what is wrong with it, never the key's content.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
pub use tokio_rustls::TlsAcceptor;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("TLS certificate {path}: {reason}")]
    Certificate {
        /// The `--tls-cert` file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("TLS private key {path}: {reason}")]
    Key {
        /// The `--tls-key` file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (for example, the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Reads the certificate chain (leaf first) and the private key (PKCS#8, PKCS#1 or SEC1) from
/// PEM files and builds a server configuration for them.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_err = |reason: String| TlsError::Certificate {
        path: cert.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM CERTIFICATE block found".to_owned()));
    }
    // The key's own error text could quote key material in principle; rustls' PEM errors do
    // not, but say only what kind of failure it was to be safe.
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: pem_error_kind(&e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    Ok(Arc::new(config))
}

/// A tokio acceptor for the certificate and key in these PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    server_config(cert, key).map(TlsAcceptor::from)
}

/// A client connection, plain or TLS, so the WebSocket layer handles both with one type.
#[derive(Debug)]
pub enum ServerStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://` (boxed: a TLS session is much larger than a socket).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerStream::Plain(s) => s.is_write_vectored(),
            ServerStream::Tls(s) => s.is_write_vectored(),
        }
    }
}

fn pem_error_kind(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::NoItemsFound => "no PEM PRIVATE KEY block found".to_owned(),
        Error::Io(io) => io.to_string(),
        _ => "malformed PEM".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, certified.cert.pem())?;
        std::fs::write(&key, certified.signing_key.serialize_pem())?;
        Ok((cert, key))
    }

    #[test]
    fn builds_from_a_generated_pair() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (cert, key) = write_pair(dir.path())?;
        let config = server_config(&cert, &key)?;
        assert!(config.alpn_protocols.is_empty());
        acceptor(&cert, &key)?;
        Ok(())
    }

    #[test]
    fn names_the_missing_or_bad_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (cert, key) = write_pair(dir.path())?;
        let missing = dir.path().join("nope.pem");

        let err = server_config(&missing, &key).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("certificate") && e.contains("nope.pem")),
            "{err:?}"
        );

        let err = server_config(&cert, &missing).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("private key") && e.contains("nope.pem")),
            "{err:?}"
        );

        // Certificate and key swapped: neither file has what is asked of it.
        let err = server_config(&key, &cert).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("no PEM CERTIFICATE")),
            "{err:?}"
        );
        let err = server_config(&cert, &cert).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("no PEM PRIVATE KEY")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn rejects_a_key_that_does_not_match() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (cert, _) = write_pair(dir.path())?;
        let other = tempfile::tempdir()?;
        let (_, other_key) = write_pair(other.path())?;
        assert!(matches!(
            server_config(&cert, &other_key),
            Err(TlsError::Config(_))
        ));
        Ok(())
    }
}

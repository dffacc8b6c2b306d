//! A TLS-terminating proxy in front of a plain-HTTP endpoint (DynamoDB Local), with a throw-away
//! CA, so a function's first TLS handshake can be measured locally: the function trusts the CA
//! through `SSL_CERT_FILE`, which the SDK's root-certificate loader honours.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

type BoxError = Box<dyn Error + Send + Sync>;

pub struct TlsProxy {
    /// `https://localhost:<port>`.
    pub endpoint: String,
    /// The CA certificate (PEM) to trust.
    pub ca_file: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`; writes the CA
    /// certificate into `dir`.
    pub async fn start(upstream: SocketAddr, dir: &Path) -> Result<Self, BoxError> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "shop bench-lambda throw-away CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate()?;
        let leaf =
            CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&leaf_key, &issuer)?;
        std::fs::create_dir_all(dir)?;
        let ca_file = dir.join("bench-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem())?;

        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = forward(acceptor, client, upstream).await;
                });
            }
        });
        Ok(Self {
            endpoint: format!("https://localhost:{port}"),
            ca_file,
            task,
        })
    }
}

async fn forward(
    acceptor: TlsAcceptor,
    client: TcpStream,
    upstream: SocketAddr,
) -> Result<(), BoxError> {
    client.set_nodelay(true)?;
    let mut tls = acceptor.accept(client).await?;
    let mut plain = TcpStream::connect(upstream).await?;
    plain.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut tls, &mut plain).await?;
    Ok(())
}

//! OCPP security profiles 2 and 3 over real TLS connections, with a certificate authority made
//! for each test: `wss://` with HTTP Basic, and mutual TLS where the client certificate's common
//! name must be the station id.

mod support;

use csms::store::Registration;
use csms::tls::TlsSettings;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// A certificate authority, a server certificate for 127.0.0.1 and client certificates, as PEM
/// files in a directory of their own.
struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("joule-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("PKI directory");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "joule test CA");
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("CA written");
        let pki = Self { dir, ca };
        let (cert, key) = pki.issue(vec!["127.0.0.1".into(), "localhost".into()], "csms");
        std::fs::write(pki.dir.join("server.pem"), cert).expect("server cert written");
        std::fs::write(pki.dir.join("server.key"), key).expect("server key written");
        pki
    }

    /// A certificate and key (PEM) for `names` with common name `cn`, signed by the CA.
    fn issue(&self, names: Vec<String>, cn: &str) -> (String, String) {
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("signed");
        (cert.pem(), key.serialize_pem())
    }

    fn settings(&self, mutual: bool, require: bool) -> TlsSettings {
        TlsSettings {
            cert: self.dir.join("server.pem"),
            key: self.dir.join("server.key"),
            client_ca: mutual.then(|| self.dir.join("ca.pem")),
            require_client_cert: require,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Wss =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Connects over TLS trusting `pki`'s CA, optionally with a client certificate for `client_cn`;
/// returns the HTTP status on refusal, 0 when the connection fails before HTTP.
async fn wss(
    addr: SocketAddr,
    pki: &Pki,
    station: &str,
    client_cn: Option<&str>,
    password: Option<&str>,
) -> Result<Wss, u16> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).expect("CA trusted");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match client_cn {
        Some(cn) => {
            let (cert, key) = pki.issue(Vec::new(), cn);
            let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("client cert")];
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("TCP");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let Ok(tls) = connector.connect(name, tcp).await else {
        return Err(0);
    };
    let mut request = format!("wss://{addr}/ocpp/{station}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().expect("header"));
    if let Some(password) = password {
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{station}:{password}"));
        request.headers_mut().insert(
            "Authorization",
            format!("Basic {token}").parse().expect("header"),
        );
    }
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        // With TLS 1.3 a missing required client certificate surfaces on first use, not in the
        // handshake.
        Err(_) => Err(0),
    }
}

/// Sends a Heartbeat and checks the answer.
async fn heartbeat(ws: &mut Wss) {
    use futures_util::{SinkExt, StreamExt};
    ws.send(Message::Text(
        json!([2, "hb", "Heartbeat", {}]).to_string().into(),
    ))
    .await
    .expect("sent");
    let Some(Ok(Message::Text(answer))) = ws.next().await else {
        panic!("no answer")
    };
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(
        (answer[0].as_i64(), answer[1].as_str()),
        (Some(3), Some("hb")),
        "{answer}"
    );
}

async fn csms_with(pki: &Pki, name: &str, mutual: bool, require: bool) -> csms::Running {
    let db = support::fresh_db("sqlite", name).await.expect("SQLite");
    let settings = pki.settings(mutual, require);
    support::start(&db, move |c| c.tls = Some(settings)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_2_tls_with_basic_auth() {
    let pki = Pki::new("profile2");
    let csms = csms_with(&pki, "tls_profile2", false, false).await;
    csms.ctx
        .store
        .register_station(
            "CP-2",
            Registration::Accepted,
            Some("a long random secret"),
            0,
        )
        .await
        .expect("registered");
    let mut ws = wss(
        csms.ocpp_addr,
        &pki,
        "CP-2",
        None,
        Some("a long random secret"),
    )
    .await
    .expect("accepted");
    heartbeat(&mut ws).await;
    assert_eq!(
        wss(csms.ocpp_addr, &pki, "CP-2", None, Some("wrong"))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        wss(csms.ocpp_addr, &pki, "CP-2", None, None).await.err(),
        Some(401)
    );
    csms.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_3_the_client_certificate_identifies_the_station() {
    let pki = Pki::new("profile3");
    let csms = csms_with(&pki, "tls_profile3", true, false).await;
    csms.ctx
        .store
        .register_station(
            "CP-3",
            Registration::Accepted,
            Some("a long random secret"),
            0,
        )
        .await
        .expect("registered");
    // The certificate stands in for the password.
    let mut ws = wss(csms.ocpp_addr, &pki, "CP-3", Some("CP-3"), None)
        .await
        .expect("accepted");
    heartbeat(&mut ws).await;
    // A certificate of one station cannot open another station's connection.
    assert_eq!(
        wss(csms.ocpp_addr, &pki, "CP-3", Some("CP-OTHER"), None)
            .await
            .err(),
        Some(403)
    );
    // Without a certificate the station falls back to its password (profile 2 on the same port).
    assert_eq!(
        wss(csms.ocpp_addr, &pki, "CP-3", None, None).await.err(),
        Some(401)
    );
    let mut ws = wss(
        csms.ocpp_addr,
        &pki,
        "CP-3",
        None,
        Some("a long random secret"),
    )
    .await
    .expect("accepted");
    heartbeat(&mut ws).await;
    csms.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificates_refuse_stations_without_one() {
    let pki = Pki::new("required");
    let csms = csms_with(&pki, "tls_required", true, true).await;
    assert_eq!(
        wss(csms.ocpp_addr, &pki, "CP-R", None, None).await.err(),
        Some(0)
    );
    let mut ws = wss(csms.ocpp_addr, &pki, "CP-R", Some("CP-R"), None)
        .await
        .expect("accepted");
    heartbeat(&mut ws).await;
    csms.shutdown().await;
}

#[test]
fn unreadable_certificates_are_reported() {
    let settings = TlsSettings {
        cert: PathBuf::from("/nonexistent/server.pem"),
        key: PathBuf::from("/nonexistent/server.key"),
        client_ca: None,
        require_client_cert: false,
    };
    let error = csms::tls::server_config(&settings).expect_err("no such files");
    assert!(
        error.to_string().contains("/nonexistent/server.pem"),
        "{error}"
    );
}

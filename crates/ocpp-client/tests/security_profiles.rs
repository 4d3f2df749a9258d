//! The station end of OCPP security profiles 1–3 against the joule central system over real
//! sockets: HTTP Basic over `ws://`, `wss://` with the central system's root and Basic, and mutual
//! TLS with a client certificate; wrong credentials and an untrusted server are refused.

use csms::CsmsConfig;
use csms::store::Registration;
use csms::tls::TlsSettings;
use ocpp_client::{Client, ClientConfig, ClientError, tls};
use proto_ocpp::v16::{HeartbeatRequest, Response, V16};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::net::SocketAddr;
use std::path::PathBuf;

const PASSWORD: &str = "0123456789abcdef0123";

/// A certificate authority with a server certificate for 127.0.0.1, as files.
struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("joule-client-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("PKI directory");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "test CSMS root");
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("CA written");
        let pki = Self { dir, ca };
        let (cert, key) = pki.issue(vec!["127.0.0.1".into()], "csms");
        std::fs::write(pki.dir.join("server.pem"), cert).expect("written");
        std::fs::write(pki.dir.join("server.key"), key).expect("written");
        pki
    }

    fn issue(&self, names: Vec<String>, cn: &str) -> (String, String) {
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("signed");
        (cert.pem(), key.serialize_pem())
    }

    fn root(&self) -> Vec<u8> {
        self.ca.pem().into_bytes()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn csms(name: &str, tls: Option<TlsSettings>) -> csms::Running {
    let db = std::env::temp_dir().join(format!("joule-client-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut config = CsmsConfig::new(vec!["k".into()]);
    config.ocpp_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db = format!("sqlite://{}", db.display());
    config.tls = tls;
    let csms = csms::start(config).await.expect("central system");
    for station in ["SP1", "SP2", "SP3"] {
        csms.ctx
            .store
            .register_station(station, Registration::Accepted, Some(PASSWORD), 0)
            .await
            .expect("registered");
    }
    csms
}

async fn heartbeat(client: &Client<V16>) {
    let answer = client
        .call(HeartbeatRequest::new())
        .await
        .expect("answered");
    assert!(matches!(answer, Response::Heartbeat(_)), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_1_basic_auth_over_ws() {
    let csms = csms("sp1", None).await;
    let url = format!("ws://{}/ocpp", csms.ocpp_addr);
    let mut config = ClientConfig::new(&url, "SP1");
    config.password = Some(PASSWORD.as_bytes().to_vec());
    let client = Client::<V16>::connect(config).await.expect("connected");
    heartbeat(&client).await;
    let mut wrong = ClientConfig::new(&url, "SP1");
    wrong.password = Some(b"not the password at all".to_vec());
    let refused = Client::<V16>::connect(wrong).await;
    assert!(
        matches!(refused, Err(ClientError::Refused(401))),
        "{refused:?}"
    );
    client.close().await;
    csms.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_2_and_3_over_wss() {
    let pki = Pki::new("sp23");
    let settings = TlsSettings {
        cert: pki.dir.join("server.pem"),
        key: pki.dir.join("server.key"),
        client_ca: Some(pki.dir.join("ca.pem")),
        require_client_cert: false,
    };
    let csms = csms("sp23", Some(settings)).await;
    let url = format!("wss://{}/ocpp", csms.ocpp_addr);

    // Profile 2: the server is verified against the central system's root; Basic identifies us.
    let mut config = ClientConfig::new(&url, "SP2");
    config.tls = Some(tls::client_config(&pki.root(), None).expect("TLS settings"));
    config.password = Some(PASSWORD.as_bytes().to_vec());
    let client = Client::<V16>::connect(config).await.expect("profile 2");
    heartbeat(&client).await;
    client.close().await;

    // Profile 3: the client certificate identifies the station.
    let (cert, key) = pki.issue(Vec::new(), "SP3");
    let mut config = ClientConfig::new(&url, "SP3");
    config.tls = Some(
        tls::client_config(&pki.root(), Some((cert.as_bytes(), key.as_bytes())))
            .expect("TLS settings"),
    );
    let client = Client::<V16>::connect(config).await.expect("profile 3");
    heartbeat(&client).await;
    client.close().await;

    // A server certificate from another root is refused before any HTTP.
    let other = Pki::new("other");
    let mut config = ClientConfig::new(&url, "SP2");
    config.tls = Some(tls::client_config(&other.root(), None).expect("TLS settings"));
    config.password = Some(PASSWORD.as_bytes().to_vec());
    let refused = Client::<V16>::connect(config).await;
    assert!(matches!(refused, Err(ClientError::Tls(_))), "{refused:?}");
    // No TLS settings at all: nothing is trusted blindly.
    let mut config = ClientConfig::new(&url, "SP2");
    config.password = Some(PASSWORD.as_bytes().to_vec());
    let refused = Client::<V16>::connect(config).await;
    assert!(matches!(refused, Err(ClientError::Tls(_))), "{refused:?}");
    csms.shutdown().await;
}

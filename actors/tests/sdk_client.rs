//! A client no one on the team wrote: the official Sentry SDK for Python
//! (`sentry-sdk` from PyPI, installed with pip into `target/tmp`) sends real
//! exceptions to a real `stackherd serve` process, whose grouping is then
//! checked through the native API. The server is stopped with SIGTERM and
//! started again on the same data directory: the grouping and the DSN key
//! created through the admin API are still there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where the SDK is installed (git-ignored, kept between runs).
fn sdk_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sentry-sdk-python");
    if dir.join("sentry_sdk").join("__init__.py").is_file() {
        return dir;
    }
    // Installed beside, then moved into place, so a half-finished install
    // is never taken for a finished one.
    let staging = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sentry-sdk-python.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
        ])
        .arg(&staging)
        .arg("sentry-sdk>=2,<3")
        .output()
        .expect("python3 -m pip");
    assert!(
        output.status.success(),
        "pip install sentry-sdk failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if std::fs::rename(&staging, &dir).is_err() {
        // Another test run won the race; its install is as good.
        let _ = std::fs::remove_dir_all(&staging);
    }
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, log: PathBuf) -> Server {
        let port = free_port();
        let model = stackherd::embed::provision::default_test_model_dir().expect("test model");
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackherd"));
        // Only the settings this test means: no STACKHERD__ from outside.
        for (key, _) in std::env::vars() {
            if key.starts_with("STACKHERD__") {
                command.env_remove(key);
            }
        }
        let log_file = std::fs::File::create(&log).unwrap();
        let child = command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .env(
                "STACKHERD__MODELS__V1__SOURCE",
                format!("dir:{}", model.display()),
            )
            .env("STACKHERD__ENGINE__AI_REQUESTS_PER_SECOND", "0")
            .env("STACKHERD__ENGINE__REQUEST_TIMEOUT_MS", "60000")
            .env("STACKHERD__EMBEDDER__TIMEOUT_MS", "60000")
            .env("STACKHERD_LOG", "info,stackherd::http=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start stackherd serve");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready();
        server
    }

    /// The DSN an SDK uses to send to `project` on this server.
    fn dsn(&self, key: &str, project: u64) -> String {
        let address = self.base.trim_start_matches("http://");
        format!("http://{key}@{address}/{project}")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls /health/ready; the deadline only bounds a hung start.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("stackherd serve exited early ({status}):\n{}", self.log());
            }
            if let Ok((200, _)) = get(&format!("{}/health/ready", self.base)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "stackherd serve did not stop after SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn reply(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, Value), ureq::Error> {
    let mut response = response?;
    let status = response.status().as_u16();
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn get(url: &str) -> Result<(u16, Value), ureq::Error> {
    reply(agent().get(url).call())
}

fn post(url: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.send(body)).unwrap()
}

/// Runs the SDK script; scenario → event id.
fn send_errors(dsn: &str, scenarios: &[&str]) -> HashMap<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/send_errors.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--dsn")
        .arg(dsn)
        .args(scenarios)
        .env("PYTHONPATH", sdk_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 tests/sdk/send_errors.py");
    assert!(
        output.status.success(),
        "send_errors.py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let sent: Value = serde_json::from_str(line).unwrap();
            (
                sent["scenario"].as_str().unwrap().to_string(),
                sent["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn grouping(base: &str, project: u64, event_id: &str) -> Value {
    let (status, body) = get(&format!(
        "{base}/api/v1/projects/{project}/events/{event_id}"
    ))
    .unwrap();
    assert_eq!(status, 200, "event {event_id} was not grouped: {body}");
    body
}

#[test]
fn the_python_sentry_sdk_groups_real_exceptions() {
    const PROJECT: u64 = 2;
    const EMAIL: &str = "jane.doe@example.com";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, dir.path().join("serve-1.log"));

    // A DSN key from the admin API (loopback, no token configured).
    let (status, created) = post(
        &format!("{}/api/v1/projects/{PROJECT}/keys", server.base),
        "",
        &[],
    );
    assert_eq!(status, 201, "{created}");
    let key = created["public_key"].as_str().unwrap().to_string();
    let sent = send_errors(&server.dsn(&key, PROJECT), &[]);
    assert_eq!(sent.len(), 4, "{sent:?}");
    let first = grouping(&server.base, PROJECT, &sent["first"]);
    let same = grouping(&server.base, PROJECT, &sent["same"]);
    let variant = grouping(&server.base, PROJECT, &sent["variant"]);
    let unrelated = grouping(&server.base, PROJECT, &sent["unrelated"]);
    assert_eq!(first["method"], "new", "{first}");
    // The same error again: the fingerprint cache answers.
    assert_eq!(same["method"], "fingerprint", "{same}");
    assert_eq!(same["issue"], first["issue"]);
    // Another entry point: fingerprinting splits it, the model merges it.
    assert_ne!(variant["hash"], first["hash"], "{variant}");
    assert_eq!(variant["method"], "ai", "{variant}");
    assert_eq!(variant["issue"], first["issue"]);
    assert_eq!(variant["matched_hash"], first["hash"]);
    // A different error: its own issue.
    assert_eq!(unrelated["method"], "new", "{unrelated}");
    assert_ne!(unrelated["issue"], first["issue"]);

    let issue = first["issue"].as_str().unwrap();
    let (status, members) = get(&format!(
        "{}/api/v1/projects/{PROJECT}/issues/{issue}/members",
        server.base
    ))
    .unwrap();
    assert_eq!(status, 200, "{members}");
    let mut joined: Vec<(String, String)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["fingerprint"].as_str().unwrap().to_string(),
                m["joined"]["method"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    joined.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        joined,
        vec![
            (
                variant["hash"].as_str().unwrap().to_string(),
                "ai".to_string()
            ),
            (
                first["hash"].as_str().unwrap().to_string(),
                "new".to_string()
            ),
        ]
    );

    // Metrics saw them.
    let metrics = reply(agent().get(&format!("{}/metrics", server.base)).call()).unwrap();
    assert_eq!(metrics.0, 200);

    // Graceful stop on SIGTERM: exit status 0, the store flushed.
    let (status, log) = server.terminate();
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("node stopped"), "{log}");
    // Frame variables reach neither the store nor the log.
    assert!(!log.contains(EMAIL), "the log leaked a local variable");

    // Restarted on the same data: the key still works and the same error
    // is a cache hit in the same issue.
    let server = Server::start(&data, dir.path().join("serve-2.log"));
    let again = send_errors(&server.dsn(&key, PROJECT), &["same"]);
    let same_again = grouping(&server.base, PROJECT, &again["same"]);
    assert_eq!(same_again["method"], "fingerprint", "{same_again}");
    assert_eq!(same_again["issue"], first["issue"]);
    // A wrong key is refused (the SDK would only log it).
    let (status, body) = post(
        &format!("{}/api/{PROJECT}/store/", server.base),
        "{}",
        &[(
            "x-sentry-auth",
            "Sentry sentry_key=ffffffffffffffffffffffffffffffff, sentry_version=7",
        )],
    );
    assert_eq!(status, 401, "{body}");
    let (status, log) = server.terminate();
    assert!(status.success(), "exit {status}:\n{log}");

    let stored = walk(&data);
    assert!(
        !stored.iter().any(|bytes| contains(bytes, EMAIL.as_bytes())),
        "the data directory holds a local variable"
    );
}

/// Every file's bytes under `dir`.
fn walk(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

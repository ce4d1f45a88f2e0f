//! The 3-node cluster in containers, as part of `cargo test`: runs
//! `docker/cluster-test.sh` against the `stackherd` binary cargo built for
//! this test run (so the image is never stale), under an image tag of its
//! own (concurrent runs from other checkouts do not share it).
//!
//! Skipped, with a note on stderr, when docker is not usable, when the
//! binary has no `serve` subcommand (the script exits 77 after building and
//! smoke-testing the image), or when `STACKHERD_SKIP_DOCKER_TESTS` is set.

use std::path::Path;
use std::process::Command;

const SKIPPED: i32 = 77;

#[test]
fn three_node_cluster_in_containers() {
    if std::env::var_os("STACKHERD_SKIP_DOCKER_TESTS").is_some() {
        eprintln!("skipped: STACKHERD_SKIP_DOCKER_TESTS is set");
        return;
    }
    let docker_ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|output| output.status.success());
    if !docker_ok {
        eprintln!("skipped: docker is not usable here");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."));
    let image = format!("stackherd:test-{}", std::process::id());
    let mut command = Command::new("bash");
    command
        .arg(root.join("docker").join("cluster-test.sh"))
        .current_dir(root)
        .env("STACKHERD_BIN", env!("CARGO_BIN_EXE_stackherd"))
        .env("STACKHERD_IMAGE", &image);
    if let Some(dir) = std::env::var_os("STACKHERD_TEST_MODEL_DIR").filter(|d| !d.is_empty()) {
        command.env("STACKHERD_MODEL_DIR", dir);
    }
    let output = command.output();
    let _ = Command::new("docker")
        .args(["image", "rm", "--force", &image])
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) => panic!("cannot run docker/cluster-test.sh: {error}"),
    };
    let log = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => eprintln!("{log}"),
        Some(SKIPPED) => eprintln!("skipped by docker/cluster-test.sh:\n{log}"),
        other => {
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "docker/cluster-test.sh failed ({other:?}):\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                tail.join("\n")
            );
        }
    }
}

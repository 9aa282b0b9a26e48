//! Printing into a pipe nobody reads any more (`kmapa … | head -1`) ends kmapa quietly.

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn a_closed_pipe_ends_kmapa_quietly_with_the_sigpipe_status() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmapa"))
        .args(["validate", "--city", "data/wroclaw"])
        .current_dir(&repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before kmapa prints anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shared folder beside the repository (CI clones it there).
pub fn shared() -> PathBuf {
    let p = repo().join("../shared");
    assert!(
        p.join("data/wroclaw/osiedla.geojson").exists(),
        "../shared/data/wroclaw is missing: clone the shared folder beside the repository"
    );
    p
}

/// Runs the kmapa binary in the repository root; panics with its output on failure.
pub fn kmapa(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kmapa"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kmapa {args:?} failed:\n{text}");
    text
}

/// Runs the kmapa binary and expects it to fail; returns stderr.
pub fn kmapa_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kmapa"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(!out.status.success(), "kmapa {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

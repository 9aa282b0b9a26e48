//! A published snapshot is served only whole and unaltered: the files it must and may
//! have are fixed by the code, not by its manifest.

use std::path::{Path, PathBuf};

use kmapa_protect::output::{ProtectedTier, TierAudit, TierSummary};
use kmapa_serve::snapshot::{self, PublishInputs, Snapshot, SnapshotError};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A data directory with one published snapshot; the snapshot's directory.
fn published() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tier = ProtectedTier {
        policy_version: "test".into(),
        batches: Vec::new(),
        summary: TierSummary {
            k: 10,
            width: 10.0,
            ..Default::default()
        },
        cells: Vec::new(),
        analyst: None,
    };
    let m = snapshot::publish(&PublishInputs {
        data_dir: dir.path(),
        tier: &tier,
        audit: &TierAudit::default(),
        policy_file: &repo().join("data/policy.toml"),
        city_dir: &repo().join("data/wroclaw"),
        city: None,
        vocabulary_file: &repo().join("data/categories.csv"),
        analyst_atoms: None,
        institutions: None,
    })
    .unwrap();
    let snap = snapshot::dir(dir.path(), m.number);
    (dir, snap)
}

fn edit_manifest(snap: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = snap.join(snapshot::MANIFEST);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

fn refused(data_dir: &Path) -> String {
    match Snapshot::load(data_dir, None) {
        Ok(_) => panic!("an altered snapshot was loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_untouched_snapshot_loads() {
    let (dir, _) = published();
    let snap = Snapshot::load(dir.path(), None).unwrap();
    assert!(snap.manifest.files.contains_key(snapshot::TIER));
}

#[test]
fn a_file_dropped_from_the_manifest_and_edited_is_not_served() {
    // The reported bypass: drop tier.json from the manifest, then edit it (a hidden
    // count un-hidden); the server used to serve the edited copy.
    let (dir, snap) = published();
    edit_manifest(&snap, |m| {
        m["files"].as_object_mut().unwrap().remove(snapshot::TIER);
    });
    std::fs::write(snap.join(snapshot::TIER), b"{}").unwrap();
    let e = refused(dir.path());
    assert!(e.contains("does not list tier.json"), "{e}");
    // The same with an optional file: population.csv dropped from the manifest but
    // left in the directory.
    let (dir, snap) = published();
    assert!(snap.join(snapshot::POPULATION).exists());
    edit_manifest(&snap, |m| {
        m["files"]
            .as_object_mut()
            .unwrap()
            .remove(snapshot::POPULATION);
    });
    let e = refused(dir.path());
    assert!(e.contains("population.csv is not in the manifest"), "{e}");
}

#[test]
fn edited_missing_or_extra_files_are_refused() {
    let (dir, snap) = published();
    std::fs::write(snap.join(snapshot::AUDIT), b"{}").unwrap();
    assert!(matches!(
        Snapshot::load(dir.path(), None),
        Err(SnapshotError::Altered { .. })
    ));

    let (dir, snap) = published();
    std::fs::remove_file(snap.join(snapshot::DISTRICTS)).unwrap();
    let e = refused(dir.path());
    assert!(e.contains("districts.geojson"), "{e}");

    let (dir, snap) = published();
    std::fs::write(snap.join("extra.json"), b"{}").unwrap();
    let e = refused(dir.path());
    assert!(e.contains("extra.json is not in the manifest"), "{e}");

    let (dir, snap) = published();
    std::fs::write(snap.join("extra.json"), b"{}").unwrap();
    edit_manifest(&snap, |m| {
        m["files"]["extra.json"] = serde_json::json!(snapshot::checksum(b"{}"));
    });
    let e = refused(dir.path());
    assert!(e.contains("unknown file extra.json"), "{e}");
}

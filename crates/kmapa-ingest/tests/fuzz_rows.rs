//! Property tests: whatever bytes a file holds, ingest never panics; it either refuses
//! the file with a message or accounts for every row (accepted + rejected = read).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kmapa_geo::City;
use kmapa_ingest::{IngestContext, IngestOptions, Store, ingest_file};
use kmapa_model::Vocabulary;
use proptest::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> &'static (Vocabulary, City) {
    static R: OnceLock<(Vocabulary, City)> = OnceLock::new();
    R.get_or_init(|| {
        let v = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
        let c = City::load(&repo().join("data/wroclaw"), &v).unwrap();
        (v, c)
    })
}

fn context() -> &'static IngestContext<'static> {
    static C: OnceLock<IngestContext<'static>> = OnceLock::new();
    C.get_or_init(|| {
        let (v, c) = reference();
        IngestContext::new(v, c)
    })
}

fn run(bytes: &[u8]) {
    let ctx = context();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, bytes).unwrap();
    let mut store = Store::open_for_writing(&dir.path().join("store")).unwrap();
    let opts = IngestOptions {
        years: 1990..=2025,
        ..IngestOptions::default()
    };
    match ingest_file(&mut store, &path, ctx, &opts, &|_, _| {}) {
        Ok(s) => assert_eq!(s.rows_accepted + s.rows_rejected, s.rows_read),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // Whatever happened, no half-written batch is left.
    for entry in std::fs::read_dir(dir.path().join("store/batches")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".partial"), "{name} left behind");
    }
}

const HEADER: &str = "source,person_id,household_id,year,category,lat,lon,address,district,sex,birth_year,age_band\n";

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("OPS".to_string()),
        Just("2024".to_string()),
        Just("poverty".to_string()),
        Just("51,11".to_string()),
        Just("17.03".to_string()),
        Just("FAB-01".to_string()),
        Just("ul. Lipowa 12/3".to_string()),
        Just("\"".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        run(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut all = HEADER.as_bytes().to_vec();
        all.extend(bytes);
        run(&all);
    }

    #[test]
    fn arbitrary_rows_are_accepted_or_rejected(rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..14), 1..20)) {
        let mut text = HEADER.to_string();
        for r in rows {
            text.push_str(&r.join(","));
            text.push('\n');
        }
        run(text.as_bytes());
    }
}

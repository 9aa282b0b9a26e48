//! Ingest of files as offices really export them, and of files that must be refused.

use std::path::{Path, PathBuf};

use kmapa_geo::City;
use kmapa_ingest::{IngestContext, IngestError, IngestOptions, Store, ingest_file};
use kmapa_model::{Source, Vocabulary};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Env {
    vocabulary: Vocabulary,
    city: City,
    dir: tempfile::TempDir,
}

fn env() -> Env {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    Env {
        vocabulary,
        city,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn ingest(
        &self,
        path: &Path,
        opts: &IngestOptions,
    ) -> Result<kmapa_ingest::IngestSummary, IngestError> {
        let mut store = Store::open_for_writing(&self.dir.path().join("store")).unwrap();
        let ctx = IngestContext::new(&self.vocabulary, &self.city);
        ingest_file(&mut store, path, &ctx, opts, &|_, _| {})
    }

    fn rejects(&self, summary: &kmapa_ingest::IngestSummary) -> Vec<csv::StringRecord> {
        let p = self
            .dir
            .path()
            .join("store/batches")
            .join(&summary.batch.dir)
            .join("rejects.csv");
        csv::Reader::from_path(p)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect()
    }

    fn records(&self, summary: &kmapa_ingest::IngestSummary) -> polars::prelude::DataFrame {
        let p = self
            .dir
            .path()
            .join("store/batches")
            .join(&summary.batch.dir)
            .join("records.parquet");
        kmapa_ingest::batch::read(&p, None, None).unwrap()
    }
}

fn opts() -> IngestOptions {
    IngestOptions {
        years: 1990..=2025,
        ..IngestOptions::default()
    }
}

#[test]
fn windows_1250_with_semicolons_decimal_commas_and_polish_headers_ingests() {
    let e = env();
    // A point in Gajowice and one in Stare Miasto, with decimal commas; Polish headers
    // and a category given by its Polish label with diacritics.
    let text = "źródło;pseudonim;rok;kategoria;szerokość;długość;płeć;rok urodzenia\r\n\
                MOPS;a1;2023;Ubóstwo;51,0955;17,0040;K;1970\r\n\
                MOPS;a1;2023;bezrobocie;51,0955;17,0040;K;1970\r\n\
                MOPS;b2;2024;Długotrwała lub ciężka choroba;51,1100;17,0320;mężczyzna;1950\r\n\
                MOPS;c3;2024;nieznana;51,1100;17,0320;K;1950\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1250.encode(text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the file really is not UTF-8"
    );
    let path = e.file("ops_1250.csv", &bytes);
    let s = e.ingest(&path, &opts()).unwrap();
    assert_eq!(
        (s.rows_read, s.rows_accepted, s.rows_rejected),
        (4, 3, 1),
        "{:?}",
        e.rejects(&s)
    );
    // CRLF line ends: the reject names the physical line.
    assert_eq!(&e.rejects(&s)[0][0], "5");
    assert!(
        s.encoding.starts_with("Windows-1250, ';'"),
        "{}",
        s.encoding
    );
    let df = e.records(&s);
    let cats: Vec<&str> = df
        .column("category")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(cats, ["poverty", "unemployment", "long_term_illness"]);
    let districts: Vec<&str> = df
        .column("district")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    let expect = |lon: f64, lat: f64| {
        e.city.layer.districts[e.city.index.locate(lon, lat).unwrap()]
            .code
            .clone()
    };
    assert_eq!(
        districts,
        [
            expect(17.004, 51.0955),
            expect(17.004, 51.0955),
            expect(17.032, 51.11)
        ]
    );
    let sex: Vec<&str> = df
        .column("sex")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(sex, ["K", "K", "M"]);
}

#[test]
fn a_pesel_column_is_refused_by_name() {
    let e = env();
    let path = e.file(
        "raw.csv",
        b"source,PESEL,person_id,year,category,district\nOPS,44051401359,a,2024,poverty,FAB-01\n",
    );
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(
        err.contains("column \"PESEL\" (column 2) holds a PESEL number"),
        "{err}"
    );
    assert!(err.contains("kmapa pseudonymise"), "{err}");
    // Nothing became a batch.
    let store = Store::open(&e.dir.path().join("store")).unwrap();
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn pesel_values_and_e_mails_anywhere_are_refused_with_line_and_column() {
    let e = env();
    let path = e.file(
        "ids.csv",
        b"source,person_id,year,category,district\nOPS,x1,2024,poverty,FAB-01\nOPS,44051401359,2024,poverty,FAB-01\n",
    );
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(
        err.contains("line 3: column \"person_id\" holds a valid PESEL number"),
        "{err}"
    );
    let path = e.file("mail.csv", b"source,person_id,year,category,district,uwagi\nOPS,x1,2024,poverty,FAB-01,jan@example.org\n");
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(
        err.contains("column \"uwagi\" holds an e-mail address"),
        "{err}"
    );
}

#[test]
fn a_pesel_inside_a_longer_value_refuses_the_file_and_is_never_written() {
    // As outside testers found them: in a pseudonym, in a free-text note, in an
    // address. Each refuses the whole file; the number appears in no message and no
    // file of the store.
    let e = env();
    for (name, text, column) in [
        (
            "id.csv",
            "source,person_id,year,category,district\nOPS,ID44051401359,2024,poverty,FAB-01\n",
            "person_id",
        ),
        (
            "note.csv",
            "source,person_id,year,category,district,uwagi\nOPS,x1,2024,poverty,FAB-01,rodzina 44051401359\n",
            "uwagi",
        ),
        (
            "addr.csv",
            "source,person_id,year,category,address\nOPS,x1,2024,poverty,ul. Długa 5 44051401359\n",
            "address",
        ),
    ] {
        let path = e.file(name, text.as_bytes());
        let err = e.ingest(&path, &opts()).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "line 2: column \"{column}\" holds a valid PESEL number"
            )),
            "{name}: {err}"
        );
        assert!(
            !err.contains("44051401359"),
            "{name}: the number is in the message: {err}"
        );
    }
    let store = e.dir.path().join("store");
    let store_files = walk(&store);
    for f in &store_files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"44051401359"),
            "{} holds the PESEL",
            f.display()
        );
    }
    assert!(Store::open(&store).unwrap().list().unwrap().is_empty());
}

#[test]
fn a_line_longer_than_a_mebibyte_is_refused_before_it_is_held_or_copied() {
    // The reported case: a 2 GB field took 8.4 GB of memory and went whole into the
    // rejects. Here 3 MB, behind an opened quote that never closes on that line.
    let e = env();
    let mut text = b"source,person_id,year,category,district,uwagi\nOPS,x1,2024,poverty,FAB-01,ok\nOPS,x2,2024,poverty,FAB-01,\"".to_vec();
    text.extend(std::iter::repeat_n(b'a', 3 << 20));
    text.extend(b"\"\n");
    let path = e.file("long.csv", &text);
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(err.contains("line 3 is longer than 1024 KiB"), "{err}");
    assert!(err.len() < 1000, "the message does not carry the line");
    let store = e.dir.path().join("store");
    assert!(Store::open(&store).unwrap().list().unwrap().is_empty());
    for f in walk(&store) {
        assert!(
            std::fs::metadata(&f).unwrap().len() < 1 << 20,
            "{} is large",
            f.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn bad_rows_land_in_the_rejects_with_reasons_and_nothing_is_lost() {
    let e = env();
    let text = "source,person_id,year,category,lat,lon,address,district\n\
        OPS,ok1,2024,poverty,51.1100,17.0320,,\n\
        OPS,far,2024,poverty,52.2297,21.0122,,\n\
        OPS,cat,2024,povety,51.1100,17.0320,,\n\
        PUP,old,2012,under_30,51.1100,17.0320,,\n\
        PUP,new,2020,under_25_0914,51.1100,17.0320,,\n\
        OPS,adr,2024,poverty,,,ul. Nieistniejąca 999,\n\
        OPS,dis,2024,poverty,,,,Gajowicee\n\
        OPS,ok2,2024,poverty,,,,Gajowice\n\
        OPS,src,2024,under_30,51.1100,17.0320,,\n\
        OPS,yr,1850,poverty,51.1100,17.0320,,\n\
        OPS,,2024,poverty,51.1100,17.0320,,\n";
    let path = e.file("mixed.csv", text.as_bytes());
    let s = e.ingest(&path, &opts()).unwrap();
    assert_eq!(s.rows_read, 11);
    assert_eq!(s.rows_accepted, 2);
    assert_eq!(s.rows_accepted + s.rows_rejected, s.rows_read);
    let rejects = e.rejects(&s);
    let find = |line: &str| -> Vec<String> {
        rejects
            .iter()
            .filter(|r| &r[0] == line)
            .map(|r| format!("{}|{}|{}", &r[1], &r[2], &r[3]))
            .collect()
    };
    assert_eq!(
        find("3"),
        ["lat|52.2297, 21.0122|point lies outside the city"]
    );
    assert_eq!(
        find("4"),
        ["category|povety|unknown category (did you mean poverty?)"]
    );
    assert_eq!(
        find("5"),
        [
            "category|under_30|category under_30 is not valid in 2012 (in force 2014-05-27 to 2025-05-31)"
        ]
    );
    assert_eq!(
        find("6"),
        [
            "category|under_25_0914|category under_25_0914 is not valid in 2020 (in force 2009-02-01 to 2014-05-26)"
        ]
    );
    assert_eq!(
        find("7"),
        ["address|ul. Nieistniejąca 999|street not found in the address points"]
    );
    assert!(
        find("8")[0]
            .starts_with("district|Gajowicee|unknown district (did you mean Gajowice (FAB-01)?)"),
        "{:?}",
        find("8")
    );
    assert_eq!(
        find("10"),
        ["category|under_30|category under_30 belongs to PUP, the row is OPS"]
    );
    assert_eq!(find("11"), ["year|1850|year out of range 1990-2025"]);
    assert_eq!(find("12"), ["person_id||person_id is empty"]);
    // Every rejected line is there, and only those.
    let mut lines: Vec<&str> = rejects.iter().map(|r| r.get(0).unwrap()).collect();
    lines.dedup();
    assert_eq!(lines.len() as u64, s.rows_rejected);
    assert_eq!(
        s.top_reasons[0],
        ("category not valid in the year".to_string(), 2)
    );
}

#[test]
fn multi_category_rows_and_strict_mode() {
    let e = env();
    let path = e.file(
        "multi.csv",
        b"zrodlo,id_osoby,rok,kategorie,dzielnica\nOPS,p1,2024,poverty|unemployment;disability,FAB-01\nOPS,p2,2024,poverty|nonsense,FAB-01\n",
    );
    let s = e.ingest(&path, &opts()).unwrap();
    assert_eq!((s.rows_accepted, s.rows_rejected, s.records), (1, 1, 3));
    let strict = IngestOptions {
        strict: true,
        ..opts()
    };
    let path2 = e.file(
        "multi2.csv",
        b"zrodlo,id_osoby,rok,kategorie,dzielnica\nOPS,p2,2024,poverty|nonsense,FAB-01\n",
    );
    let err = e.ingest(&path2, &strict).unwrap_err().to_string();
    assert!(err.contains("line 2: rejected with --strict"), "{err}");
}

#[test]
fn file_level_faults_reject_the_whole_file() {
    let e = env();
    let path = e.file("nocols.csv", b"source,person_id,category\nOPS,a,poverty\n");
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(
        err.contains("required columns missing: year; a location"),
        "{err}"
    );
    // Invalid UTF-8 forced as UTF-8.
    let path = e.file(
        "bad.csv",
        b"source,person_id,year,category,district\nOPS,a\xB3,2024,poverty,FAB-01\n",
    );
    let forced = IngestOptions {
        encoding: Some(kmapa_ingest::reader::Encoding::Utf8),
        ..opts()
    };
    let err = e.ingest(&path, &forced).unwrap_err().to_string();
    assert!(err.contains("line 2 is not UTF-8"), "{err}");
}

#[test]
fn a_file_mixing_encodings_is_refused_at_the_first_line_in_the_other_one() {
    // The reported case: one Windows-1250 line among UTF-8 lines was decoded one way or
    // the other depending on where it fell (inside or past the first 64 KiB).
    let e = env();
    let row = "OPS,x{i},2024,poverty,Gajowice,Łódzka\n";
    for at in [3usize, 5000] {
        let mut text = b"source,person_id,year,category,district,uwagi\n".to_vec();
        for i in 0..6000 {
            if i + 2 == at {
                // ł as Windows-1250 (B3) in a UTF-8 file.
                text.extend(format!("OPS,w{i},2024,poverty,Gajowice,").as_bytes());
                text.extend(b"\xB3\xF3d\xBF\n");
            } else {
                text.extend(row.replace("{i}", &i.to_string()).as_bytes());
            }
        }
        let path = e.file(&format!("mixed{at}.csv"), &text);
        let err = e.ingest(&path, &opts()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("line {at} ")) && err.contains("mixes encodings"),
            "{at}: {err}"
        );
    }
    // A Windows-1250 file with one UTF-8 line.
    let mut text = b"source;person_id;year;category;district;uwagi\nOPS;a;2024;poverty;Gajowice;\xB3\xF3d\xBF\n".to_vec();
    text.extend("OPS;b;2024;poverty;Gajowice;Łódź\n".as_bytes());
    let path = e.file("mixed1250.csv", &text);
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(
        err.contains("line 3 has a letter in UTF-8") && err.contains("mixes encodings"),
        "{err}"
    );
    let store = Store::open(&e.dir.path().join("store")).unwrap();
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn re_ingest_is_a_no_op_and_withdrawal_is_recorded() {
    let e = env();
    let path = e.file(
        "a.csv",
        b"source,person_id,year,category,district\nOPS,a,2024,poverty,FAB-01\n",
    );
    let first = e.ingest(&path, &opts()).unwrap();
    assert!(!first.already_ingested);
    let copy = e.file("copy-of-a.csv", &std::fs::read(&path).unwrap());
    let again = e.ingest(&copy, &opts()).unwrap();
    assert!(again.already_ingested);
    assert_eq!(again.batch.id, first.batch.id);
    let mut store = Store::open_for_writing(&e.dir.path().join("store")).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    let w = store
        .withdraw(first.batch.id, "wrong year exported")
        .unwrap();
    assert_eq!(w.status, "withdrawn");
    assert_eq!(w.withdraw_reason.as_deref(), Some("wrong year exported"));
    assert!(store.withdraw(first.batch.id, "again").is_err());
    assert!(store.active_record_files().unwrap().is_empty());
    // The withdrawn batch is still there, on disk and in the list.
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn default_source_and_parquet_input() {
    let e = env();
    let path = e.file(
        "pup.csv",
        b"person_id,year,category,district\nq,2024,under_30,Nadodrze\n",
    );
    let s = e
        .ingest(
            &path,
            &IngestOptions {
                source: Some(Source::Pup),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(s.rows_accepted, 1);
    // A Parquet file written by the contract writer.
    let batch = kmapa_model::records::RecordBatch {
        source: vec![Source::Ops],
        person_id: vec!["z".into()],
        household_id: vec![None],
        year: vec![2024],
        category: vec!["homelessness".into()],
        lat: vec![None],
        lon: vec![None],
        address: vec![None],
        district: vec![Some("STM-02".into())],
        sex: vec![None],
        birth_year: vec![Some(1980)],
        age_band: vec![None],
        synthetic: vec![true],
    };
    let pq = e.dir.path().join("one.parquet");
    let mut w: Box<dyn kmapa_model::records::RecordSink> =
        Box::new(kmapa_ingest::ParquetRecordWriter::create(&pq, true).unwrap());
    w.write_batch(&batch).unwrap();
    w.finish().unwrap();
    let s = e.ingest(&pq, &opts()).unwrap();
    assert_eq!((s.rows_accepted, s.rows_rejected), (1, 0));
    assert!(s.batch.synthetic);
    let df = e.records(&s);
    assert_eq!(
        df.column("h3").unwrap().null_count(),
        1,
        "district-only records get no hexagon"
    );
}

#[test]
fn a_column_of_names_under_an_innocent_header_is_refused() {
    let e = env();
    let path = e.file(
        "names.csv",
        "source,person_id,year,category,district,klient\nOPS,a,2024,poverty,FAB-01,Jan Kowalski\n"
            .as_bytes(),
    );
    let err = e.ingest(&path, &opts()).unwrap_err().to_string();
    assert!(
        err.contains("line 2: column \"klient\" holds what looks like a person's name"),
        "{err}"
    );
}

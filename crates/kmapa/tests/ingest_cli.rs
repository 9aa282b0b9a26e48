//! `kmapa ingest`, `batches`, `keygen` and `pseudonymise` as a user runs them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{kmapa, kmapa_fails, repo};

#[test]
fn killing_an_ingest_midway_leaves_no_partial_batch_and_a_clean_rerun_works() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("gen");
    let store = tmp.path().join("store");
    kmapa(&[
        "gen",
        "--out",
        generated.to_str().unwrap(),
        "--records",
        "400000",
        "--quiet",
    ]);
    let input = generated.join("ops.csv");

    let mut child = Command::new(env!("CARGO_BIN_EXE_kmapa"))
        .args([
            "ingest",
            "--city",
            "data/wroclaw",
            input.to_str().unwrap(),
            "--data-dir",
            store.to_str().unwrap(),
            "--quiet",
        ])
        .current_dir(repo())
        .spawn()
        .unwrap();
    // Wait until the ingest is writing its hidden batch directory, then kill -9.
    let started = Instant::now();
    let partial_seen = loop {
        let found = std::fs::read_dir(store.join("batches"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".partial"))
            })
            .unwrap_or(false);
        if found || started.elapsed() > Duration::from_secs(60) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(partial_seen, "the ingest never started writing");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the ingest finished before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    // No batch is visible.
    let listed = kmapa(&["batches", "--data-dir", store.to_str().unwrap(), "--json"]);
    let list: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0, "{listed}");

    // A clean re-run works and clears the debris.
    let out = kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        input.to_str().unwrap(),
        "--data-dir",
        store.to_str().unwrap(),
    ]);
    assert!(out.contains("batch 1"), "{out}");
    let names: Vec<String> = std::fs::read_dir(store.join("batches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(!names[0].starts_with('.'));
    let again = kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        input.to_str().unwrap(),
        "--data-dir",
        store.to_str().unwrap(),
    ]);
    assert!(again.contains("already ingested as batch 1"), "{again}");
}

#[test]
fn offices_pseudonymise_with_one_key_and_the_link_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("gmina.key");
    kmapa(&["keygen", "--out", key.to_str().unwrap()]);
    let err = kmapa_fails(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(err.contains("never overwritten"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The welfare centre's raw export: Windows-1250, semicolons, names and phones.
    let ops_raw = "PESEL;Imię;Nazwisko;Telefon;Nr rodziny;Rok;Powód;Adres\r\n\
                   44051401359;Jan;Kowalski;600 123 456;R-17;2024;bezrobocie;ul. Oławska 1\r\n\
                   02270803624;Anna;Nowak;601 222 333;R-18;2024;ubóstwo;ul. Oławska 2\r\n\
                   12345678901;Zły;Numer;;R-19;2024;ubóstwo;ul. Oławska 3\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode(ops_raw);
    let ops_in = tmp.path().join("mops-eksport.csv");
    std::fs::write(&ops_in, &bytes).unwrap();
    // The labour office's export: UTF-8, commas, the same person.
    let pup_in = tmp.path().join("pup-eksport.csv");
    std::fs::write(
        &pup_in,
        "pesel,nazwisko,rok,kategoria,dzielnica\n44051401359,Kowalski,2024,over_50,Gajowice\n",
    )
    .unwrap();

    let ops_out = tmp.path().join("ops.csv");
    let pup_out = tmp.path().join("pup.csv");
    let said = kmapa(&[
        "pseudonymise",
        ops_in.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        ops_out.to_str().unwrap(),
        "--source",
        "OPS",
    ]);
    assert!(said.contains("3 rows read, 2 written"), "{said}");
    assert!(said.contains("Imię, Nazwisko, Telefon"), "{said}");
    kmapa(&[
        "pseudonymise",
        pup_in.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        pup_out.to_str().unwrap(),
        "--source",
        "PUP",
    ]);

    let ops = std::fs::read_to_string(&ops_out).unwrap();
    let pup = std::fs::read_to_string(&pup_out).unwrap();
    for secret in [
        "44051401359",
        "02270803624",
        "Kowalski",
        "Jan",
        "600 123 456",
        "R-17",
    ] {
        assert!(
            !ops.contains(secret) && !pup.contains(secret),
            "{secret} leaked"
        );
    }
    let rejects = std::fs::read_to_string(ops_out.with_extension("rejects.csv")).unwrap();
    assert!(
        rejects.contains("4,PESEL,***,not a valid PESEL"),
        "{rejects}"
    );
    assert!(!rejects.contains("12345678901"));
    // Same person, same pseudonym in both offices' files.
    let ops_rows: Vec<csv::StringRecord> = csv::Reader::from_reader(ops.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    let pup_rows: Vec<csv::StringRecord> = csv::Reader::from_reader(pup.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(&ops_rows[0][1], &pup_rows[0][1]);
    assert_ne!(&ops_rows[0][1], &ops_rows[1][1]);
    // Sex and birth year come from the PESEL; the header follows the contract.
    assert_eq!(
        ops.lines().next().unwrap(),
        "source,person_id,household_id,year,category,address,sex,birth_year"
    );
    assert!(ops.lines().nth(1).unwrap().ends_with(",M,1944"));
    // The results ingest cleanly.
    let store = tmp.path().join("store");
    let out = kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        ops_out.to_str().unwrap(),
        pup_out.to_str().unwrap(),
        "--data-dir",
        store.to_str().unwrap(),
    ]);
    assert!(out.contains("2 rows read, 2 accepted"), "{out}");
    assert!(out.contains("1 rows read, 1 accepted"), "{out}");
    // And a raw export is refused by ingest.
    let err = kmapa_fails(&[
        "ingest",
        "--city",
        "data/wroclaw",
        pup_in.to_str().unwrap(),
        "--data-dir",
        store.to_str().unwrap(),
        "--source",
        "PUP",
    ]);
    assert!(
        err.contains("\"pesel\"") && err.contains("kmapa pseudonymise"),
        "{err}"
    );
}

#[test]
fn withdrawing_needs_a_reason_and_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("a.csv");
    std::fs::write(&f, "source,person_id,year,category,district\nOPS,a,2024,poverty,FAB-01\nOPS,b,2024,povrty,FAB-01\n").unwrap();
    let store = tmp.path().join("store");
    let out = kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        f.to_str().unwrap(),
        "--data-dir",
        store.to_str().unwrap(),
    ]);
    assert!(
        out.contains("1 rejected") && out.contains("unknown category (1)"),
        "{out}"
    );
    kmapa(&[
        "batches",
        "--data-dir",
        store.to_str().unwrap(),
        "withdraw",
        "1",
        "--reason",
        "test export",
    ]);
    let list = kmapa(&["batches", "--data-dir", store.to_str().unwrap()]);
    assert!(
        list.contains("withdrawn") && list.contains("test export"),
        "{list}"
    );
    // Withdrawn by mistake: restored, with a reason; an active batch cannot be.
    let s = store.to_str().unwrap();
    let out = kmapa(&[
        "batches",
        "--data-dir",
        s,
        "restore",
        "1",
        "--reason",
        "the right file after all",
    ]);
    assert!(out.contains("restored"), "{out}");
    let list: serde_json::Value =
        serde_json::from_str(&kmapa(&["batches", "--data-dir", s, "--json"])).unwrap();
    assert_eq!(list[0]["status"], "active", "{list}");
    assert!(list[0]["withdraw_reason"].is_null(), "{list}");
    let err = kmapa_fails(&[
        "batches",
        "--data-dir",
        s,
        "restore",
        "1",
        "--reason",
        "again",
    ]);
    assert!(err.contains("not withdrawn"), "{err}");
    kmapa(&["protect", "--data-dir", s, "--quiet"]);
}

#[test]
fn demo_generates_once_ingests_once_and_protects_a_tier_that_passes_the_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let generated = tmp.path().join("gen");
    let args = [
        "demo",
        "--data-dir",
        data.to_str().unwrap(),
        "--generated",
        generated.to_str().unwrap(),
        "--no-serve",
    ];
    let first = kmapa(&args);
    assert!(first.contains("generating synthetic records"), "{first}");
    assert!(
        first.contains("batch 1") && first.contains("batch 2"),
        "{first}"
    );
    assert_eq!(first.matches(" accepted (").count(), 2, "{first}");
    assert_eq!(
        first.matches(", 0 rejected").count(),
        2,
        "every generated row must ingest: {first}"
    );
    assert!(first.contains("audit passed"), "{first}");
    // `kmapa audit` re-reads what was written and proves it again.
    let dir = data.to_str().unwrap();
    let audit = kmapa(&["audit", "--data-dir", dir, "--summary", "--lp-check", "1"]);
    assert!(audit.contains(": 0 too narrow"), "{audit}");
    let agree = audit
        .lines()
        .find(|l| l.starts_with("LP cross-check"))
        .expect("the LP cross-check ran");
    let n: Vec<usize> = agree
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(n[0] == n[1] && n[0] > 100, "{agree}");
    let full = kmapa(&["audit", "--data-dir", dir]);
    let lines = full.lines().filter(|l| l.ends_with(" ok")).count();
    assert!(lines > 1000, "every hidden cell is listed: {lines}");
    // A doctored file that publishes a hidden cell is refused, naming it.
    let file = data.join("public/protected.json");
    let good = std::fs::read_to_string(&file).unwrap();
    let mut tier: serde_json::Value = serde_json::from_str(&good).unwrap();
    let cell = tier["cells"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["status"] == "secondary_suppressed")
        .unwrap();
    cell["status"] = "safe".into();
    cell["value"] = 3.into();
    let unit = cell["unit"].as_str().unwrap().to_string();
    std::fs::write(&file, tier.to_string()).unwrap();
    let err = kmapa_fails(&["audit", "--data-dir", dir, "--summary"]);
    assert!(err.contains(&unit) && err.contains("the data say"), "{err}");
    // Another policy than the one that made the file is refused too.
    std::fs::write(&file, &good).unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, "version = \"other\"\n").unwrap();
    let err = kmapa_fails(&[
        "audit",
        "--data-dir",
        dir,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(err.contains("was protected under policy"), "{err}");
    // Serving under another policy than the published snapshot's is refused before
    // anything listens.
    let err = kmapa_fails(&[
        "serve",
        "--data-dir",
        dir,
        "--policy",
        policy.to_str().unwrap(),
        "--address",
        "127.0.0.1:0",
    ]);
    assert!(
        err.contains("\"other\"") && err.contains("kmapa publish --policy"),
        "{err}"
    );

    let second = kmapa(&args);
    assert!(second.contains("using the synthetic records"), "{second}");
    assert!(
        second.contains("already ingested as batch 1")
            && second.contains("already ingested as batch 2"),
        "{second}"
    );
}

#[test]
fn a_refused_file_names_the_files_not_attempted_and_keeps_those_before() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.csv");
    let raw = tmp.path().join("raw.csv");
    let later = tmp.path().join("later.csv");
    std::fs::write(
        &good,
        "source,person_id,year,category,district\nOPS,a,2024,poverty,FAB-01\n",
    )
    .unwrap();
    // A raw export with a PESEL column: refused whole.
    std::fs::write(
        &raw,
        "source,pesel,year,category,district\nOPS,65101821363,2024,poverty,FAB-01\n",
    )
    .unwrap();
    std::fs::write(
        &later,
        "source,person_id,year,category,district\nOPS,b,2024,poverty,FAB-02\n",
    )
    .unwrap();
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    let err = kmapa_fails(&[
        "ingest",
        "--city",
        "data/wroclaw",
        good.to_str().unwrap(),
        raw.to_str().unwrap(),
        later.to_str().unwrap(),
        "--data-dir",
        s,
    ]);
    assert!(
        err.contains("not attempted") && err.contains("later.csv") && !err.contains("65101821363"),
        "{err}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&kmapa(&["batches", "--data-dir", s, "--json"])).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the batch before the refusal stays: {list}"
    );
}

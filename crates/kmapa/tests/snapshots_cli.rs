//! A reader keeps every snapshot. Late records for a past year must not show up as a
//! small exact difference between two snapshots (docs/privacy.md).

mod common;

use std::collections::HashMap;

use common::kmapa;
use serde_json::Value;

type Key = (String, String, String, String, u64);

fn cells(dir: &std::path::Path, n: u32) -> HashMap<Key, (Option<u64>, String)> {
    let tier: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("snapshots/{n:06}/tier.json"))).unwrap(),
    )
    .unwrap();
    tier["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["layer"].to_string(),
                    c["unit"].as_str().unwrap().to_string(),
                    c["measure"].as_str().unwrap().to_string(),
                    c["group"].as_str().unwrap().to_string(),
                    c["year"].as_u64().unwrap(),
                ),
                (
                    c["value"].as_u64(),
                    c["status"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn late_records_for_a_past_year_show_no_small_difference_between_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("gen");
    let data = tmp.path().join("data");
    let (g, d) = (generated.to_str().unwrap(), data.to_str().unwrap());
    kmapa(&["gen", "--out", g, "--years", "2023-2024", "--quiet"]);
    let ops = generated.join("ops.csv");
    kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        ops.to_str().unwrap(),
        "--data-dir",
        d,
        "--quiet",
    ]);
    kmapa(&["protect", "--data-dir", d, "--quiet"]);
    kmapa(&["publish", "--data-dir", d]);
    let first = cells(&data, 1);

    // Three late records for 2023: new people with a common problem in one district,
    // copied from a real row (so they bin where that person lives).
    let text = std::fs::read_to_string(&ops).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let row = lines
        .find(|l| l.contains(",2023,poverty,"))
        .expect("a 2023 poverty record");
    let cols: Vec<&str> = row.split(',').collect();
    let late = generated.join("late-2023.csv");
    let mut out = format!("{header}\n");
    for i in 0..3 {
        let mut c = cols.clone();
        let id = format!("feedbeefcafe{i:04x}");
        let household = format!("Hfeedbeefcafe{i:03x}");
        c[1] = &id;
        c[2] = &household;
        out.push_str(&c.join(","));
        out.push('\n');
    }
    std::fs::write(&late, out).unwrap();
    kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        late.to_str().unwrap(),
        "--data-dir",
        d,
        "--quiet",
    ]);
    kmapa(&["protect", "--data-dir", d, "--quiet"]);
    let published = kmapa(&["publish", "--data-dir", d]);
    assert!(published.contains("published snapshot 2"), "{published}");
    assert!(
        published.contains("poverty 2023")
            && published.contains("because the change itself was a small count"),
        "publish says what changed and why:\n{published}"
    );
    let second = cells(&data, 2);

    // The three people moved the district, its parent area, the city, their hexagon
    // and the unit total by 1..3: none of those shows both values.
    let mut changed = 0;
    let mut hidden_for_it = 0;
    for (key, (after, status)) in &second {
        let Some((before, _)) = first.get(key) else {
            continue;
        };
        if let (Some(a), Some(b)) = (after, before) {
            assert!(
                a == b || a.abs_diff(*b) >= 10,
                "{key:?}: {b} in snapshot 1, {a} in snapshot 2"
            );
            if a != b {
                changed += 1;
            }
        }
        if status == "difference_suppressed" {
            hidden_for_it += 1;
            assert_eq!(key.4, 2023, "{key:?}");
        }
    }
    assert!(hidden_for_it >= 3, "{hidden_for_it}");
    // 2024 is untouched: every 2024 cell is as it was.
    for (key, v) in &second {
        if key.4 == 2024 {
            assert_eq!(first.get(key), Some(v), "{key:?}");
        }
    }
    // The audit, against both snapshots, passes.
    let audit = kmapa(&["audit", "--data-dir", d, "--summary"]);
    assert!(audit.contains("0 too narrow"), "{audit}");
    println!("{changed} values changed by 10 or more; {hidden_for_it} hidden for a small change");
}

/// A `kmapa serve` on a free loopback port, stopped when dropped.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start(data_dir: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kmapa"))
            .args([
                "serve",
                "--data-dir",
                data_dir,
                "--address",
                &format!("127.0.0.1:{port}"),
                "--workers",
                "1",
            ])
            .current_dir(common::repo())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, port };
        for _ in 0..300 {
            if server.get("/health", None).is_some() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("kmapa serve did not start");
    }

    fn get(&self, path: &str, token: Option<&str>) -> Option<Value> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        serde_json::from_str(body).ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_analyst_tier_answers_from_the_published_snapshot_only() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("gen");
    let data = tmp.path().join("data");
    let (g, d) = (generated.to_str().unwrap(), data.to_str().unwrap());
    kmapa(&["gen", "--out", g, "--years", "2024", "--quiet"]);
    let ops = generated.join("ops.csv");
    let pup = generated.join("pup.csv");
    kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        ops.to_str().unwrap(),
        "--data-dir",
        d,
        "--quiet",
    ]);
    kmapa(&["protect", "--data-dir", d, "--quiet"]);
    kmapa(&["publish", "--data-dir", d]);
    let token = kmapa(&["users", "add", "ana", "--role", "analyst", "--data-dir", d]);
    let token = token.lines().last().unwrap().trim().to_string();
    let city_pup = |server: &Server| {
        let j = server
            .get(
                "/analyst/layers/city/items?category=any_pup&year=2024",
                Some(&token),
            )
            .unwrap();
        j["features"][0]["properties"].clone()
    };
    // The PUP file is ingested but not published: a restarted server does not show it.
    kmapa(&[
        "ingest",
        "--city",
        "data/wroclaw",
        pup.to_str().unwrap(),
        "--data-dir",
        d,
        "--quiet",
    ]);
    let server = Server::start(d);
    let before = city_pup(&server);
    assert_eq!(before["status"], "hidden", "{before}");
    assert!(before["value"].is_null());
    drop(server);
    // Published, it is.
    kmapa(&["protect", "--data-dir", d, "--quiet"]);
    kmapa(&["publish", "--data-dir", d]);
    let server = Server::start(d);
    let after = city_pup(&server);
    assert_eq!(after["status"], "perturbed", "{after}");
    assert!(after["value"].as_u64().unwrap() > 1000, "{after}");
}

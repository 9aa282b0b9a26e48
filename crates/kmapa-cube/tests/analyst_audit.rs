//! The analyst tier audited with the public tier: counts an analyst could pin exactly by
//! combining perturbed answers with exact public values are found, and the queries that
//! give them away are withheld (docs/privacy.md).

use std::path::{Path, PathBuf};

use h3o::Resolution;
use kmapa_cube::analyst_audit::{AnalystAuditor, JointMemo, Pinned, measure_families};
use kmapa_cube::atoms::AnalystAtoms;
use kmapa_cube::public::protect_public_tier;
use kmapa_cube::{Cube, CubeBuilder};
use kmapa_geo::City;
use kmapa_model::Vocabulary;
use kmapa_model::records::Sex;
use kmapa_protect::CellStatus;
use kmapa_protect::output::{LayerKind, ProtectedTier, PublishedCell, TierSummary};
use kmapa_protect::policy::{AnalystTier, Breakdown, CkmParams, Layer, Policy};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tier(ckm: CkmParams) -> AnalystTier {
    AnalystTier {
        layers: vec![Layer::Districts, Layer::Parents, Layer::City],
        h3_resolutions: Vec::new(),
        breakdowns: vec![Breakdown::Sex],
        threshold: 10,
        ckm,
        ..AnalystTier::default()
    }
}

/// A public tier of `cells` (k = 10, width 10), as a test writes it by hand.
fn public_tier(cells: Vec<PublishedCell>) -> ProtectedTier {
    ProtectedTier {
        policy_version: "test".into(),
        batches: Vec::new(),
        summary: TierSummary {
            k: 10,
            width: 10.0,
            ..Default::default()
        },
        cells,
        analyst: None,
    }
}

/// 23 women, 7 men and 12 people of unknown sex with poverty in 2024 in one district,
/// nobody else; the public tier publishes the district's 42.
fn one_district(secret: &[u8]) -> (Cube, ProtectedTier, String, String) {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let district = &city.layer.districts[0];
    let parent = district
        .parent
        .clone()
        .expect("the demo's districts have parents");
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, secret);
    for i in 0..42 {
        let sex = match i {
            0..23 => Some(Sex::Female),
            23..30 => Some(Sex::Male),
            _ => None,
        };
        assert!(b.add(
            &format!("p{i}"),
            2024,
            "poverty",
            &district.code,
            None,
            sex,
            None
        ));
    }
    let public = public_tier(vec![PublishedCell {
        layer: LayerKind::Districts,
        unit: district.code.clone(),
        measure: "poverty".into(),
        group: "all".into(),
        counted: Default::default(),
        year: 2024,
        value: Some(42),
        status: CellStatus::Safe,
        rate_per_1000: None,
    }]);
    (b.build(), public, district.code.clone(), parent)
}

fn pinned_at(pins: &[Pinned], layer: LayerKind, unit: &str) -> Vec<(String, String, u64)> {
    pins.iter()
        .filter(|p| p.layer == layer && p.unit == unit)
        .map(|p| (p.measure.clone(), p.group.clone(), p.value))
        .collect()
}

#[test]
fn an_exact_small_count_given_away_by_analyst_answers_is_found_and_withheld() {
    // Without noise the analyst tier shows the 23 women and the 12 of unknown sex
    // exactly; the public 42 then gives the 7 men (hidden under the threshold) away:
    // 42 − 23 − 12 = 7. The same holds for the district's parent area and the city,
    // where nobody else is counted, and for the unit total of OPS clients (the same
    // 42 people), whose exact analyst total plays the public 42's part.
    let (cube, public, district, parent) = one_district(b"s");
    let exact = tier(CkmParams {
        max_noise: 0,
        variance: 0.0,
        js: 0,
    });
    let atoms = AnalystAtoms::build(&cube, &exact);
    let auditor = AnalystAuditor::new(&atoms, &exact, &public);
    let found = auditor.audit(&[]).unwrap();
    let men = |m: &str| (m.to_string(), "sex=M".to_string(), 7);
    let expected = vec![men("poverty"), men("any_ops")];
    assert_eq!(
        pinned_at(&found.pinned, LayerKind::Districts, &district),
        expected,
        "{:?}",
        found.pinned
    );
    assert_eq!(
        pinned_at(&found.pinned, LayerKind::Parents, &parent),
        expected
    );
    assert_eq!(pinned_at(&found.pinned, LayerKind::City, "city"), expected);
    assert_eq!(found.pinned.len(), 6, "{:?}", found.pinned);

    let (protection, _) = auditor.protect("test".into()).unwrap();
    assert!(!protection.withheld.is_empty());
    assert!(
        protection
            .withheld
            .iter()
            .all(|q| ["poverty", "any_ops"].contains(&q.measure.as_str()) && q.year == 2024),
        "only the answers that give the men away are withheld: {:?}",
        protection.withheld
    );
    // Withholding the women's or the unknowns' count is what breaks it.
    assert!(
        protection
            .withheld
            .iter()
            .any(|q| q.group == "sex=K" || q.group == "sex=unknown"),
        "{:?}",
        protection.withheld
    );
    let after = auditor.audit(&protection.withheld).unwrap();
    assert!(after.pinned.is_empty(), "{:?}", after.pinned);
}

#[test]
fn a_small_count_given_away_by_hexagon_answers_is_found_and_withheld() {
    // One district: 30 people with poverty in one hexagon, 7 in a hexagon whose
    // parents at every coarser resolution hold nobody else. Without noise the district
    // (37) and the first hexagon (30) are shown, and 37 − 30 = 7 gives the second
    // hexagon's 7 away at every resolution: the audit finds it there, and withholds
    // hexagon answers until it is not pinned anywhere.
    use h3o::{CellIndex, LatLng};
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let district = &city.layer.districts[0];
    let centre = LatLng::new(51.11, 17.03).unwrap().to_cell(Resolution::Ten);
    // A cell far enough away not to share a hexagon at resolution 7 with the centre.
    let far = LatLng::new(51.16, 16.90).unwrap().to_cell(Resolution::Ten);
    assert_ne!(
        centre.parent(Resolution::Seven),
        far.parent(Resolution::Seven)
    );
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"s");
    for i in 0..37 {
        let cell: CellIndex = if i < 30 { centre } else { far };
        assert!(b.add(
            &format!("p{i}"),
            2024,
            "poverty",
            &district.code,
            Some(u64::from(cell)),
            None,
            None
        ));
    }
    let cube = b.build();
    let (_, public, _, _) = one_district(b"s");
    let public = ProtectedTier {
        cells: Vec::new(),
        ..public
    };
    let exact = AnalystTier {
        layers: vec![Layer::Districts, Layer::H3],
        h3_resolutions: vec![7, 8, 9],
        breakdowns: Vec::new(),
        threshold: 10,
        ckm: CkmParams {
            max_noise: 0,
            variance: 0.0,
            js: 0,
        },
        ..AnalystTier::default()
    };
    let atoms = AnalystAtoms::build(&cube, &exact);
    let auditor = AnalystAuditor::new(&atoms, &exact, &public);
    let found = auditor.audit(&[]).unwrap();
    for r in [7u8, 8, 9] {
        let hex = format!(
            "{:x}",
            u64::from(far.parent(Resolution::try_from(r).unwrap()).unwrap())
        );
        assert_eq!(
            pinned_at(&found.pinned, LayerKind::H3(r), &hex),
            vec![
                ("poverty".to_string(), "all".to_string(), 7),
                ("any_ops".to_string(), "all".to_string(), 7)
            ],
            "resolution {r}: {:?}",
            found.pinned
        );
    }
    let (protection, _) = auditor.protect("test".into()).unwrap();
    assert!(
        protection.withheld.iter().all(|q| matches!(
            q.layer,
            LayerKind::H3(_) | LayerKind::Districts
        ) && ["poverty", "any_ops"]
            .contains(&q.measure.as_str())),
        "{:?}",
        protection.withheld
    );
    assert!(
        protection
            .withheld
            .iter()
            .any(|q| q.layer == LayerKind::H3(9)),
        "the finest hexagons, which show it first, are withheld first: {:?}",
        protection.withheld
    );
    let after = auditor.audit(&protection.withheld).unwrap();
    assert!(after.pinned.is_empty(), "{:?}", after.pinned);
    assert!(protection.audited_layers.contains(&LayerKind::H3(9)));
}

#[test]
fn a_late_record_shown_as_an_exact_difference_between_snapshots_is_found_and_withheld() {
    // Snapshot 1: 12 women and 5 men with poverty in 2024 in one district. Snapshot 2
    // adds one late record, a person of unknown sex. Without noise, each snapshot
    // alone pins nothing small (men + unknown is 5, then 6, each hidden), but a
    // reader who kept the first answers sees the district go from 17 to 18: one
    // person added, an exact small count. The audit finds it only with the earlier
    // snapshot, and withholds this snapshot's answers until it is gone.
    use kmapa_cube::analyst_audit::Earlier;
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let district = &city.layer.districts[0];
    let cube = |late: bool| {
        let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"s");
        for i in 0..17 + usize::from(late) {
            let sex = match i {
                0..12 => Some(Sex::Female),
                12..17 => Some(Sex::Male),
                _ => None,
            };
            assert!(b.add(
                &format!("p{i}"),
                2024,
                "poverty",
                &district.code,
                None,
                sex,
                None
            ));
        }
        b.build()
    };
    let exact = tier(CkmParams {
        max_noise: 0,
        variance: 0.0,
        js: 0,
    });
    let (_, public, _, _) = one_district(b"s");
    let public = ProtectedTier {
        cells: Vec::new(),
        ..public
    };
    let first = AnalystAtoms::build(&cube(false), &exact);
    let second = AnalystAtoms::build(&cube(true), &exact);
    let alone = AnalystAuditor::new(&first, &exact, &public)
        .audit(&[])
        .unwrap();
    assert!(alone.pinned.is_empty(), "{:?}", alone.pinned);
    let alone = AnalystAuditor::new(&second, &exact, &public)
        .audit(&[])
        .unwrap();
    assert!(alone.pinned.is_empty(), "{:?}", alone.pinned);

    let joint = || {
        AnalystAuditor::new(&second, &exact, &public).with_earlier(vec![Earlier::new(
            1,
            first.clone(),
            &public,
        )])
    };
    let found = joint().audit(&[]).unwrap();
    let change = |layer: LayerKind, unit: &str| {
        found.pinned.iter().any(|p| {
            p.layer == layer
                && p.unit == format!("{unit}: change since snapshot 1")
                && p.measure == "poverty"
                && p.group == "all"
                && p.value == 1
        })
    };
    assert!(
        change(LayerKind::Districts, &district.code),
        "{:?}",
        found.pinned
    );
    assert!(change(LayerKind::City, "city"), "{:?}", found.pinned);
    let (protection, _) = joint().protect("t".into()).unwrap();
    assert!(
        protection
            .withheld
            .iter()
            .any(|q| q.measure == "poverty" && q.year == 2024 && q.group == "all"),
        "{:?}",
        protection.withheld
    );
    let after = joint().audit(&protection.withheld).unwrap();
    assert!(after.pinned.is_empty(), "{:?}", after.pinned);
}

#[test]
fn noise_alone_protects_the_simple_case() {
    // With the policy's p-table (noise up to ±3) the women's count is known only to
    // ±3, so the men's 7 is not pinned, whatever the secret: nothing is withheld.
    let policy = Policy::parse(
        "data/policy.toml",
        &std::fs::read_to_string(repo().join("data/policy.toml")).unwrap(),
    )
    .unwrap();
    for secret in [b"a".as_slice(), b"b", b"c", b"d"] {
        let (cube, public, _, _) = one_district(secret);
        let t = tier(policy.analyst.ckm);
        let atoms = AnalystAtoms::build(&cube, &t);
        let auditor = AnalystAuditor::new(&atoms, &t, &public);
        let found = auditor.audit(&[]).unwrap();
        assert!(found.pinned.is_empty(), "{:?}", found.pinned);
        assert!(
            found.small_counts_checked >= 3,
            "the men's 7 in three layers"
        );
        assert!(auditor.protect("t".into()).unwrap().0.withheld.is_empty());
    }
}

/// The demo city's vocabulary, boundaries and policy, as `kmapa demo` reads them.
fn demo_city() -> (Vocabulary, City, Policy) {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let policy = Policy::parse(
        "data/policy.toml",
        &std::fs::read_to_string(repo().join("data/policy.toml")).unwrap(),
    )
    .unwrap();
    (vocabulary, city, policy)
}

/// The public tier `kmapa protect` makes of `cube` (no earlier snapshot).
fn demo_public_tier(
    cube: &Cube,
    vocabulary: &Vocabulary,
    city: &City,
    policy: &Policy,
) -> ProtectedTier {
    protect_public_tier(
        cube,
        vocabulary,
        city.population.as_ref(),
        &policy.public,
        "test",
        &[],
    )
    .unwrap()
    .0
}

#[test]
fn on_the_demo_city_withheld_queries_leave_no_small_count_pinned() {
    // The demo city with the policy's p-table: for some cell-key secrets a few small
    // counts are pinned by differencing (the outside attacker found 4 of 113,190 with
    // one); after `protect`, none is, and only a few queries are withheld; after
    // `protect_joint`, none is with the relations between measures either.
    let (vocabulary, city, policy) = demo_city();
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            years: 2020..=2024,
            ..Default::default()
        },
    )
    .unwrap();
    let mut pinned_before = 0;
    let mut withheld = 0;
    let mut queries = 0;
    for secret in [b"first".as_slice(), b"second", b"third"] {
        let mut b = CubeBuilder::new(&vocabulary, &city.layer, secret);
        let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
        for source in kmapa_model::Source::ALL {
            for batch in generated.batches(source, usize::MAX) {
                b.add_located(&batch, &mut binner);
            }
        }
        let cube = b.build();
        let public = demo_public_tier(&cube, &vocabulary, &city, &policy);
        let atoms = AnalystAtoms::build(&cube, &policy.analyst);
        let auditor = AnalystAuditor::new(&atoms, &policy.analyst, &public);
        let started = std::time::Instant::now();
        let before = auditor.audit(&[]).unwrap();
        eprintln!("analyst audit: {:.2} s", started.elapsed().as_secs_f64());
        pinned_before += before.pinned.len();
        if secret == b"first" {
            // Whole-person moves only clear counts a solution moves: the LPs alone
            // reach the same verdicts, with many more solves.
            let reference = AnalystAuditor::new(&atoms, &policy.analyst, &public)
                .lps_only()
                .audit(&[])
                .unwrap();
            assert_eq!(before.pinned, reference.pinned);
            assert_eq!(before.small_counts_checked, reference.small_counts_checked);
            assert!(
                before.lps * 4 < reference.lps,
                "{} LPs with moves, {} without",
                before.lps,
                reference.lps
            );
        }
        for p in &before.pinned {
            assert!((1..10).contains(&p.value), "{p:?}");
        }
        if secret == b"first" {
            // The same with the relations between measures, for one year (every measure
            // of a source as one system is slower): the moves (slacks taking up what a
            // relation is off by, persons carrying the measures above theirs) clear only
            // what a solution moves, so HiGHS alone on every small count agrees with
            // them; and after `protect_joint` nothing is pinned.
            let mut tier = policy.analyst.clone();
            tier.years = kmapa_protect::policy::Years::List(vec![2024]);
            let atoms = AnalystAtoms::build(&cube, &tier);
            let families = measure_families(&vocabulary, &atoms.header.measures);
            let auditor = AnalystAuditor::new(&atoms, &tier, &public);
            let started = std::time::Instant::now();
            let joint = auditor.audit_joint(&families, &[]).unwrap();
            let with_moves = started.elapsed().as_secs_f64();
            let started = std::time::Instant::now();
            let reference = AnalystAuditor::new(&atoms, &tier, &public)
                .lps_only()
                .audit_joint(&families, &[])
                .unwrap();
            eprintln!(
                "joint audit of 2024: {with_moves:.2} s with moves, {:.2} s with LPs only; {} pinned",
                started.elapsed().as_secs_f64(),
                joint.pinned.len()
            );
            assert_eq!(joint.pinned, reference.pinned);
            assert_eq!(joint.small_counts_checked, reference.small_counts_checked);
            let (protection, _) = auditor.protect("t".into()).unwrap();
            let (protection, _) = auditor.protect_joint(&families, protection).unwrap();
            let after = auditor
                .audit_joint(&families, &protection.withheld)
                .unwrap();
            assert!(after.pinned.is_empty(), "{:?}", after.pinned);
        }
        let (protection, _) = auditor.protect("t".into()).unwrap();
        let after = auditor.audit(&protection.withheld).unwrap();
        assert!(after.pinned.is_empty(), "{:?}", after.pinned);
        assert!(after.small_counts_checked > 10_000);
        withheld += protection.withheld.len();
        // Every (layer, measure, year, group) the tier answers.
        queries += 3 * (cube.category_codes.len() + 2) * 5 * (1 + 3 + 7);
    }
    eprintln!(
        "{pinned_before} small counts pinned before; {withheld} of {queries} queries withheld"
    );
    assert!(
        pinned_before > 0,
        "the case this protects against occurs on the demo city"
    );
    assert!(
        withheld * 100 < queries,
        "{withheld} of {queries} queries withheld"
    );
}

#[test]
fn a_small_count_given_away_only_by_the_relations_between_measures_is_found() {
    // Without noise, analyst answers at districts only, and a public tier that shows
    // every empty district as 0: poverty (9 in D1, 3 in D2; 12 in the city) and
    // disability (6 in D1, 10 in D3; 16 in the city) are hidden in D1 and D2, and
    // neither measure alone pins them (poverty D1 + D2 = 12, each at most 9; disability
    // D1 + D2 = 6). The analyst tier shows the OPS clients of D1, 15 (the public tier
    // hides them, and those of D2); a reader who knows that the
    // unit total never exceeds the sum of the top categories gets 15 ≤ poverty D1 +
    // disability D1 ≤ 9 + 6: poverty D1 = 9, so poverty D2 = 3, and disability D1 = 6
    // (so disability D2 = 0); then the OPS clients of D2 are at least its 3 poor and at
    // most its 3 poor plus its 0 disabled: 3. The same in the districts' parent areas.
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let districts = &city.layer.districts;
    let d1 = &districts[0];
    let d2 = districts.iter().find(|d| d.parent != d1.parent).unwrap();
    let d3 = districts
        .iter()
        .find(|d| d.parent != d1.parent && d.parent != d2.parent)
        .unwrap();
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"s");
    let people = [
        ("p", 9, "poverty", d1),
        ("q", 6, "disability", d1),
        ("r", 3, "poverty", d2),
        ("s", 10, "disability", d3),
    ];
    for (prefix, n, category, district) in people {
        for i in 0..n {
            let id = format!("{prefix}{i}");
            assert!(b.add(&id, 2024, category, &district.code, None, None, None));
        }
    }
    let cube = b.build();
    let hidden = |m: &str, d: &str| {
        ["poverty", "disability", "any_ops"].contains(&m) && (d == d1.code || d == d2.code)
    };
    let count = |m: &str, d: &str| -> u32 {
        people
            .iter()
            .filter(|(_, _, c, x)| x.code == d && (*c == m || m == "any_ops"))
            .map(|(_, n, ..)| n)
            .sum()
    };
    let tops: Vec<String> = vocabulary
        .categories()
        .iter()
        .filter(|c| c.source == kmapa_model::Source::Ops && c.parent.is_none())
        .map(|c| c.code.clone())
        .chain(["any_ops".to_string()])
        .collect();
    let cell = |layer, unit: &str, measure: &str, value| PublishedCell {
        layer,
        unit: unit.to_string(),
        measure: measure.to_string(),
        group: "all".into(),
        counted: Default::default(),
        year: 2024,
        value: Some(value),
        status: CellStatus::Safe,
        rate_per_1000: None,
    };
    let mut cells = Vec::new();
    for m in &tops {
        for d in districts.iter().filter(|d| !hidden(m, &d.code)) {
            cells.push(cell(LayerKind::Districts, &d.code, m, count(m, &d.code)));
        }
        if m != "any_ops" {
            let total = districts.iter().map(|d| count(m, &d.code)).sum();
            cells.push(cell(LayerKind::City, "city", m, total));
        }
    }
    let public = public_tier(cells);
    let exact = AnalystTier {
        layers: vec![Layer::Districts],
        breakdowns: Vec::new(),
        ..tier(CkmParams {
            max_noise: 0,
            variance: 0.0,
            js: 0,
        })
    };
    let atoms = AnalystAtoms::build(&cube, &exact);
    let auditor = AnalystAuditor::new(&atoms, &exact, &public);
    assert!(auditor.audit(&[]).unwrap().pinned.is_empty());
    let families = measure_families(&vocabulary, &atoms.header.measures);
    let joint = auditor.audit_joint(&families, &[]).unwrap();
    let mut found: Vec<(LayerKind, String, String, u64)> = joint
        .pinned
        .iter()
        .map(|p| (p.layer, p.unit.clone(), p.measure.clone(), p.value))
        .collect();
    found.sort();
    let parent = |d: &kmapa_geo::District| d.parent.clone().unwrap();
    let mut expected = vec![
        (LayerKind::Districts, d1.code.clone(), "poverty".into(), 9),
        (LayerKind::Districts, d2.code.clone(), "poverty".into(), 3),
        (
            LayerKind::Districts,
            d1.code.clone(),
            "disability".into(),
            6,
        ),
        (LayerKind::Parents, parent(d1), "poverty".into(), 9),
        (LayerKind::Parents, parent(d2), "poverty".into(), 3),
        (LayerKind::Parents, parent(d1), "disability".into(), 6),
        (LayerKind::Districts, d2.code.clone(), "any_ops".into(), 3),
        (LayerKind::Parents, parent(d2), "any_ops".into(), 3),
    ];
    expected.sort();
    assert_eq!(found, expected);

    // Protection with the relations: the per-measure protection withholds nothing;
    // with the relations, queries are withheld until nothing is pinned.
    let (alone, _) = auditor.protect("t".into()).unwrap();
    assert!(alone.withheld.is_empty());
    let (joint, _) = auditor.protect_joint(&families, alone).unwrap();
    assert!(!joint.withheld.is_empty());
    assert!(
        joint
            .withheld
            .iter()
            .all(|q| q.year == 2024 && q.layer == LayerKind::Districts),
        "{:?}",
        joint.withheld
    );
    // The pinned counts' own district answers, and the unit total's that gives
    // them away: one round.
    let measures: Vec<&str> = joint.withheld.iter().map(|q| q.measure.as_str()).collect();
    assert_eq!(measures, ["any_ops", "disability", "poverty"]);
    let after = auditor.audit_joint(&families, &joint.withheld).unwrap();
    assert!(after.pinned.is_empty(), "{:?}", after.pinned);
    assert!(auditor.audit(&joint.withheld).unwrap().pinned.is_empty());
}

#[test]
fn a_joint_decision_is_reused_while_its_system_is_the_same_and_made_again_when_it_changes() {
    // Two years of the demo city; then late records for 2023 only (new persons where
    // people of 2023 live: a late record where nobody lived would add an atom to every
    // year's system, which a reader would see). The memo of the first protection
    // decides 2024 again without solving (neither pass: each measure alone nor the
    // joint one); 2023 is solved again, and the outcome is the fresh protection's, which
    // is the two passes' run one after the other.
    let (vocabulary, city, policy) = demo_city();
    let generate = |seed, years, scale| {
        kmapa_synth::generate(
            &city,
            &vocabulary,
            &kmapa_synth::GenOptions {
                seed,
                years,
                scale,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let records = generate(42, 2023..=2024, 1.0);
    // Every 30th record of 2023, as another person's.
    let late = |b: &kmapa_model::records::RecordBatch| {
        let idx: Vec<usize> = (0..b.len())
            .filter(|&i| b.year[i] == 2023)
            .step_by(30)
            .collect();
        fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().map(|&i| v[i].clone()).collect()
        }
        kmapa_model::records::RecordBatch {
            source: pick(&b.source, &idx),
            person_id: idx
                .iter()
                .map(|&i| format!("{}-late", b.person_id[i]))
                .collect(),
            household_id: idx.iter().map(|_| None).collect(),
            year: pick(&b.year, &idx),
            category: pick(&b.category, &idx),
            lat: pick(&b.lat, &idx),
            lon: pick(&b.lon, &idx),
            address: pick(&b.address, &idx),
            district: pick(&b.district, &idx),
            sex: pick(&b.sex, &idx),
            birth_year: pick(&b.birth_year, &idx),
            age_band: pick(&b.age_band, &idx),
            synthetic: pick(&b.synthetic, &idx),
        }
    };
    let cube = |with_late: bool| {
        let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"memo");
        let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
        for source in kmapa_model::Source::ALL {
            for batch in records.batches(source, usize::MAX) {
                b.add_located(&batch, &mut binner);
                if with_late {
                    b.add_located(&late(&batch), &mut binner);
                }
            }
        }
        b.build()
    };
    let mut tier = policy.analyst.clone();
    tier.years = kmapa_protect::policy::Years::List(vec![2023, 2024]);
    let protect = |cube: &Cube, memo: &JointMemo| {
        let public = demo_public_tier(cube, &vocabulary, &city, &policy);
        let atoms = AnalystAtoms::build(cube, &tier);
        let families = measure_families(&vocabulary, &atoms.header.measures);
        let auditor = AnalystAuditor::new(&atoms, &tier, &public);
        auditor
            .protect_with_memo("t".into(), &families, memo)
            .unwrap()
    };
    // The two passes one after the other, with no memo: what the memo must reproduce.
    let two_passes = |cube: &Cube| {
        let public = demo_public_tier(cube, &vocabulary, &city, &policy);
        let atoms = AnalystAtoms::build(cube, &tier);
        let families = measure_families(&vocabulary, &atoms.header.measures);
        let auditor = AnalystAuditor::new(&atoms, &tier, &public);
        let (alone, audit) = auditor.protect("t".into()).unwrap();
        let (joint, _) = auditor.protect_joint(&families, alone).unwrap();
        (joint, audit)
    };
    let before = cube(false);
    let (first, solved, memo) = protect(&before, &JointMemo::default());
    let (passes, passes_audit) = two_passes(&before);
    assert_eq!(first.withheld, passes.withheld);
    assert_eq!(first.small_counts_checked, passes.small_counts_checked);
    assert_eq!(
        solved.small_counts_checked,
        passes_audit.small_counts_checked
    );
    assert_eq!(memo.systems.len(), 4, "two sources, two years");
    assert!(solved.lps > 0);
    let (again, solved_again, memo_again) = protect(&before, &memo);
    assert_eq!(again.withheld, first.withheld);
    assert_eq!(solved_again.lps, 0, "nothing solved again");
    assert_eq!(
        solved_again.small_counts_checked,
        solved.small_counts_checked
    );
    assert_eq!(memo_again, memo);

    let after = cube(true);
    let (fresh, _, fresh_memo) = protect(&after, &JointMemo::default());
    assert_eq!(fresh.withheld, two_passes(&after).0.withheld);
    let (reused, solved_reused, reused_memo) = protect(&after, &memo);
    assert_eq!(reused.withheld, fresh.withheld);
    assert_eq!(reused_memo, fresh_memo);
    let kept = reused_memo
        .systems
        .keys()
        .filter(|k| memo.systems.contains_key(*k))
        .count();
    assert_eq!(kept, 2, "2024's two systems are unchanged, 2023's are not");
    assert!(solved_reused.lps > 0, "2023 is solved again");
}

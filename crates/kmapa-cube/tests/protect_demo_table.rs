//! The demo city's public tier through the protection core: every measure of two years
//! over districts, parents, city and hexagons together, with the relations between
//! measures. Prints the time it takes (a measurement, not an assertion; the benchmark
//! is `benches/protect.sh`) and checks the result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use h3o::Resolution;
use kmapa_cube::public::{LayerKind, audit_public_tier, protect_public_tier};
use kmapa_cube::{Cube, CubeBuilder};
use kmapa_geo::City;
use kmapa_model::Vocabulary;
use kmapa_protect::CellStatus;
use kmapa_protect::policy::PublicTier;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo_cube(vocabulary: &Vocabulary, city: &City) -> Cube {
    let generated = kmapa_synth::generate(
        city,
        vocabulary,
        &kmapa_synth::GenOptions {
            years: 2023..=2024,
            ..Default::default()
        },
    )
    .unwrap();
    let mut b = CubeBuilder::new(vocabulary, &city.layer, b"s");
    let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
    for source in kmapa_model::Source::ALL {
        for batch in generated.batches(source, usize::MAX) {
            assert_eq!(b.add_located(&batch, &mut binner), batch.len() as u64);
        }
    }
    b.build()
}

/// The demo city's policy, `data/policy.toml`.
fn demo_policy() -> kmapa_protect::policy::Policy {
    kmapa_protect::policy::Policy::parse(
        "data/policy.toml",
        &std::fs::read_to_string(repo().join("data/policy.toml")).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_demo_public_tier_is_protected_and_passes_the_audit() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let cube = demo_cube(&vocabulary, &city);
    let tier = PublicTier::default();
    let started = Instant::now();
    let (protected, audit) = protect_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &tier,
        "test",
        &[],
    )
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let s = &protected.summary;
    println!(
        "{} tables in {secs:.2} s; {} hidden cells audited; {:?}",
        s.tables, audit.hidden_cells, s.layers
    );
    assert!(
        audit.passed(),
        "{:?}",
        audit.cells.iter().find(|c| !c.passed)
    );
    assert!(audit.hidden_cells > 0);
    assert!(s.layers["districts"].secondary > 0, "{:?}", s.layers);
    // Nothing small is published; hidden cells carry no value and no rate.
    for c in &protected.cells {
        match c.value {
            Some(v) => assert!(v == 0 || v >= 10, "{c:?}"),
            None => assert!(c.status.is_hidden() && c.rate_per_1000.is_none(), "{c:?}"),
        }
        if c.value == Some(0) {
            assert_eq!(c.status, CellStatus::Empty);
        }
    }
    // Every layer is there, and rates where the population is known.
    let layers: std::collections::BTreeSet<LayerKind> =
        protected.cells.iter().map(|c| c.layer).collect();
    assert_eq!(
        layers.into_iter().collect::<Vec<_>>(),
        [
            LayerKind::City,
            LayerKind::Parents,
            LayerKind::Districts,
            LayerKind::H3(8)
        ]
    );
    let city_poverty = protected
        .cells
        .iter()
        .find(|c| c.layer == LayerKind::City && c.measure == "poverty" && c.year == 2024)
        .unwrap();
    let residents = city.population.as_ref().unwrap().total(2024) as f64;
    let rate = city_poverty.rate_per_1000.unwrap();
    assert!((rate - f64::from(city_poverty.value.unwrap()) * 1000.0 / residents).abs() < 1e-9);
    // Identical tables share one pattern: unit totals of PUP and the registered unemployed.
    let by_key: HashMap<(&str, &str, u16), &CellStatus> = protected
        .cells
        .iter()
        .map(|c| ((c.unit.as_str(), c.measure.as_str(), c.year), &c.status))
        .collect();
    for c in protected.cells.iter().filter(|c| c.measure == "any_pup") {
        if let Some(other) = by_key.get(&(c.unit.as_str(), "unemployed_registered", c.year)) {
            if protected.cells.iter().any(|x| {
                x.measure == "unemployed_registered"
                    && x.unit == c.unit
                    && x.year == c.year
                    && x.value != c.value
            }) {
                continue;
            }
            assert_eq!(**other, c.status);
        }
    }
    // The audit reads the pattern back from what was published and agrees.
    let again = audit_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &tier,
        &protected,
        &[],
    )
    .unwrap();
    assert_eq!(again, audit);
    // Deterministic.
    let (twice, _) = protect_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &tier,
        "test",
        &[],
    )
    .unwrap();
    assert_eq!(twice, protected);
    // A doctored file (a hidden cell published) is refused by the audit.
    let mut doctored = protected.clone();
    let hidden = doctored
        .cells
        .iter_mut()
        .find(|c| c.status == CellStatus::SecondarySuppressed)
        .unwrap();
    hidden.status = CellStatus::Safe;
    hidden.value = Some(1);
    assert!(
        audit_public_tier(
            &cube,
            &vocabulary,
            city.population.as_ref(),
            &tier,
            &doctored,
            &[]
        )
        .is_err()
    );
}

#[test]
fn breakdowns_by_sex_and_age_are_protected_with_the_rest() {
    use kmapa_protect::policy::{Breakdown, Years};
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let cube = demo_cube(&vocabulary, &city);
    let tier = PublicTier {
        years: Years::List(vec![2024]),
        breakdowns: vec![Breakdown::Sex, Breakdown::AgeBand],
        ..PublicTier::default()
    };
    let started = Instant::now();
    let (protected, audit) = protect_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &tier,
        "test",
        &[],
    )
    .unwrap();
    println!(
        "2024 with sex and age breakdowns: {} tables in {:.2} s, {} hidden cells; {:?}",
        protected.summary.tables,
        started.elapsed().as_secs_f64(),
        audit.hidden_cells,
        protected.summary.layers
    );
    assert!(
        audit.passed(),
        "{:?}",
        audit.cells.iter().find(|c| !c.passed)
    );
    // 1 + 3 sex groups + 6 age groups per measure.
    let groups: std::collections::BTreeSet<&str> =
        protected.cells.iter().map(|c| c.group.as_str()).collect();
    assert_eq!(groups.len(), 10, "{groups:?}");
    let mut by: HashMap<(&str, &str, &str), Option<u32>> = HashMap::new();
    for c in &protected.cells {
        if let Some(v) = c.value {
            assert!(v == 0 || v >= 10, "{c:?}");
        }
        by.insert(
            (c.unit.as_str(), c.measure.as_str(), c.group.as_str()),
            c.value,
        );
    }
    // Where every group of a breakdown is shown, they add up to everyone.
    let mut checked = 0;
    // Breakdowns are not published for hexagons (policy default).
    assert!(
        protected
            .cells
            .iter()
            .all(|c| c.group == "all" || !matches!(c.layer, LayerKind::H3(_)))
    );
    for c in protected
        .cells
        .iter()
        .filter(|c| c.group == "all" && !matches!(c.layer, LayerKind::H3(_)))
    {
        let parts: Vec<Option<u32>> = ["sex=K", "sex=M", "sex=unknown"]
            .iter()
            .map(|g| by[&(c.unit.as_str(), c.measure.as_str(), *g)])
            .collect();
        if let (Some(all), Some(parts)) = (c.value, parts.into_iter().collect::<Option<Vec<u32>>>())
        {
            assert_eq!(parts.iter().sum::<u32>(), all, "{c:?}");
            checked += 1;
        }
    }
    assert!(checked > 100);
    assert_eq!(
        audit_public_tier(
            &cube,
            &vocabulary,
            city.population.as_ref(),
            &tier,
            &protected,
            &[]
        )
        .unwrap(),
        audit
    );
}

/// Hexagons only for the measures the policy names: the others' hexagon cells stay
/// internal (unpublished), the audit still passes, and the district map of the totals
/// loses far fewer cells than when every rare category is on hexagons too.
#[test]
fn hexagons_for_named_measures_only_keep_the_district_totals_whole() {
    use kmapa_protect::policy::Years;
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let cube = demo_cube(&vocabulary, &city);
    let hidden_totals = |tier: &PublicTier| {
        let (protected, audit) = protect_public_tier(
            &cube,
            &vocabulary,
            city.population.as_ref(),
            tier,
            "test",
            &[],
        )
        .unwrap();
        assert!(audit.passed());
        assert_eq!(
            audit_public_tier(
                &cube,
                &vocabulary,
                city.population.as_ref(),
                tier,
                &protected,
                &[]
            )
            .unwrap(),
            audit
        );
        let on_hexagons: std::collections::BTreeSet<String> = protected
            .cells
            .iter()
            .filter(|c| matches!(c.layer, LayerKind::H3(_)))
            .map(|c| c.measure.clone())
            .collect();
        let hidden = protected
            .cells
            .iter()
            .filter(|c| c.layer == LayerKind::Districts && c.measure.starts_with("any_"))
            .filter(|c| c.status.is_hidden())
            .count();
        (on_hexagons, hidden)
    };
    let all = PublicTier {
        years: Years::List(vec![2024]),
        ..PublicTier::default()
    };
    let named = PublicTier {
        h3_measures: vec!["any_ops".into(), "any_pup".into(), "poverty".into()],
        ..all.clone()
    };
    let (every, hidden_every) = hidden_totals(&all);
    let (some, hidden_some) = hidden_totals(&named);
    assert!(every.len() > 20);
    assert_eq!(
        some.into_iter().collect::<Vec<_>>(),
        ["any_ops", "any_pup", "poverty"]
    );
    println!(
        "hidden district totals: {hidden_every} with every measure on hexagons, {hidden_some} with three"
    );
    assert!(hidden_some < hidden_every);
    // A code the vocabulary does not have is refused, by name.
    let bad = PublicTier {
        h3_measures: vec!["povrety".into()],
        ..all
    };
    let e = protect_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &bad,
        "test",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("povrety") && e.contains("h3_measures"), "{e}");
}

/// Hide as little as protection allows: under the demo policy, no district or parent
/// area's total of OPS clients or PUP registrants is hidden (the smallest is well over
/// k): a small cell is covered by cells of its own category, of its parent category or
/// of a sibling category before a unit total is touched. (The share of persons hidden
/// at districts on the whole demo city, ten years, is checked in tests/attacker.sh.)
#[test]
fn the_demo_policy_hides_no_unit_total_and_little_at_districts() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let cube = demo_cube(&vocabulary, &city);
    let policy = demo_policy();
    let (protected, audit) = protect_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &policy.public,
        "test",
        &[],
    )
    .unwrap();
    assert!(audit.passed());
    let hidden_totals: Vec<_> = protected
        .cells
        .iter()
        .filter(|c| matches!(c.layer, LayerKind::Districts | LayerKind::Parents))
        .filter(|c| c.measure.starts_with("any_") && c.status.is_hidden())
        .map(|c| format!("{} {} {}", c.measure, c.year, c.unit))
        .collect();
    assert!(hidden_totals.is_empty(), "{hidden_totals:?}");
    let d = &protected.summary.layers["districts"];
    let share = d.hidden_persons as f64 / d.persons as f64;
    println!(
        "districts: {} secondary, {:.2} % of persons hidden",
        d.secondary,
        share * 100.0
    );
    // Without the cheaper covers, 2.6 % on these two years.
    assert!(share <= 0.022, "{d:?}");
}

/// The adaptive hexagon layer (`h3_adaptive`): for each measure and year, hexagons of
/// resolutions 6 to 8 that do not overlap and hold everyone located, each published
/// value the sum of the persons in it; it hides far fewer persons than one layer of
/// resolution 8 under the same policy, passes the audit (also read back from what was
/// published), and an earlier snapshot's pattern is kept.
#[test]
fn the_adaptive_hexagon_layer_covers_everyone_once_and_hides_less_than_fixed_hexagons() {
    use kmapa_cube::{Group, Measure};
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let cube = demo_cube(&vocabulary, &city);
    let measures = [
        "any_ops",
        "any_pup",
        "poverty",
        "unemployment",
        "disability",
    ];
    let fixed = PublicTier {
        h3_measures: measures.iter().map(|m| m.to_string()).collect(),
        ..PublicTier::default()
    };
    let adaptive = PublicTier {
        h3_resolutions: vec![6, 7, 8],
        h3_adaptive: true,
        ..fixed.clone()
    };
    let protect = |tier: &PublicTier, earlier: &[kmapa_protect::output::ProtectedTier]| {
        protect_public_tier(
            &cube,
            &vocabulary,
            city.population.as_ref(),
            tier,
            "test",
            earlier,
        )
        .unwrap()
    };
    let (protected, audit) = protect(&adaptive, &[]);
    assert!(audit.passed(), "{:?}", audit.internal_failures.first());
    let again = audit_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &adaptive,
        &protected,
        &[],
    )
    .unwrap();
    assert_eq!(again, audit, "the audit reads the adaptive pattern back");
    let hex = |s: &str| h3o::CellIndex::try_from(u64::from_str_radix(s, 16).unwrap()).unwrap();
    let mut resolutions = std::collections::BTreeSet::new();
    for code in measures {
        let measure = match code {
            "any_ops" => Measure::AnyOf(kmapa_model::Source::Ops),
            "any_pup" => Measure::AnyOf(kmapa_model::Source::Pup),
            c => Measure::Category(cube.category_codes.iter().position(|x| x == c).unwrap() as u16),
        };
        for year in [2023u16, 2024] {
            let cells: Vec<_> = protected
                .cells
                .iter()
                .filter(|c| c.layer == LayerKind::H3Adaptive && c.measure == code && c.year == year)
                .collect();
            assert!(!cells.is_empty(), "{code} {year}");
            let chosen: HashMap<h3o::CellIndex, Option<u32>> =
                cells.iter().map(|c| (hex(&c.unit), c.value)).collect();
            let mut inside: HashMap<h3o::CellIndex, u64> = HashMap::new();
            for ((_, h), v) in
                cube.measure_atoms(Some(Resolution::Eight), measure, year, Group::All)
            {
                let Some(h) = h else { continue };
                let h = h3o::CellIndex::try_from(h).unwrap();
                // Exactly one published hexagon holds each located person.
                let holders: Vec<_> = (6..=8u8)
                    .filter_map(|r| h.parent(Resolution::try_from(r).unwrap()))
                    .filter(|p| chosen.contains_key(p))
                    .collect();
                assert!(
                    v == 0 || holders.len() == 1,
                    "{code} {year} {h}: {holders:?}"
                );
                if let [p] = holders[..] {
                    *inside.entry(p).or_default() += v;
                }
            }
            for (h, value) in &chosen {
                resolutions.insert(u8::from(h.resolution()));
                if let Some(v) = value {
                    assert_eq!(
                        u64::from(*v),
                        inside.get(h).copied().unwrap_or(0),
                        "{code} {year} {h}"
                    );
                }
            }
        }
    }
    assert!(
        resolutions.len() >= 2,
        "{resolutions:?}: one resolution only"
    );
    let share = |p: &kmapa_protect::output::ProtectedTier, layer: &str| {
        let l = &p.summary.layers[layer];
        l.hidden_persons as f64 / l.persons as f64
    };
    let (fixed_tier, _) = protect(&fixed, &[]);
    let (a, f) = (share(&protected, "h3"), share(&fixed_tier, "h3_8"));
    println!(
        "hexagons hide {:.2} % of persons adaptive, {:.2} % at resolution 8",
        a * 100.0,
        f * 100.0
    );
    assert!(a < 0.01 && a * 4.0 < f, "adaptive {a}, fixed {f}");
    // Districts lose nothing for it.
    assert!(share(&protected, "districts") <= share(&fixed_tier, "districts") + 0.002);
    // Published again over itself: the same tier.
    let (second, _) = protect(&adaptive, std::slice::from_ref(&protected));
    assert_eq!(second.cells, protected.cells);
}

/// Households (families) beside persons for the welfare centre's common measures:
/// published at districts, parent areas and the city only, every value the data's,
/// never more than the persons of the same unit and measure (and some wherever there
/// are persons), audited with the persons and read back the same. (The demo policy's
/// households, of all OPS clients, are checked with the rest of the demo policy in
/// `the_demo_policy_hides_no_unit_total_and_little_at_districts`.)
#[test]
fn households_are_published_beside_persons_and_audited_with_them() {
    use kmapa_cube::{Counted, Level, Measure, Unit};
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let cube = demo_cube(&vocabulary, &city);
    let policy = demo_policy();
    let measures = ["any_ops", "poverty", "disability", "long_term_illness"];
    let tier = PublicTier {
        households: measures.iter().map(|m| m.to_string()).collect(),
        ..policy.public.clone()
    };
    let (protected, audit) = protect_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &tier,
        "test",
        &[],
    )
    .unwrap();
    assert!(
        audit.passed(),
        "{:?}",
        audit.cells.iter().find(|c| !c.passed)
    );
    let again = audit_public_tier(
        &cube,
        &vocabulary,
        city.population.as_ref(),
        &tier,
        &protected,
        &[],
    )
    .unwrap();
    assert_eq!(again, audit, "the audit reads households back");
    let persons: HashMap<(LayerKind, &str, &str, u16), &kmapa_protect::output::PublishedCell> =
        protected
            .cells
            .iter()
            .filter(|c| c.counted == Counted::Persons && c.group == "all")
            .map(|c| ((c.layer, c.unit.as_str(), c.measure.as_str(), c.year), c))
            .collect();
    let mut shown = 0;
    for c in protected
        .cells
        .iter()
        .filter(|c| c.counted == Counted::Households)
    {
        assert!(measures.contains(&c.measure.as_str()), "{}", c.measure);
        assert!(
            matches!(
                c.layer,
                LayerKind::Districts | LayerKind::Parents | LayerKind::City
            ),
            "{:?}",
            c.layer
        );
        assert_eq!(c.group, "all");
        let p = persons[&(c.layer, c.unit.as_str(), c.measure.as_str(), c.year)];
        let Some(h) = c.value else { continue };
        shown += 1;
        if let Some(v) = p.value {
            assert!(
                h <= v,
                "{} {} {}: {h} households, {v} persons",
                c.measure,
                c.year,
                c.unit
            );
            assert_eq!(h == 0, v == 0);
        }
        if c.layer == LayerKind::Districts {
            let m = match c.measure.as_str() {
                "any_ops" => Measure::AnyOf(kmapa_model::Source::Ops),
                code => Measure::Category(
                    cube.category_codes.iter().position(|x| x == code).unwrap() as u16,
                ),
            };
            let d = cube
                .district_codes
                .iter()
                .position(|x| *x == c.unit)
                .unwrap() as u16;
            let truth = cube
                .household_counts(Level::Districts, m, c.year)
                .into_iter()
                .find(|x| x.0 == Unit::District(d))
                .map_or(0, |x| x.1);
            assert_eq!(h, truth, "{} {} {}", c.measure, c.year, c.unit);
        }
    }
    assert!(shown > 300, "{shown}");
    assert!(
        protected
            .summary
            .layers
            .contains_key("districts households")
    );
}

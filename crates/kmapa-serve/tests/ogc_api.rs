//! In-process HTTP tests of the served API over a snapshot of a generated city. Test
//! names follow the OGC API – Features Part 1 abstract tests kmapa claims (landing
//! page, conformance, API definition, collections, items with limit and bbox, feature,
//! 400 on unknown parameters), then kmapa's own: caching, compression, and the privacy
//! walk over every endpoint and filter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{App, test, web};
use h3o::Resolution;
use kmapa_cube::CubeBuilder;
use kmapa_cube::public::{audit_public_tier, protect_public_tier};
use kmapa_geo::City;
use kmapa_model::Vocabulary;
use kmapa_protect::policy::PublicTier;
use kmapa_serve::data::Served;
use kmapa_serve::snapshot::{self, PublishInputs, Snapshot};
use kmapa_serve::{AppState, configure};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const K: u64 = 10;

struct Fixture {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    audit_ok: bool,
    analyst: std::sync::Arc<dyn kmapa_serve::app::Analyst>,
    analyst_token: String,
    public_token: String,
    metrics_token: String,
}

/// A snapshot of the demo city's public tier for 2023–2024, published once.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
        let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
        let generated = kmapa_synth::generate(
            &city,
            &vocabulary,
            &kmapa_synth::GenOptions {
                years: 2023..=2024,
                ..Default::default()
            },
        )
        .unwrap();
        let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"");
        let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
        for source in kmapa_model::Source::ALL {
            for batch in generated.batches(source, usize::MAX) {
                b.add_located(&batch, &mut binner);
            }
        }
        let cube = b.build();
        let mut b2 = CubeBuilder::new(&vocabulary, &city.layer, b"analyst secret");
        for source in kmapa_model::Source::ALL {
            for batch in generated.batches(source, usize::MAX) {
                b2.add_located(&batch, &mut binner);
            }
        }
        let analyst_cube = b2.build();
        // Households of all OPS clients beside persons, as the demo policy publishes.
        let tier = PublicTier {
            households: vec!["any_ops".into()],
            ..PublicTier::default()
        };
        let (protected, audit) = protect_public_tier(
            &cube,
            &vocabulary,
            city.population.as_ref(),
            &tier,
            "test-1",
            &[],
        )
        .unwrap();
        let audit_ok = audit.passed()
            && audit_public_tier(
                &cube,
                &vocabulary,
                city.population.as_ref(),
                &tier,
                &protected,
                &[],
            )
            .unwrap()
                == audit;
        // The analyst tier, audited with the public one as `kmapa protect` does.
        let analyst_tier = kmapa_protect::policy::AnalystTier::default();
        let (analyst_protection, _) = kmapa_cube::analyst_audit::AnalystAuditor::new(
            &kmapa_cube::atoms::AnalystAtoms::build(&analyst_cube, &analyst_tier),
            &analyst_tier,
            &protected,
        )
        .protect("test".into())
        .unwrap();
        // One more query withheld as the audit would (poverty 2023, women, districts),
        // to see how the server answers one.
        let mut withheld = analyst_protection.withheld;
        withheld.push(kmapa_protect::output::AnalystQuery {
            layer: kmapa_protect::output::LayerKind::Districts,
            measure: "poverty".into(),
            year: 2023,
            group: "sex=K".into(),
        });
        let atoms = kmapa_cube::atoms::AnalystAtoms::build(&analyst_cube, &analyst_tier);
        let analyst = std::sync::Arc::new(kmapa_cube::analyst::CubeAnalyst::new(
            atoms,
            analyst_tier,
            &withheld,
        ));
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        snapshot::publish(&PublishInputs {
            data_dir: &data_dir,
            tier: &protected,
            audit: &audit,
            policy_file: &repo().join("data/policy.toml"),
            city_dir: &repo().join("data/wroclaw"),
            city: None,
            vocabulary_file: &repo().join("data/categories.csv"),
            analyst_atoms: None,
            institutions: None,
        })
        .unwrap();
        let users = kmapa_serve::users::Users::open(&data_dir).unwrap();
        let analyst_token = users.add("ana", kmapa_serve::users::Role::Analyst).unwrap();
        let public_token = users.add("pub", kmapa_serve::users::Role::Public).unwrap();
        let metrics_token = users
            .add("prom", kmapa_serve::users::Role::Metrics)
            .unwrap();
        Fixture {
            _dir: dir,
            data_dir,
            audit_ok,
            analyst,
            analyst_token,
            public_token,
            metrics_token,
        }
    })
}

fn state() -> web::Data<AppState> {
    static S: OnceLock<web::Data<AppState>> = OnceLock::new();
    S.get_or_init(|| {
        let snap = Snapshot::load(&fixture().data_dir, None).unwrap();
        let f = fixture();
        web::Data::new(
            AppState::new(Served::from_snapshot(&snap).unwrap())
                .with_users(kmapa_serve::users::Users::open(&f.data_dir).unwrap())
                .with_analyst(f.analyst.clone()),
        )
    })
    .clone()
}

macro_rules! app {
    () => {
        test::init_service(App::new().app_data(state()).configure(configure)).await
    };
}

async fn get_json<S, B>(app: &S, uri: &str) -> (u16, Value)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let res = test::call_service(app, test::TestRequest::get().uri(uri).to_request()).await;
    let status = res.status().as_u16();
    let body = test::read_body(res).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn ats_core_landing_page_links_api_conformance_and_data() {
    let app = app!();
    let (status, j) = get_json(&app, "/").await;
    assert_eq!(status, 200);
    let rels: Vec<&str> = j["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    for rel in ["self", "service-desc", "conformance", "data"] {
        assert!(rels.contains(&rel), "{rels:?}");
    }
}

#[actix_web::test]
async fn ats_core_conformance_declares_core_geojson_and_oas30() {
    let app = app!();
    let (status, j) = get_json(&app, "/conformance").await;
    assert_eq!(status, 200);
    let c: Vec<&str> = j["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for class in ["core", "geojson", "oas30"] {
        assert!(
            c.contains(
                &format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{class}").as_str()
            ),
            "{c:?}"
        );
    }
}

#[actix_web::test]
async fn ats_core_api_definition_is_openapi_3_0_and_describes_the_paths() {
    let app = app!();
    let (status, j) = get_json(&app, "/api").await;
    assert_eq!(status, 200);
    assert!(
        j["openapi"].as_str().unwrap().starts_with("3.0"),
        "{}",
        j["openapi"]
    );
    for p in [
        "/",
        "/conformance",
        "/collections",
        "/collections/{collectionId}",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
    ] {
        assert!(
            j["paths"].get(p).is_some(),
            "{p} missing from the API definition"
        );
    }
    let params: Vec<&str> = j["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["limit", "offset", "bbox", "category", "year", "type"] {
        assert!(params.contains(&p), "{params:?}");
    }
}

#[actix_web::test]
async fn ats_core_collections_have_ids_extents_and_item_links() {
    let app = app!();
    let (status, j) = get_json(&app, "/collections").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = j["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "districts",
            "problems-parents",
            "problems-districts",
            "problems-h3-8",
            "institutions"
        ]
    );
    for c in j["collections"].as_array().unwrap() {
        let bbox = &c["extent"]["spatial"]["bbox"][0];
        assert!((16.7..17.3).contains(&bbox[0].as_f64().unwrap()), "{bbox}");
        assert!(
            c["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["rel"] == "items")
        );
        let id = c["id"].as_str().unwrap();
        let (s, one) = get_json(&app, &format!("/collections/{id}")).await;
        assert_eq!((s, one["id"].as_str()), (200, Some(id)));
    }
    let (s, p) = get_json(&app, "/collections/nope").await;
    assert_eq!(s, 404);
    assert_eq!(p["status"], 404);
}

#[actix_web::test]
async fn ats_core_fc_limit_and_paging_cover_every_feature_once() {
    let app = app!();
    let (_, all) = get_json(
        &app,
        "/collections/problems-districts/items?category=poverty&limit=10000",
    )
    .await;
    let matched = all["numberMatched"].as_u64().unwrap();
    assert_eq!(matched, 48 * 2, "48 districts × 2 years");
    let mut seen = std::collections::BTreeSet::new();
    let mut uri = "/collections/problems-districts/items?category=poverty&limit=7".to_string();
    loop {
        let (s, page) = get_json(&app, &uri).await;
        assert_eq!(s, 200);
        assert_eq!(page["numberMatched"].as_u64(), Some(matched));
        let n = page["features"].as_array().unwrap().len();
        assert_eq!(page["numberReturned"].as_u64(), Some(n as u64));
        assert!(n <= 7);
        for f in page["features"].as_array().unwrap() {
            assert!(seen.insert(f["id"].as_str().unwrap().to_string()));
        }
        match page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(next) => {
                let href = next["href"].as_str().unwrap();
                uri = href[href.find("/collections").unwrap()..].to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, matched);
    for bad in [
        "limit=0",
        "limit=10001",
        "limit=x",
        "offset=-1",
        "year=abc",
        "bbox=1,2,3",
        "bbox=3,2,1,0",
        "sex=K&age=18-29",
    ] {
        let (s, p) = get_json(
            &app,
            &format!("/collections/problems-districts/items?{bad}"),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        assert!(p["detail"].as_str().unwrap().len() > 10, "{p}");
    }
}

#[actix_web::test]
async fn ats_core_fc_bbox_returns_only_intersecting_features() {
    let app = app!();
    // A small box in the centre: some districts, not all.
    let bbox = "17.02,51.10,17.04,51.12";
    let (_, j) = get_json(&app, &format!("/collections/districts/items?bbox={bbox}")).await;
    let n = j["numberMatched"].as_u64().unwrap();
    assert!(n > 0 && n < 48, "{n}");
    for f in j["features"].as_array().unwrap() {
        let coords = f["geometry"]["coordinates"].to_string();
        let nums: Vec<f64> = coords
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|x| x.parse().ok())
            .collect();
        let (xs, ys): (Vec<f64>, Vec<f64>) = nums.chunks(2).map(|p| (p[0], p[1])).unzip();
        let fx = (
            xs.iter().cloned().fold(f64::MAX, f64::min),
            xs.iter().cloned().fold(f64::MIN, f64::max),
        );
        let fy = (
            ys.iter().cloned().fold(f64::MAX, f64::min),
            ys.iter().cloned().fold(f64::MIN, f64::max),
        );
        assert!(
            fx.0 <= 17.04 && fx.1 >= 17.02 && fy.0 <= 51.12 && fy.1 >= 51.10,
            "{}",
            f["id"]
        );
    }
    let (_, inst) = get_json(
        &app,
        &format!("/collections/institutions/items?bbox={bbox}"),
    )
    .await;
    for f in inst["features"].as_array().unwrap() {
        let c = &f["geometry"]["coordinates"];
        let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((17.02..=17.04).contains(&x) && (51.10..=51.12).contains(&y));
    }
}

#[actix_web::test]
async fn ats_core_query_param_unknown_is_a_400_problem() {
    let app = app!();
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/collections/problems-districts/items?colour=red")
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let p: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");
    // Institutions take other filters than problems.
    let (s, _) = get_json(&app, "/collections/institutions/items?year=2024").await;
    assert_eq!(s, 400);
}

#[actix_web::test]
async fn unknown_filter_values_are_a_400_naming_the_parameter_and_its_values() {
    // A typo must not look like "nothing here": each refused with what it can be.
    let app = app!();
    for (uri, param, listed) in [
        (
            "/collections/problems-districts/items?category=povrety",
            "category",
            "poverty",
        ),
        (
            "/collections/problems-districts/items?category=%25ZZ",
            "category",
            "any_ops",
        ),
        (
            "/collections/problems-districts/items?year=1999",
            "year",
            "2024",
        ),
        (
            "/collections/problems-districts/items?district=NOPE",
            "district",
            "FAB-01",
        ),
        ("/collections/problems-h3-8/items?unit=FAB-01", "unit", "88"),
        (
            "/collections/problems-h3-8/items?category=poverty&year=2031",
            "year",
            "2024",
        ),
        ("/collections/institutions/items?type=castle", "type", "ops"),
        (
            "/collections/districts/items?district=XYZ-99",
            "district",
            "FAB-01",
        ),
    ] {
        let (s, p) = get_json(&app, uri).await;
        assert_eq!(s, 400, "{uri}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("{param}=")), "{uri}: {detail}");
        assert!(detail.contains(listed), "{uri}: {detail}");
    }
    // The public tier here publishes no breakdown: sex is refused as such.
    let (s, p) = get_json(&app, "/collections/problems-districts/items?sex=X").await;
    assert_eq!(s, 400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("publishes no values of sex"),
        "{p}"
    );
    // Known values still filter.
    let (s, fc) = get_json(
        &app,
        "/collections/problems-districts/items?category=poverty&year=2024&district=FAB-01",
    )
    .await;
    assert_eq!((s, fc["numberMatched"].as_u64()), (200, Some(1)));
    // The city series has one unit: another is an error, not the city's numbers.
    for uri in [
        "/api/v1/series?unit=NOPE&category=poverty",
        "/api/v1/series?unit=FAB-01&layer=city&category=poverty",
    ] {
        let (s, p) = get_json(&app, uri).await;
        assert_eq!(s, 400, "{uri}: {p}");
        assert!(p["detail"].as_str().unwrap().starts_with("unit="), "{p}");
    }
    // A unit without a layer is looked up: the district's series, not the city's.
    let (s, by_unit) = get_json(&app, "/api/v1/series?unit=FAB-01&category=poverty").await;
    let (_, by_layer) = get_json(
        &app,
        "/api/v1/series?unit=FAB-01&layer=districts&category=poverty",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(by_unit["series"], by_layer["series"]);
    assert_eq!(by_unit["unit"], "FAB-01");
    let (s, p) = get_json(&app, "/api/v1/series?category=nope").await;
    assert_eq!(s, 400, "{p}");
    assert!(
        p["detail"].as_str().unwrap().starts_with("category="),
        "{p}"
    );
}

#[actix_web::test]
async fn queryables_list_every_filter_with_the_values_it_accepts() {
    // OGC API – Features Part 3: what OWSLib and QGIS ask before filtering.
    let app = app!();
    let (s, conf) = get_json(&app, "/conformance").await;
    assert_eq!(s, 200);
    assert!(
        conf["conformsTo"]
            .to_string()
            .contains("ogcapi-features-3/1.0/conf/queryables")
    );
    for id in [
        "districts",
        "problems-districts",
        "problems-h3-8",
        "institutions",
    ] {
        let (s, c) = get_json(&app, &format!("/collections/{id}")).await;
        assert_eq!(s, 200);
        assert!(c["links"].to_string().contains("/queryables"), "{id}");
        let (s, q) = get_json(&app, &format!("/collections/{id}/queryables")).await;
        assert_eq!(s, 200, "{id}");
        assert_eq!(q["type"], "object");
        let props = q["properties"].as_object().unwrap();
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            c["filters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
            "{id}: every filter, nothing else"
        );
        // Every listed value is accepted by the items, and a made-up one is not.
        for (name, schema) in props {
            let values = schema["enum"].as_array().unwrap();
            if let Some(v) = values.first() {
                let v = v.to_string().trim_matches('"').to_string();
                let uri = format!(
                    "/collections/{id}/items?{name}={}&limit=1",
                    v.replace('+', "%2B")
                );
                let (s, _) = get_json(&app, &uri).await;
                assert_eq!(s, 200, "{uri}");
            }
            let (s, _) = get_json(
                &app,
                &format!("/collections/{id}/items?{name}=no-such-value"),
            )
            .await;
            assert_eq!(s, 400, "{id} {name}");
        }
    }
    let (s, _) = get_json(&app, "/collections/nope/queryables").await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn metrics_are_for_the_operator_with_a_metrics_token() {
    let app = app!();
    let f = fixture();
    let call = |token: Option<&str>| {
        let mut r = test::TestRequest::get().uri("/metrics");
        if let Some(t) = token {
            r = r.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        r.to_request()
    };
    let res = test::call_service(&app, call(None)).await;
    assert_eq!(res.status().as_u16(), 401);
    for token in [&f.public_token, &f.analyst_token] {
        let res = test::call_service(&app, call(Some(token))).await;
        assert_eq!(res.status().as_u16(), 403);
    }
    let res = test::call_service(&app, call(Some(&f.metrics_token))).await;
    assert_eq!(res.status().as_u16(), 200);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(text.contains("kmapa_snapshot"), "{text}");
    // A metrics token opens nothing else.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/analyst/layers")
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", f.metrics_token)))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
}

#[actix_web::test]
async fn a_forged_forwarding_header_never_reaches_a_link_or_the_cache() {
    // The reported poisoning: links were built from X-Forwarded-Host while the cache
    // keyed on Host, so one forged request put another host into everyone's answers.
    let app = app!();
    let links = |uri: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move {
            let mut r = test::TestRequest::get().uri(uri);
            for h in headers {
                r = r.insert_header(h);
            }
            let res = test::call_service(app, r.to_request()).await;
            assert_eq!(res.status().as_u16(), 200);
            String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
        }
    };
    let forged = links(
        "/collections",
        vec![
            ("host", "kmapa.example.pl"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "host=evil.example;proto=https"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert!(!forged.contains("evil.example") && forged.contains("http://kmapa.example.pl/"));
    let after = links("/collections", vec![("host", "kmapa.example.pl")]).await;
    assert_eq!(after, forged, "the same answer for the same Host");
    assert!(!after.contains("evil"));
    // A Host that is not a host name is not echoed into links.
    let odd = links("/collections/districts", vec![("host", "a\"b<c")]).await;
    assert!(
        odd.contains("http://localhost:8080/") && !odd.contains("a\"b"),
        "{odd}"
    );

    // With a public URL (behind a reverse proxy), every link starts with it.
    let snap = Snapshot::load(&fixture().data_dir, None).unwrap();
    let state = web::Data::new(
        AppState::new(Served::from_snapshot(&snap).unwrap())
            .with_public_url(Some("https://mapa.wroclaw.pl/kmapa/".into())),
    );
    let app = test::init_service(App::new().app_data(state).configure(configure)).await;
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/collections/problems-districts/items?category=poverty&year=2024&limit=5")
            .insert_header(("host", "127.0.0.1:8080"))
            .insert_header(("x-forwarded-host", "evil.example"))
            .to_request(),
    )
    .await;
    let fc: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    let hrefs: Vec<&str> = fc["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["href"].as_str().unwrap())
        .collect();
    assert!(hrefs.len() >= 2, "{hrefs:?}");
    for h in hrefs {
        assert!(
            h.starts_with("https://mapa.wroclaw.pl/kmapa/collections/"),
            "{h}"
        );
    }
}

#[actix_web::test]
async fn the_response_cache_and_pages_stay_bounded_in_bytes() {
    // The reported exhaustion: large pages under ever new Host headers grew the cache
    // without bound (it was bounded in entries only).
    let snap = Snapshot::load(&fixture().data_dir, None).unwrap();
    let budget = 4u64 << 20;
    let state = web::Data::new(
        AppState::new(Served::from_snapshot(&snap).unwrap()).with_cache_bytes(budget),
    );
    let app = test::init_service(App::new().app_data(state.clone()).configure(configure)).await;
    let mut largest = 0;
    for n in 0..40 {
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/collections/problems-districts/items?limit=10000")
                .insert_header(("host", format!("h{n}.example")))
                .to_request(),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
        let body = test::read_body(res).await;
        largest = largest.max(body.len());
        let fc: Value = serde_json::from_slice(&body).unwrap();
        // One page is capped near 4 MB, with a link to the next.
        let returned = fc["numberReturned"].as_u64().unwrap();
        if returned < fc["numberMatched"].as_u64().unwrap() {
            assert!(fc["links"].to_string().contains("\"next\""));
        }
    }
    assert!(largest <= 6 << 20, "one page is {largest} bytes");
    let held = state.cache_bytes();
    assert!(
        held <= budget,
        "the cache holds {held} bytes, over its {budget}"
    );
    // The paging still gives every feature once.
    let (_, first) = get_json(&app, "/collections/problems-districts/items?limit=10000").await;
    let matched = first["numberMatched"].as_u64().unwrap() as usize;
    let mut seen = std::collections::HashSet::new();
    let mut page = first;
    loop {
        for f in page["features"].as_array().unwrap() {
            assert!(seen.insert(f["id"].as_str().unwrap().to_string()));
        }
        let next = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| {
                l["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://localhost:8080")
                    .to_string()
            });
        match next {
            Some(uri) => page = get_json(&app, &uri).await.1,
            None => break,
        }
    }
    assert_eq!(seen.len(), matched);
}

#[actix_web::test]
async fn head_answers_every_get_route_with_the_same_status_and_headers() {
    let app = app!();
    for uri in [
        "/",
        "/conformance",
        "/api",
        "/collections",
        "/collections/problems-districts",
        "/collections/problems-districts/items?category=poverty&year=2024",
        "/collections/problems-districts/items/FAB-01:poverty:all:2024",
        "/api/v1/vocabulary",
        "/api/v1/snapshot",
        "/api/v1/series?category=poverty",
        "/api/v1/table.csv?category=poverty",
        "/api/v1/districts/FAB-01/profile",
        "/health",
        "/collections/nope",
    ] {
        let get = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        let head = test::call_service(
            &app,
            test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(uri)
                .to_request(),
        )
        .await;
        assert_eq!(head.status(), get.status(), "{uri}");
        for h in [header::CONTENT_TYPE, header::ETAG, header::CACHE_CONTROL] {
            assert_eq!(head.headers().get(&h), get.headers().get(&h), "{uri}: {h}");
        }
    }
}

#[actix_web::test]
async fn other_methods_get_405_as_problem_json_naming_get_and_head() {
    let app = app!();
    for (method, uri) in [
        (actix_web::http::Method::POST, "/collections"),
        (
            actix_web::http::Method::PUT,
            "/collections/problems-districts/items",
        ),
        (actix_web::http::Method::DELETE, "/api/v1/snapshot"),
        (actix_web::http::Method::PATCH, "/analyst/layers"),
    ] {
        let res = test::call_service(
            &app,
            test::TestRequest::default()
                .method(method.clone())
                .uri(uri)
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 405, "{method} {uri}");
        assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET, HEAD");
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        assert_eq!(body["status"], 405, "{method} {uri}");
        assert!(body["detail"].as_str().unwrap().contains("GET and HEAD"));
    }
    // A path that is no route at all stays a 404, whatever the method.
    let res = test::call_service(
        &app,
        test::TestRequest::post().uri("/nothing-here").to_request(),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn a_large_answer_is_hashed_and_compressed_off_the_worker_so_others_go_first() {
    // The test runtime is one thread, as one actix worker is. A large page asked for
    // with brotli is hashed and compressed on the blocking pool: while that runs, the
    // worker answers a small request. Done on the worker, the small one would wait.
    let app = app!();
    let order = std::sync::Mutex::new(Vec::new());
    let big = async {
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/collections/problems-districts/items?limit=10000")
                .insert_header((header::ACCEPT_ENCODING, "br"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "br");
        let n = test::read_body(res).await.len();
        order.lock().unwrap().push("large");
        n
    };
    let small = async {
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await;
        assert_eq!(res.status(), 200);
        order.lock().unwrap().push("small");
    };
    let (compressed, ()) = futures_util::join!(big, small);
    assert!(compressed > 0);
    assert_eq!(*order.lock().unwrap(), ["small", "large"]);
}

#[actix_web::test]
async fn ats_core_f_op_returns_one_feature_or_404() {
    let app = app!();
    let (s, f) = get_json(
        &app,
        "/collections/problems-districts/items/FAB-01:poverty:all:2024",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["properties"]["unit"], "FAB-01");
    assert_eq!(f["properties"]["snapshot"], 1);
    assert_eq!(f["properties"]["policy_version"], "test-1");
    let (s, _) = get_json(
        &app,
        "/collections/problems-districts/items/FAB-01:poverty:all:1999",
    )
    .await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn responses_carry_an_etag_and_answer_304_and_compress() {
    let app = app!();
    let uri = "/collections/problems-districts/items?category=poverty&year=2024";
    let res = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
    let etag = res.headers().get(header::ETAG).unwrap().clone();
    assert!(res.headers().get(header::CACHE_CONTROL).is_some());
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(uri)
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 304);
    for enc in ["br", "gzip"] {
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(uri)
                .insert_header((header::ACCEPT_ENCODING, enc))
                .to_request(),
        )
        .await;
        assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), enc);
        let packed = test::read_body(res).await;
        let mut plain = Vec::new();
        if enc == "gzip" {
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut plain)
                .unwrap();
        } else {
            std::io::Read::read_to_end(
                &mut brotli::Decompressor::new(&packed[..], 4096),
                &mut plain,
            )
            .unwrap();
        }
        let identity =
            test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(
            plain,
            test::read_body(identity).await.to_vec(),
            "{enc} decodes to the body"
        );
        assert!(
            packed.len() * 3 < plain.len(),
            "{enc}: {} of {}",
            packed.len(),
            plain.len()
        );
    }
}

#[actix_web::test]
async fn hidden_values_say_only_hidden_in_polish_and_english() {
    let app = app!();
    let (_, j) = get_json(
        &app,
        "/collections/problems-h3-8/items?category=post_prison&year=2024&limit=10000",
    )
    .await;
    let hidden: Vec<&Value> = j["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["status"] == "hidden")
        .collect();
    assert!(!hidden.is_empty());
    for f in hidden {
        assert!(f["properties"]["value"].is_null());
        assert!(f["properties"]["rate_per_1000"].is_null());
        // The same words for every hidden cell, whatever hid it.
        assert_eq!(
            f["properties"]["status_pl"],
            "ukryte dla ochrony prywatności"
        );
        assert_eq!(f["properties"]["status_en"], "hidden to protect privacy");
    }
}

/// Every public endpoint and every filter combination the API allows: no count from 1
/// to k−1 anywhere, and every served number is the audited snapshot's.
#[actix_web::test]
async fn the_privacy_walk_finds_no_small_count_and_only_audited_numbers() {
    let f = fixture();
    assert!(
        f.audit_ok,
        "the snapshot's tier passes the audit, re-run from the data"
    );
    let snap = Snapshot::load(&f.data_dir, None).unwrap();
    let tier: BTreeMap<(String, String, String, String, u16), Option<u32>> = snap
        .tier
        .cells
        .iter()
        .map(|c| {
            (
                (
                    c.unit.clone(),
                    c.measure.clone(),
                    c.group.clone(),
                    c.counted.code().to_string(),
                    c.year,
                ),
                c.value,
            )
        })
        .collect();
    let app = app!();
    let (_, vocab) = get_json(&app, "/api/v1/vocabulary").await;
    let codes: Vec<String> = vocab
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect();
    let mut checked = 0usize;
    let mut check = |j: &Value| {
        for feat in j["features"].as_array().unwrap() {
            let p = &feat["properties"];
            if let Some(v) = p["value"].as_u64() {
                assert!(v == 0 || v >= K, "{}: {v}", feat["id"]);
                let key = (
                    p["unit"].as_str().unwrap().to_string(),
                    p["category"].as_str().unwrap().to_string(),
                    p["group"].as_str().unwrap().to_string(),
                    p["counted"].as_str().unwrap().to_string(),
                    p["year"].as_u64().unwrap() as u16,
                );
                assert_eq!(tier[&key], Some(v as u32), "{key:?}");
            }
            checked += 1;
        }
    };
    for collection in ["problems-districts", "problems-parents", "problems-h3-8"] {
        // Everything at once, then every category × year and every unit.
        let (_, j) = get_json(
            &app,
            &format!("/collections/{collection}/items?limit=10000"),
        )
        .await;
        check(&j);
        if collection != "problems-h3-8" {
            let (_, j) = get_json(
                &app,
                &format!("/collections/{collection}/items?counted=households&limit=10000"),
            )
            .await;
            assert!(!j["features"].as_array().unwrap().is_empty());
            check(&j);
        }
        for code in &codes {
            for year in ["2023", "2024"] {
                let (s, j) = get_json(
                    &app,
                    &format!(
                        "/collections/{collection}/items?category={code}&year={year}&limit=10000"
                    ),
                )
                .await;
                assert_eq!(s, 200);
                check(&j);
            }
        }
    }
    // The CSV and the profiles say "hidden" for every hidden cell, never why.
    for uri in [
        "/api/v1/table.csv",
        "/api/v1/districts/FAB-01/profile",
        "/api/v1/series?category=post_prison&unit=FAB-01",
    ] {
        let res = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(
            !body.contains("primary") && !body.contains("secondary") && !body.contains("mniej niż"),
            "{uri}"
        );
    }
    for d in ["FAB-01", "KRZ-03", "PSP-05"] {
        let (_, j) = get_json(
            &app,
            &format!("/collections/problems-districts/items?district={d}&limit=10000"),
        )
        .await;
        check(&j);
    }
    assert!(checked > 20_000, "{checked}");
}

#[actix_web::test]
async fn a_district_profile_has_every_category_against_the_city_and_its_institutions() {
    let app = app!();
    let (s, p) = get_json(&app, "/api/v1/districts/FAB-01/profile").await;
    assert_eq!(s, 200);
    assert_eq!(p["district"]["name"], "Gajowice");
    let cats = p["categories"].as_array().unwrap();
    assert!(cats.len() > 25, "{}", cats.len());
    let poverty = cats.iter().find(|c| c["code"] == "poverty").unwrap();
    assert_eq!(poverty["series"].as_array().unwrap().len(), 2);
    assert_eq!(poverty["city"].as_array().unwrap().len(), 2);
    assert!(poverty["city"][1]["rate_per_1000"].as_f64().unwrap() > 0.0);
    let insts = p["institutions"].as_array().unwrap();
    assert!(!insts.is_empty());
    assert!(p["note_pl"].as_str().unwrap().contains("ukryte"));
    let (s, _) = get_json(&app, "/api/v1/districts/XXX-99/profile").await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn series_and_csv_give_the_same_numbers_as_the_features() {
    let app = app!();
    let (_, items) = get_json(
        &app,
        "/collections/problems-districts/items?category=poverty&year=2024&limit=10000",
    )
    .await;
    let from_items: BTreeMap<String, Value> = items["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["properties"]["unit"].as_str().unwrap().to_string(),
                f["properties"]["value"].clone(),
            )
        })
        .collect();
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/table.csv?layer=districts&category=poverty&year=2024")
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("unit,name,category,group,counted,year,value,status")
    );
    let mut n = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let served = &from_items[f[0]];
        assert_eq!(f[4], "persons");
        match served.as_u64() {
            Some(v) => assert_eq!(f[6], v.to_string()),
            None => assert_eq!(f[6], "", "{line}"),
        }
        n += 1;
    }
    assert_eq!(n, from_items.len());
    let (s, series) = get_json(
        &app,
        "/api/v1/series?category=poverty&layer=districts&unit=FAB-01",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(series["series"][1]["value"], from_items["FAB-01"]);
    let (s, _) = get_json(&app, "/api/v1/series?layer=districts&unit=FAB-01").await;
    assert_eq!(s, 400);
}

/// The static export holds the same numbers as the live API, file for query.
#[actix_web::test]
async fn the_static_export_serves_the_same_numbers_as_the_live_api() {
    let app = app!();
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("bundle");
    let files = kmapa_serve::export::export(&state().served, &bundle).unwrap();
    assert!(files.len() > 100, "{}", files.len());
    let index: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["snapshot"], 1);
    for (layer, category, year) in [
        ("districts", "poverty", 2024),
        ("h3-8", "post_prison", 2023),
        ("parents", "any_ops", 2024),
    ] {
        let file: Value = serde_json::from_slice(
            &std::fs::read(bundle.join(format!("problems/{layer}/{category}/{year}.geojson")))
                .unwrap(),
        )
        .unwrap();
        let (_, live) = get_json(
            &app,
            &format!(
                "/collections/problems-{layer}/items?category={category}&year={year}&limit=10000"
            ),
        )
        .await;
        assert_eq!(
            file["features"], live["features"],
            "{layer} {category} {year}"
        );
        assert_eq!(file["numberMatched"], live["numberMatched"]);
    }
    let (_, live) = get_json(&app, "/collections/districts/items?limit=10000").await;
    let file: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("districts.geojson")).unwrap()).unwrap();
    assert_eq!(file["features"], live["features"]);
    // No exported file says why a cell is hidden (a small count, or to cover one):
    // telling them apart lets a reader narrow hidden cells (docs/privacy.md).
    let mut hidden = 0;
    for f in &files {
        let text = std::fs::read_to_string(bundle.join(f)).unwrap_or_default();
        for word in [
            "primary_suppressed",
            "secondary_suppressed",
            "fewer than",
            "mniej niż",
            "inne ukryte",
            "other hidden numbers",
        ] {
            assert!(!text.contains(word), "{f} says {word:?}");
        }
        hidden += text.matches("\"status\":\"hidden\"").count();
    }
    assert!(hidden > 100, "{hidden}");
    // A second export into the same place is refused, not merged.
    assert!(kmapa_serve::export::export(&state().served, &bundle).is_err());
}

/// The fixture's analyst tier, counting the queries it is asked.
struct Counting(
    std::sync::Arc<dyn kmapa_serve::app::Analyst>,
    std::sync::atomic::AtomicUsize,
);

impl kmapa_serve::app::Analyst for Counting {
    fn layers(&self) -> Vec<String> {
        self.0.layers()
    }
    fn groups(&self) -> Vec<String> {
        self.0.groups()
    }
    fn breakdown_layers(&self) -> Vec<String> {
        self.0.breakdown_layers()
    }
    fn query(
        &self,
        layer: kmapa_protect::output::LayerKind,
        category: &str,
        year: u16,
        group: &str,
    ) -> Result<Vec<kmapa_protect::output::AnalystCell>, String> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.query(layer, category, year, group)
    }
    fn withheld(
        &self,
        layer: kmapa_protect::output::LayerKind,
        category: &str,
        year: u16,
        group: &str,
    ) -> bool {
        self.0.withheld(layer, category, year, group)
    }
    fn threshold(&self) -> u64 {
        self.0.threshold()
    }
    fn ptable(&self) -> &kmapa_protect::ckm::PTable {
        self.0.ptable()
    }
}

#[actix_web::test]
async fn analyst_answers_are_computed_once_per_query_and_never_shared_without_a_token() {
    let f = fixture();
    let counting = std::sync::Arc::new(Counting(f.analyst.clone(), Default::default()));
    let snap = Snapshot::load(&f.data_dir, None).unwrap();
    let state = web::Data::new(
        AppState::new(Served::from_snapshot(&snap).unwrap())
            .with_users(kmapa_serve::users::Users::open(&f.data_dir).unwrap())
            .with_analyst(counting.clone()),
    );
    let app = test::init_service(App::new().app_data(state).configure(configure)).await;
    let uri = "/analyst/layers/districts/items?category=poverty&year=2024&sex=K";
    let ask = |token: Option<&str>, encoding: &str| {
        let mut r = test::TestRequest::get()
            .uri(uri)
            .insert_header((header::ACCEPT_ENCODING, encoding.to_string()));
        if let Some(t) = token {
            r = r.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        r.to_request()
    };
    let first = test::call_service(&app, ask(Some(&f.analyst_token), "identity")).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers().get(header::ETAG).unwrap().clone();
    let first = test::read_body(first).await;
    for encoding in ["identity", "gzip", "br"] {
        let res = test::call_service(&app, ask(Some(&f.analyst_token), encoding)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers().get(header::ETAG).unwrap(), &etag);
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "private, no-store"
        );
        if encoding == "identity" {
            assert_eq!(test::read_body(res).await, first);
        }
    }
    assert_eq!(
        counting.1.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "four answers, one query"
    );
    // The cached answer is no one's without a valid analyst token.
    let res = test::call_service(&app, ask(None, "identity")).await;
    assert_eq!(res.status(), 401);
    let res = test::call_service(&app, ask(Some(&f.public_token), "identity")).await;
    assert_eq!(res.status(), 403);
}

#[actix_web::test]
async fn analyst_layers_need_an_analyst_token_and_answer_consistently() {
    let app = app!();
    let f = fixture();
    let uri = "/analyst/layers/h3_9/items?category=poverty&year=2024";
    let call = |token: Option<String>| {
        let mut r = test::TestRequest::get().uri(uri);
        if let Some(t) = token {
            r = r.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        r.to_request()
    };
    for path in ["/analyst/layers", uri] {
        let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status().as_u16(), 401, "{path}");
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_some());
    }
    let res = test::call_service(&app, call(Some("kmapa_not_a_token".into()))).await;
    assert_eq!(res.status().as_u16(), 401);
    let res = test::call_service(&app, call(Some(f.public_token.clone()))).await;
    assert_eq!(res.status().as_u16(), 403);
    let first = test::call_service(&app, call(Some(f.analyst_token.clone()))).await;
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(
        first.headers().get(header::CACHE_CONTROL).unwrap(),
        "private, no-store"
    );
    let first: Value = serde_json::from_slice(&test::read_body(first).await).unwrap();
    let again = test::call_service(&app, call(Some(f.analyst_token.clone()))).await;
    let again: Value = serde_json::from_slice(&test::read_body(again).await).unwrap();
    assert_eq!(
        first, again,
        "the same query gives the same perturbed values"
    );
    let feats = first["features"].as_array().unwrap();
    assert!(feats.len() > 100, "{}", feats.len());
    for feat in feats {
        let p = &feat["properties"];
        assert_eq!(p["tier"], "analyst");
        match p["value"].as_u64() {
            Some(v) => {
                assert!(v >= 10, "{p}");
                assert_eq!(p["status"], "perturbed");
            }
            None => assert_eq!(p["status"], "hidden"),
        }
        assert!(!feat["geometry"].is_null());
    }
    // Without geometries (for scripts): the same features and numbers, geometry null;
    // a value other than true or false is a 400 naming it.
    let bare = |uri: String| {
        test::TestRequest::get()
            .uri(&uri)
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", f.analyst_token)))
            .to_request()
    };
    let res = test::call_service(&app, bare(format!("{uri}&skipGeometry=true"))).await;
    assert_eq!(res.status().as_u16(), 200);
    let skipped: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    let skipped = skipped["features"].as_array().unwrap();
    assert_eq!(skipped.len(), feats.len());
    for (s, feat) in skipped.iter().zip(feats) {
        assert!(s["geometry"].is_null(), "{s}");
        assert_eq!(s["id"], feat["id"]);
        assert_eq!(s["properties"], feat["properties"]);
    }
    let res = test::call_service(&app, bare(format!("{uri}&skipGeometry=yes"))).await;
    assert_eq!(res.status().as_u16(), 400);
    let problem: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("\"yes\""),
        "{problem}"
    );
    // The same units are answered whatever the counts: a rare category, a breakdown
    // group and a common category list the same districts and hexagons (being listed
    // says nothing), and "nobody" is never said.
    let units = |uri: String| {
        let app = &app;
        let token = f.analyst_token.clone();
        async move {
            let res = test::call_service(
                app,
                test::TestRequest::get()
                    .uri(&uri)
                    .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
                    .to_request(),
            )
            .await;
            assert_eq!(res.status().as_u16(), 200, "{uri}");
            let j: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
            let feats = j["features"].as_array().unwrap().clone();
            for feat in &feats {
                assert_ne!(feat["properties"]["status"], "empty", "{uri}: {feat}");
            }
            feats
                .iter()
                .map(|f| f["properties"]["unit"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    for layer in ["districts", "h3_9"] {
        let common = units(format!(
            "/analyst/layers/{layer}/items?category=poverty&year=2024"
        ))
        .await;
        let queries: &[&str] = if layer == "districts" {
            &[
                "category=trafficking_victim&year=2024",
                "category=poverty&year=2024&sex=K",
                "category=post_prison&year=2019&age=65%2B",
            ]
        } else {
            &["category=trafficking_victim&year=2024"]
        };
        for q in queries {
            assert_eq!(
                units(format!("/analyst/layers/{layer}/items?{q}")).await,
                common,
                "{layer} {q}"
            );
        }
    }
    // Breakdowns the analyst tier allows, and a clear 400 for others.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/analyst/layers/districts/items?category=poverty&year=2024&sex=K")
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", f.analyst_token)))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    // A withheld query: every unit hidden, and said to be withheld (in both languages);
    // the same query for another year is answered as usual.
    let answer = |uri: &'static str| {
        let app = &app;
        let token = f.analyst_token.clone();
        async move {
            let res = test::call_service(
                app,
                test::TestRequest::get()
                    .uri(uri)
                    .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
                    .to_request(),
            )
            .await;
            assert_eq!(res.status().as_u16(), 200, "{uri}");
            serde_json::from_slice::<Value>(&test::read_body(res).await).unwrap()
        }
    };
    let held = answer("/analyst/layers/districts/items?category=poverty&year=2023&sex=K").await;
    assert_eq!(held["withheld"], true);
    assert!(
        held["withheld_pl"]
            .as_str()
            .unwrap()
            .starts_with("Wstrzymane")
    );
    assert!(
        held["withheld_en"]
            .as_str()
            .unwrap()
            .starts_with("Withheld")
    );
    let feats = held["features"].as_array().unwrap();
    assert_eq!(feats.len(), 48);
    for feat in feats {
        let p = &feat["properties"];
        assert!(
            p["value"].is_null() && p["status"] == "hidden" && p["withheld"] == true,
            "{p}"
        );
    }
    let open = answer("/analyst/layers/districts/items?category=poverty&year=2024&sex=K").await;
    assert!(open.get("withheld").is_none());
    let open = open["features"].as_array().unwrap();
    assert!(
        open.iter()
            .any(|f| f["properties"]["status"] == "perturbed")
    );
    assert!(
        open.iter()
            .all(|f| f["properties"].get("withheld").is_none())
    );
    // Breakdowns by hexagon are not offered (the analyst audit does not cover them).
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/analyst/layers/h3_9/items?category=poverty&year=2024&sex=K")
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", f.analyst_token)))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    let p: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("breakdowns are answered at districts, parents, city only"),
        "{p}"
    );
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/analyst/layers/h3_12/items?category=poverty&year=2024")
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", f.analyst_token)))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 404);
}

#[actix_web::test]
async fn browsers_get_the_embedded_map_with_no_outside_requests() {
    let app = app!();
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/")
            .insert_header((header::ACCEPT, "text/html,application/xhtml+xml"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        html.contains("\"web/vendor/maplibre-gl/maplibre-gl.js\"") && html.contains("lang=\"pl\"")
    );
    for path in [
        "/web/config.json",
        "/web/app.js",
        "/web/style.css",
        "/web/vendor/maplibre-gl/maplibre-gl.js",
        "/web/vendor/maplibre-gl/maplibre-gl.css",
        "/web/vendor/maplibre-gl/LICENSE.txt",
    ] {
        let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
    }
    // Our own page and script name no other host.
    for own in [
        html.as_str(),
        include_str!("../../../web/app.js"),
        include_str!("../../../web/style.css"),
    ] {
        // (The SVG namespace is a name, not a request.)
        let own = own.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !own.contains("http://") && !own.contains("https://"),
            "an outside URL in the web map"
        );
    }
    let (s, _) = get_json(&app, "/web/nope.js").await;
    assert_eq!(s, 404);
    // The map reads its data from this server, with no basemap unless one is configured.
    let (s, c) = get_json(&app, "/web/config.json").await;
    assert_eq!(
        (s, c["mode"].as_str(), c["basemap_style"].is_null()),
        (200, Some("api"), true)
    );
    // A shared view: the map's own state in the query string still gets the page.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/?category=poverty&year=2024&district=FAB-01")
            .insert_header((header::ACCEPT, "text/html"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    // JSON clients still get the landing page.
    let (s, j) = get_json(&app, "/?f=json").await;
    assert_eq!((s, j["links"].is_array()), (200, true));
}

/// Replaces what changes between runs or would swamp a snapshot: publication times and
/// coordinate lists (kept as their number of positions).
fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "published_at" | "timeStamp" | "created" => *x = Value::from("[time]"),
                    "coordinates" => {
                        fn positions(v: &Value) -> usize {
                            match v {
                                Value::Array(a) if a.first().is_some_and(Value::is_number) => 1,
                                Value::Array(a) => a.iter().map(positions).sum(),
                                _ => 0,
                            }
                        }
                        *x = Value::from(format!("[{} positions]", positions(x)));
                    }
                    _ => redact(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Every endpoint's answer, as JSON snapshots (`tests/snapshots/`): a change in what
/// the API says, to GIS clients, the map or diagnosis teams, shows up as a diff to
/// review (`INSTA_UPDATE=always cargo test -p kmapa-serve` rewrites them on purpose).
#[actix_web::test]
async fn every_endpoint_answers_as_its_json_snapshot() {
    let app = app!();
    let f = fixture();
    let district = "FAB-01";
    let paths = [
        ("landing", "/".to_string()),
        ("conformance", "/conformance".into()),
        ("api_definition", "/api".into()),
        ("health", "/health".into()),
        ("collections", "/collections".into()),
        ("collection_districts", "/collections/districts".into()),
        (
            "collection_problems_districts",
            "/collections/problems-districts".into(),
        ),
        (
            "collection_problems_h3_8",
            "/collections/problems-h3-8".into(),
        ),
        (
            "collection_institutions",
            "/collections/institutions".into(),
        ),
        (
            "items_districts",
            "/collections/districts/items?limit=2".into(),
        ),
        (
            "items_problems_districts",
            "/collections/problems-districts/items?category=homelessness&year=2024&limit=6".into(),
        ),
        (
            "items_problems_parents",
            "/collections/problems-parents/items?category=any_pup&year=2023".into(),
        ),
        (
            "items_problems_h3_8",
            "/collections/problems-h3-8/items?category=poverty&year=2024&limit=4&offset=20".into(),
        ),
        (
            "items_institutions_filtered",
            "/collections/institutions/items?category=homelessness&limit=3".into(),
        ),
        (
            "feature",
            format!("/collections/problems-districts/items/{district}:poverty:all:2024"),
        ),
        ("vocabulary", "/api/v1/vocabulary".into()),
        ("snapshot", "/api/v1/snapshot".into()),
        (
            "series",
            format!("/api/v1/series?category=unemployment&layer=districts&unit={district}"),
        ),
        ("series_city", "/api/v1/series?category=any_ops".into()),
        ("profile", format!("/api/v1/districts/{district}/profile")),
        ("web_config", "/web/config.json".into()),
        (
            "problem_unknown_parameter",
            "/collections/problems-districts/items?colour=red".into(),
        ),
        ("problem_bad_year", "/api/v1/table.csv?year=twenty".into()),
        (
            "problem_no_feature",
            "/collections/districts/items/XXX-99".into(),
        ),
        ("problem_no_collection", "/collections/nope".into()),
        ("problem_analyst_without_token", "/analyst/layers".into()),
    ];
    for (name, path) in paths {
        let (status, mut body) = get_json(&app, &path).await;
        redact(&mut body);
        insta::assert_json_snapshot!(
            name,
            serde_json::json!({"path": path, "status": status, "body": body})
        );
    }
    // The analyst tier, with a token: the perturbed values are part of the snapshot,
    // so a change in the Cell Key Method's noise shows too.
    for (name, path) in [
        ("analyst_layers", "/analyst/layers"),
        (
            "analyst_items",
            "/analyst/layers/districts/items?category=any_ops&year=2024",
        ),
    ] {
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(path)
                .insert_header((header::AUTHORIZATION, format!("Bearer {}", f.analyst_token)))
                .to_request(),
        )
        .await;
        let status = res.status().as_u16();
        let mut body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        redact(&mut body);
        insta::assert_json_snapshot!(
            name,
            serde_json::json!({"path": path, "status": status, "body": body})
        );
    }
    // The CSV table, as text.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/table.csv?category=domestic_violence&year=2024")
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    insta::assert_snapshot!(
        "table_csv",
        String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
    );
}

/// Needs against help, checked against the district layer's features (values,
/// statuses), the districts' population, the institutions file read here, and geo's
/// haversine distance (an implementation of its own).
#[actix_web::test]
async fn needs_against_help_follow_the_published_values_and_the_institutions_file() {
    use geo::{Contains, Distance, Haversine, Point};
    let app = app!();
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let institutions = city.institutions.as_ref().unwrap();
    let grid = city
        .population_grid
        .as_ref()
        .expect("the demo city has a population grid");
    let (_, boundaries) = get_json(&app, "/collections/districts/items?limit=1000").await;
    let population: BTreeMap<String, u64> = boundaries["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                p["code"].as_str().unwrap().to_string(),
                p["population"]["2024"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut hidden_seen = 0;
    let mut flagged_seen = 0;
    // A common problem, a rare one with hidden districts, a sub-row and a unit total.
    for category in [
        "poverty",
        "homelessness",
        "alcoholism",
        "long_term_unemployed",
        "any_ops",
    ] {
        let (s, n) = get_json(
            &app,
            &format!("/api/v1/needs?category={category}&year=2024"),
        )
        .await;
        assert_eq!(s, 200, "{category}: {n}");
        let (_, layer) = get_json(
            &app,
            &format!(
                "/collections/problems-districts/items?category={category}&year=2024&limit=1000"
            ),
        )
        .await;
        let published: BTreeMap<&str, &Value> = layer["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["properties"]["group"] == "all")
            .map(|f| (f["properties"]["unit"].as_str().unwrap(), &f["properties"]))
            .collect();
        let helps: Vec<String> = if let Some(source) = category.strip_prefix("any_") {
            vocabulary
                .categories()
                .iter()
                .filter(|c| format!("{:?}", c.source).eq_ignore_ascii_case(source))
                .map(|c| c.code.clone())
                .collect()
        } else {
            vocabulary
                .categories()
                .iter()
                .filter(|c| {
                    vocabulary
                        .ancestors_and_self(&c.code)
                        .any(|a| a.code == category)
                        || vocabulary
                            .ancestors_and_self(category)
                            .any(|a| a.code == c.code)
                })
                .map(|c| c.code.clone())
                .collect()
        };
        let rows = n["districts"].as_array().unwrap();
        assert_eq!(rows.len(), city.layer.districts.len());
        assert_eq!(n["centre"], "population_weighted");
        let mut rates = Vec::new();
        for r in rows {
            let code = r["code"].as_str().unwrap();
            let cell = published[code];
            assert_eq!(r["value"], cell["value"], "{category} {code}");
            assert_eq!(r["status"], cell["status"], "{category} {code}");
            if r["value"].is_null() {
                hidden_seen += 1;
                assert!(
                    r["need_class"].is_null()
                        && r["class"].is_null()
                        && r["rate_per_1000"].is_null()
                );
                assert!(
                    n["not_enough_data"]
                        .as_array()
                        .unwrap()
                        .contains(&r["code"])
                );
                assert_eq!(r["high_need_thin_help"], false);
            } else {
                let want = r["value"].as_f64().unwrap() * 1000.0 / population[code] as f64;
                assert!((r["rate_per_1000"].as_f64().unwrap() - want).abs() <= 0.005 + 1e-9);
                rates.push(r["rate_per_1000"].as_f64().unwrap());
            }
            // The institutions that serve the district and help with the problem.
            let district = city
                .layer
                .districts
                .iter()
                .find(|d| d.code == code)
                .unwrap();
            let centre = r["centre"].as_array().unwrap();
            let centre = Point::new(centre[0].as_f64().unwrap(), centre[1].as_f64().unwrap());
            // The population-weighted centre: the mean of the grid cells whose centre
            // lies in the district, weighted by residents (recomputed here with geo).
            let (mut x, mut y, mut n) = (0.0, 0.0, 0.0);
            for c in &grid.cells {
                if district.geometry.contains(&Point::new(c.lon, c.lat)) {
                    x += c.lon * c.population as f64;
                    y += c.lat * c.population as f64;
                    n += c.population as f64;
                }
            }
            assert!(n > 0.0, "{code}: no residents on the grid");
            assert_eq!(r["centre_kind"], "population_weighted");
            assert!(
                (centre.x() - x / n).abs() < 1e-9 && (centre.y() - y / n).abs() < 1e-9,
                "{code}"
            );
            let serving: Vec<_> = institutions
                .iter()
                .filter(|i| i.area.covers(code) && i.categories.iter().any(|c| helps.contains(c)))
                .collect();
            assert_eq!(
                r["institutions"].as_u64().unwrap() as usize,
                serving.len(),
                "{category} {code}"
            );
            let places: u64 = serving.iter().filter_map(|i| i.places).map(u64::from).sum();
            if serving.iter().any(|i| i.places.is_some()) {
                assert_eq!(r["places"].as_u64(), Some(places));
            } else {
                assert!(r["places"].is_null());
            }
            let nearest = serving
                .iter()
                .map(|i| Haversine.distance(centre, Point::new(i.lon, i.lat)) / 1000.0)
                .fold(f64::INFINITY, f64::min);
            if serving.is_empty() {
                assert!(r["nearest"].is_null());
                assert_eq!(r["help_class"], 3);
            } else {
                // geo's haversine uses the mean radius 6,371,008.8 m as well.
                let km = r["nearest"]["km"].as_f64().unwrap();
                assert!(
                    (km - nearest).abs() <= 0.006,
                    "{code}: {km} against {nearest}"
                );
            }
        }
        // Classes: thirds of the published rates (numpy's default quantile).
        let b = n["need_breaks"].as_array().unwrap();
        let (b1, b2) = (b[0].as_f64().unwrap(), b[1].as_f64().unwrap());
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        let below = sorted.iter().filter(|&&x| x <= b1).count();
        assert!(
            below * 3 >= sorted.len() && below <= sorted.len() * 2 / 3 + 1,
            "{category}: {below}/{}",
            sorted.len()
        );
        for r in rows.iter().filter(|r| !r["value"].is_null()) {
            let x = r["rate_per_1000"].as_f64().unwrap();
            let want = if x <= b1 {
                1
            } else if x <= b2 {
                2
            } else {
                3
            };
            assert_eq!(r["need_class"], want);
            assert_eq!(r["class"], format!("{want}-{}", r["help_class"]));
            let flagged = want == 3 && r["help_class"] == 3;
            assert_eq!(r["high_need_thin_help"], flagged);
            flagged_seen += usize::from(flagged);
            assert_eq!(
                n["high_need_thin_help"]
                    .as_array()
                    .unwrap()
                    .contains(&r["code"]),
                flagged
            );
        }
    }
    assert!(
        hidden_seen > 0,
        "no hidden district among the problems tried"
    );
    assert!(flagged_seen > 0, "no district with high need and thin help");
    let (s, p) = get_json(&app, "/api/v1/needs?category=poverty&year=1999").await;
    assert_eq!(s, 400, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("2023"));
    let (s, _) = get_json(&app, "/api/v1/needs?category=no_such_thing").await;
    assert_eq!(s, 404);
    let (s, _) = get_json(&app, "/api/v1/needs?year=2024").await;
    assert_eq!(s, 400);
}

/// The report a city files: JSON and XLSX (read back with calamine) carry the API's
/// values, "." for every hidden one and "x" where nothing applies, never a number for
/// a hidden cell; the forecast column is empty.
#[actix_web::test]
async fn reports_as_json_and_xlsx_carry_the_published_values_and_symbols() {
    use calamine::{Data, Reader, Xlsx};
    let app = app!();
    let mut hidden_seen = 0;
    let mut absent_seen = 0;
    for (unit, layer) in [
        ("FAB-01", "districts"),
        ("STM-03", "districts"),
        ("city", "city"),
    ] {
        let (s, r) = get_json(&app, &format!("/api/v1/reports/{unit}?year=2024")).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["years"], serde_json::json!([2022, 2023, 2024]));
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(&format!("/api/v1/reports/{unit}.xlsx?year=2024"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()
                .get(header::CONTENT_DISPOSITION)
                .unwrap()
                .to_str()
                .unwrap()
                .contains(".xlsx")
        );
        let bytes = test::read_body(res).await.to_vec();
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range("Raport").unwrap();
        let rows: Vec<Vec<Data>> = sheet.rows().map(|r| r.to_vec()).collect();
        let text = |d: &Data| match d {
            Data::String(s) => s.clone(),
            Data::Float(f) => format!("{f}"),
            Data::Int(i) => format!("{i}"),
            Data::Empty => String::new(),
            other => format!("{other:?}"),
        };
        // The header names the years and the forecast year.
        let header: Vec<String> = rows.iter().flat_map(|r| r.iter().map(text)).collect();
        assert!(header.iter().any(|h| h == "2025 (prognoza)"), "{header:?}");
        assert!(
            header.iter().any(|h| h.starts_with("Znak „.”")),
            "the footnote"
        );
        for row in r["rows"].as_array().unwrap() {
            let code = row["code"].as_str().unwrap();
            let uri = if unit == "city" {
                format!("/api/v1/series?category={code}")
            } else {
                format!("/api/v1/series?category={code}&unit={unit}&layer={layer}")
            };
            let (_, series) = get_json(&app, &uri).await;
            let label = if row["parent"].is_null() {
                row["label_pl"].as_str().unwrap().to_string()
            } else {
                format!("w tym: {}", row["label_pl"].as_str().unwrap())
            };
            let line = rows
                .iter()
                .find(|r| r.first().map(text) == Some(label.clone()))
                .unwrap_or_else(|| panic!("{unit}: no row {label:?}"));
            for (i, year) in [2022u64, 2023, 2024].iter().enumerate() {
                let published = series["series"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["year"].as_u64() == Some(*year));
                let (want, want_rate) = match published {
                    None => {
                        absent_seen += 1;
                        ("x".to_string(), "x".to_string())
                    }
                    Some(c) if c["status"] == "hidden" => {
                        hidden_seen += 1;
                        (".".to_string(), ".".to_string())
                    }
                    Some(c) => (
                        format!("{}", c["value"].as_u64().unwrap()),
                        c["rate_per_1000"]
                            .as_f64()
                            .map_or("x".into(), |x| format!("{x}")),
                    ),
                };
                assert_eq!(
                    row["persons"][i].to_string().trim_matches('"'),
                    want,
                    "{unit} {code} {year}"
                );
                assert_eq!(text(&line[1 + i]), want, "{unit} {code} {year} in the XLSX");
                assert_eq!(
                    text(&line[5 + i]),
                    want_rate,
                    "{unit} {code} {year} rate in the XLSX"
                );
            }
            // The forecast column is left empty.
            assert_eq!(text(&line[4]), "");
        }
    }
    assert!(hidden_seen > 0, "no hidden value in the reports tried");
    assert!(
        absent_seen > 0,
        "no year before the snapshot's first in the reports tried"
    );
    let (s, _) = get_json(&app, "/api/v1/reports/XXX-99").await;
    assert_eq!(s, 404);
    let (s, _) = get_json(&app, "/api/v1/reports/FAB-01?year=1999").await;
    assert_eq!(s, 400);
}

/// The admin API: every route refuses no token (401) and every role but admin (403),
/// adds a user whose token then works and revokes it so it no longer does, refuses to
/// revoke one's own token, takes only its methods, and logs each action (JSON, CSV).
#[actix_web::test]
async fn the_admin_api_is_for_administrators_only_and_logs_every_action() {
    use actix_web::http::Method;
    let app = app!();
    let f = fixture();
    let admin_token = kmapa_serve::users::Users::open(&f.data_dir)
        .unwrap()
        .add("root-admin", kmapa_serve::users::Role::Admin)
        .unwrap();
    let call = |method: Method, uri: &str, token: Option<&str>, body: Option<Value>| {
        let mut r = test::TestRequest::default().method(method).uri(uri);
        if let Some(t) = token {
            r = r.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        if let Some(b) = body {
            r = r.set_json(b);
        }
        r.to_request()
    };
    let routes = [
        (Method::GET, "/admin/api/users"),
        (Method::POST, "/admin/api/users"),
        (Method::DELETE, "/admin/api/users/someone"),
        (Method::GET, "/admin/api/log"),
        (Method::GET, "/admin/api/log?format=csv"),
        (Method::GET, "/admin/api/batches"),
        (Method::POST, "/admin/api/batches?name=a.csv"),
        (Method::POST, "/admin/api/batches/1/withdraw"),
        (Method::POST, "/admin/api/batches/1/restore"),
        (Method::GET, "/admin/api/snapshots"),
        (Method::POST, "/admin/api/preview"),
        (Method::POST, "/admin/api/publish"),
        (Method::POST, "/admin/api/rollback"),
        (
            Method::GET,
            "/admin/api/preview/districts?category=poverty&year=2024",
        ),
        (Method::GET, "/admin/api/geocode?address=ul.%20Olawska%201"),
        (Method::GET, "/admin/api/institutions"),
        (Method::GET, "/admin/api/institutions?format=csv"),
        (Method::POST, "/admin/api/institutions"),
        (Method::PUT, "/admin/api/institutions/INST-001"),
        (Method::POST, "/admin/api/institutions/INST-001/retire"),
    ];
    let body = || Some(serde_json::json!({"name": "x-user", "role": "analyst"}));
    for (method, uri) in &routes {
        let res = test::call_service(&app, call(method.clone(), uri, None, body())).await;
        assert_eq!(res.status(), 401, "{method} {uri} without a token");
        for token in [&f.public_token, &f.analyst_token, &f.metrics_token] {
            let res =
                test::call_service(&app, call(method.clone(), uri, Some(token), body())).await;
            assert_eq!(res.status(), 403, "{method} {uri} with a non-admin token");
        }
    }
    // Add an analyst: the token, shown once, opens the analyst tier.
    let res = test::call_service(
        &app,
        call(
            Method::POST,
            "/admin/api/users",
            Some(&admin_token),
            Some(serde_json::json!({"name": "new-analyst", "role": "analyst"})),
        ),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers().get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    let added: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    let new_token = added["token"].as_str().unwrap().to_string();
    let analyst = |tok: String| {
        test::TestRequest::get()
            .uri("/analyst/layers")
            .insert_header((header::AUTHORIZATION, format!("Bearer {tok}")))
            .to_request()
    };
    assert_eq!(
        test::call_service(&app, analyst(new_token.clone()))
            .await
            .status(),
        200
    );
    // The list shows names and roles, never a token.
    let res = test::call_service(
        &app,
        call(Method::GET, "/admin/api/users", Some(&admin_token), None),
    )
    .await;
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        text.contains("new-analyst") && !text.contains(&new_token) && !text.contains("token"),
        "{text}"
    );
    // The same name again: 409; a bad role: 400; bad JSON: 400 as problem+json.
    let again = test::call_service(
        &app,
        call(
            Method::POST,
            "/admin/api/users",
            Some(&admin_token),
            Some(serde_json::json!({"name": "new-analyst", "role": "analyst"})),
        ),
    )
    .await;
    assert_eq!(again.status(), 409);
    let bad = test::call_service(
        &app,
        call(
            Method::POST,
            "/admin/api/users",
            Some(&admin_token),
            Some(serde_json::json!({"name": "b", "role": "king"})),
        ),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/admin/api/users")
            .insert_header((header::AUTHORIZATION, format!("Bearer {admin_token}")))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{\"name\":")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    // Revoke: the token stops working; one's own cannot be revoked; nobody: 404.
    let res = test::call_service(
        &app,
        call(
            Method::DELETE,
            "/admin/api/users/new-analyst",
            Some(&admin_token),
            None,
        ),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        test::call_service(&app, analyst(new_token)).await.status(),
        401
    );
    let own = test::call_service(
        &app,
        call(
            Method::DELETE,
            "/admin/api/users/root-admin",
            Some(&admin_token),
            None,
        ),
    )
    .await;
    assert_eq!(own.status(), 409);
    let none = test::call_service(
        &app,
        call(
            Method::DELETE,
            "/admin/api/users/nobody-here",
            Some(&admin_token),
            None,
        ),
    )
    .await;
    assert_eq!(none.status(), 404);
    // Other methods: 405 naming what the resource takes.
    let res = test::call_service(
        &app,
        call(Method::PUT, "/admin/api/users", Some(&admin_token), None),
    )
    .await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET, HEAD, POST");
    // The log: each action, by whom, newest first; as CSV too.
    let res = test::call_service(
        &app,
        call(Method::GET, "/admin/api/log", Some(&admin_token), None),
    )
    .await;
    let log: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    let entries: Vec<(String, String, String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "root-admin")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("action"), s("target"), s("result"), s("at"))
        })
        .collect();
    let seen: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(a, t, r, _)| (a.as_str(), t.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("revoke user", "nobody-here", "no such user"),
            ("revoke user", "root-admin", "refused: one's own token"),
            ("revoke user", "new-analyst", "done"),
            (
                "add user",
                "new-analyst (analyst)",
                "refused: a user named \"new-analyst\" exists already: remove them first or choose another name"
            ),
            ("add user", "new-analyst (analyst)", "done"),
        ]
    );
    let res = test::call_service(
        &app,
        call(
            Method::GET,
            "/admin/api/log?format=csv",
            Some(&admin_token),
            None,
        ),
    )
    .await;
    let csv = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        csv.starts_with("at,actor,action,target,result\n")
            && csv.contains(",root-admin,revoke user,new-analyst,done"),
        "{csv}"
    );
}

/// Households (families) beside persons: the items, the CSV and the vocabulary say
/// which is which; households come only where published, never more than the persons
/// of the same unit, and asking for them elsewhere is a 400 naming what there is.
#[actix_web::test]
async fn households_are_served_beside_persons_and_say_so() {
    let app = app!();
    let items = |counted: &str| {
        format!(
            "/collections/problems-districts/items?category=any_ops&year=2024&limit=10000{counted}"
        )
    };
    let (s, persons) = get_json(&app, &items("")).await;
    assert_eq!(s, 200);
    let (s, households) = get_json(&app, &items("&counted=households")).await;
    assert_eq!(s, 200);
    let by_unit = |fc: &Value, counted: &str| -> BTreeMap<String, Value> {
        fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                assert_eq!(f["properties"]["counted"], counted);
                (
                    f["properties"]["unit"].as_str().unwrap().to_string(),
                    f["properties"]["value"].clone(),
                )
            })
            .collect()
    };
    let (p, h) = (
        by_unit(&persons, "persons"),
        by_unit(&households, "households"),
    );
    assert_eq!(p.len(), h.len());
    let mut fewer = 0;
    for (unit, hv) in &h {
        if let (Some(hv), Some(pv)) = (hv.as_u64(), p[unit].as_u64()) {
            assert!(hv <= pv, "{unit}: {hv} households, {pv} persons");
            fewer += usize::from(hv < pv);
        }
    }
    assert!(fewer > 10, "{fewer}");
    // The CSV says the same, with the counted column.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/table.csv?layer=districts&category=any_ops&year=2024&counted=households")
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[4], "households");
        assert_eq!(
            h[f[0]].as_u64().map(|v| v.to_string()).unwrap_or_default(),
            f[6]
        );
        rows += 1;
    }
    assert_eq!(rows, h.len());
    // The vocabulary says which measures have households.
    let (_, vocabulary) = get_json(&app, "/api/v1/vocabulary").await;
    let counted = |code: &str| {
        vocabulary
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == code)
            .unwrap()["counted"]
            .clone()
    };
    assert_eq!(
        counted("any_ops"),
        serde_json::json!(["persons", "households"])
    );
    assert_eq!(counted("poverty"), serde_json::json!(["persons"]));
    // Nowhere else, and a wrong word is refused with the choices.
    let (s, none) = get_json(
        &app,
        "/collections/problems-districts/items?category=poverty&year=2024&counted=households",
    )
    .await;
    assert_eq!((s, none["numberMatched"].as_u64()), (200, Some(0)));
    let (s, e) = get_json(&app, "/collections/problems-h3-8/items?counted=households").await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = get_json(
        &app,
        "/collections/problems-districts/items?counted=families",
    )
    .await;
    assert_eq!(s, 400);
    assert!(e["detail"].as_str().unwrap().contains("households"), "{e}");
}

//! Synthetic institutions: the resources layer of the demo (who helps with what, where).
//! Types, sectors and the problems they serve follow how Polish cities organise help;
//! names, places and contacts are invented and the file says so.

use kmapa_geo::City;
use kmapa_model::institutions::{Area, COLUMNS, Institution, OPTIONAL_COLUMNS, Sector};
use rand::RngExt;

use crate::rng::{Rng, stream};

struct Template {
    kind: &'static str,
    sector: Sector,
    name: &'static str,
    count: usize,
    categories: &'static str,
    reach: Reach,
    hours: &'static str,
    description: &'static str,
}

#[derive(Clone, Copy)]
enum Reach {
    City,
    /// The city split into `n` contiguous groups of districts.
    Groups(usize),
    /// One district.
    One,
}

const OPS_ALL: &str = "poverty;orphanhood;homelessness;unemployment;disability;long_term_illness;\
domestic_violence;trafficking_victim;maternity_protection;large_family;parenting_helplessness;\
single_parent_family;refugee_integration;post_prison;alcoholism;drug_addiction;random_event;\
crisis_situation;natural_disaster;renta";
const PUP_ALL: &str = "unemployed_registered;under_30;long_term_unemployed;over_50;\
social_assistance_recipient;parent_child_under_6;disabled_unemployed;carer_of_disabled";

const TEMPLATES: &[Template] = &[
    Template {
        kind: "ops_headquarters",
        sector: Sector::SocialAssistance,
        name: "Miejski Ośrodek Pomocy Społecznej – siedziba",
        count: 1,
        categories: OPS_ALL,
        reach: Reach::City,
        hours: "Mo-Fr 07:30-15:30",
        description: "Przyjmowanie wniosków o świadczenia, informacja o formach pomocy.",
    },
    Template {
        kind: "ops_branch",
        sector: Sector::SocialAssistance,
        name: "Filia MOPS – Zespół Pracy Socjalnej nr {n}",
        count: 7,
        categories: "poverty;unemployment;disability;long_term_illness;parenting_helplessness;single_parent_family;maternity_protection;large_family;alcoholism;renta",
        reach: Reach::Groups(7),
        hours: "Mo-Fr 07:30-15:30; Tu 07:30-17:00",
        description: "Praca socjalna, wywiady środowiskowe, zasiłki; organizator społeczności lokalnej.",
    },
    Template {
        kind: "crisis_centre",
        sector: Sector::SocialAssistance,
        name: "Ośrodek Interwencji Kryzysowej nr {n}",
        count: 2,
        categories: "domestic_violence;crisis_situation;trafficking_victim;random_event",
        reach: Reach::City,
        hours: "24/7",
        description: "Całodobowa pomoc psychologiczna i schronienie w sytuacji kryzysowej.",
    },
    Template {
        kind: "shelter",
        sector: Sector::SocialAssistance,
        name: "Schronisko dla osób bezdomnych nr {n}",
        count: 3,
        categories: "homelessness",
        reach: Reach::City,
        hours: "24/7",
        description: "Noclegownia i schronisko; zimą punkt ogrzewalni.",
    },
    Template {
        kind: "day_care_home",
        sector: Sector::SocialAssistance,
        name: "Dzienny Dom Pomocy nr {n}",
        count: 4,
        categories: "disability;long_term_illness;renta",
        reach: Reach::Groups(4),
        hours: "Mo-Fr 08:00-16:00",
        description: "Dzienne wsparcie dla osób starszych i z niepełnosprawnościami.",
    },
    Template {
        kind: "family_support_centre",
        sector: Sector::SocialAssistance,
        name: "Centrum Wspierania Rodzin nr {n}",
        count: 3,
        categories: "parenting_helplessness;single_parent_family;large_family;maternity_protection",
        reach: Reach::Groups(3),
        hours: "Mo-Fr 08:00-18:00",
        description: "Asystenci rodziny, poradnictwo rodzinne, grupy wsparcia dla rodziców.",
    },
    Template {
        kind: "integration_centre",
        sector: Sector::SocialAssistance,
        name: "Centrum Integracji Cudzoziemców",
        count: 1,
        categories: "refugee_integration",
        reach: Reach::City,
        hours: "Mo-Fr 09:00-17:00",
        description: "Porady, kursy języka polskiego, pomoc w sprawach urzędowych.",
    },
    Template {
        kind: "labour_office",
        sector: Sector::LabourMarket,
        name: "Powiatowy Urząd Pracy – siedziba",
        count: 1,
        categories: PUP_ALL,
        reach: Reach::City,
        hours: "Mo-Fr 08:00-15:00",
        description: "Rejestracja bezrobotnych, oferty pracy, szkolenia, dotacje.",
    },
    Template {
        kind: "labour_office_branch",
        sector: Sector::LabourMarket,
        name: "Powiatowy Urząd Pracy – punkt obsługi nr {n}",
        count: 2,
        categories: PUP_ALL,
        reach: Reach::Groups(2),
        hours: "Mo-Fr 08:00-15:00",
        description: "Rejestracja i obsługa bezrobotnych.",
    },
    Template {
        kind: "job_club",
        sector: Sector::LabourMarket,
        name: "Klub Pracy nr {n}",
        count: 3,
        categories: "unemployment;unemployed_registered;under_30;long_term_unemployed;over_50",
        reach: Reach::Groups(3),
        hours: "Mo-Fr 09:00-15:00",
        description: "Warsztaty aktywnego poszukiwania pracy.",
    },
    Template {
        kind: "youth_career_centre",
        sector: Sector::LabourMarket,
        name: "Młodzieżowe Centrum Kariery",
        count: 1,
        categories: "under_30;unemployed_registered",
        reach: Reach::City,
        hours: "Mo-Fr 10:00-18:00",
        description: "Doradztwo zawodowe dla młodzieży.",
    },
    Template {
        kind: "social_integration_centre",
        sector: Sector::LabourMarket,
        name: "Centrum Integracji Społecznej nr {n}",
        count: 2,
        categories: "unemployment;long_term_unemployed;post_prison;alcoholism;homelessness",
        reach: Reach::City,
        hours: "Mo-Fr 07:00-15:00",
        description: "Reintegracja zawodowa i społeczna osób wykluczonych.",
    },
    Template {
        kind: "police_station",
        sector: Sector::Police,
        name: "Komisariat Policji – rewir nr {n}",
        count: 7,
        categories: "domestic_violence;alcoholism;drug_addiction;trafficking_victim;crisis_situation",
        reach: Reach::Groups(7),
        hours: "24/7",
        description: "Dzielnicowi, procedura „Niebieskiej Karty”.",
    },
    Template {
        kind: "probation_team",
        sector: Sector::Justice,
        name: "Zespół Kuratorskiej Służby Sądowej nr {n}",
        count: 4,
        categories: "post_prison;domestic_violence;alcoholism;drug_addiction;parenting_helplessness",
        reach: Reach::Groups(4),
        hours: "Mo-Fr 08:00-15:00; We 08:00-18:00",
        description: "Kuratorzy rodzinni i dla dorosłych.",
    },
    Template {
        kind: "legal_aid_point",
        sector: Sector::Justice,
        name: "Punkt nieodpłatnej pomocy prawnej nr {n}",
        count: 3,
        categories: "poverty;domestic_violence;homelessness;crisis_situation;renta",
        reach: Reach::City,
        hours: "Mo-Fr 12:00-16:00",
        description: "Nieodpłatna pomoc prawna i poradnictwo obywatelskie.",
    },
    Template {
        kind: "counselling_centre",
        sector: Sector::Education,
        name: "Poradnia Psychologiczno-Pedagogiczna nr {n}",
        count: 5,
        categories: "parenting_helplessness;disability;domestic_violence;single_parent_family",
        reach: Reach::Groups(5),
        hours: "Mo-Fr 08:00-18:00",
        description: "Diagnoza i terapia dzieci, wsparcie rodziców.",
    },
    Template {
        kind: "special_school_centre",
        sector: Sector::Education,
        name: "Specjalny Ośrodek Szkolno-Wychowawczy",
        count: 1,
        categories: "disability",
        reach: Reach::City,
        hours: "Mo-Fr 07:00-17:00",
        description: "Edukacja i rewalidacja dzieci z niepełnosprawnościami.",
    },
    Template {
        kind: "mental_health_centre",
        sector: Sector::Health,
        name: "Centrum Zdrowia Psychicznego nr {n}",
        count: 3,
        categories: "long_term_illness;crisis_situation;disability",
        reach: Reach::Groups(3),
        hours: "Mo-Fr 08:00-18:00",
        description: "Punkt zgłoszeniowo-koordynacyjny, pomoc bez skierowania.",
    },
    Template {
        kind: "addiction_clinic",
        sector: Sector::Health,
        name: "Poradnia Leczenia Uzależnień nr {n}",
        count: 3,
        categories: "alcoholism;drug_addiction",
        reach: Reach::Groups(3),
        hours: "Mo-Fr 08:00-19:00",
        description: "Terapia uzależnień i współuzależnienia.",
    },
    Template {
        kind: "disability_board",
        sector: Sector::Health,
        name: "Miejski Zespół ds. Orzekania o Niepełnosprawności",
        count: 1,
        categories: "disability;renta",
        reach: Reach::City,
        hours: "Mo-Fr 08:00-15:00",
        description: "Orzeczenia o niepełnosprawności i stopniu niepełnosprawności.",
    },
    Template {
        kind: "food_bank",
        sector: Sector::Ngo,
        name: "Bank Żywności",
        count: 1,
        categories: "poverty;homelessness;large_family",
        reach: Reach::City,
        hours: "Mo-Fr 08:00-16:00",
        description: "Paczki żywnościowe przez organizacje partnerskie.",
    },
    Template {
        kind: "soup_kitchen",
        sector: Sector::Ngo,
        name: "Jadłodajnia społeczna nr {n}",
        count: 2,
        categories: "poverty;homelessness",
        reach: Reach::One,
        hours: "Mo-Su 12:00-15:00",
        description: "Ciepły posiłek codziennie.",
    },
    Template {
        kind: "ngo",
        sector: Sector::Ngo,
        name: "Stowarzyszenie Pomocy Sąsiedzkiej „Krok {n}”",
        count: 6,
        categories: "poverty;long_term_illness;disability;renta",
        reach: Reach::One,
        hours: "Mo-Fr 10:00-18:00",
        description: "Wolontariat sąsiedzki, zakupy i towarzyszenie osobom starszym.",
    },
    Template {
        kind: "ngo",
        sector: Sector::Ngo,
        name: "Fundacja Przeciw Przemocy „Bezpieczny Dom {n}”",
        count: 2,
        categories: "domestic_violence;crisis_situation;trafficking_victim",
        reach: Reach::City,
        hours: "Mo-Fr 09:00-20:00",
        description: "Telefon zaufania, grupy wsparcia, pomoc prawna.",
    },
    Template {
        kind: "ngo",
        sector: Sector::Ngo,
        name: "Fundacja na rzecz Osób z Niepełnosprawnościami „Razem {n}”",
        count: 3,
        categories: "disability;long_term_illness;carer_of_disabled",
        reach: Reach::City,
        hours: "Mo-Fr 09:00-17:00",
        description: "Rehabilitacja, asystencja osobista, wsparcie opiekunów.",
    },
    Template {
        kind: "ngo",
        sector: Sector::Ngo,
        name: "Stowarzyszenie Rodzin Wielodzietnych „Gromada {n}”",
        count: 2,
        categories: "large_family;maternity_protection;single_parent_family",
        reach: Reach::City,
        hours: "Tu-Th 16:00-19:00",
        description: "Karta dużej rodziny, wymiana ubrań, zajęcia dla dzieci.",
    },
    Template {
        kind: "ngo",
        sector: Sector::Ngo,
        name: "Klub Abstynenta „Przystań {n}”",
        count: 2,
        categories: "alcoholism;drug_addiction",
        reach: Reach::One,
        hours: "Mo-Fr 17:00-21:00",
        description: "Grupy samopomocowe i spotkania AA.",
    },
    Template {
        kind: "housing_office",
        sector: Sector::Housing,
        name: "Zarząd Zasobu Komunalnego – biuro obsługi nr {n}",
        count: 2,
        categories: "poverty;homelessness;natural_disaster;random_event",
        reach: Reach::Groups(2),
        hours: "Mo-Fr 08:00-15:00",
        description: "Lokale socjalne i komunalne, dodatki mieszkaniowe.",
    },
    Template {
        kind: "supported_housing",
        sector: Sector::Housing,
        name: "Mieszkania treningowe i wspierane nr {n}",
        count: 2,
        categories: "homelessness;post_prison;disability",
        reach: Reach::City,
        hours: "Mo-Fr 09:00-15:00",
        description: "Mieszkania z usługami wsparcia dla osób usamodzielnianych.",
    },
];

/// Ranges of places and of staff a kind of institution has, where such a figure is
/// usual in Polish reporting (places in shelters, homes and supported flats; social
/// workers in welfare-centre teams; advisers in labour offices).
/// An inclusive range to draw a count from; `None`: the figure is not given.
type Range = Option<(u32, u32)>;

fn capacity(kind: &str) -> (Range, Range) {
    match kind {
        "ops_headquarters" => (None, Some((40, 60))),
        "ops_branch" => (None, Some((14, 30))),
        "crisis_centre" => (Some((8, 16)), Some((6, 12))),
        "shelter" => (Some((40, 120)), Some((4, 10))),
        "day_care_home" => (Some((20, 45)), Some((5, 12))),
        "supported_housing" => (Some((6, 14)), None),
        "soup_kitchen" => (Some((60, 200)), None),
        "labour_office" | "labour_office_branch" => (None, Some((12, 40))),
        "job_club" | "youth_career_centre" | "social_integration_centre" => {
            (Some((12, 30)), Some((2, 6)))
        }
        "family_support_centre" | "counselling_centre" | "mental_health_centre" => {
            (None, Some((3, 12)))
        }
        _ => (None, None),
    }
}

/// Generates the institutions of a city.
pub fn generate(city: &City, seed: u64) -> Vec<Institution> {
    let mut rng = stream(seed, "institutions");
    // A stream of its own, so that places and contacts do not depend on capacities.
    let mut sizes = stream(seed, "institution-capacity");
    let layer = &city.layer;
    // Districts ordered by parent, then code: contiguous groups follow parent areas.
    let mut order: Vec<usize> = (0..layer.districts.len()).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (&layer.districts[a], &layer.districts[b]);
        (&da.parent, &da.code).cmp(&(&db.parent, &db.code))
    });
    let groups = |n: usize| -> Vec<Vec<usize>> {
        let n = n.min(order.len()).max(1);
        (0..n)
            .map(|g| order[g * order.len() / n..(g + 1) * order.len() / n].to_vec())
            .collect()
    };
    let mut out = Vec::new();
    for t in TEMPLATES {
        let split = match t.reach {
            Reach::Groups(n) => groups(n),
            _ => Vec::new(),
        };
        for n in 1..=t.count {
            let (area, home) = match t.reach {
                Reach::City => (Area::WholeCity, order[rng.random_range(0..order.len())]),
                Reach::Groups(_) => {
                    let g = &split[(n - 1) % split.len()];
                    let codes = g.iter().map(|&d| layer.districts[d].code.clone()).collect();
                    (Area::Districts(codes), g[rng.random_range(0..g.len())])
                }
                Reach::One => {
                    let d = order[rng.random_range(0..order.len())];
                    (Area::Districts(vec![layer.districts[d].code.clone()]), d)
                }
            };
            let (address, lat, lon) = place_in(city, home, &mut rng);
            let id = format!("INST-{:03}", out.len() + 1);
            let (places, staff) = capacity(t.kind);
            let mut draw = |r: Range| r.map(|(lo, hi)| sizes.random_range(lo..=hi));
            let (places, staff) = (draw(places), draw(staff));
            out.push(Institution {
                name: t.name.replace("{n}", &n.to_string()),
                kind: t.kind.to_string(),
                sector: t.sector,
                address,
                lat,
                lon,
                phone: format!(
                    "+48 71 000 {:02} {:02}",
                    out.len() / 100 + 10,
                    out.len() % 100
                ),
                email: format!("{}{}@example.org", t.kind.replace('_', "-"), n),
                website: format!("https://example.org/{}", id.to_lowercase()),
                opening_hours: t.hours.to_string(),
                categories: t.categories.split(';').map(str::to_string).collect(),
                area,
                description: format!("{} Dane syntetyczne (demonstracyjne).", t.description),
                id,
                places,
                staff,
            });
        }
    }
    out
}

/// An address point in district `d` (or, without address points, a point inside it).
fn place_in(city: &City, d: usize, rng: &mut Rng) -> (String, f64, f64) {
    if let Some(addresses) = &city.addresses {
        let candidates: Vec<usize> = city
            .address_districts
            .iter()
            .enumerate()
            .filter(|(_, x)| **x == d)
            .map(|(i, _)| i)
            .collect();
        if !candidates.is_empty() {
            let a = &addresses[candidates[rng.random_range(0..candidates.len())]];
            return (
                format!("{} {}, {}", a.street, a.house_number, a.postcode),
                a.lat,
                a.lon,
            );
        }
    }
    let district = &city.layer.districts[d];
    let bbox = geo::BoundingRect::bounding_rect(&district.geometry).expect("validated geometry");
    let c = crate::city::random_point_in(&district.geometry, bbox, rng).expect("district has area");
    (format!("{} (bez adresu)", district.name), c.y, c.x)
}

/// The institutions file as CSV text (the contract's columns plus `synthetic`).
pub fn to_csv(list: &[Institution]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = COLUMNS.to_vec();
    header.extend(OPTIONAL_COLUMNS);
    header.push("synthetic");
    w.write_record(&header).expect("in-memory write");
    for i in list {
        w.write_record([
            i.id.as_str(),
            &i.name,
            &i.kind,
            i.sector.code(),
            &i.address,
            &format!("{:.6}", i.lat),
            &format!("{:.6}", i.lon),
            &i.phone,
            &i.email,
            &i.website,
            &i.opening_hours,
            &i.categories.join(";"),
            &i.area.to_cell(),
            &i.description,
            &i.places.map_or(String::new(), |n| n.to_string()),
            &i.staff.map_or(String::new(), |n| n.to_string()),
            "true",
        ])
        .expect("in-memory write");
    }
    String::from_utf8(w.into_inner().expect("in-memory write")).expect("UTF-8 in, UTF-8 out")
}

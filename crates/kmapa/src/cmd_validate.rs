use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kmapa_geo::City;
use kmapa_model::Vocabulary;

#[derive(Args)]
pub struct ValidateArgs {
    /// City directory (districts.geojson, population.csv, addresses.csv, institutions.csv).
    #[arg(long, default_value = "data/wroclaw")]
    pub city: PathBuf,
    /// Category vocabulary.
    #[arg(long, default_value = "data/categories.csv")]
    pub vocabulary: PathBuf,
}

pub fn run(a: &ValidateArgs) -> anyhow::Result<()> {
    let vocabulary = Vocabulary::read(&a.vocabulary)?;
    let city = City::load(&a.city, &vocabulary)
        .with_context(|| format!("{} does not follow the data contract", a.city.display()))?;
    println!(
        "{}: {} categories; {} districts in {} parent areas",
        a.city.display(),
        vocabulary.categories().len(),
        city.layer.districts.len(),
        city.layer.parents().len()
    );
    if let Some(p) = &city.population {
        let years = p.years();
        if let (Some(first), Some(last)) = (years.first(), years.last()) {
            println!(
                "population {first}-{last}: {} residents in {last}{}",
                p.total(*last),
                if p.synthetic { " (synthetic)" } else { "" }
            );
        }
    }
    if let Some(a) = &city.addresses {
        println!("{} address points", a.len());
    }
    if let Some(i) = &city.institutions {
        println!("{} institutions", i.len());
    }
    geometry(&city.layer, true)?;
    println!("ok: every file follows the data contract");
    Ok(())
}

/// Refuses a district layer with invalid polygons or overlapping districts; reports
/// slivers and gaps (when `verbose`).
pub fn geometry(layer: &kmapa_geo::districts::DistrictLayer, verbose: bool) -> anyhow::Result<()> {
    let report = kmapa_geo::topology::check(layer);
    if verbose {
        if report.slivers.0 > 0 {
            println!(
                "{} slivers where neighbouring borders do not quite agree ({:.4} km² in all, each under {} m²): harmless",
                report.slivers.0,
                report.slivers.1,
                kmapa_geo::topology::OVERLAP_KM2 * 1e6
            );
        }
        for (km2, (lat, lon)) in &report.gaps {
            println!(
                "gap: {km2:.3} km² inside the city belong to no district (around {lat:.5}, {lon:.5}); people living there are refused at ingest"
            );
        }
    }
    anyhow::ensure!(
        !report.refused(),
        "{}: the district boundaries are not usable:\n{}",
        layer.path.display(),
        report.lines().join("\n")
    );
    Ok(())
}

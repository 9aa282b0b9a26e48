//! `kmapa demo`: the main job on the bundled demo city, from nothing to ingested data.
//! Protection, publishing and the map server join it as their issues land.

use std::path::PathBuf;

use clap::Args;

use crate::{cmd_gen, cmd_ingest};

#[derive(Args)]
pub struct DemoArgs {
    /// Data directory (the embedded store).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// Where the synthetic records are generated (kept between runs).
    #[arg(long, default_value = "out/synthetic")]
    pub generated: PathBuf,
}

pub fn run(a: &DemoArgs) -> anyhow::Result<()> {
    if a.generated.join("manifest.json").exists() {
        println!("using the synthetic records in {}", a.generated.display());
    } else {
        println!(
            "generating synthetic records for the demo city (Wrocław) into {} ...",
            a.generated.display()
        );
        cmd_gen::run(&cmd_gen::GenArgs {
            city: "data/wroclaw".into(),
            vocabulary: "data/categories.csv".into(),
            out: a.generated.clone(),
            seed: 42,
            years: "2015-2024".into(),
            scale: None,
            records: None,
            format: cmd_gen::Format::Csv,
            location: cmd_gen::Location::Mixed,
            quiet: false,
        })?;
    }
    cmd_ingest::run(&cmd_ingest::IngestArgs {
        files: vec![a.generated.join("ops.csv"), a.generated.join("pup.csv")],
        data_dir: a.data_dir.clone(),
        city: "data/wroclaw".into(),
        vocabulary: "data/categories.csv".into(),
        source: None,
        encoding: None,
        strict: false,
        resolution: 10,
        quiet: false,
        json: false,
    })?;
    println!(
        "demo data ingested into {}; see `kmapa batches --data-dir {}`",
        a.data_dir.display(),
        a.data_dir.display()
    );
    Ok(())
}

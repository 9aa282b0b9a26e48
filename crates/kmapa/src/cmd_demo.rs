//! `kmapa demo`: the main job on the bundled demo city, from nothing to a served,
//! protected public tier: generate (if absent), ingest, protect, publish, serve.

use std::path::PathBuf;

use clap::Args;

use crate::{cmd_gen, cmd_ingest, cmd_protect, cmd_serve};

#[derive(Args)]
pub struct DemoArgs {
    /// Data directory (the embedded store).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// Protection policy.
    #[arg(long, default_value = "data/policy.toml")]
    pub policy: PathBuf,
    /// Address to serve at.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// Stop after publishing instead of serving.
    #[arg(long)]
    pub no_serve: bool,
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
    // The demo city's files come with the repository: after an update (new institutions,
    // a population grid), an existing demo data directory follows them instead of
    // refusing the changed files; another city's data directory is still refused.
    if a.data_dir.join("catalog.sqlite").exists() {
        crate::city::run_init(&crate::city::InitArgs {
            city: crate::city::DEMO_CITY.into(),
            data_dir: a.data_dir.clone(),
            rebind: true,
        })?;
    }
    cmd_ingest::run(&cmd_ingest::IngestArgs {
        files: vec![a.generated.join("ops.csv"), a.generated.join("pup.csv")],
        data_dir: a.data_dir.clone(),
        city: Some(crate::city::DEMO_CITY.into()),
        vocabulary: "data/categories.csv".into(),
        source: None,
        encoding: None,
        strict: false,
        resolution: 10,
        quiet: false,
        json: false,
    })?;
    println!(
        "protecting the public tier (policy {}) ...",
        a.policy.display()
    );
    let common = cmd_protect::Common {
        data_dir: a.data_dir.clone(),
        policy: a.policy.clone(),
        city: None,
        vocabulary: "data/categories.csv".into(),
    };
    cmd_protect::run_protect(&cmd_protect::ProtectArgs {
        common: common.clone(),
        json: false,
        quiet: false,
        explain: None,
        joint_measures: false,
    })?;
    cmd_serve::run_publish(&cmd_serve::PublishArgs {
        common,
        again: false,
        comment: None,
        rollback: None,
    })?;
    if a.no_serve {
        return Ok(());
    }
    cmd_serve::run_serve(&cmd_serve::ServeArgs {
        data_dir: Some(a.data_dir.clone()),
        address: Some(a.address.clone()),
        ..Default::default()
    })
}

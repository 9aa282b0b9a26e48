//! The `kmapa` command. A thin layer over the library crates: argument parsing,
//! progress and summaries; the domain lives in `kmapa-*`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See the workspace Cargo.toml: measured faster than glibc malloc on protection.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod city;
mod cmd_demo;
mod cmd_gen;
mod cmd_ingest;
mod cmd_protect;
mod cmd_serve;
mod cmd_validate;

#[derive(Parser)]
#[command(
    name = "kmapa",
    version,
    about = "A privacy-preserving map of social problems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job on the bundled demo city: generate synthetic records (if absent), ingest, protect, publish and serve them.
    Demo(cmd_demo::DemoArgs),
    /// Generate synthetic OPS and PUP client records and an institutions file for a city.
    Gen(cmd_gen::GenArgs),
    /// Prepare a demo city from real boundaries: codes, synthetic population and address points.
    GenCity(cmd_gen::GenCityArgs),
    /// Bind a data directory to a city: later commands use it without --city and refuse another.
    Init(city::InitArgs),
    /// Make a city directory from the municipality's own boundaries and population.
    City {
        #[command(subcommand)]
        action: CityAction,
    },
    /// Check a city directory and the vocabulary against the data contract.
    Validate(cmd_validate::ValidateArgs),
    /// Ingest OPS/PUP record files into the embedded store: validate, geocode, bin.
    Ingest(cmd_ingest::IngestArgs),
    /// Protect the public tier: suppress small counts and whatever would reveal them, over every layer together.
    Protect(cmd_protect::ProtectArgs),
    /// Prove what an attacker can infer from the protected public tier; fails if any hidden cell is too exposed.
    Audit(cmd_protect::AuditArgs),
    /// Freeze the protected public tier into a numbered, immutable snapshot.
    Publish(cmd_serve::PublishArgs),
    /// Serve the latest snapshot: OGC API – Features and the map's API.
    Serve(cmd_serve::ServeArgs),
    /// Write a snapshot as static files (GeoJSON, JSON) any web server can host.
    Export(cmd_serve::ExportArgs),
    /// Manage the analyst tier's users and their bearer tokens.
    Users(cmd_serve::UsersArgs),
    /// The institutions directory published with the next snapshot: list, export, import, retire.
    Institutions(cmd_serve::InstitutionsArgs),
    /// List or withdraw ingested batches.
    Batches(cmd_ingest::BatchesArgs),
    /// Create a municipality key for pseudonymisation.
    Keygen(cmd_ingest::KeygenArgs),
    /// Pseudonymise a raw office export before it leaves the office.
    Pseudonymise(cmd_ingest::PseudonymiseArgs),
}

#[derive(Subcommand)]
enum CityAction {
    /// From district boundaries (GeoJSON or GeoPackage; EPSG:4326, 2180 or 2176-2179) and a population table.
    New(city::NewCityArgs),
    /// The city's address points from the national register (PRG GML), with a report per district.
    Addresses(city::CityAddressesArgs),
}

/// A reader that stops reading (`kmapa protect | head`) is not an error of kmapa's:
/// printing to a closed pipe ends the process quietly, with the status a shell gives a
/// program stopped by SIGPIPE (128 + 13), instead of a panic and its backtrace.
fn quiet_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_a_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd_demo::run(&a),
        Command::Gen(a) => cmd_gen::run(&a),
        Command::GenCity(a) => cmd_gen::run_city(&a),
        Command::Init(a) => city::run_init(&a),
        Command::City {
            action: CityAction::New(a),
        } => city::run_new(&a),
        Command::City {
            action: CityAction::Addresses(a),
        } => city::run_addresses(&a),
        Command::Validate(a) => cmd_validate::run(&a),
        Command::Ingest(a) => cmd_ingest::run(&a),
        Command::Protect(a) => cmd_protect::run_protect(&a),
        Command::Audit(a) => cmd_protect::run_audit(&a),
        Command::Publish(a) => cmd_serve::run_publish(&a).map(|_| ()),
        Command::Serve(a) => cmd_serve::run_serve(&a),
        Command::Export(a) => cmd_serve::run_export(&a),
        Command::Users(a) => cmd_serve::run_users(&a),
        Command::Institutions(a) => cmd_serve::run_institutions(&a),
        Command::Batches(a) => cmd_ingest::run_batches(&a),
        Command::Keygen(a) => cmd_ingest::run_keygen(&a),
        Command::Pseudonymise(a) => cmd_ingest::run_pseudonymise(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `steward`: the command line. Glue only; the libraries do the work.

mod demo;
mod serve;
mod status;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "Service management control plane: SLOs, error budgets, burn-rate alerts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: API, web console, SLO evaluator.
    Serve(serve::ServeArgs),
    /// Run the example shop with simulated traffic and an outage, on a temporary store.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8580")]
        listen: String,
    },
    /// Check configuration files or directories; exit 0 when valid, 1 when not.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Read SLOs from a running server.
    Slo {
        #[command(subcommand)]
        command: SloCommand,
    },
}

#[derive(Subcommand)]
enum SloCommand {
    /// Budget, burn rates and firing conditions of every SLO, or of one.
    Status {
        name: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:8580")]
        server: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo { listen } => demo::run(&listen),
        Command::Validate { paths } => return validate(&paths),
        Command::Slo {
            command:
                SloCommand::Status {
                    name,
                    server,
                    output,
                },
        } => status::run(&server, name.as_deref(), output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn validate(paths: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for path in paths {
        if !path.exists() {
            eprintln!("{}: no such file or directory", path.display());
            ok = false;
            continue;
        }
        match steward_config::load(path) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    println!("{w}");
                }
                let note = if path.is_dir() {
                    ""
                } else {
                    " (one file on its own: references to kinds it does not define are not checked; validate the directory for that)"
                };
                println!(
                    "{}: valid: {} documents in {} files, {} SLO objectives{note}",
                    path.display(),
                    loaded.documents,
                    loaded.files,
                    loaded.catalog.slos.len()
                );
            }
            Err(diags) => {
                ok = false;
                for d in &diags {
                    println!("{d}");
                }
                let errors = diags
                    .iter()
                    .filter(|d| d.level == steward_config::Level::Error)
                    .count();
                eprintln!("{}: invalid: {errors} error(s)", path.display());
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

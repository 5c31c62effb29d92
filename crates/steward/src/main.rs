//! `steward`: the command line. Glue only; the libraries do the work.

mod alerts;
mod client;
mod demo;
mod incidents;
mod readiness;
mod runbooks;
mod serve;
mod status;
mod tokens;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "Service management control plane: SLOs, error budgets, alerts, on-call and escalation"
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
        /// The SMTP relay `steward serve` will send email through (as its --smtp-url): with
        /// none, email contacts reach no one.
        #[arg(long, env = "STEWARD_SMTP_URL")]
        smtp_url: Option<String>,
        /// Policy documents (a directory or a file) to hold the configuration to, besides
        /// those it holds itself: every service a Policy selects must pass the checks the
        /// configuration decides (owner, oncall-coverage, escalation, slo, slo-paging,
        /// runbooks, responsibilities). Exit 1 on a violation.
        #[arg(long)]
        policy: Vec<PathBuf>,
    },
    /// Read SLOs from a running server.
    Slo {
        #[command(subcommand)]
        command: SloCommand,
    },
    /// List, acknowledge and resolve a running server's alerts.
    Alerts {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Add, list and expire silences.
    Silence {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: SilenceCommand,
    },
    /// Ask the deploy gate whether a service may deploy now: exit 0 allowed, 3 denied, 1 on
    /// error. Made for CI pipelines.
    Gate {
        #[command(subcommand)]
        command: GateCommand,
    },
    /// Declare, list, show and move on incidents.
    Incident {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Run, rehearse and approve runbooks; the kill switch.
    Runbook {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: RunbookCommand,
    },
    /// Postmortems of resolved incidents.
    Postmortem {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: PostmortemCommand,
    },
    /// API tokens: make one (on the store, before or while serve runs), list, revoke.
    Token {
        #[command(subcommand)]
        command: tokens::TokenCommand,
    },
    /// Users' console passwords, on the store.
    User {
        #[command(subcommand)]
        command: tokens::UserCommand,
    },
    /// The audit trail on the store: check that no entry was changed or removed.
    Audit {
        #[command(subcommand)]
        command: tokens::AuditCommand,
    },
    /// Does a service pass the 3am test? Its readiness checks, level and score (or every
    /// service's, worst first); `readiness check` for CI.
    #[command(args_conflicts_with_subcommands = true)]
    Readiness {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: Option<ReadinessCommand>,
        /// One service; without it, every service you see, worst first.
        service: Option<String>,
        /// Only this customer's services.
        #[arg(long)]
        customer: Option<String>,
    },
    /// Evidence that a control of a service's responsibility map is done.
    Evidence {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Turn another tool's documents into steward/v1 documents.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Who is on call, and when nobody is.
    Oncall {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: OncallCommand,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// The running Steward.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8580")]
    server: String,
    /// Who you are, recorded with every change you make (default: $STEWARD_USER, else $USER),
    /// for a server that lets callers without a token in; with a token, the token says.
    #[arg(long, global = true)]
    user: Option<String>,
    /// Your API token (steward token create makes one).
    #[arg(long, global = true, env = "STEWARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Backstage catalog-info.yaml documents (Component, Group, User) as Services, Teams and
    /// Users; what cannot be carried over is listed on standard error.
    Backstage {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the documents here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReadinessCommand {
    /// Check the live readiness against the Policies: exit 0 when every service passes what
    /// they require, 3 when some fail, 1 on error. Made for CI.
    Check {
        /// Only this customer's services.
        #[arg(long)]
        customer: Option<String>,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Record that a control is done: a restore drill, an access review, a patch report.
    Add {
        service: String,
        control: String,
        /// Where the evidence is (a report, a ticket, a log).
        #[arg(long)]
        link: String,
        #[arg(long)]
        note: Option<String>,
        /// When the work was done (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// A service's evidence, newest first.
    List { service: String },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Alerts, newest first.
    List {
        /// open (triggered, not acknowledged), acknowledged, resolved, unresolved or all.
        #[arg(long, default_value = "unresolved")]
        status: String,
        #[arg(long)]
        service: Option<String>,
    },
    /// Acknowledge alerts: their escalation stops.
    Ack {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Resolve alerts.
    Resolve {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(Subcommand)]
enum SilenceCommand {
    /// Silence alerts matching every matcher (name=value, name!=value, name=~regex, name!~regex).
    Add {
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h.
        #[arg(long, default_value = "1h")]
        duration: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    List,
    /// End a silence now.
    Expire {
        id: i64,
    },
}

#[derive(Subcommand)]
enum IncidentCommand {
    /// Open an incident by hand.
    Declare {
        #[arg(long)]
        title: String,
        /// SEV1 (the worst) to SEV4.
        #[arg(long, default_value = "SEV2")]
        severity: String,
        #[arg(long)]
        service: String,
        /// Who leads it (a user of the catalog).
        #[arg(long)]
        commander: Option<String>,
    },
    /// Incidents, newest first: the unresolved ones, or with --all every one.
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        service: Option<String>,
    },
    /// An incident with its roles, derived times and timeline.
    Show {
        id: i64,
    },
    /// Acknowledge an incident (and its alerts: their escalation stops).
    Ack {
        id: i64,
    },
    /// The impact is over, the cause may not be.
    Mitigate {
        id: i64,
    },
    Resolve {
        id: i64,
    },
    /// Add a note to the timeline (with --update: a status update for those affected).
    Note {
        id: i64,
        text: String,
        #[arg(long)]
        update: bool,
    },
}

#[derive(Subcommand)]
enum RunbookCommand {
    /// Run a runbook (real, unless --dry-run), for an alert or incident if given.
    Run {
        name: String,
        #[arg(long)]
        alert: Option<i64>,
        #[arg(long)]
        incident: Option<i64>,
        #[arg(long)]
        dry_run: bool,
        /// A label the steps read, NAME=VALUE (an alert's own labels win).
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Rehearse a runbook: a dry run, recorded; its age is shown and exported.
    Rehearse { name: String },
    /// Approve the step a run waits on (as one of the runbook's approvers), or confirm you
    /// did a step for a person.
    Approve {
        run: i64,
        /// The step, counted from 1 (steward runbook show RUN says which waits).
        #[arg(long)]
        step: i64,
    },
    /// A run and its steps.
    Show { run: i64 },
    /// Stop every real run (on) or allow them again (off).
    KillSwitch {
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum PostmortemCommand {
    /// Print an incident's postmortem in Markdown.
    Export { id: i64 },
}

#[derive(Subcommand)]
enum GateCommand {
    /// Let a service deploy through a freeze for a while; recorded in the audit trail.
    Override {
        #[arg(long)]
        service: String,
        #[arg(long)]
        reason: String,
        /// How long, e.g. 2h (at most 7d).
        #[arg(long, default_value = "1h")]
        duration: String,
        #[arg(long, default_value = "http://127.0.0.1:8580")]
        server: String,
        /// Who overrides (default: $STEWARD_USER, else $USER).
        #[arg(long)]
        user: Option<String>,
        /// Your API token (steward token create makes one).
        #[arg(long, env = "STEWARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    Check {
        #[arg(long)]
        service: String,
        /// The change is a fix: allowed while the budget is spent.
        #[arg(long)]
        fix: bool,
        #[arg(long, default_value = "http://127.0.0.1:8580")]
        server: String,
        /// Your API token (steward token create makes one).
        #[arg(long, env = "STEWARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum OncallCommand {
    /// Who is on call now (or at --at), and who is next.
    Who {
        #[arg(long)]
        schedule: Option<String>,
        /// An RFC 3339 time.
        #[arg(long)]
        at: Option<String>,
    },
    /// Every interval nobody covers (default: the next 14 days).
    Gaps {
        schedule: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
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
        /// Your API token (steward token create makes one).
        #[arg(long, env = "STEWARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
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
        Command::Validate {
            paths,
            smtp_url,
            policy,
        } => return validate(&paths, smtp_url.is_some(), &policy),
        Command::Token { command } => tokens::run(command),
        Command::Audit { command } => tokens::audit(command),
        Command::User { command } => tokens::user(command),
        Command::Slo {
            command:
                SloCommand::Status {
                    name,
                    server,
                    output,
                    token,
                },
        } => status::run(&server, token, name.as_deref(), output),
        Command::Alerts { server, command } => {
            let c = client::Client::new(&server.server, who(server.user))
                .with_token(server.token.clone());
            match command {
                AlertsCommand::List { status, service } => {
                    alerts::list(&c, &status, service.as_deref(), server.output)
                }
                AlertsCommand::Ack { ids } => alerts::set(&c, &ids, "ack", server.output),
                AlertsCommand::Resolve { ids } => alerts::set(&c, &ids, "resolve", server.output),
            }
        }
        Command::Silence { server, command } => {
            let c = client::Client::new(&server.server, who(server.user))
                .with_token(server.token.clone());
            match command {
                SilenceCommand::Add {
                    matchers,
                    duration,
                    comment,
                } => alerts::silence_add(&c, &matchers, &duration, &comment, server.output),
                SilenceCommand::List => alerts::silence_list(&c, server.output),
                SilenceCommand::Expire { id } => alerts::silence_expire(&c, id, server.output),
            }
        }
        Command::Gate {
            command:
                GateCommand::Check {
                    service,
                    fix,
                    server,
                    token,
                },
        } => return gate_check(&server, token, &service, fix),
        Command::Gate {
            command:
                GateCommand::Override {
                    service,
                    reason,
                    duration,
                    server,
                    user,
                    token,
                },
        } => {
            let c = client::Client::new(&server, who(user)).with_token(token);
            c.post(
                &format!("/api/v1/services/{service}/deploy-gate/overrides"),
                &serde_json::json!({ "reason": reason, "duration": duration }),
            )
            .map(|o| {
                println!(
                    "{service}: deploys allowed through the freeze until {} (override {} by {})",
                    o["expires_at"].as_str().unwrap_or("?"),
                    o["id"],
                    o["created_by"].as_str().unwrap_or("?")
                )
            })
        }
        Command::Incident { server, command } => {
            let c = client::Client::new(&server.server, who(server.user))
                .with_token(server.token.clone());
            let out = server.output;
            match command {
                IncidentCommand::Declare {
                    title,
                    severity,
                    service,
                    commander,
                } => incidents::declare(&c, &title, &severity, &service, commander.as_deref(), out),
                IncidentCommand::List { all, service } => {
                    incidents::list(&c, all, service.as_deref(), out)
                }
                IncidentCommand::Show { id } => incidents::show(&c, id, out),
                IncidentCommand::Ack { id } => incidents::move_on(&c, id, "ack", out),
                IncidentCommand::Mitigate { id } => incidents::move_on(&c, id, "mitigate", out),
                IncidentCommand::Resolve { id } => incidents::move_on(&c, id, "resolve", out),
                IncidentCommand::Note { id, text, update } => {
                    incidents::note(&c, id, &text, update, out)
                }
            }
        }
        Command::Runbook { server, command } => {
            let c = client::Client::new(&server.server, who(server.user))
                .with_token(server.token.clone());
            let out = server.output;
            match command {
                RunbookCommand::Run {
                    name,
                    alert,
                    incident,
                    dry_run,
                    labels,
                } => runbooks::run(&c, &name, alert, incident, dry_run, &labels, out),
                RunbookCommand::Rehearse { name } => runbooks::rehearse(&c, &name, out),
                RunbookCommand::Approve { run, step } => runbooks::approve(&c, run, step, out),
                RunbookCommand::Show { run } => runbooks::show(&c, run, out),
                RunbookCommand::KillSwitch { state, reason } => {
                    runbooks::kill_switch(&c, state == "on", &reason)
                }
            }
        }
        Command::Postmortem { server, command } => {
            let c = client::Client::new(&server.server, None).with_token(server.token.clone());
            match command {
                PostmortemCommand::Export { id } => incidents::postmortem(&c, id),
            }
        }
        Command::Readiness {
            server,
            command,
            service,
            customer,
        } => {
            let c = client::Client::new(&server.server, None).with_token(server.token.clone());
            match command {
                Some(ReadinessCommand::Check { customer }) => {
                    return readiness::check(&c, customer.as_deref())
                }
                None => readiness::show(&c, service.as_deref(), customer.as_deref(), server.output),
            }
        }
        Command::Import {
            command: ImportCommand::Backstage { files, out },
        } => return import_backstage(&files, out.as_deref()),
        Command::Evidence { server, command } => {
            let c = client::Client::new(&server.server, who(server.user))
                .with_token(server.token.clone());
            match command {
                EvidenceCommand::Add {
                    service,
                    control,
                    link,
                    note,
                    at,
                } => readiness::add_evidence(
                    &c,
                    &service,
                    &control,
                    &link,
                    note.as_deref(),
                    at.as_deref(),
                    server.output,
                ),
                EvidenceCommand::List { service } => {
                    readiness::list_evidence(&c, &service, server.output)
                }
            }
        }
        Command::Oncall { server, command } => {
            let c = client::Client::new(&server.server, None).with_token(server.token.clone());
            match command {
                OncallCommand::Who { schedule, at } => {
                    alerts::oncall_who(&c, schedule.as_deref(), at.as_deref(), server.output)
                }
                OncallCommand::Gaps { schedule, from, to } => alerts::oncall_gaps(
                    &c,
                    &schedule,
                    from.as_deref(),
                    to.as_deref(),
                    server.output,
                ),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 0 when the gate allows a deploy, 3 when it denies, 1 when it cannot be asked.
fn gate_check(server: &str, token: Option<String>, service: &str, fix: bool) -> ExitCode {
    let c = client::Client::new(server, None).with_token(token);
    let path = format!(
        "/api/v1/services/{service}/deploy-gate{}",
        if fix { "?fix=true" } else { "" }
    );
    match c.get(&path) {
        Ok(body) => {
            let allowed = body["allowed"].as_bool() == Some(true);
            println!(
                "{service}: deploy {}",
                if allowed { "allowed" } else { "denied" }
            );
            for r in body["reasons"].as_array().into_iter().flatten() {
                println!("  {}", r.as_str().unwrap_or_default());
            }
            if allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `steward import backstage`: exit 0 with the documents written (and the notes of what
/// was left out), 1 when a file cannot be read or parsed.
fn import_backstage(files: &[PathBuf], out: Option<&std::path::Path>) -> ExitCode {
    let mut texts = Vec::new();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push((f.display().to_string(), t)),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", f.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let imported = match steward_config::backstage::import(&texts) {
        Ok(i) => i,
        Err(diags) => {
            for d in diags {
                eprintln!("{d}");
            }
            return ExitCode::FAILURE;
        }
    };
    for n in &imported.notes {
        eprintln!("{n}");
    }
    match out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &imported.yaml) {
                eprintln!("{}: cannot write: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        None => print!("{}", imported.yaml),
    }
    eprintln!(
        "imported {} services, {} teams and {} users; {} note(s) on what was not carried over",
        imported.services,
        imported.teams,
        imported.users,
        imported.notes.len()
    );
    ExitCode::SUCCESS
}

/// Who makes a change from the command line.
fn who(user: Option<String>) -> Option<String> {
    user.or_else(|| std::env::var("STEWARD_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
}

fn validate(paths: &[PathBuf], smtp: bool, policies: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for p in policies {
        if !p.exists() {
            eprintln!("{}: no such file or directory", p.display());
            return ExitCode::FAILURE;
        }
    }
    for path in paths {
        if !path.exists() {
            eprintln!("{}: no such file or directory", path.display());
            ok = false;
            continue;
        }
        match steward_config::load_with(path, policies) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    println!("{w}");
                }
                if path.is_dir() {
                    let now = jiff::Timestamp::now().as_second();
                    for w in steward_config::catalog::coverage_warnings(&loaded.catalog, now) {
                        println!("{}: warning: {w}", path.display());
                    }
                    let reach = steward_config::catalog::reachability(&loaded.catalog, smtp);
                    for w in &reach.warnings {
                        println!("{}: warning: {w}", path.display());
                    }
                    if !reach.errors.is_empty() {
                        for e in &reach.errors {
                            println!("{}: error: {e}", path.display());
                        }
                        eprintln!(
                            "{}: invalid: {} tier-1 service(s) would page nobody",
                            path.display(),
                            reach.errors.len()
                        );
                        ok = false;
                        continue;
                    }
                    let violations = readiness::policy_violations(&loaded, now);
                    for v in &violations {
                        println!("{v}");
                    }
                    if !violations.is_empty() {
                        eprintln!(
                            "{}: invalid: {} violation(s) of policy",
                            path.display(),
                            violations.len()
                        );
                        ok = false;
                        continue;
                    }
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

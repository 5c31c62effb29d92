//! `steward token create|list|revoke`: API tokens, made on the store directly (before or
//! while `steward serve` runs: that is how the first admin gets in).

use crate::Output;
use anyhow::{bail, Context};
use std::path::PathBuf;
use steward_store::{NewToken, Store, TokenKind};

#[derive(clap::Args)]
pub struct StoreArgs {
    /// The store `steward serve` uses.
    #[arg(
        long,
        env = "STEWARD_DB",
        default_value = "sqlite://./steward-data/steward.db"
    )]
    pub db: String,
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it, and only it, on stdout; it is shown this once.
    Create {
        /// The user it acts as (a User of the configuration).
        #[arg(long, required_unless_present = "sender", conflicts_with = "sender")]
        user: Option<String>,
        /// A sample sender's token instead: it may post samples for these services' SLOs
        /// and nothing else (--service, once or more).
        #[arg(long, requires = "service")]
        sender: bool,
        #[arg(long)]
        service: Vec<String>,
        /// What it is for (a laptop, a CI job).
        #[arg(long)]
        name: Option<String>,
        /// How long it lasts, e.g. 90d; without it, until revoked.
        #[arg(long)]
        expires: Option<String>,
        /// The configuration directory: the user (or the services) must be in it.
        #[arg(long, default_value = "./steward.d")]
        config: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Every token (never the tokens themselves).
    List {
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Revoke a token: it is refused on its next request.
    Revoke {
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    match command {
        TokenCommand::Create {
            user,
            sender,
            service,
            name,
            expires,
            config,
            store,
        } => {
            let loaded = load(&config)?;
            let catalog = &loaded.catalog;
            let (kind, principal) = if sender {
                for s in &service {
                    if catalog.service(s).is_none() {
                        bail!(
                            "service `{s}` is not in the configuration in {}",
                            config.display()
                        );
                    }
                }
                let label = name
                    .clone()
                    .unwrap_or_else(|| format!("sender-{}", service.join("-")));
                (TokenKind::Sender, label)
            } else {
                let user = user.unwrap_or_default();
                if catalog.user(&user).is_none() {
                    bail!(
                        "user `{user}` is not in the configuration in {}; add a steward/v1 User named `{user}` first",
                        config.display()
                    );
                }
                (TokenKind::User, user)
            };
            let expires_at = match expires {
                None => None,
                Some(text) => {
                    let d = steward_model::Duration::parse(&text)
                        .map_err(|e| anyhow::anyhow!("--expires `{text}`: {e}"))?;
                    Some(now + d.secs())
                }
            };
            let new = NewToken {
                kind,
                principal,
                name: name.unwrap_or_else(|| "cli".into()),
                services: if sender { service } else { Vec::new() },
                created_by: cli_actor(),
                at: now,
                expires_at,
                role: None,
            };
            let s = open(&store.db)?;
            let (_, secret) = s.transact(move |tx| {
                let (t, secret) = tx.create_token(&new)?;
                let after = serde_json::json!({ "after": steward_http::tokens::token_json(&t) });
                tx.audit(
                    now,
                    &new.created_by,
                    "tokens.create",
                    &format!("tokens/{}", t.id),
                    &after.to_string(),
                )?;
                Ok((t, secret))
            })?;
            println!("{secret}");
            Ok(())
        }
        TokenCommand::List {
            user,
            store,
            output,
        } => {
            let s = open(&store.db)?;
            let tokens = s.transact(move |tx| tx.tokens(user.as_deref()))?;
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "tokens": tokens.iter().map(steward_http::tokens::token_json).collect::<Vec<_>>()
                    }))?
                ),
                Output::Table => {
                    println!("ID  KIND    FOR  NAME  CREATED  EXPIRES  LAST USED  STATE");
                    for t in &tokens {
                        println!(
                            "{}  {}  {}  {}  {}  {}  {}  {}",
                            t.id,
                            t.kind,
                            t.principal,
                            t.name,
                            time(Some(t.created_at)),
                            time(t.expires_at),
                            time(t.last_used_at),
                            t.refusal(now).unwrap_or("live")
                        );
                    }
                }
            }
            Ok(())
        }
        TokenCommand::Revoke { id, store } => {
            let s = open(&store.db)?;
            let by = cli_actor();
            let revoked = s.transact(move |tx| {
                let done = tx.revoke_token(id, now)?;
                if done {
                    tx.audit(now, &by, "tokens.delete", &format!("tokens/{id}"), "{}")?;
                }
                Ok(done)
            })?;
            if revoked {
                eprintln!("token {id} revoked");
                Ok(())
            } else if s.transact(move |tx| tx.token(id))?.is_some() {
                bail!("token {id} was already revoked")
            } else {
                bail!("there is no token {id}")
            }
        }
    }
}

/// Who a change made on the store directly is recorded as: `cli:$USER`.
fn cli_actor() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("cli:{u}"),
        _ => "cli".into(),
    }
}

fn open(db: &str) -> anyhow::Result<Store> {
    // Before the first serve, this makes the store; say where, since a wrong --db would make
    // one that nobody serves.
    if let Some(path) = db.strip_prefix("sqlite://") {
        if !std::path::Path::new(path).exists() {
            eprintln!("creating a new store at {path} (serve it with --db {db})");
        }
    }
    Store::open_client(db).with_context(|| format!("opening the store {db}"))
}

fn time(t: Option<i64>) -> String {
    t.and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map_or_else(|| "-".into(), |t| t.to_string())
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Set a user's console password (argon2id), read from the terminal without echo, or
    /// from stdin's first line when it is not a terminal; the user's sessions end.
    SetPassword {
        name: String,
        /// The configuration directory: the user must be in it.
        #[arg(long, default_value = "./steward.d")]
        config: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The shortest password taken (NIST SP 800-63B's floor).
const MIN_PASSWORD: usize = 8;

pub fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::SetPassword {
            name,
            config,
            store,
        } => {
            let loaded = load(&config)?;
            if loaded.catalog.user(&name).is_none() {
                bail!(
                    "user `{name}` is not in the configuration in {}; add a steward/v1 User named `{name}` first",
                    config.display()
                );
            }
            let password = read_password(&name)?;
            let chars = password.chars().count();
            if chars < MIN_PASSWORD {
                bail!("the password has {chars} characters; it needs at least {MIN_PASSWORD}");
            }
            if chars > 1024 {
                bail!("the password has {chars} characters; at most 1024 are taken");
            }
            let hash = steward_store::hash_password(&password)?;
            let now = jiff::Timestamp::now().as_second();
            let s = open(&store.db)?;
            let by = cli_actor();
            s.transact(move |tx| {
                tx.set_password(&name, &hash, now)?;
                tx.audit(now, &by, "password.set", &format!("user:{name}"), "{}")
            })?;
            eprintln!("password set; the user's console sessions have ended");
            Ok(())
        }
    }
}

fn read_password(name: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the two passwords differ; nothing was set");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn load(config: &std::path::Path) -> anyhow::Result<steward_config::Loaded> {
    steward_config::load(config).map_err(|d| {
        anyhow::anyhow!(
            "the configuration in {} has {} error(s) (steward validate {} lists them)",
            config.display(),
            d.len(),
            config.display()
        )
    })
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain on the store: exit 0 when it holds, 1 naming the
    /// first entry that was changed or removed.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the audit trail from the store as JSON lines, oldest first (as
    /// GET /api/v1/audit?format=jsonl answers).
    Export {
        /// Only this actor's entries (user:NAME, sender:..., cli:..., system:...).
        #[arg(long)]
        actor: Option<String>,
        /// Only entries of this subject (alerts/5, config, ...).
        #[arg(long)]
        subject: Option<String>,
        /// Only entries at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export {
            actor,
            subject,
            since,
            store,
        } => {
            let since = since
                .map(|s| {
                    s.parse::<jiff::Timestamp>()
                        .map(|t| t.as_second())
                        .map_err(|e| anyhow::anyhow!("--since `{s}` is not an RFC 3339 time: {e}"))
                })
                .transpose()?;
            let s = open(&store.db)?;
            let mut q = steward_store::AuditQuery {
                after: 0,
                actor,
                subject,
                since,
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            loop {
                let query = q.clone();
                let page = s.transact(move |tx| tx.audit_trail(&query, 1000))?;
                let Some(last) = page.last() else { break };
                q.after = last.id;
                for e in &page {
                    use std::io::Write;
                    writeln!(out, "{}", steward_http::audit::entry_json(e))?;
                }
            }
            Ok(())
        }
        AuditCommand::Verify { store } => {
            let s = open(&store.db)?;
            match s.transact(|tx| tx.verify_audit())? {
                Ok(v) => {
                    println!(
                        "the audit trail holds: {} entries chained{}",
                        v.chained,
                        if v.before_chain > 0 {
                            format!(", and {} from before the chain", v.before_chain)
                        } else {
                            String::new()
                        }
                    );
                    Ok(())
                }
                Err(b) => bail!("the audit trail is broken at entry {}: {}", b.entry, b.why),
            }
        }
    }
}

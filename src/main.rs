use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use gatehouse::auth::accounts::{self, AccountError, NewSuperuser};
use gatehouse::config::Settings;
use gatehouse::db;
use gatehouse::startup::Application;
use gatehouse::telemetry;

/// Staff back office and Cognito-guarded JSON API. Settings come from the environment and `.env`
/// (see the README).
#[derive(Parser)]
#[command(name = "gatehouse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run pending migrations (unless RUN_MIGRATIONS=false or --no-migrate), then serve HTTP.
    Serve {
        /// Do not run migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations.
    Migrate {
        /// List migrations and whether each is applied, changing nothing.
        #[arg(long, conflicts_with = "revert_all")]
        list: bool,
        /// Revert every migration (drops all Gatehouse tables and their data).
        #[arg(long)]
        revert_all: bool,
    },
    /// Create a staff superuser. Asks for what is not given; with --no-input everything comes
    /// from flags or the environment.
    Createsuperuser {
        #[arg(long, env = "GATEHOUSE_SUPERUSER_USERNAME")]
        username: Option<String>,
        #[arg(long, env = "GATEHOUSE_SUPERUSER_EMAIL")]
        email: Option<String>,
        /// Never prompt; the password is read from GATEHOUSE_SUPERUSER_PASSWORD.
        #[arg(long)]
        no_input: bool,
    },
    /// Set a user's password (asked twice). Ends the user's back-office sessions.
    Changepassword { username: String },
    /// Load N realistic app users for measuring the back office at scale (idempotent: seeded
    /// users already there are kept, only the missing ones are added). Applies pending
    /// migrations first.
    Seed {
        /// How many seeded users there should be (1 to 100,000,000).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=gatehouse::seed::MAX_USERS))]
        users: i64,
    },
}

/// The password for `createsuperuser --no-input`; an environment variable, never a flag, so it
/// does not show in `ps` or shell history.
const SUPERUSER_PASSWORD_VAR: &str = "GATEHOUSE_SUPERUSER_PASSWORD";

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; an unreadable or malformed one is a configuration error.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("gatehouse: invalid configuration: .env: {e}");
        return ExitCode::from(2);
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);

    let result = match cli.command {
        Command::Serve { no_migrate } => serve(settings, no_migrate),
        Command::Migrate { list, revert_all } => migrate(&settings, list, revert_all),
        Command::Createsuperuser {
            username,
            email,
            no_input,
        } => block_on(createsuperuser(&settings, username, email, no_input)),
        Command::Changepassword { username } => block_on(changepassword(&settings, &username)),
        Command::Seed { users } => block_on(seed(&settings, users)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn block_on<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn serve(settings: Settings, no_migrate: bool) -> anyhow::Result<()> {
    if settings.secret_key_generated {
        tracing::warn!(
            "SECRET_KEY is not set: using a random key, so staff sessions end at every restart \
             and are not shared between instances"
        );
    }
    if settings.database.run_migrations && !no_migrate {
        if db::create_database_if_missing(settings.database_url())? {
            tracing::info!("created the database named in DATABASE_URL");
        }
        let applied = db::run_migrations(settings.database_url())?;
        tracing::info!(
            count = applied.len(),
            "migrations applied: {}",
            applied.join(", ")
        );
    }
    let pool = db::build_pool(&settings.database);
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.bind;
        let app = Application::build(settings, pool)
            .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
        tracing::info!("listening on http://{}:{}", bind.ip(), app.port());
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn migrate(settings: &Settings, list: bool, revert_all: bool) -> anyhow::Result<()> {
    let url = settings.database_url();
    if list {
        for (name, applied) in db::migration_status(url)? {
            println!("[{}] {name}", if applied { "X" } else { " " });
        }
    } else if revert_all {
        for version in db::revert_all_migrations(url)? {
            println!("Reverted {version}");
        }
    } else {
        if db::create_database_if_missing(url)? {
            println!("Created the database named in DATABASE_URL.");
        }
        let applied = db::run_migrations(url)?;
        if applied.is_empty() {
            println!("No migrations to apply.");
        }
        for version in applied {
            println!("Applied {version}");
        }
    }
    Ok(())
}

async fn seed(settings: &Settings, users: i64) -> anyhow::Result<()> {
    let url = settings.database_url().to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        db::create_database_if_missing(&url)?;
        db::run_migrations(&url)?;
        Ok(())
    })
    .await??;
    let pool = db::build_pool(&settings.database);
    let mut conn = db::connection(&pool).await?;
    gatehouse::seed::run(&mut conn, users).await?;
    Ok(())
}

/// Reads answers from the terminal, or line by line from piped stdin (scripts, tests).
struct Prompter {
    interactive: bool,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Prompter {
    fn new() -> Self {
        Self {
            interactive: std::io::stdin().is_terminal(),
            lines: std::io::stdin().lock().lines(),
        }
    }

    fn line(&mut self, prompt: &str) -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        match self.lines.next() {
            Some(line) => Ok(line?.trim().to_owned()),
            None => anyhow::bail!("no answer to {:?}: standard input is closed", prompt.trim()),
        }
    }

    fn secret(&mut self, prompt: &str) -> anyhow::Result<SecretString> {
        if self.interactive {
            Ok(SecretString::from(rpassword::prompt_password(prompt)?))
        } else {
            // Piped input: the password is the whole line, spaces included.
            eprint!("{prompt}");
            match self.lines.next() {
                Some(line) => Ok(SecretString::from(line?)),
                None => anyhow::bail!("no password given: standard input is closed"),
            }
        }
    }

    /// Asks twice until both agree and the validators pass (at most three rounds).
    fn new_password(
        &mut self,
        check: impl Fn(&SecretString) -> Result<(), AccountError>,
    ) -> anyhow::Result<SecretString> {
        for _ in 0..3 {
            let first = self.secret("Password: ")?;
            let second = self.secret("Password (again): ")?;
            if first.expose_secret() != second.expose_secret() {
                eprintln!("Error: Your passwords didn't match.");
                continue;
            }
            match check(&first) {
                Ok(()) => return Ok(first),
                Err(AccountError::WeakPassword(problems)) => {
                    for p in problems {
                        eprintln!("Error: {p}");
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("too many attempts; the password was not set")
    }
}

async fn createsuperuser(
    settings: &Settings,
    username: Option<String>,
    email: Option<String>,
    no_input: bool,
) -> anyhow::Result<()> {
    let pool = db::build_pool(&settings.database);
    let mut conn = db::connection(&pool).await?;

    if no_input {
        let Some(username) = username else {
            anyhow::bail!("--no-input needs --username or GATEHOUSE_SUPERUSER_USERNAME");
        };
        let Ok(password) = std::env::var(SUPERUSER_PASSWORD_VAR) else {
            anyhow::bail!("--no-input needs the password in {SUPERUSER_PASSWORD_VAR}");
        };
        let input = NewSuperuser {
            username,
            email: email.unwrap_or_default(),
            password: SecretString::from(password),
        };
        let user = accounts::create_superuser(&mut conn, &input).await?;
        println!("Superuser {:?} created ({}).", user.username, user.id);
        return Ok(());
    }

    let mut prompt = Prompter::new();
    let username = match username {
        Some(u) => u,
        None => loop {
            let u = prompt.line("Username: ")?;
            match accounts::validate_username(&u) {
                Err(e) => eprintln!("Error: {e}"),
                Ok(()) => match gatehouse::models::User::find_by_username(&mut conn, &u).await? {
                    Some(_) => eprintln!("Error: {}", AccountError::UsernameTaken(u)),
                    None => break u,
                },
            }
        },
    };
    let email = match email {
        Some(e) => e,
        None => loop {
            let e = prompt.line("Email address (optional): ")?;
            match accounts::normalize_email(&e) {
                Ok(_) => break e,
                Err(err) => eprintln!("Error: {err}"),
            }
        },
    };
    let password = match std::env::var(SUPERUSER_PASSWORD_VAR) {
        Ok(p) => SecretString::from(p),
        Err(_) => prompt.new_password(|password| {
            accounts::check_new_superuser(&NewSuperuser {
                username: username.clone(),
                email: email.clone(),
                password: password.clone(),
            })
            .map(|_| ())
        })?,
    };
    let input = NewSuperuser {
        username,
        email,
        password,
    };
    let user = accounts::create_superuser(&mut conn, &input).await?;
    println!("Superuser {:?} created ({}).", user.username, user.id);
    Ok(())
}

async fn changepassword(settings: &Settings, username: &str) -> anyhow::Result<()> {
    let pool = db::build_pool(&settings.database);
    let mut conn = db::connection(&pool).await?;
    let Some(user) = gatehouse::models::User::find_by_username(&mut conn, username).await? else {
        return Err(AccountError::NoSuchUser(username.to_owned()).into());
    };
    eprintln!("Changing password for user {:?}", user.username);
    let attributes = gatehouse::auth::password::UserAttributes {
        username: &user.username,
        email: &user.email,
        first_name: &user.first_name,
        last_name: &user.last_name,
    };
    let password = Prompter::new().new_password(|password| {
        let problems =
            gatehouse::auth::password::validate_password(password.expose_secret(), attributes);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AccountError::WeakPassword(problems))
        }
    })?;
    accounts::change_password(&mut conn, &user.username, &password).await?;
    println!(
        "Password changed successfully for user {:?}.",
        user.username
    );
    Ok(())
}

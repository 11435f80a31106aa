//! The `missive-server` command: serve, or run an admin task.

#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use missive_server::{
    app, build_state, config::Config, federation_app, listener,
    services::accounts::random_alphanumeric, spawn_federation_sender, spawn_housekeeping,
    spawn_push_delivery,
};
use missive_store::{AccountStore, RegistrationToken};

#[derive(Parser)]
#[command(
    name = "missive-server",
    version,
    about = "Missive: a Matrix homeserver for public administrations"
)]
struct Cli {
    /// Configuration file (TOML). MISSIVE_* variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Matrix APIs (the default).
    Serve,
    /// Administration tasks on the configured database.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create an account (works whatever the registration mode).
    CreateUser {
        /// Localpart, e.g. `alice` for @alice:server.
        name: String,
        /// Password; a random one is generated and printed if omitted.
        #[arg(long)]
        password: Option<String>,
        /// Make the account a server administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Replace the server's signing key by a new one (run while the
    /// server is stopped); the old key stays published as an old key, so
    /// what it signed still verifies elsewhere.
    RotateSigningKey,
    /// Create a registration token for `registration = "token"`.
    CreateRegistrationToken {
        /// The token; random if omitted.
        #[arg(long)]
        token: Option<String>,
        /// How many registrations it allows (unlimited if omitted).
        #[arg(long)]
        uses: Option<i64>,
        /// Validity in days (forever if omitted).
        #[arg(long)]
        days: Option<i64>,
    },
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MISSIVE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,ruma_state_res=warn")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("missive-server: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Admin(admin) => run_admin(config, admin).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("missive-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let listen = config.listen;
    let open_files = match listener::raise_open_files_limit() {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let bounds = listener::Bounds {
        timeouts: listener::Timeouts {
            header: Duration::from_secs(config.header_read_timeout_secs),
            idle: Duration::from_secs(config.idle_timeout_secs),
        },
        max_connections: listener::connection_cap(config.max_connections, open_files),
    };
    let state = build_state(config).await?;
    let tcp = tokio::net::TcpListener::bind(listen).await?;
    let federation = match state.config.federation.listen {
        Some(addr) => Some((
            tokio::net::TcpListener::bind(addr).await?,
            federation_tls(&state)?,
        )),
        None => None,
    };
    tracing::info!(
        %listen,
        federation = ?state.config.federation.listen,
        server_name = %state.config.server_name,
        backend = ?state.store.backend(),
        registration = ?state.config.registration,
        open_files,
        max_connections = bounds.max_connections,
        "missive-server listening"
    );
    let housekeeping = spawn_housekeeping(&state);
    let push_delivery = spawn_push_delivery(&state);
    let federation_sender = spawn_federation_sender(&state);
    let store = state.store.clone();
    let syncer = state.syncer.clone();
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let federation = federation.map(|(tcp, tls)| {
        let mut stopped = stopped.clone();
        tokio::spawn(listener::serve(
            tcp,
            federation_app(state.clone()),
            bounds,
            Some(tls),
            async move {
                let _ = stopped.changed().await;
            },
        ))
    });
    let shutdown = async move {
        shutdown_signal().await;
        syncer.stop_waiting();
        let _ = stop.send(());
    };
    listener::serve(tcp, app(state), bounds, None, shutdown).await?;
    if let Some(task) = federation {
        task.await??;
    }
    housekeeping.abort();
    if let Some(task) = push_delivery {
        task.abort();
    }
    if let Some(task) = federation_sender {
        task.abort();
    }
    store.close().await;
    tracing::info!("missive-server stopped");
    Ok(())
}

/// The federation listener's TLS: the configured certificate, or one
/// generated in the data directory (with a warning: peers that verify
/// certificates will refuse it).
fn federation_tls(
    state: &missive_server::state::AppState,
) -> Result<tokio_rustls::TlsAcceptor, Box<dyn std::error::Error>> {
    let config = &state.config;
    let configured = config
        .federation
        .tls_cert
        .as_deref()
        .zip(config.federation.tls_key.as_deref());
    let host = ruma::ServerName::parse(&config.server_name)
        .map(|n| n.host().to_owned())
        .unwrap_or_else(|_| config.server_name.clone());
    let files = missive_federation::tls::certificate_files(configured, &config.data_dir, &host)?;
    if files.self_signed {
        tracing::warn!(
            cert = %files.cert.display(),
            "federation uses a self-signed certificate: set MISSIVE_TLS_CERT and \
             MISSIVE_TLS_KEY, or servers verifying certificates will refuse this one"
        );
    }
    Ok(tokio_rustls::TlsAcceptor::from(
        missive_federation::tls::server_config(&files)?,
    ))
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

async fn run_admin(config: Config, admin: Admin) -> Result<(), Box<dyn std::error::Error>> {
    if let Admin::RotateSigningKey = admin {
        // Before the server state, which would load the current key.
        let key = missive_server::services::signing_key::rotate(
            &config.data_dir,
            missive_server::time::now_ms(),
        )?;
        println!(
            "new signing key ed25519:{}; the old one is kept as an old key (restart the server)",
            key.version()
        );
        return Ok(());
    }
    let state = build_state(config).await?;
    match admin {
        // Done above, before the state loaded the key.
        Admin::RotateSigningKey => {}
        Admin::CreateUser {
            name,
            password,
            admin,
        } => {
            let user_id = state.accounts.check_available(&name.to_lowercase()).await?;
            let generated = password.is_none();
            let password = password.unwrap_or_else(|| random_alphanumeric(20));
            state
                .accounts
                .create_user(&user_id, Some(&password), admin)
                .await?;
            println!("created {user_id}{}", if admin { " (admin)" } else { "" });
            if generated {
                println!("password: {password}");
            }
        }
        Admin::CreateRegistrationToken { token, uses, days } => {
            let token = token.unwrap_or_else(|| random_alphanumeric(16));
            let expiry_ts = days.map(|d| missive_server::time::now_ms() + d * 86_400_000);
            state
                .store
                .create_registration_token(RegistrationToken {
                    token: token.clone(),
                    uses_allowed: uses,
                    completed: 0,
                    expiry_ts,
                })
                .await?;
            println!("registration token: {token}");
        }
    }
    state.store.close().await;
    Ok(())
}

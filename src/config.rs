//! Settings, read once from flags or the environment. Every default is chosen
//! so that `referral-hub serve` runs with no set-up on an embedded SQLite file.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL. Defaults to an SQLite file in the data directory;
    /// `postgres://…` selects PostgreSQL.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Directory for the embedded database and the generated JWT secret.
    #[arg(long, env = "DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Address the HTTP server listens on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,

    #[command(flatten)]
    pub jwt: JwtSettings,

    /// Run the job scheduler in this process.
    #[arg(long, env = "JOBS_ENABLED", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub jobs_enabled: bool,

    // Each job's cron comes from its environment variable (the job
    // registry, `jobs::with_job_registry!`), not a flag.
    /// Origins a browser app may call the API from: a comma-separated list
    /// (`https://app.example.com,https://admin.example.com`) or `*`. Unset:
    /// none (same origin only).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", global = true)]
    pub cors_allowed_origins: Option<String>,

    /// Serve `/metrics` on this address instead of the API's (an address
    /// only the scraper reaches), e.g. `127.0.0.1:9090`.
    #[arg(long, env = "METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,

    /// A bearer token `/metrics` requires (`Authorization: Bearer …`).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,

    /// Seconds a request waits for a database connection before it fails
    /// (with UNAVAILABLE) instead of stalling while the database is down.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECS", default_value_t = 3, global = true)]
    pub database_acquire_timeout_secs: u64,

    /// Most connections the server opens to PostgreSQL (SQLite has one
    /// writer and one reader whatever this says).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = crate::db::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub database_max_connections: u32,

    /// The address of the frontend, for links in e-mail
    /// (`{PUBLIC_APP_URL}/referrals/{id}`). Unset: e-mails carry no links.
    #[arg(long, env = "PUBLIC_APP_URL", global = true)]
    pub public_app_url: Option<String>,

    /// Whole-request timeout, seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30, global = true)]
    pub request_timeout_secs: u64,

    /// Largest accepted request body, bytes.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 1_048_576, global = true)]
    pub body_limit_bytes: usize,

    /// Largest multipart upload (a CSV for `previewReferralImport`), bytes.
    #[arg(long, env = "UPLOAD_LIMIT_BYTES", default_value_t = 50 * 1024 * 1024, global = true)]
    pub upload_limit_bytes: usize,

    /// Allow schema introspection (also for anonymous callers). Off, it also
    /// turns off "Did you mean …" suggestions and GraphiQL (production).
    #[arg(long, env = "INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    #[command(flatten)]
    pub limits: crate::graphql::Limits,

    /// Referral-link submissions allowed per client IP per minute.
    #[arg(long, env = "LINK_RATE_PER_IP", default_value_t = 20, global = true)]
    pub link_rate_per_ip: u32,

    /// Referral-link submissions allowed per referral code per minute.
    #[arg(long, env = "LINK_RATE_PER_CODE", default_value_t = 60, global = true)]
    pub link_rate_per_code: u32,

    /// SMTP server for e-mail notifications, e.g. `smtp://localhost:2525` or
    /// `smtps://user:password@smtp.example.com`. Unset: no e-mail.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// The From address of notification e-mail.
    #[arg(long, env = "SMTP_FROM", default_value = "Referral Hub <noreply@referral-hub.local>", global = true)]
    pub smtp_from: String,

    /// Let webhooks target loopback, private and link-local addresses
    /// (a receiver on this machine during development). Off in production:
    /// a vendor's URL must not reach the server's own network.
    #[arg(long, env = "WEBHOOK_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub webhook_private_targets: bool,

    /// Shared secret of the payment gateway's webhook (`POST
    /// /payments/webhook`, signed like our own webhooks). Unset: the
    /// endpoint answers 404 and only ADMIN records payments.
    #[arg(long, env = "PAYMENT_WEBHOOK_SECRET", hide_env_values = true, global = true)]
    pub payment_webhook_secret: Option<String>,

    /// Rows a job changes per transaction (at most 10,000): a job over many
    /// rows commits batch by batch, so no lock is held longer than one.
    #[arg(long, env = "JOB_BATCH_SIZE", default_value_t = crate::context::JOB_BATCH, value_parser = clap::value_parser!(i64).range(1..=crate::context::JOB_BATCH), global = true)]
    pub job_batch_size: i64,

    /// Days a subscription may resume from a cursor (replay); older cursors
    /// get CURSOR_EXPIRED. Inbox items live 90 days regardless.
    #[arg(long, env = "EVENT_RETENTION_DAYS", default_value_t = crate::context::EVENT_RETENTION_DAYS, value_parser = clap::value_parser!(i64).range(1..=90), global = true)]
    pub event_retention_days: i64,

    /// Seconds between dispatcher runs (e-mail, webhooks) in `serve`; 0 turns it off.
    #[arg(long, env = "DISPATCH_INTERVAL_SECS", default_value_t = 5, global = true)]
    pub dispatch_interval_secs: u64,

    /// Seconds a WebSocket may take to send `connection_init`.
    #[arg(long, env = "WS_INIT_TIMEOUT_SECS", default_value_t = 10, global = true)]
    pub ws_init_timeout_secs: u64,

    /// Log format: `pretty` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty", global = true)]
    pub log_format: String,
}

#[derive(Debug, Clone, Args)]
pub struct JwtSettings {
    /// Token algorithm: HS256, RS256 or EdDSA. Pinned: any other is refused.
    #[arg(long = "jwt-algorithm", env = "JWT_ALGORITHM", default_value = "HS256", global = true)]
    pub algorithm: String,

    /// HS256 shared secret. With no secret and no key file, the embedded
    /// default creates one in the data directory.
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub secret: Option<String>,

    /// PEM public key for RS256 / EdDSA verification.
    #[arg(long = "jwt-public-key-file", env = "JWT_PUBLIC_KEY_FILE", global = true)]
    pub public_key_file: Option<PathBuf>,

    /// PEM private key, only for `referral-hub token` with RS256 / EdDSA.
    #[arg(long = "jwt-private-key-file", env = "JWT_PRIVATE_KEY_FILE", global = true)]
    pub private_key_file: Option<PathBuf>,

    #[arg(long = "jwt-issuer", env = "JWT_ISSUER", default_value = "referral-hub", global = true)]
    pub issuer: String,

    #[arg(long = "jwt-audience", env = "JWT_AUDIENCE", default_value = "referral-hub", global = true)]
    pub audience: String,
}

impl Config {
    /// The database URL in force: the configured one, or the embedded file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("referral-hub.db").display()),
        }
    }

    /// A configuration for tests: a given database, HS256 with a given
    /// secret, no scheduler, an ephemeral port.
    pub fn for_tests(database_url: &str, secret: &str) -> Self {
        Self {
            database_url: Some(database_url.to_owned()),
            data_dir: std::env::temp_dir(),
            bind: "127.0.0.1:0".into(),
            jwt: JwtSettings {
                algorithm: "HS256".into(),
                secret: Some(secret.to_owned()),
                public_key_file: None,
                private_key_file: None,
                issuer: "referral-hub".into(),
                audience: "referral-hub".into(),
            },
            jobs_enabled: false,
            cors_allowed_origins: None,
            metrics_bind: None,
            metrics_token: None,
            database_acquire_timeout_secs: 3,
            database_max_connections: crate::db::DEFAULT_MAX_CONNECTIONS,
            public_app_url: None,
            request_timeout_secs: 30,
            body_limit_bytes: 1_048_576,
            upload_limit_bytes: 50 * 1024 * 1024,
            introspection: true,
            limits: crate::graphql::Limits::DEFAULT,
            link_rate_per_ip: 20,
            link_rate_per_code: 60,
            smtp_url: None,
            smtp_from: "Referral Hub <noreply@referral-hub.local>".into(),
            // Test receivers listen on 127.0.0.1.
            webhook_private_targets: true,
            payment_webhook_secret: None,
            dispatch_interval_secs: 0,
            job_batch_size: crate::context::JOB_BATCH,
            event_retention_days: crate::context::EVENT_RETENTION_DAYS,
            ws_init_timeout_secs: 2,
            log_format: "pretty".into(),
        }
    }
}

//! Referral Hub: a GraphQL API server with a job scheduler for partner
//! referral programs. `App::build` is used by `main` and by the tests.

pub mod auth;
pub mod bounded;
pub mod clock;
pub mod config;
pub mod context;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod outbound;
pub mod ratelimit;
pub mod service;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::JwtKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::context::Ctx;

/// A built server: database connected and migrated, keys loaded, port bound.
pub struct App {
    pub ctx: Ctx,
    pub keys: Arc<JwtKeys>,
    pub config: Config,
    listener: TcpListener,
}

impl App {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let channels =
            outbound::Channels::new(config.smtp_url.as_deref(), &config.smtp_from, config.webhook_private_targets)?
                .with_app_url(config.public_app_url.clone());
        let pool = db::PoolSettings {
            acquire_timeout: Duration::from_secs(config.database_acquire_timeout_secs),
            max_connections: config.database_max_connections,
        };
        let ctx = Ctx::connect_with(&config.database_url(), clock, pool)
            .await?
            .with_channels(channels)
            .with_job_batch(config.job_batch_size)
            .with_event_retention_days(config.event_retention_days);
        let keys = Arc::new(JwtKeys::from_settings(&config.jwt, &config.data_dir)?);
        let listener = TcpListener::bind(&config.bind).await.map_err(|e| format!("binding {}: {e}", config.bind))?;
        Ok(Self { ctx, keys, config, listener })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes, running the scheduler if enabled.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), String> {
        let mut scheduler =
            if self.config.jobs_enabled { Some(jobs::scheduler::start(self.ctx.clone()).await?) } else { None };
        let limits = ratelimit::LinkLimits::new(self.config.link_rate_per_ip, self.config.link_rate_per_code);
        let hub = events::Hub::default();
        let relay = events::spawn_relay(self.ctx.clone(), hub.clone());
        let dispatcher = (self.config.jobs_enabled && self.config.dispatch_interval_secs > 0).then(|| {
            events::dispatch::spawn_loop(self.ctx.clone(), Duration::from_secs(self.config.dispatch_interval_secs))
        });
        let api = graphql::build_api(self.ctx.clone(), self.config.introspection, self.config.limits, limits, hub);
        let state = http::HttpState::new(http::Shared {
            ctx: self.ctx.clone(),
            keys: self.keys.clone(),
            api,
            ws_init_timeout: Duration::from_secs(self.config.ws_init_timeout_secs),
            ws_handling: Arc::new(tokio::sync::Semaphore::new(64)),
            body_limit: self.config.body_limit_bytes,
            upload_limit: self.config.upload_limit_bytes,
            payment_webhook_secret: self.config.payment_webhook_secret.clone(),
            limits: self.config.limits,
            graphiql: self.config.introspection,
            metrics_token: self.config.metrics_token.clone(),
        });
        let metrics = match &self.config.metrics_bind {
            Some(bind) => {
                let listener = TcpListener::bind(bind).await.map_err(|e| format!("binding {bind} for metrics: {e}"))?;
                let router = http::ops::metrics_router(state.clone());
                Some(tokio::spawn(async move { axum::serve(listener, router).await }))
            }
            None => None,
        };
        let router = http::router(state, &self.config);
        // Peer addresses feed the referral-link rate limit.
        let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let result =
            axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string());
        if let Some(s) = scheduler.as_mut() {
            let _ = s.shutdown().await;
        }
        relay.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        if let Some(d) = dispatcher {
            d.abort();
        }
        result
    }
}

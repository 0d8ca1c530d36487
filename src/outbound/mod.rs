//! The outside world: the SMTP relay and the HTTP client that e-mail and
//! webhooks go out through, and which webhook targets are allowed
//! (`targets`). Held by the context; used by the dispatcher and by webhook
//! set-up, which checks a target before it is saved.

pub mod targets;

use std::time::Duration as StdDuration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// The outside world the dispatcher talks to.
#[derive(Clone)]
pub struct Channels {
    pub mail: Option<Mailer>,
    pub http: reqwest::Client,
    /// Whether webhooks may go to loopback and private addresses
    /// (`targets`): for development and tests only.
    pub private_targets: bool,
    /// The frontend's address, for links in e-mail (`PUBLIC_APP_URL`).
    pub app_url: Option<String>,
}

#[derive(Clone)]
pub struct Mailer {
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
}

impl Channels {
    /// `smtp_url` like `smtp://host:2525` (plain, for local relays) or
    /// `smtps://user:pass@host` / `smtp://…?tls=required` (TLS).
    pub fn new(smtp_url: Option<&str>, from: &str, private_targets: bool) -> Result<Self, String> {
        let mail = match smtp_url {
            None => None,
            Some(url) => Some(Mailer {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("SMTP_URL: {e}"))?
                    .timeout(Some(StdDuration::from_secs(20)))
                    .build(),
                from: from.parse().map_err(|e| format!("SMTP_FROM: {e}"))?,
            }),
        };
        let mut http = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("referral-hub/", env!("CARGO_PKG_VERSION")));
        if !private_targets {
            http = http.dns_resolver(std::sync::Arc::new(targets::PublicOnly));
        }
        let http = http.build().map_err(|e| e.to_string())?;
        Ok(Self { mail, http, private_targets, app_url: None })
    }

    /// Links in e-mail point at the frontend at `url`.
    pub fn with_app_url(mut self, url: Option<String>) -> Self {
        self.app_url = url;
        self
    }

    pub fn none() -> Self {
        Self::new(None, "referral-hub@localhost", false).expect("no SMTP to misconfigure")
    }
}

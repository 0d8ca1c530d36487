//! Rate limits for the anonymous referral link (`submitReferralViaLink`):
//! per client IP and per referral code, so neither one noisy client nor a
//! code pasted on a spam site can flood a vendor. Limits are per server
//! process; behind a load balancer each server enforces its own.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct LinkLimits {
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_code: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LinkLimits {
    /// Requests per minute allowed per IP and per code.
    pub fn new(per_ip_per_minute: u32, per_code_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self {
            per_ip: Arc::new(RateLimiter::keyed(quota(per_ip_per_minute))),
            per_code: Arc::new(RateLimiter::keyed(quota(per_code_per_minute))),
        }
    }

    pub fn check(&self, ip: Option<IpAddr>, code: &str) -> AppResult<()> {
        if let Some(ip) = ip
            && self.per_ip.check_key(&ip).is_err()
        {
            return Err(AppError::RateLimited("too many referrals from this address; try again in a minute".into()));
        }
        if self.per_code.check_key(&code.trim().to_ascii_uppercase()).is_err() {
            return Err(AppError::RateLimited("too many referrals through this link; try again in a minute".into()));
        }
        Ok(())
    }
}

/// The caller's address, put into each request's data by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip_and_per_code() {
        let limits = LinkLimits::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limits.check(Some(a), "abc").is_ok());
        assert!(limits.check(Some(a), "abc").is_ok());
        assert!(limits.check(Some(a), "abc").is_err(), "third from one IP");
        assert!(limits.check(Some(b), "ABC").is_ok(), "codes are case-insensitive: this is the 3rd for the code");
        assert_eq!(limits.check(Some(b), "abc").unwrap_err().code(), "RATE_LIMITED");
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert!(limits.check(Some(c), "other").is_ok(), "another code has its own budget");
    }
}

//! A lead's identity keys (PRODUCT.md §4, "Lead conflicts"): the values by
//! which two referrals are the same customer, normalized so that spelling
//! differences do not hide a duplicate. Pure functions; the server claims
//! the keys (`service::lead_claims`) and the migration backfills them with
//! the same code, so a key is normalized one way everywhere.

use serde::{Deserialize, Serialize};

use crate::LeadKeyKind;

/// One identity key of a referral.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LeadKey {
    pub kind: LeadKeyKind,
    pub value: String,
}

/// What a referral's keys are computed from.
#[derive(Debug, Default, Clone, Copy)]
pub struct Identity<'a> {
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub external_id: Option<&'a str>,
    /// ASSIGNED referrals: the vendor's id of the customer.
    pub tenant_id: Option<&'a str>,
    /// The program's `phoneRegion` (ISO 3166 alpha-2), for numbers written
    /// without a country code.
    pub phone_region: Option<&'a str>,
}

/// Free-mail providers, whose domain names a mailbox and not a company: a
/// lead at one of them gives no DOMAIN key. The most used providers of the
/// public list kept by HubSpot ("free e-mail domains", the list its forms
/// use to block personal addresses) and of Kikobeats/free-email-domains
/// (npm `free-email-domains`); a domain missing here only gives a
/// DOMAIN conflict, which always FLAGs and never refuses.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "att.net",
    "bigpond.com",
    "btinternet.com",
    "comcast.net",
    "cox.net",
    "email.com",
    "fastmail.com",
    "free.fr",
    "freenet.de",
    "gmail.com",
    "gmx.at",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.de",
    "hotmail.fr",
    "hotmail.it",
    "hushmail.com",
    "icloud.com",
    "inbox.com",
    "laposte.net",
    "libero.it",
    "live.co.uk",
    "live.com",
    "live.de",
    "live.fr",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "neuf.fr",
    "orange.fr",
    "outlook.com",
    "outlook.de",
    "outlook.fr",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "rocketmail.com",
    "sbcglobal.net",
    "seznam.cz",
    "sfr.fr",
    "shaw.ca",
    "t-online.de",
    "tutanota.com",
    "verizon.net",
    "virgilio.it",
    "web.de",
    "wanadoo.fr",
    "yahoo.ca",
    "yahoo.co.in",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
    "163.com",
    "126.com",
];

/// The e-mail as a key: lower case, a `+tag` of the local part removed
/// (`Ann+crm@Acme.io` and `ann@acme.io` are one mailbox). None when it is
/// not an address.
pub fn email_key(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// The company domain of an e-mail; None for free-mail providers.
pub fn domain_key(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (_, domain) = email.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    if domain.is_empty() || !domain.contains('.') || FREE_MAIL_DOMAINS.contains(&domain) {
        return None;
    }
    Some(domain.to_owned())
}

/// A region code for phone numbers (`gb` → `GB`), if it is one.
pub fn region(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    code.parse::<phonenumber::country::Id>().ok().map(|_| code)
}

/// The phone in E.164 (`+442079460958`), parsed with `region` when the
/// number has no country code. None when it cannot be parsed as a valid
/// number: an unparseable phone is no evidence of a duplicate.
pub fn phone_key(phone: &str, region: Option<&str>) -> Option<String> {
    let country = region.and_then(|r| r.trim().to_ascii_uppercase().parse::<phonenumber::country::Id>().ok());
    let number = phonenumber::parse(country, phone.trim()).ok()?;
    if !phonenumber::is_valid(&number) {
        return None;
    }
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// An identifier (external id, tenant id) as a key: trimmed, case kept
/// (identifiers of other systems are case-sensitive).
fn id_key(id: &str) -> Option<String> {
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// Every key of a referral, sorted and without repeats.
pub fn keys(identity: Identity<'_>) -> Vec<LeadKey> {
    let mut keys = Vec::new();
    let mut push = |kind, value: Option<String>| {
        if let Some(value) = value {
            keys.push(LeadKey { kind, value });
        }
    };
    push(LeadKeyKind::Email, identity.email.and_then(email_key));
    push(LeadKeyKind::Domain, identity.email.and_then(domain_key));
    push(LeadKeyKind::Phone, identity.phone.and_then(|p| phone_key(p, identity.phone_region)));
    push(LeadKeyKind::ExternalId, identity.external_id.and_then(id_key));
    push(LeadKeyKind::TenantId, identity.tenant_id.and_then(id_key));
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_case_without_their_tag() {
        assert_eq!(email_key(" Ann.Lee+CRM@Acme.IO ").as_deref(), Some("ann.lee@acme.io"));
        assert_eq!(email_key("ann@acme.io").as_deref(), Some("ann@acme.io"));
        assert_eq!(email_key("not an address"), None);
        assert_eq!(email_key("+tag@acme.io"), None);
    }

    #[test]
    fn company_domains_count_and_free_mail_does_not() {
        assert_eq!(domain_key("ann@Acme.io").as_deref(), Some("acme.io"));
        assert_eq!(domain_key("ann@gmail.com"), None);
        assert_eq!(domain_key("ann@GMAIL.COM"), None);
        assert_eq!(domain_key("ann@localhost"), None);
    }

    #[test]
    fn phones_are_e164_with_the_programs_region() {
        assert_eq!(phone_key("+44 20 7946 0958", None).as_deref(), Some("+442079460958"));
        assert_eq!(phone_key("020 7946 0958", Some("gb")).as_deref(), Some("+442079460958"));
        assert_eq!(phone_key("(202) 555-0173", Some("US")).as_deref(), Some("+12025550173"));
        // Without a region a national number is no key, nor is garbage.
        assert_eq!(phone_key("020 7946 0958", None), None);
        assert_eq!(phone_key("call me", Some("US")), None);
        assert_eq!(phone_key("020 7946 0958", Some("XX")), None);
    }

    #[test]
    fn a_referral_has_each_key_once() {
        let keys = keys(Identity {
            email: Some("Ann+x@Acme.io"),
            phone: Some("+1 202 555 0173"),
            external_id: Some(" CRM-1 "),
            tenant_id: None,
            phone_region: None,
        });
        let found: Vec<(LeadKeyKind, &str)> = keys.iter().map(|k| (k.kind, k.value.as_str())).collect();
        assert_eq!(
            found,
            vec![
                (LeadKeyKind::Email, "ann@acme.io"),
                (LeadKeyKind::Phone, "+12025550173"),
                (LeadKeyKind::ExternalId, "CRM-1"),
                (LeadKeyKind::Domain, "acme.io"),
            ]
        );
        assert!(super::keys(Identity::default()).is_empty());
    }
}

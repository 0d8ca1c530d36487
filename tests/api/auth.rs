//! Authentication and tenancy (PRODUCT.md §1): every kind of bad token is
//! refused with UNAUTHENTICATED; another organization's partner is NOT_FOUND;
//! read-only roles cannot change a partner.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn sign(alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

fn claims(app: &TestApp, org: i64) -> Value {
    let now = app.clock.now_utc().timestamp();
    json!({ "sub": "alice", "org": org.to_string(), "role": "VENDOR", "iat": now, "exp": now + 3600,
            "iss": "referral-hub", "aud": "referral-hub" })
}

async fn me_code(app: &TestApp, token: &str) -> (u16, String) {
    let (status, body) = app.post(Some(token), "{ me { role } }", json!({})).await;
    (status, body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned())
}

#[tokio::test]
async fn every_kind_of_bad_token_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.organization("Acme", "VENDOR").await;
    let good = claims(&app, org);
    assert_eq!(me_code(&app, &sign(Algorithm::HS256, &good)).await.1, "none", "the baseline token works");

    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(key);
        c
    };
    let now = app.clock.now_utc().timestamp();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let mut tampered = sign(Algorithm::HS256, &good);
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let other_secret = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"another-secret-another-secret-another"),
    )
    .unwrap();
    let cases = [
        ("alg none", unsigned),
        ("another algorithm", sign(Algorithm::HS384, &good)),
        ("bad signature", tampered),
        ("another key", other_secret),
        ("wrong issuer", sign(Algorithm::HS256, &with("iss", json!("someone-else")))),
        ("wrong audience", sign(Algorithm::HS256, &with("aud", json!("another-api")))),
        ("missing sub", sign(Algorithm::HS256, &without("sub"))),
        ("missing exp", sign(Algorithm::HS256, &without("exp"))),
        ("expired", sign(Algorithm::HS256, &with("exp", json!(now - 3600)))),
        ("not yet valid", sign(Algorithm::HS256, &with("nbf", json!(now + 3600)))),
        ("unknown role", sign(Algorithm::HS256, &with("role", json!("ROOT")))),
        ("unknown organization", sign(Algorithm::HS256, &with("org", json!("999999")))),
        ("role that does not fit the organization", sign(Algorithm::HS256, &with("role", json!("PARTNER")))),
        ("not a JWT", "hello".to_owned()),
        ("a refresh token's type", {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some("refresh+jwt".into());
            jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
        }),
    ];
    for (what, token) in cases {
        assert_eq!(me_code(&app, &token).await, (401, "UNAUTHENTICATED".to_owned()), "{what}");
    }
    // RFC 9068 access tokens are welcome.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let access = jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    assert_eq!(me_code(&app, &access).await.1, "none");
    // Time is the injected clock's: the same token expires when the clock moves.
    let token = sign(Algorithm::HS256, &good);
    app.clock.advance(Duration::hours(2));
    assert_eq!(me_code(&app, &token).await.1, "UNAUTHENTICATED");
}

#[tokio::test]
async fn anonymous_callers_get_only_typename_and_introspection() {
    let app = spawn_app().await;
    let (status, body) = app.post(None, "{ __typename }", json!({})).await;
    assert_eq!((status, body), (200, json!({ "data": { "__typename": "Query" } })));
    let (_, body) = app.post(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    for q in ["{ me { role } }", "{ partners { totalCount } }", "{ programs { id } }"] {
        assert_eq!(app.code(None, q, json!({})).await, "UNAUTHENTICATED", "{q}");
    }
    let (status, _) = app.post(Some("garbage"), "{ __typename }", json!({})).await;
    assert_eq!(status, 401, "a present but invalid token is refused even for __typename");
}

#[tokio::test]
async fn users_are_provisioned_from_their_first_token() {
    let app = spawn_app().await;
    let org = app.organization("Acme", "VENDOR").await;
    let token = app.token("VENDOR", Some(org), "bob");
    let first = app.ok(&token, "{ me { id role name organization { name kind } } }", json!({})).await;
    assert_eq!(first["me"]["role"], "VENDOR");
    assert_eq!(first["me"]["name"], "bob name");
    assert_eq!(first["me"]["organization"], json!({ "name": "Acme", "kind": "VENDOR" }));
    let again = app.ok(&token, "{ me { id } }", json!({})).await;
    assert_eq!(again["me"]["id"], first["me"]["id"], "the same user on every request");
    let admin = app.ok(&app.admin(), "{ me { role organization { id } } }", json!({})).await;
    assert_eq!(admin["me"], json!({ "role": "ADMIN", "organization": null }));
}

#[tokio::test]
async fn another_vendors_partner_does_not_exist_for_you() {
    let app = spawn_app().await;
    let (_, a, program_a) = app.vendor("Vendor A").await;
    let (_, b, program_b) = app.vendor("Vendor B").await;
    let secret = app.partner(&b, &program_b, "B's partner", "PROSPECT").await;
    app.partner(&a, &program_a, "A's partner", "PROSPECT").await;

    let reads = [
        "query($id: ID!) { partner(id: $id) { name } }",
        "query($id: ID!) { node(id: $id) { id } }",
        "mutation($id: ID!) { sendTerms(id: $id) { status } }",
        "mutation($id: ID!) { endPartner(id: $id) { status } }",
        "mutation($id: ID!) { archivePartner(id: $id, reason: \"x\") { status } }",
        "mutation($id: ID!) { deletePartner(id: $id) }",
        "mutation($id: ID!) { logPartnerContact(partnerId: $id, channel: EMAIL, summary: \"x\") { id } }",
        "mutation($id: ID!) { createTask(partnerId: $id, title: \"x\", dueAt: \"2026-04-01T00:00:00Z\") { id } }",
    ];
    for q in reads {
        let err = app.error(Some(&a), q, json!({ "id": secret })).await;
        assert_eq!(err["extensions"]["code"], "NOT_FOUND", "{q}");
        assert_eq!(err["message"], "partner not found");
    }
    let list = app.ok(&a, "{ partners { totalCount edges { node { name } } } }", json!({})).await;
    assert_eq!(list["partners"], json!({ "totalCount": 1, "edges": [{ "node": { "name": "A's partner" } }] }));
    let code = app.code(Some(&a), "query($id: ID!) { program(id: $id) { name } }", json!({ "id": program_b })).await;
    assert_eq!(code, "NOT_FOUND");
    let code = app
        .code(
            Some(&a),
            "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"Sneaky\" }) { id } }",
            json!({ "p": program_b }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    // B's partner is untouched.
    assert_eq!(app.read_partner(&b, &secret, "status version").await, json!({ "status": "PROSPECT", "version": 1 }));
}

#[tokio::test]
async fn partners_and_report_viewers_cannot_change_a_partner() {
    let app = spawn_app().await;
    let (org, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "PROSPECT").await;
    let invite = app.read_partner(&vendor, &p, "inviteCode").await["inviteCode"].as_str().unwrap().to_owned();
    let partner_org = app.organization("Realty", "PARTNER").await;
    let partner = app.token("PARTNER", Some(partner_org), "realtor");
    app.ok(&partner, "mutation($c: String!) { acceptPartnerInvite(code: $c) { id } }", json!({ "c": invite })).await;
    let viewer = app.token("REPORT_VIEWER", Some(org), "analyst");
    let exec = app.token("EXECUTIVE_REPORT_VIEWER", Some(org), "boss");
    for token in [&partner, &viewer, &exec] {
        for q in [
            "mutation($id: ID!) { sendTerms(id: $id) { status } }",
            "mutation($id: ID!) { endPartner(id: $id) { status } }",
            "mutation($id: ID!) { archivePartner(id: $id, reason: \"x\") { status } }",
            "mutation($id: ID!) { deletePartner(id: $id) }",
        ] {
            assert_eq!(app.code(Some(token), q, json!({ "id": p })).await, "FORBIDDEN", "{q}");
        }
        // They can still read it.
        assert_eq!(app.read_partner(token, &p, "status").await["status"], "PROSPECT");
    }
    let code = app
        .code(
            Some(&viewer),
            "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"X\" }) { id } }",
            json!({ "p": program }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code =
        app.code(Some(&vendor), "mutation { createOrganization(name: \"X\", kind: VENDOR) { id } }", json!({})).await;
    assert_eq!(code, "FORBIDDEN", "only ADMIN creates organizations");
}

#[tokio::test]
async fn a_caller_seen_lately_costs_no_database_round_trip() {
    let app = spawn_app().await;
    let org = app.organization("Acme", "VENDOR").await;
    let token = app.token("VENDOR", Some(org), "carol");
    let before = app.ctx.statement_count();
    let first = app.ok(&token, "{ me { id role } }", json!({})).await;
    assert!(app.ctx.statement_count() - before >= 2, "the first request looks the caller up");
    assert_eq!(app.statements_of(&token, "{ __typename }", json!({})).await, 0, "then it is remembered");
    // Past the cache's lifetime the caller is looked up again (and its
    // lastSeenAt moves).
    app.clock.advance(Duration::seconds(referral_hub::auth::CACHE_SECONDS + 1));
    let before = app.ctx.statement_count();
    app.ok(&token, "{ __typename }", json!({})).await;
    assert!(app.ctx.statement_count() > before, "looked up again after {}s", referral_hub::auth::CACHE_SECONDS);
    // A token that says something else of the same subject is resolved
    // afresh, never answered from what another token said.
    let viewer = app.token("REPORT_VIEWER", Some(org), "carol");
    let me = app.ok(&viewer, "{ me { id role } }", json!({})).await;
    assert_eq!(me["me"]["role"], "REPORT_VIEWER");
    assert_eq!(me["me"]["id"], first["me"]["id"], "the same user");
    assert_eq!(app.ok(&token, "{ me { role } }", json!({})).await["me"]["role"], "VENDOR");
    let other = app.organization("Other", "VENDOR").await;
    let moved = app.token("VENDOR", Some(other), "carol");
    let there = app.ok(&moved, "{ me { id organization { name } } }", json!({})).await;
    assert_eq!(there["me"]["organization"]["name"], "Other");
    assert_ne!(there["me"]["id"], first["me"]["id"], "a user per organization");
}

//! `schema.graphql` is what `referral-hub schema` prints; this fails when the
//! committed file is stale. Regenerate with:
//! `cargo run -q -- schema > schema.graphql`

#[test]
fn committed_schema_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).expect("schema.graphql exists");
    let current = referral_hub::graphql::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -q -- schema > schema.graphql` and commit it"
    );
}

//! Pure rules: no database, no async. One module per state machine, each a
//! `decide` function with one arm per row of its table in PRODUCT.md, so the
//! API, the importer and the jobs all ask the same function. A refused move
//! is a `refusal::Refusal` whichever machine refuses it.

pub mod assignment;
pub mod assignment_rule;
pub mod invoice_status;
pub mod lead_conflict;
pub mod money;
pub mod outcome;
pub mod partner_status;
pub mod referral_status;
pub mod refusal;
pub mod reward_rule;
pub mod stage;

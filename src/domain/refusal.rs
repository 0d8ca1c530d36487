//! What every state machine answers when it says no. A `Refusal` is a move
//! the rules forbid whatever the input (the API's INVALID_TRANSITION); a
//! `Missing` is an input a move needs and was not given (VALIDATION on that
//! field). Each machine's `decide` returns the first, its `requirements` the
//! second, so the service, `availableTransitions`, the importer and report
//! back all hear the same words.

use std::borrow::Cow;

/// A refused move, naming the rule (a row of the machine's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stored name of the current state.
    pub from: &'static str,
    /// What was asked: SET_STATUS, REPORT_OUTCOME, ACCEPT, PAY, END, …
    pub event: &'static str,
    /// The state (or stage) asked for, where the event names one.
    pub to: Option<Cow<'static, str>>,
    pub rule: &'static str,
}

impl Refusal {
    pub fn new(from: &'static str, event: &'static str, rule: &'static str) -> Self {
        Self { from, event, to: None, rule }
    }

    /// The same refusal, naming the state (or stage) that was asked for.
    pub fn to(self, to: impl Into<Cow<'static, str>>) -> Self {
        Self { to: Some(to.into()), ..self }
    }

    /// The same refusal, as the answer to another event (a report back
    /// refused by the status rules is refused as REPORT_OUTCOME).
    pub fn as_event(self, event: &'static str) -> Self {
        Self { event, ..self }
    }
}

/// An input a move needs and did not get: the API field and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    pub field: &'static str,
    pub message: &'static str,
}

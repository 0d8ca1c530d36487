//! The invoice lifecycle of PRODUCT.md §6 (seed 002).
//!
//! | event | from   | to     | and                                         |
//! |-------|--------|--------|---------------------------------------------|
//! | pay   | OPEN   | PAID   | its rewards are PAID_OUT                    |
//! | fail  | OPEN   | FAILED | the collection failed; rewards stay BILLED  |
//! | retry | FAILED | OPEN   | collect again                               |
//! | void  | OPEN, FAILED | VOID | its rewards return to EARNED, billable again |
//!
//! PAID and VOID are final. Repeating the move that led to the current
//! status (a payment webhook delivered twice) changes nothing; reopening an
//! invoice that is already OPEN is refused (only a FAILED one reopens), so
//! ADMIN is not told "done" about a move that did nothing.

use entity::InvoiceStatus::{self, *};

use super::refusal::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceEvent {
    Pay,
    Fail,
    Retry,
    Void,
}

impl InvoiceEvent {
    pub const ALL: [InvoiceEvent; 4] = [Self::Pay, Self::Fail, Self::Retry, Self::Void];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pay => "PAY",
            Self::Fail => "FAIL",
            Self::Retry => "RETRY",
            Self::Void => "VOID",
        }
    }
}

/// What an event does to an invoice in `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    MoveTo(InvoiceStatus),
    /// Already there: nothing to do.
    Unchanged,
}

pub fn decide(from: InvoiceStatus, event: InvoiceEvent) -> Result<Decision, Refusal> {
    use Decision::*;
    use InvoiceEvent as E;
    let refused = |rule| Err(Refusal::new(from.as_str(), event.name(), rule));
    Ok(match (from, event) {
        (Open, E::Pay) => MoveTo(Paid),
        (Open, E::Fail) => MoveTo(Failed),
        (Failed, E::Retry) => MoveTo(Open),
        (Open | Failed, E::Void) => MoveTo(Void),
        (Paid, E::Pay) | (Failed, E::Fail) | (Void, E::Void) => Unchanged,
        (Open, E::Retry) => return refused("only a FAILED invoice is reopened; this one is OPEN"),
        (Failed, E::Pay) => return refused("a failed invoice is retried (reopened) before it is paid"),
        (Paid, _) => return refused("a paid invoice is final"),
        (Void, _) => return refused("a void invoice is final"),
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::Decision::*;
    use super::InvoiceEvent as E;
    use super::*;

    /// Every (status, event) pair, against the table above.
    #[test]
    fn every_move_is_allowed_or_refused_as_the_table_says() {
        let expected = |from: InvoiceStatus, event: InvoiceEvent| match (from, event) {
            (Open, E::Pay) => Some(Paid),
            (Open, E::Fail) => Some(Failed),
            (Open, E::Void) | (Failed, E::Void) => Some(Void),
            (Failed, E::Retry) => Some(Open),
            _ => None,
        };
        for from in InvoiceStatus::iter() {
            for event in InvoiceEvent::ALL {
                let got = decide(from, event);
                match expected(from, event) {
                    Some(to) => assert_eq!(got, Ok(MoveTo(to)), "{from:?} {event:?}"),
                    None if matches!((from, event), (Paid, E::Pay) | (Failed, E::Fail) | (Void, E::Void)) => {
                        assert_eq!(got, Ok(Unchanged), "{from:?} {event:?}")
                    }
                    None => {
                        let refusal = got.expect_err("refused");
                        assert_eq!((refusal.from, refusal.event), (from.as_str(), event.name()));
                    }
                }
            }
        }
    }

    #[test]
    fn paid_and_void_are_final() {
        for event in [E::Fail, E::Retry] {
            assert!(decide(Paid, event).is_err());
            assert!(decide(Void, event).is_err());
        }
        assert!(decide(Paid, E::Void).is_err());
        assert!(decide(Void, E::Pay).is_err());
        assert!(decide(Failed, E::Pay).is_err());
    }
}

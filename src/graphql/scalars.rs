//! `MinorUnits`: money. GraphQL's `Int` is 32-bit (±2,147,483,647), which a
//! month's invoice total or a large sale passes (21 million dollars in
//! cents), so every money amount — totals, sums, sale amounts, rewards,
//! thresholds — is this 64-bit scalar instead.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// The largest magnitude JavaScript reads exactly (2^53 − 1): amounts are
/// JSON numbers, so larger ones are refused rather than silently rounded by
/// a browser.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// A money amount in the minor units of its currency (cents for USD, yen
/// for JPY: see the record's `currency`), as a 64-bit signed integer. It is
/// written as a JSON number and read from a number or a string of digits,
/// within ±(2^53 − 1), the range JavaScript reads exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorUnits(pub i64);

#[Scalar(name = "MinorUnits")]
impl ScalarType for MinorUnits {
    fn parse(value: Value) -> InputValueResult<Self> {
        let n = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        match n {
            Some(n) if n.abs() <= MAX_SAFE => Ok(MinorUnits(n)),
            _ => Err(InputValueError::custom("a whole number of minor units within ±9007199254740991")),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::Number(_) | Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

impl From<i64> for MinorUnits {
    fn from(v: i64) -> Self {
        Self(v)
    }
}

impl From<MinorUnits> for i64 {
    fn from(v: MinorUnits) -> Self {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_and_digit_strings_within_the_safe_range() {
        let parse = |v: Value| <MinorUnits as ScalarType>::parse(v).ok();
        assert_eq!(parse(Value::from(4_000_000_000_i64)), Some(MinorUnits(4_000_000_000)));
        assert_eq!(parse(Value::from("-125")), Some(MinorUnits(-125)));
        assert_eq!(parse(Value::from(MAX_SAFE + 1)), None);
        assert_eq!(parse(Value::from(1.5)), None);
        assert_eq!(parse(Value::from("12.50")), None);
        assert_eq!(MinorUnits(4_000_000_000).to_value(), Value::from(4_000_000_000_i64));
    }
}

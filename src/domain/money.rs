//! Money: integer minor units of an ISO 4217 currency, never floats. The
//! currency's exponent (its minor-unit digits: 2 for EUR, 0 for JPY, 3 for
//! KWD) decides how major-unit decimals are read ("1234.50") and written.

/// The minor-unit exponent of an active ISO 4217 currency, by its code
/// (upper case). Funds, precious metals, testing codes and superseded
/// currencies are not money a program pays in: None.
pub fn exponent(code: &str) -> Option<u32> {
    let currency = iso_currency::Currency::from_code(code)?;
    if currency.is_fund() || currency.is_special() || currency.is_superseded().is_some() {
        return None;
    }
    currency.exponent().map(u32::from)
}

/// The exponent of a stored currency code; 2 for a code that is no longer
/// valid (stored before codes were checked), the common case.
pub fn exponent_or_default(code: &str) -> u32 {
    exponent(code).unwrap_or(2)
}

/// An exact decimal in major units to minor units: "1234.50" is 123450 in
/// EUR and refused in JPY, which has no minor unit; "1234" is 1234 in JPY.
/// No sign, no thousands separators, never rounded.
pub fn parse_major(raw: &str, exponent: u32) -> Option<i64> {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || frac.len() > exponent as usize || !digits(frac) {
        return None;
    }
    if raw.contains('.') && frac.is_empty() {
        return None;
    }
    let scale = 10_i64.checked_pow(exponent)?;
    let frac_minor: i64 =
        if frac.is_empty() { 0 } else { format!("{frac:0<width$}", width = exponent as usize).parse().ok()? };
    whole.parse::<i64>().ok()?.checked_mul(scale)?.checked_add(frac_minor)
}

/// Minor units as an exact decimal in major units: 123450 EUR is "1234.50",
/// 1234 JPY is "1234", -5 EUR is "-0.05".
pub fn format_minor(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u64.pow(exponent);
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = exponent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_have_their_iso_exponents() {
        assert_eq!(exponent("EUR"), Some(2));
        assert_eq!(exponent("JPY"), Some(0));
        assert_eq!(exponent("KWD"), Some(3));
        assert_eq!(exponent("ZZZ"), None);
        assert_eq!(exponent("XAU"), None, "gold is not a currency programs pay in");
        assert_eq!(exponent("usd"), None, "codes are upper case");
    }

    #[test]
    fn major_units_read_by_the_exponent() {
        assert_eq!(parse_major("1234.50", 2), Some(123_450));
        assert_eq!(parse_major("1234.5", 2), Some(123_450));
        assert_eq!(parse_major("1234", 2), Some(123_400));
        assert_eq!(parse_major("1234", 0), Some(1234));
        assert_eq!(parse_major("1234.5", 0), None, "JPY has no minor unit");
        assert_eq!(parse_major("1.234", 3), Some(1234));
        assert_eq!(parse_major("1.2345", 3), None, "never rounded");
        for bad in ["", "-1", "1,000", "1.", ".5", "1e3", "12.3.4"] {
            assert_eq!(parse_major(bad, 2), None, "{bad}");
        }
        assert_eq!(parse_major("99999999999999999999", 2), None, "overflow");
    }

    #[test]
    fn minor_units_written_by_the_exponent() {
        assert_eq!(format_minor(123_450, 2), "1234.50");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(1234, 0), "1234");
        assert_eq!(format_minor(1234, 3), "1.234");
        assert_eq!(format_minor(i64::MIN, 2), "-92233720368547758.08");
        for (raw, e) in [("0.01", 2), ("7", 0), ("12.345", 3)] {
            assert_eq!(format_minor(parse_major(raw, e).unwrap(), e), raw);
        }
    }
}

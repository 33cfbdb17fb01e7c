//! The scalar values condition operators compare, read from policies and request contexts
//! alike: booleans, numbers, dates, base64 and IP ranges ("IAM JSON policy elements: Condition
//! operators"; "IAM JSON policy elements: Supported data types").

use std::net::IpAddr;

/// `true` or `false`, ignoring case.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An integer or a decimal: `10`, `-3`, `2.5`, `.5` (not `1e3`, `inf` or `NaN`).
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    text.parse().ok()
}

/// A date as milliseconds since the Unix epoch: epoch seconds, or one of the W3C profiles of
/// ISO 8601 the condition operators documentation names (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm[:ss[.s…]]TZD`, where TZD is `Z` or `±hh:mm`; a missing TZD is read as UTC).
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() != 4 {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    let number = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut fields = date.split('-');
    let year = number(fields.next()?, 4)?;
    let month = fields.next().map(|m| number(m, 2)).unwrap_or(Some(1))?;
    let day = fields.next().map(|d| number(d, 2)).unwrap_or(Some(1))?;
    if fields.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > month_days[usize::try_from(month - 1).ok()?] {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset_minutes) = if let Some(clock) = time.strip_suffix('Z') {
            (clock, 0)
        } else if let Some(at) = time.rfind(['+', '-']) {
            let (clock, zone) = time.split_at(at);
            let (hours, minutes) = zone[1..].split_once(':')?;
            let minutes = number(hours, 2)? * 60 + number(minutes, 2)?;
            (
                clock,
                if zone.starts_with('-') {
                    -minutes
                } else {
                    minutes
                },
            )
        } else {
            (time, 0)
        };
        let mut parts = clock.split(':');
        let hour = number(parts.next()?, 2)?;
        let minute = number(parts.next()?, 2)?;
        let (second, fraction) = match parts.next() {
            Some(seconds) => match seconds.split_once('.') {
                Some((second, fraction)) => (number(second, 2)?, fraction),
                None => (number(seconds, 2)?, ""),
            },
            None => (0, ""),
        };
        if parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let fraction_millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
        millis += ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000 + fraction_millis;
    }
    Some(millis)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Standard base64 (padding optional).
pub(crate) fn base64(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut bytes = Vec::with_capacity(body.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(bytes)
}

/// An address range: `203.0.113.0/24`, `2001:DB8:1234:5678::/64`, or one address (`/32`,
/// `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
    address: IpAddr,
    prefix: u32,
}

impl Network {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Self { address, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_as_the_w3c_profiles_say() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(parse_date("1969-12-31T23:59:59.5Z"), Some(-500));
        assert_eq!(parse_date("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("2023-01-01T24:00:00Z"), None);
        assert_eq!(parse_date("2023-01-01T10:00:00+0100"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn base64_is_the_standard_alphabet_with_optional_padding() {
        assert_eq!(
            base64("QmluYXJ5VmFsdWVJbkJhc2U2NA==").unwrap(),
            b"BinaryValueInBase64"
        );
        assert_eq!(base64("").unwrap(), b"");
        assert_eq!(base64("QQ"), Some(b"A".to_vec()));
        assert_eq!(base64("QQ=="), Some(b"A".to_vec()));
        assert_eq!(base64("Q"), None);
        assert_eq!(base64("Q!=="), None);
        assert_eq!(base64("QQ==="), None);
    }

    #[test]
    fn numbers_are_integers_or_decimals_and_booleans_true_or_false() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("1e3"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("."), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("1"), None);
    }

    #[test]
    fn networks_default_to_a_single_address_and_never_mix_families() {
        let v4 = Network::parse("203.0.113.0/24").unwrap();
        assert!(v4.contains("203.0.113.200".parse().unwrap()));
        assert!(!v4.contains("203.0.112.1".parse().unwrap()));
        assert!(!v4.contains("::ffff:203.0.113.1".parse().unwrap()));
        let one = Network::parse("2001:db8::1").unwrap();
        assert!(one.contains("2001:DB8::1".parse().unwrap()));
        assert!(!one.contains("2001:db8::2".parse().unwrap()));
        assert_eq!(Network::parse("203.0.113.0/"), None);
        assert_eq!(Network::parse("2001:db8::/129"), None);
        assert_eq!(Network::parse("example.com"), None);
    }
}

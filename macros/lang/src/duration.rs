//! Duration literals (`250ms`, `10s`, `5min`, `1h`), checked at compile time.
//!
//! A duration is written as an integer literal whose suffix is the unit; it becomes a number
//! of milliseconds in the generated code, so a typo or a zero is a compile error at the
//! literal, never a surprise at run time.

use syn::{Expr, ExprLit, Lit};

/// The units a duration literal may carry, with their length in milliseconds.
pub const UNITS: &[(&str, i64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("min", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Reads a duration literal as milliseconds, or says what is wrong with it.
pub fn parse_duration(expr: &Expr) -> Result<i64, String> {
    let Expr::Lit(ExprLit { lit, .. }) = expr else {
        return Err("expected a duration literal such as `500ms`, `10s`, `5min` or `1h`".into());
    };
    let (digits, suffix) = match lit {
        Lit::Int(i) => (i.base10_digits().to_owned(), i.suffix().to_owned()),
        Lit::Float(f) => {
            return Err(format!(
                "a duration must be a whole number of its unit: write `{}` in a smaller unit, e.g. `1500ms` for `1.5s`",
                f.base10_digits()
            ));
        }
        _ => return Err("expected a duration literal such as `500ms`, `10s`, `5min` or `1h`".into()),
    };
    let units = UNITS
        .iter()
        .map(|(u, _)| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if suffix.is_empty() {
        return Err(format!(
            "this duration has no unit: write `{digits}ms` or `{digits}s` (units: {units})"
        ));
    }
    let Some(&(_, factor)) = UNITS.iter().find(|(u, _)| *u == suffix) else {
        return Err(format!("unknown duration unit `{suffix}`: expected one of {units}"));
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("duration `{digits}{suffix}` is too large"))?;
    n.checked_mul(factor)
        .ok_or_else(|| format!("duration `{digits}{suffix}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(src: &str) -> Result<i64, String> {
        parse_duration(&syn::parse_str(src).unwrap())
    }

    #[test]
    fn units() {
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("10s"), Ok(10_000));
        assert_eq!(ms("5min"), Ok(300_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("0s"), Ok(0));
    }

    #[test]
    fn mistakes() {
        assert!(ms("10").unwrap_err().contains("no unit"));
        assert!(ms("10sec").unwrap_err().contains("unknown duration unit `sec`"));
        assert!(ms("1.5s").unwrap_err().contains("whole number"));
        assert!(ms("x").unwrap_err().contains("expected a duration literal"));
        assert!(ms("99999999999999999h").unwrap_err().contains("too large"));
    }
}

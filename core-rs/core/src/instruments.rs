//! Contract terms of the CME futures the system trades, and the roll rule that picks the
//! front month.
//!
//! [`SPECS`] is the core's specs table: tick size, point value, currency, trading hours
//! (Chicago time), listed contract months and the expiry rule of each product root. DBN
//! instrument definitions take precedence where a session has them
//! ([`resolve::resolve_specs`]); this table is the fallback, so specs never come from the
//! synthetic generator's table.
//!
//! Expiry rules (last trading day, CME rulebook, simplified: business days are Monday to
//! Friday, exchange holidays are not modelled, so a rule that lands on a holiday is a day
//! late):
//! - equity index (ES, NQ, RTY, YM and micros): the third Friday of the contract month;
//! - CL: 3 business days before the 25th calendar day of the month before the contract
//!   month (4 when the 25th is not a business day: counting starts from the business day
//!   before it);
//! - GC, SI (and MGC): the third-last business day of the contract month; first notice
//!   day the last business day of the month before;
//! - 6E: the second business day before the third Wednesday of the contract month;
//! - ZN: the seventh business day before the last business day of the contract month;
//!   first notice day the last business day of the month before.
//!
//! Roll rule ([`front_month`]): the front month is the first listed contract whose roll date
//! is after the given date, the roll date being `roll_days` business days before its first
//! notice day when it has one (physically delivered: a long must not be in the delivery
//! window), else before its last trading day. The volume / open-interest crossover
//! alternative needs daily volumes of both months; it is not implemented here.

use crate::error::{CoreError, Result};

/// Contract terms of the instruments in a data set: definitions, then this table.
pub mod resolve;

/// Calendar month codes of CME symbols, January first.
pub const MONTH_CODES: [char; 12] = ['F', 'G', 'H', 'J', 'K', 'M', 'N', 'Q', 'U', 'V', 'X', 'Z'];

/// How a product's last trading day follows from its contract month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryRule {
    /// Third Friday of the contract month (equity index futures).
    ThirdFriday,
    /// 3 business days before the 25th of the month before the contract month (CL).
    CrudeOil,
    /// Third-last business day of the contract month (COMEX metals).
    ThirdLastBusinessDay,
    /// Second business day before the third Wednesday of the contract month (FX).
    FxThirdWednesday,
    /// Seventh business day before the last business day of the contract month (Treasury
    /// notes).
    TreasuryNote,
}

/// Contract terms of one product root.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductSpec {
    pub root: &'static str,
    pub description: &'static str,
    pub exchange: &'static str,
    /// Minimum price increment, price units.
    pub tick_size: f64,
    /// Currency value of one price point per contract.
    pub multiplier: f64,
    pub currency: &'static str,
    /// Globex session, Chicago time: opens `open` the day before, closes at `close`
    /// (Sunday to Friday), with the daily break between.
    pub open: &'static str,
    pub close: &'static str,
    /// Listed contract months (1 = January) the roll walks through.
    pub months: &'static [u8],
    pub expiry: ExpiryRule,
    /// Physically delivered with a first notice day the last business day of the month
    /// before the contract month (the roll anchors there).
    pub first_notice_prior_month: bool,
}

impl ProductSpec {
    /// Tick size in fixed point (`book::PRICE_SCALE`).
    pub fn tick_fixed(&self) -> i64 {
        (self.tick_size * crate::book::PRICE_SCALE as f64).round() as i64
    }
}

const QUARTERLY: &[u8] = &[3, 6, 9, 12];
const ALL_MONTHS: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const GOLD_MONTHS: &[u8] = &[2, 4, 6, 8, 10, 12];
const SILVER_MONTHS: &[u8] = &[3, 5, 7, 9, 12];

// One positional row per product keeps the table readable as a table.
#[allow(clippy::too_many_arguments)]
const fn spec(
    root: &'static str,
    description: &'static str,
    exchange: &'static str,
    tick_size: f64,
    multiplier: f64,
    months: &'static [u8],
    expiry: ExpiryRule,
    first_notice_prior_month: bool,
) -> ProductSpec {
    ProductSpec {
        root,
        description,
        exchange,
        tick_size,
        multiplier,
        currency: "USD",
        open: "17:00",
        close: "16:00",
        months,
        expiry,
        first_notice_prior_month,
    }
}

/// The core's specs table (see the module docs).
pub const SPECS: [ProductSpec; 14] = [
    spec(
        "ES",
        "E-mini S&P 500",
        "CME",
        0.25,
        50.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "MES",
        "Micro E-mini S&P 500",
        "CME",
        0.25,
        5.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "NQ",
        "E-mini Nasdaq-100",
        "CME",
        0.25,
        20.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "MNQ",
        "Micro E-mini Nasdaq-100",
        "CME",
        0.25,
        2.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "RTY",
        "E-mini Russell 2000",
        "CME",
        0.10,
        50.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "M2K",
        "Micro E-mini Russell 2000",
        "CME",
        0.10,
        5.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "YM",
        "E-mini Dow ($5)",
        "CBOT",
        1.0,
        5.0,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "MYM",
        "Micro E-mini Dow",
        "CBOT",
        1.0,
        0.5,
        QUARTERLY,
        ExpiryRule::ThirdFriday,
        false,
    ),
    spec(
        "CL",
        "Crude Oil (WTI)",
        "NYMEX",
        0.01,
        1000.0,
        ALL_MONTHS,
        ExpiryRule::CrudeOil,
        false,
    ),
    spec(
        "GC",
        "Gold",
        "COMEX",
        0.10,
        100.0,
        GOLD_MONTHS,
        ExpiryRule::ThirdLastBusinessDay,
        true,
    ),
    spec(
        "MGC",
        "Micro Gold",
        "COMEX",
        0.10,
        10.0,
        GOLD_MONTHS,
        ExpiryRule::ThirdLastBusinessDay,
        true,
    ),
    spec(
        "SI",
        "Silver",
        "COMEX",
        0.005,
        5000.0,
        SILVER_MONTHS,
        ExpiryRule::ThirdLastBusinessDay,
        true,
    ),
    spec(
        "6E",
        "Euro FX",
        "CME",
        0.00005,
        125_000.0,
        QUARTERLY,
        ExpiryRule::FxThirdWednesday,
        false,
    ),
    spec(
        "ZN",
        "10-Year T-Note",
        "CBOT",
        0.015625,
        1000.0,
        QUARTERLY,
        ExpiryRule::TreasuryNote,
        true,
    ),
];

/// The spec of a product root (`ES`), or an error naming the roots the table knows.
pub fn product(root: &str) -> Result<&'static ProductSpec> {
    SPECS.iter().find(|s| s.root == root).ok_or_else(|| {
        CoreError::Config(format!(
            "no spec for product root {root:?} (known: {})",
            SPECS.iter().map(|s| s.root).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// A calendar date (proleptic Gregorian, UTC days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Checked: a date that does not exist is an error naming it.
    pub fn new(year: i32, month: u8, day: u8) -> Result<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(CoreError::invalid(
                "date",
                format!("{year:04}-{month:02}-{day:02} is not a calendar date"),
            ));
        }
        Ok(Date { year, month, day })
    }

    /// `YYYY-MM-DD` (a longer ISO timestamp is cut to its date).
    pub fn parse(s: &str) -> Result<Date> {
        let bad = || CoreError::invalid("date", format!("{s:?} is not YYYY-MM-DD"));
        let d = s.get(..10).ok_or_else(bad)?;
        let mut it = d.split('-');
        let (Some(y), Some(m), Some(dd), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(bad());
        };
        let (y, m, dd) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            dd.parse().map_err(|_| bad())?,
        );
        Date::new(y, m, dd)
    }

    /// The UTC date of a timestamp in ns since the epoch.
    pub fn from_unix_ns(ns: i64) -> Date {
        from_days(ns.div_euclid(86_400_000_000_000))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// 0 = Monday .. 6 = Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (3).
        ((self.days() + 3).rem_euclid(7)) as u8
    }

    pub fn is_business_day(self) -> bool {
        self.weekday() < 5
    }

    pub fn add_days(self, n: i64) -> Date {
        from_days(self.days() + n)
    }

    /// `n` business days later (earlier for negative `n`).
    pub fn add_business_days(self, n: i64) -> Date {
        let step = n.signum();
        let mut d = self;
        let mut left = n.abs();
        while left > 0 {
            d = d.add_days(step);
            if d.is_business_day() {
                left -= 1;
            }
        }
        d
    }

    /// UTC midnight of the date, ns since the epoch.
    pub fn unix_ns(self) -> i64 {
        self.days() * 86_400_000_000_000
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = y as i64 - (m <= 2) as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + (m <= 2) as i64) as i32;
    Date {
        year: y,
        month: m,
        day: d,
    }
}

fn last_business_day(y: i32, m: u8) -> Date {
    let mut d = Date {
        year: y,
        month: m,
        day: days_in_month(y, m),
    };
    while !d.is_business_day() {
        d = d.add_days(-1);
    }
    d
}

/// The `n`-th `weekday` (0 = Monday) of a month.
fn nth_weekday(y: i32, m: u8, weekday: u8, n: u8) -> Date {
    let first = Date {
        year: y,
        month: m,
        day: 1,
    };
    let offset = (weekday + 7 - first.weekday()) % 7;
    first.add_days(offset as i64 + 7 * (n as i64 - 1))
}

fn prev_month(y: i32, m: u8) -> (i32, u8) {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

/// Last trading day of the `root` contract of `year`-`month`.
pub fn expiry(p: &ProductSpec, year: i32, month: u8) -> Date {
    match p.expiry {
        ExpiryRule::ThirdFriday => nth_weekday(year, month, 4, 3),
        ExpiryRule::CrudeOil => {
            let (py, pm) = prev_month(year, month);
            let mut d25 = Date {
                year: py,
                month: pm,
                day: 25,
            };
            while !d25.is_business_day() {
                d25 = d25.add_days(-1);
            }
            d25.add_business_days(-3)
        }
        ExpiryRule::ThirdLastBusinessDay => last_business_day(year, month).add_business_days(-2),
        ExpiryRule::FxThirdWednesday => nth_weekday(year, month, 2, 3).add_business_days(-2),
        ExpiryRule::TreasuryNote => last_business_day(year, month).add_business_days(-7),
    }
}

/// First notice day of a physically delivered contract (None for cash-settled products and
/// those whose notice comes after the last trading day).
pub fn first_notice(p: &ProductSpec, year: i32, month: u8) -> Option<Date> {
    p.first_notice_prior_month.then(|| {
        let (py, pm) = prev_month(year, month);
        last_business_day(py, pm)
    })
}

/// One contract month of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// CME symbol with a one-digit year: `ESZ6`.
    pub symbol: String,
    pub year: i32,
    pub month: u8,
    /// Last trading day.
    pub expiry: Date,
    pub first_notice: Option<Date>,
    /// The day the roll rule moves to the next contract (this one is no longer front).
    pub roll_date: Date,
}

fn contract(p: &ProductSpec, year: i32, month: u8, roll_days: u32) -> Contract {
    let exp = expiry(p, year, month);
    let fnd = first_notice(p, year, month);
    let anchor = fnd.map_or(exp, |f| f.min(exp));
    Contract {
        symbol: format!(
            "{}{}{}",
            p.root,
            MONTH_CODES[month as usize - 1],
            year.rem_euclid(10)
        ),
        year,
        month,
        expiry: exp,
        first_notice: fnd,
        roll_date: anchor.add_business_days(-(roll_days as i64)),
    }
}

/// The front month of `root` on `date` and the contract after it, by the roll rule of the
/// module docs: the first listed contract whose roll date (`roll_days` business days before
/// its first notice day, else its last trading day) is after `date`.
pub fn front_month(root: &str, date: Date, roll_days: u32) -> Result<(Contract, Contract)> {
    let p = product(root)?;
    if roll_days > 60 {
        return Err(CoreError::invalid(
            "roll_days",
            format!("{roll_days} (want at most 60 business days)"),
        ));
    }
    let mut listed = Vec::new();
    for y in date.year - 1..=date.year + 2 {
        for &m in p.months {
            listed.push(contract(p, y, m, roll_days));
        }
    }
    let i = listed
        .iter()
        .position(|c| c.roll_date > date)
        .expect("a contract within two years rolls after any date");
    Ok((listed[i].clone(), listed[i + 1].clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn calendar_round_trips_and_weekdays() {
        for s in ["1970-01-01", "2000-02-29", "2024-12-31", "2026-12-18"] {
            assert_eq!(from_days(d(s).days()), d(s));
        }
        assert_eq!(d("1970-01-01").weekday(), 3);
        assert_eq!(d("2026-12-18").weekday(), 4, "a Friday");
        assert!(Date::parse("2026-02-30").is_err());
        assert!(Date::parse("26-1-1").is_err());
        assert_eq!(
            Date::from_unix_ns(d("2026-03-20").unix_ns() + 5),
            d("2026-03-20")
        );
    }

    #[test]
    fn expiries_follow_the_cme_rules() {
        let es = product("ES").unwrap();
        // Third Fridays: Dec 2026 is the 18th, Mar 2024 the 15th.
        assert_eq!(expiry(es, 2026, 12), d("2026-12-18"));
        assert_eq!(expiry(es, 2024, 3), d("2024-03-15"));
        // CL Feb 2024 (CLG4): the 25th of January 2024 is a Thursday; 3 business days
        // before is Monday the 22nd (CME's published last trade date).
        let cl = product("CL").unwrap();
        assert_eq!(expiry(cl, 2024, 2), d("2024-01-22"));
        // CL Jan 2025 (CLF5): 25 Dec 2024 is a Wednesday; 3 business days before: 20 Dec.
        // (CME moved it to the 19th for the Christmas holiday, which is not modelled.)
        assert_eq!(expiry(cl, 2025, 1), d("2024-12-20"));
        // CL when the 25th is a Sunday (25 May 2025, for CLM5): Friday 23rd, then 3 before.
        assert_eq!(expiry(cl, 2025, 6), d("2025-05-20"));
        // GC Dec 2026: last business day 31 Dec (Thu), third-last is 29 Dec (Tue);
        // first notice 30 Nov 2026 (Mon).
        let gc = product("GC").unwrap();
        assert_eq!(expiry(gc, 2026, 12), d("2026-12-29"));
        assert_eq!(first_notice(gc, 2026, 12), Some(d("2026-11-30")));
        // 6E Mar 2024: third Wednesday the 20th, two business days before: the 18th.
        assert_eq!(expiry(product("6E").unwrap(), 2024, 3), d("2024-03-18"));
        // ZN Mar 2024: last business day 29 Mar (Fri), seven before: 20 Mar (CME: the 19th,
        // Good Friday being a holiday, which is not modelled).
        assert_eq!(expiry(product("ZN").unwrap(), 2024, 3), d("2024-03-20"));
    }

    #[test]
    fn the_front_month_rolls_days_before_expiry_or_first_notice() {
        let (f, n) = front_month("ES", d("2026-12-01"), 8).unwrap();
        assert_eq!((f.symbol.as_str(), n.symbol.as_str()), ("ESZ6", "ESH7"));
        assert_eq!(f.expiry, d("2026-12-18"));
        // Eight business days before 18 Dec is 8 Dec: from then on March is the front.
        assert_eq!(f.roll_date, d("2026-12-08"));
        assert_eq!(
            front_month("ES", d("2026-12-07"), 8).unwrap().0.symbol,
            "ESZ6"
        );
        assert_eq!(
            front_month("ES", d("2026-12-08"), 8).unwrap().0.symbol,
            "ESH7"
        );
        // After expiry the next one, whatever roll_days says.
        assert_eq!(
            front_month("ES", d("2026-12-19"), 0).unwrap().0.symbol,
            "ESH7"
        );
        // Gold rolls ahead of first notice (30 Nov 2026), not of its December expiry.
        let (g, _) = front_month("GC", d("2026-11-20"), 2).unwrap();
        assert_eq!(g.symbol, "GCZ6");
        assert_eq!(g.roll_date, d("2026-11-26"));
        assert_eq!(
            front_month("GC", d("2026-11-26"), 2).unwrap().0.symbol,
            "GCG7"
        );
        // Crude lists every month.
        let (c, n) = front_month("CL", d("2024-01-10"), 1).unwrap();
        assert_eq!((c.symbol.as_str(), n.symbol.as_str()), ("CLG4", "CLH4"));
        assert!(front_month("XX", d("2024-01-10"), 1).is_err());
        assert!(front_month("ES", d("2024-01-10"), 61).is_err());
    }

    #[test]
    fn every_spec_is_usable() {
        for s in &SPECS {
            assert!(s.tick_fixed() > 0 && s.multiplier > 0.0, "{}", s.root);
            assert!(!s.months.is_empty());
            let (f, n) = front_month(s.root, d("2026-06-01"), 5).unwrap();
            assert!(f.expiry < n.expiry && f.roll_date < f.expiry.add_days(1));
        }
    }
}

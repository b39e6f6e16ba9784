//! The CME Globex trading day, the boundary cumulative features are anchored to.
//!
//! CME futures trade from 17:00 to 16:00 America/Chicago the next day (ES, 6E, GC, CL ...),
//! so a new trading day starts at 17:00 Chicago time: 23:00 UTC in winter (CST, UTC-6),
//! 22:00 UTC in summer (CDT, UTC-5). Chicago follows the US daylight-saving rules in force
//! since 2007: CDT from the second Sunday of March, 02:00 local (08:00 UTC), to the first
//! Sunday of November, 02:00 local (07:00 UTC). A bar belongs to the trading day of its
//! open time; the day is numbered by the calendar date (days since 1970-01-01) of its
//! 17:00 start in Chicago. No time-zone database: the rule is two dates per year.

const NS_PER_SEC: i64 = 1_000_000_000;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day number (days since 1970-01-01).
fn year_of(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(m <= 2)
}

/// Day number of the `nth` (1-based) Sunday of month `m` of year `y`.
fn nth_sunday(y: i64, m: i64, nth: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday is (days + 4) mod 7.
    let to_sunday = (7 - (first + 4).rem_euclid(7)) % 7;
    first + to_sunday + 7 * (nth - 1)
}

/// Chicago's offset from UTC in seconds (-5 h in daylight time, -6 h otherwise) at UTC
/// second `t`.
pub fn chicago_offset(t: i64) -> i64 {
    let y = year_of(t.div_euclid(DAY));
    let start = nth_sunday(y, 3, 2) * DAY + 8 * HOUR; // 02:00 CST
    let end = nth_sunday(y, 11, 1) * DAY + 7 * HOUR; // 02:00 CDT
    if (start..end).contains(&t) {
        -5 * HOUR
    } else {
        -6 * HOUR
    }
}

/// The CME trading day holding UTC nanosecond `ts`: the Chicago calendar date (days since
/// 1970-01-01) of the 17:00 Chicago time that opened it.
pub fn cme_trading_day(ts: u64) -> i64 {
    let t = (ts as i64).div_euclid(NS_PER_SEC);
    let local = t + chicago_offset(t);
    (local - 17 * HOUR).div_euclid(DAY)
}

/// UTC nanosecond of the 17:00 Chicago open of the CME trading day holding `ts`: the one
/// definition of "the trading day starts" (bars, features, the operator's day P&L). Never
/// before the epoch (0 for a `ts` in the day that opened before it).
pub fn trading_day_start(ts: u64) -> u64 {
    let local_open = cme_trading_day(ts) * DAY + 17 * HOUR;
    // 17:00 is far from the 02:00 switch, so the offset an hour either side is the same:
    // try standard time, and take daylight time where the resulting instant has it.
    let cst = local_open + 6 * HOUR;
    let utc = if chicago_offset(cst) == -5 * HOUR {
        cst - HOUR
    } else {
        cst
    };
    (utc.max(0) as u64) * NS_PER_SEC as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, m: i64, d: i64, h: i64, min: i64) -> u64 {
        ((days_from_civil(y, m, d) * DAY + h * HOUR + min * 60) * NS_PER_SEC) as u64
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        for d in [-1000, 0, 59, 60, 19_723, 19_783, 20_000] {
            let y = year_of(d);
            assert!(days_from_civil(y, 1, 1) <= d && d < days_from_civil(y + 1, 1, 1));
        }
    }

    #[test]
    fn dst_switches_on_the_us_dates() {
        // 2024: CDT from Sun 10 March 08:00 UTC to Sun 3 November 07:00 UTC.
        let s = |ts: u64| (ts / 1_000_000_000) as i64;
        assert_eq!(chicago_offset(s(utc(2024, 3, 10, 7, 59))), -6 * HOUR);
        assert_eq!(chicago_offset(s(utc(2024, 3, 10, 8, 0))), -5 * HOUR);
        assert_eq!(chicago_offset(s(utc(2024, 11, 3, 6, 59))), -5 * HOUR);
        assert_eq!(chicago_offset(s(utc(2024, 11, 3, 7, 0))), -6 * HOUR);
        // 2013: 10 March and 3 November as well.
        assert_eq!(chicago_offset(s(utc(2013, 3, 10, 8, 0))), -5 * HOUR);
        assert_eq!(chicago_offset(s(utc(2013, 11, 3, 7, 0))), -6 * HOUR);
    }

    #[test]
    fn trading_day_starts_at_17_chicago() {
        // Winter: 17:00 CST = 23:00 UTC.
        let d = cme_trading_day(utc(2024, 1, 2, 22, 59));
        assert_eq!(cme_trading_day(utc(2024, 1, 2, 23, 0)), d + 1);
        assert_eq!(cme_trading_day(utc(2024, 1, 3, 22, 59)), d + 1);
        // Summer: 17:00 CDT = 22:00 UTC.
        let d = cme_trading_day(utc(2024, 7, 1, 21, 59));
        assert_eq!(cme_trading_day(utc(2024, 7, 1, 22, 0)), d + 1);
        assert_eq!(d + 1, days_from_civil(2024, 7, 1));
    }

    #[test]
    fn trading_day_start_follows_dst() {
        // Winter: the day holding Tue 2 Jan 2024 10:00 UTC opened Mon 1 Jan 23:00 UTC.
        assert_eq!(
            trading_day_start(utc(2024, 1, 2, 10, 0)),
            utc(2024, 1, 1, 23, 0)
        );
        // On the open itself, and a nanosecond before it.
        assert_eq!(
            trading_day_start(utc(2024, 1, 2, 23, 0)),
            utc(2024, 1, 2, 23, 0)
        );
        assert_eq!(
            trading_day_start(utc(2024, 1, 2, 23, 0) - 1),
            utc(2024, 1, 1, 23, 0)
        );
        // Summer: 22:00 UTC.
        assert_eq!(
            trading_day_start(utc(2024, 7, 2, 13, 47)),
            utc(2024, 7, 1, 22, 0)
        );
        // The DST weeks: Sunday 10 March 2024 opens at 22:00 UTC (CDT since 08:00 UTC),
        // Sunday 3 November at 23:00 UTC (CST since 07:00 UTC).
        assert_eq!(
            trading_day_start(utc(2024, 3, 11, 1, 0)),
            utc(2024, 3, 10, 22, 0)
        );
        assert_eq!(
            trading_day_start(utc(2024, 3, 8, 23, 30)),
            utc(2024, 3, 8, 23, 0)
        );
        assert_eq!(
            trading_day_start(utc(2024, 11, 4, 1, 0)),
            utc(2024, 11, 3, 23, 0)
        );
        assert_eq!(
            trading_day_start(utc(2024, 11, 1, 22, 30)),
            utc(2024, 11, 1, 22, 0)
        );
        assert_eq!(trading_day_start(0), 0);
    }
}

//! Wall-clock time as the hub records it: UTC text.

use time::{
    format_description::well_known::Rfc3339, macros::format_description, Date, OffsetDateTime,
};

/// Now, RFC 3339 with sub-second digits, for rows and events.
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`, the batch file's `created_at`.
pub(crate) fn now_batch_timestamp() -> String {
    format!("{}Z", whole_seconds(OffsetDateTime::now_utc()))
}

/// `t` in UTC as `YYYY-MM-DDTHH:MM:SS`, to the second.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `now + after` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: one fixed width, so
/// that such times compare as text (the outbox's schedule and leases).
pub(crate) fn fixed_after(after: std::time::Duration) -> String {
    let t = OffsetDateTime::now_utc() + after;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A `--since` / `since=` time as an operator writes it: RFC 3339 with a
/// zone (`2026-01-31T09:30:00+02:00`), or a date (`2026-01-31`, midnight
/// UTC); `None` if it is neither.
pub(crate) fn parse_since(s: &str) -> Option<OffsetDateTime> {
    let t = s.trim();
    OffsetDateTime::parse(t, &Rfc3339).ok().or_else(|| {
        Date::parse(t, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| d.midnight().assume_utc())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_is_a_zoned_time_or_a_date() {
        let at = |s: &str| super::parse_since(s).map(super::whole_seconds);
        assert_eq!(at("2026-01-31").as_deref(), Some("2026-01-31T00:00:00"));
        assert_eq!(
            at(" 2026-01-31T09:30:00+02:00 ").as_deref(),
            Some("2026-01-31T07:30:00")
        );
        assert_eq!(at("2026-01-31T09:30:00"), None, "a zone is needed");
        assert_eq!(at("yesterday"), None);
    }
}

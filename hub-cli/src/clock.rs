//! Wall-clock time as the hub records it: UTC text.

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

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

//! The one logger: every line the Worker writes is one JSON object (`event`, `level`, then the
//! event's fields), so Workers Logs can index and query it.
//!
//! What never goes in a field: a token (JWT, DRF key, e-mailed token, uid/token pair), a link
//! built from one, a password or hash, a secret. Callers pass ids (user id, route pattern,
//! event kind), never request bodies or headers other than `cf-ray`. The one exception is the
//! `console` e-mail backend (`email_console`), whose whole purpose is to print the message on a
//! developer's machine; `npm run check` refuses it for production.
//!
//! Event names (README "Logs"; docs/operations.md lists their fields): `request`, `throttled`,
//! `internal_error`, `config_invalid`, `config_warning`, `flow_warning`, `email_failed`,
//! `email_console`, `events_not_written`, the security event kinds (`refresh_reuse_detected`,
//! `login_failed`, …, see `domain::event`), and the cron's `purge`, `purge_failed`.

use serde_json::{Map, Value};

/// How bad a line is; Workers Logs shows it as the level, the console method follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal work (requests, purges).
    Info,
    /// Something an operator should look at (throttling, token reuse, a development setting).
    Warn,
    /// Something failed (a 500, an e-mail not sent, a bad configuration).
    Error,
}

impl Level {
    /// The level's name in the line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The text of one line: `{"event":…,"level":…, …fields}`; `fields` that is not an object is
/// put under `detail`. `event` and `level` always come first and cannot be overridden.
pub fn line(level: Level, event: &str, fields: Value) -> String {
    let mut out = Map::new();
    out.insert("event".into(), Value::from(event));
    out.insert("level".into(), Value::from(level.name()));
    match fields {
        Value::Object(map) => {
            for (k, v) in map {
                if k != "event" && k != "level" {
                    out.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            out.insert("detail".into(), other);
        }
    }
    Value::Object(out).to_string()
}

/// Writes one line to the Worker log (on the host, to stderr).
pub fn emit(level: Level, event: &str, fields: Value) {
    let text = line(level, event, fields);
    #[cfg(target_arch = "wasm32")]
    match level {
        Level::Info => worker::console_log!("{text}"),
        Level::Warn => worker::console_warn!("{text}"),
        Level::Error => worker::console_error!("{text}"),
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{text}");
}

/// An `info` line.
pub fn info(event: &str, fields: Value) {
    emit(Level::Info, event, fields);
}

/// A `warn` line.
pub fn warn(event: &str, fields: Value) {
    emit(Level::Warn, event, fields);
}

/// An `error` line.
pub fn error(event: &str, fields: Value) {
    emit(Level::Error, event, fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_is_one_json_object_with_event_and_level_first() {
        let text = line(
            Level::Warn,
            "throttled",
            json!({"route": "/auth/jwt/create/", "status": 429, "note": "two\nlines"}),
        );
        assert!(!text.contains('\n'));
        assert!(text.starts_with(r#"{"event":"throttled","level":"warn","#));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["status"], 429);
        assert_eq!(parsed["note"], "two\nlines");
    }

    #[test]
    fn fields_cannot_replace_the_event_or_level_and_scalars_become_detail() {
        let text = line(
            Level::Info,
            "purge",
            json!({"event": "x", "level": "error"}),
        );
        assert_eq!(text, r#"{"event":"purge","level":"info"}"#);
        let text = line(Level::Error, "purge_failed", json!("no such table"));
        assert_eq!(
            text,
            r#"{"event":"purge_failed","level":"error","detail":"no such table"}"#
        );
    }
}

//! Operator tools that run on the operator's machine, not in the Worker: the djoser import and the
//! `manage.py`-like admin commands. They read and write nothing themselves: each turns its input
//! into SQL files (or one SQL text) that `scripts/*.mjs` runs with `wrangler d1 execute`, so the
//! same statements reach local and remote D1. Host-only (not part of the wasm build).

pub mod admin;
pub mod import;
pub mod time;

/// A SQL string literal: single quotes doubled; NUL is refused earlier by every caller.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A nullable integer as SQL.
pub fn int_or_null(value: Option<i64>) -> String {
    value.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_doubles_single_quotes() {
        assert_eq!(quote("o'brien"), "'o''brien'");
        assert_eq!(quote(""), "''");
        assert_eq!(int_or_null(None), "NULL");
        assert_eq!(int_or_null(Some(-3)), "-3");
    }
}

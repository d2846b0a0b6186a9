//! The user fields beyond `email`, `id` and `username` (djoser's `REQUIRED_FIELDS` of a custom
//! user model): `first_name` and `last_name`, which are columns, and the operator's declared
//! extra fields, kept in one JSON column. Which fields exist, their types and which are required
//! are settings (`USER_FIELDS`, `USER_EXTRA_FIELDS`, `REQUIRED_FIELDS`); this module reads one
//! field's value as DRF's field of that type would, with DRF's exact messages. Pure.

use serde_json::{Map, Value};

use crate::messages as msg;

/// The most characters a declared string field may allow (`string:N`).
pub const MAX_STRING_LENGTH: usize = 10_000;
/// The length of `string` without a number, and of `first_name` (Django's `max_length=150`).
pub const DEFAULT_STRING_LENGTH: usize = 150;
/// Django's IntegerField bounds (a 32-bit column), which DRF reports as validator messages.
pub const INTEGER_MIN: i64 = -2_147_483_648;
/// See [`INTEGER_MIN`].
pub const INTEGER_MAX: i64 = 2_147_483_647;
/// DRF IntegerField's MAX_STRING_LENGTH.
const INTEGER_MAX_STRING: usize = 1000;

/// DRF: IntegerField `invalid`.
pub const INVALID_INTEGER: &str = "A valid integer is required.";
/// DRF: IntegerField `max_string_length`.
pub const INTEGER_STRING_TOO_LARGE: &str = "String value too large.";
/// DRF: BooleanField `invalid`.
pub const INVALID_BOOLEAN: &str = "Must be a valid boolean.";

/// A field's type, as DRF's ModelSerializer would map the model field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A CharField of at most `max_length` characters (trimmed; blank allowed unless required).
    Text {
        /// Django's `max_length`.
        max_length: usize,
    },
    /// An IntegerField (32-bit; `null` when not required).
    Integer,
    /// A BooleanField (`null` when not required).
    Boolean,
}

impl FieldKind {
    /// The type's name in `USER_EXTRA_FIELDS` and the docs.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text { .. } => "string",
            FieldKind::Integer => "integer",
            FieldKind::Boolean => "boolean",
        }
    }
}

/// Where a field's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The `first_name` column.
    FirstName,
    /// The `last_name` column.
    LastName,
    /// A key of the `extra_fields` JSON column.
    Extra,
}

/// One user field besides `email`, `id` and `username`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserField {
    /// The JSON key (and the claim name in ACCESS_TOKEN_CLAIMS).
    pub name: String,
    /// Its type.
    pub kind: FieldKind,
    /// In REQUIRED_FIELDS: required at registration (and on PUT), never blank or null.
    pub required: bool,
    /// Where it is stored.
    pub column: Column,
}

/// The names an extra field may not take: the user's own attributes and the request fields of
/// djoser's serializers.
pub const RESERVED_NAMES: &[&str] = &[
    "id",
    "username",
    "email",
    "password",
    "re_password",
    "current_password",
    "new_password",
    "re_new_password",
    "new_username",
    "re_new_username",
    "new_email",
    "is_active",
    "is_staff",
    "is_superuser",
    "last_login",
    "date_joined",
    "first_name",
    "last_name",
    "uid",
    "token",
];

/// A field's value as read from a request body: `None` when the body did not send it.
pub type Read = Result<Option<Value>, Vec<String>>;

impl UserField {
    /// Reads the field from a request body's raw value (`None`: absent) as DRF's field would:
    /// to the stored value, or DRF's messages. `needed` is whether an absent field is an error
    /// (a required field on registration or PUT, not on PATCH). `surrogate` is DRF's
    /// ProhibitSurrogateCharactersValidator message for a text, if it has a lone surrogate.
    pub fn read(
        &self,
        raw: Option<&Value>,
        needed: bool,
        surrogate: &dyn Fn(&str) -> Option<String>,
    ) -> Read {
        let Some(raw) = raw else {
            return if needed && self.required {
                Err(vec![msg::REQUIRED.into()])
            } else {
                Ok(None)
            };
        };
        if raw.is_null() {
            // Strings are never null (a Django CharField has blank=True, null=False); an
            // optional integer or boolean is nullable.
            return match self.kind {
                FieldKind::Integer | FieldKind::Boolean if !self.required => Ok(Some(Value::Null)),
                _ => Err(vec![msg::NULL.into()]),
            };
        }
        match self.kind {
            FieldKind::Text { max_length } => read_text(raw, max_length, self.required, surrogate),
            FieldKind::Integer => read_integer(raw),
            FieldKind::Boolean => read_boolean(raw),
        }
        .map(Some)
    }

    /// The value in the user representation when nothing is stored: "" or `null`.
    pub fn empty(&self) -> Value {
        match self.kind {
            FieldKind::Text { .. } => Value::String(String::new()),
            FieldKind::Integer | FieldKind::Boolean => Value::Null,
        }
    }
}

/// Python's `str()` of a JSON number, as DRF's CharField and IntegerField apply it.
pub fn python_number_str(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `str.strip()`: DRF trims with it. Python's whitespace is Rust's plus the four ASCII
/// separators U+001C..U+001F.
pub fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// DRF CharField: str, int and float are text; trimmed; blank only when optional; max_length,
/// ProhibitNullCharacters and ProhibitSurrogateCharacters all reported, in that order.
fn read_text(
    raw: &Value,
    max_length: usize,
    required: bool,
    surrogate: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, Vec<String>> {
    let text = match raw {
        Value::String(s) => s.clone(),
        Value::Number(n) => python_number_str(n),
        _ => return Err(vec![msg::NOT_A_STRING.into()]),
    };
    let trimmed = python_strip(&text);
    if trimmed.is_empty() {
        return if required {
            Err(vec![msg::BLANK.into()])
        } else {
            Ok(Value::String(String::new()))
        };
    }
    let mut problems = Vec::new();
    if trimmed.chars().count() > max_length {
        problems.push(format!(
            "Ensure this field has no more than {max_length} characters."
        ));
    }
    if trimmed.contains('\0') {
        problems.push(msg::NULL_CHARACTERS.into());
    }
    problems.extend(surrogate(trimmed));
    if problems.is_empty() {
        Ok(Value::String(trimmed.to_string()))
    } else {
        Err(problems)
    }
}

/// DRF IntegerField: `int(re.sub(r'\.0*\s*$', '', str(data)))`, then Django's 32-bit bounds.
fn read_integer(raw: &Value) -> Result<Value, Vec<String>> {
    let text = match raw {
        Value::String(s) if s.chars().count() > INTEGER_MAX_STRING => {
            return Err(vec![INTEGER_STRING_TOO_LARGE.into()])
        }
        Value::String(s) => s.clone(),
        Value::Number(n) => python_number_str(n),
        _ => return Err(vec![INVALID_INTEGER.into()]),
    };
    let Some(n) = python_int(&text) else {
        return Err(vec![INVALID_INTEGER.into()]);
    };
    if n > i128::from(INTEGER_MAX) {
        return Err(vec![format!(
            "Ensure this value is less than or equal to {INTEGER_MAX}."
        )]);
    }
    if n < i128::from(INTEGER_MIN) {
        return Err(vec![format!(
            "Ensure this value is greater than or equal to {INTEGER_MIN}."
        )]);
    }
    Ok(Value::from(n as i64))
}

/// Python's `int()` of DRF's text: a trailing `.000` and whitespace dropped first, then an
/// optional sign, ASCII digits with single underscores between them, surrounding whitespace.
/// Values beyond i128 saturate (they fail the bounds either way).
fn python_int(text: &str) -> Option<i128> {
    let text = text.trim_end_matches(char::is_whitespace);
    let text = match text.rfind('.') {
        Some(dot) if text[dot + 1..].bytes().all(|b| b == b'0') => &text[..dot],
        _ => text,
    };
    let body = text.trim();
    let (negative, digits) = match body.as_bytes().first()? {
        b'-' => (true, &body[1..]),
        b'+' => (false, &body[1..]),
        _ => (false, body),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut n: i128 = 0;
    for b in digits.bytes().filter(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i128::from(b - b'0'));
    }
    Some(if negative { -n } else { n })
}

/// DRF BooleanField's TRUE_VALUES and FALSE_VALUES (exact strings, 1/0, true/false).
fn read_boolean(raw: &Value) -> Result<Value, Vec<String>> {
    const TRUE: &[&str] = &[
        "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
    ];
    const FALSE: &[&str] = &[
        "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0",
    ];
    let parsed = match raw {
        Value::Bool(b) => Some(*b),
        Value::String(s) if TRUE.contains(&s.as_str()) => Some(true),
        Value::String(s) if FALSE.contains(&s.as_str()) => Some(false),
        // Python: 1 == 1.0 == True, so both are in the sets.
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed
        .map(Value::Bool)
        .ok_or_else(|| vec![INVALID_BOOLEAN.into()])
}

/// The stored extra fields as the JSON column holds them; anything unreadable is empty.
pub fn parse_extra(text: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(kind: FieldKind, required: bool) -> UserField {
        UserField {
            name: "f".into(),
            kind,
            required,
            column: Column::Extra,
        }
    }

    fn read(kind: FieldKind, required: bool, raw: Value) -> Read {
        field(kind, required).read(Some(&raw), true, &|_| None)
    }

    const TEXT: FieldKind = FieldKind::Text { max_length: 5 };

    #[test]
    fn absence_is_an_error_only_for_required_fields_when_needed() {
        let req = field(FieldKind::Integer, true);
        let none = |_: &str| None;
        assert_eq!(
            req.read(None, true, &none),
            Err(vec![msg::REQUIRED.to_string()])
        );
        assert_eq!(req.read(None, false, &none), Ok(None));
        assert_eq!(
            field(FieldKind::Integer, false).read(None, true, &none),
            Ok(None)
        );
    }

    #[test]
    fn text_follows_drf_charfield() {
        assert_eq!(read(TEXT, false, json!("  ab ")), Ok(Some(json!("ab"))));
        assert_eq!(read(TEXT, false, json!(12)), Ok(Some(json!("12"))));
        assert_eq!(read(TEXT, false, json!(1.0)), Ok(Some(json!("1.0"))));
        assert_eq!(read(TEXT, false, json!("  ")), Ok(Some(json!(""))));
        assert_eq!(
            read(TEXT, true, json!(" ")),
            Err(vec![msg::BLANK.to_string()])
        );
        assert_eq!(
            read(TEXT, false, json!(true)),
            Err(vec![msg::NOT_A_STRING.to_string()])
        );
        assert_eq!(
            read(TEXT, false, json!(null)),
            Err(vec![msg::NULL.to_string()])
        );
        assert_eq!(
            read(TEXT, false, json!("abcdef\u{0}")),
            Err(vec![
                "Ensure this field has no more than 5 characters.".to_string(),
                msg::NULL_CHARACTERS.to_string()
            ])
        );
        let flagged = |t: &str| t.contains('!').then(|| "surrogate".to_string());
        assert_eq!(
            field(TEXT, false).read(Some(&json!("abcdef!")), true, &flagged),
            Err(vec![
                "Ensure this field has no more than 5 characters.".to_string(),
                "surrogate".to_string()
            ])
        );
        // Characters, not bytes.
        assert_eq!(read(TEXT, false, json!("ééééé")), Ok(Some(json!("ééééé"))));
    }

    #[test]
    fn integers_follow_drf_integerfield_and_djangos_bounds() {
        let ok = |raw: Value, n: i64| {
            assert_eq!(read(FieldKind::Integer, false, raw), Ok(Some(json!(n))))
        };
        ok(json!(42), 42);
        ok(json!("42"), 42);
        ok(json!(" -7 "), -7);
        ok(json!("+7"), 7);
        ok(json!("1_000"), 1000);
        ok(json!(12.0), 12);
        ok(json!("12.000"), 12);
        ok(json!(2_147_483_647), 2_147_483_647);
        let invalid = Err(vec![INVALID_INTEGER.to_string()]);
        for raw in [
            json!(12.5),
            json!("12.5"),
            json!("abc"),
            json!(""),
            json!(true),
            json!([1]),
            json!({}),
            json!("1__0"),
            json!("_1"),
        ] {
            assert_eq!(
                read(FieldKind::Integer, false, raw.clone()),
                invalid,
                "{raw}"
            );
        }
        assert_eq!(
            read(FieldKind::Integer, false, json!(2_147_483_648_i64)),
            Err(vec![
                "Ensure this value is less than or equal to 2147483647.".to_string()
            ])
        );
        assert_eq!(
            read(
                FieldKind::Integer,
                false,
                json!("-99999999999999999999999999999999999999999")
            ),
            Err(vec![
                "Ensure this value is greater than or equal to -2147483648.".to_string()
            ])
        );
        assert_eq!(
            read(FieldKind::Integer, false, json!("1".repeat(1001))),
            Err(vec![INTEGER_STRING_TOO_LARGE.to_string()])
        );
        assert_eq!(
            read(FieldKind::Integer, false, json!(null)),
            Ok(Some(Value::Null))
        );
        assert_eq!(
            read(FieldKind::Integer, true, json!(null)),
            Err(vec![msg::NULL.to_string()])
        );
    }

    #[test]
    fn booleans_follow_drf_booleanfield() {
        for raw in [
            json!(true),
            json!("true"),
            json!("on"),
            json!("1"),
            json!(1),
            json!(1.0),
        ] {
            assert_eq!(
                read(FieldKind::Boolean, false, raw.clone()),
                Ok(Some(json!(true))),
                "{raw}"
            );
        }
        for raw in [json!(false), json!("No"), json!("0"), json!(0)] {
            assert_eq!(
                read(FieldKind::Boolean, false, raw.clone()),
                Ok(Some(json!(false))),
                "{raw}"
            );
        }
        for raw in [
            json!("maybe"),
            json!(" true"),
            json!(2),
            json!([]),
            json!("TRue"),
        ] {
            assert_eq!(
                read(FieldKind::Boolean, false, raw.clone()),
                Err(vec![INVALID_BOOLEAN.to_string()]),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_stored_column_reads_back_and_junk_is_empty() {
        assert_eq!(parse_extra(r#"{"age":3}"#).get("age"), Some(&json!(3)));
        assert!(parse_extra("[1]").is_empty());
        assert!(parse_extra("not json").is_empty());
    }
}

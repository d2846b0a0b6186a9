//! Request bodies as DRF reads them: JSON, form and multipart parsers, and CharField extraction.
//!
//! Pure: takes the Content-Type and the raw bytes. What DRF does is reproduced on purpose: an empty
//! body is `{}`, unknown fields are ignored, strings are trimmed (with Python's idea of
//! whitespace), numbers become strings, and lone UTF-16 surrogates (which Python's JSON parser
//! accepts and serde_json refuses) reach the fields, where DRF's validator names them.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::messages as msg;

/// Where a lone surrogate `U+D800..=U+DFFF` from a JSON escape is kept inside a Rust string: the
/// same offset into Supplementary Private Use Area-B, so each stays one code point (Python counts a
/// surrogate as one character). Only read back when the body had lone surrogates.
const SURROGATE_STAND_IN: u32 = 0x10_0000;

/// A parsed request body: field name → JSON value (form fields are strings).
#[derive(Debug, Default, Clone)]
pub struct Body {
    fields: Map<String, Value>,
    /// The JSON text had lone surrogate escapes, now stand-ins (see [`SURROGATE_STAND_IN`]).
    surrogates: bool,
}

impl Body {
    /// Parses `bytes` as the media type in `content_type` says.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Body, ApiError> {
        let media = content_type
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        // djoser-compat: DRF treats a missing body as empty data whatever the media type.
        if bytes.is_empty() {
            return Ok(Body::default());
        }
        match media.as_str() {
            "application/json" => parse_json(bytes),
            "application/x-www-form-urlencoded" => Ok(parse_form(bytes)),
            "multipart/form-data" => parse_multipart(content_type.unwrap_or(""), bytes),
            _ => Err(ApiError::UnsupportedMediaType(
                content_type.unwrap_or("").trim().to_string(),
            )),
        }
    }

    /// A body from a JSON object (tests, internal use).
    pub fn from_map(map: Map<String, Value>) -> Body {
        Body {
            fields: map,
            surrogates: false,
        }
    }

    /// True when the field is present (whatever its value).
    pub fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// The raw value of a field.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// DRF's ProhibitSurrogateCharactersValidator message for `value` (a field value read from this
    /// body), naming its first lone surrogate; `None` when it has none. For callers that run a
    /// field's validators themselves ([`Body::text`], [`Body::email_text`]) and must put this
    /// message in Django's order.
    pub fn surrogate_message(&self, value: &str) -> Option<String> {
        if !self.surrogates {
            return None;
        }
        value
            .chars()
            .find_map(surrogate_of)
            .map(|code_point| format!("Surrogate characters are not allowed: U+{code_point:X}."))
    }

    /// `problems` (Django's validator messages for a field value read with [`Body::text`] or
    /// [`Body::email_text`]) with DRF's surrogate message where ProhibitSurrogateCharactersValidator
    /// runs: just before `before` (EmailValidator's message) when that is present, else last.
    pub fn with_surrogate_message(
        &self,
        value: &str,
        problems: Vec<&str>,
        before: Option<&str>,
    ) -> Vec<String> {
        let mut out: Vec<String> = problems.into_iter().map(str::to_string).collect();
        if let Some(message) = self.surrogate_message(value) {
            let at = before
                .and_then(|b| out.iter().position(|p| p == b))
                .unwrap_or(out.len());
            out.insert(at, message);
        }
        out
    }

    /// A required DRF CharField (trimmed, not blank, no NUL); errors go into `errors`.
    pub fn required(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        self.char_field(name, true, errors, None)
    }

    /// A field that is declared only when a setting is on (djoser's `*_RETYPE` serializers):
    /// required then, absent from validation otherwise.
    pub fn required_if(
        &self,
        declared: bool,
        name: &str,
        errors: &mut FieldErrors,
    ) -> Option<String> {
        if declared {
            self.required(name, errors)
        } else {
            None
        }
    }

    /// A required CharField with a max_length (DRF counts code points).
    pub fn required_max(&self, name: &str, max: usize, errors: &mut FieldErrors) -> Option<String> {
        self.char_field(name, true, errors, Some(max))
    }

    /// An optional CharField: `None` when absent.
    pub fn optional(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        self.char_field(name, false, errors, None)
    }

    /// A CharField whose validators (length, characters, NUL, surrogates) the caller runs, in
    /// Django's order: only presence, null, type and blank are checked here.
    pub fn text(&self, name: &str, required: bool, errors: &mut FieldErrors) -> Option<String> {
        self.extract(name, required, errors, |v| self.char_value(v, None, false))
    }

    /// Like [`Body::text`], for a DRF EmailField: a boolean, array or object is reported with
    /// `invalid`, the caller's "Enter a valid email address." message.
    pub fn email_text(
        &self,
        name: &str,
        required: bool,
        invalid: &str,
        errors: &mut FieldErrors,
    ) -> Option<String> {
        // djoser-compat: EmailField overrides CharField's `invalid` message, which DRF uses for
        // values that are not str/int/float, so `{"email": ["a"]}` is not "Not a valid string.".
        self.extract(name, required, errors, |v| match v {
            Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => {
                Err(FieldProblem::Messages(vec![invalid.to_string()]))
            }
            other => self.char_value(other, None, false),
        })
    }

    fn char_field(
        &self,
        name: &str,
        required: bool,
        errors: &mut FieldErrors,
        max: Option<usize>,
    ) -> Option<String> {
        self.extract(name, required, errors, |v| self.char_value(v, max, true))
    }

    /// DRF CharField.to_internal_value + run_validation for one value. With `validate`, the
    /// CharField's own validators run too (MaxLength, ProhibitNull, ProhibitSurrogate), and, as in
    /// DRF, every failing one is reported.
    fn char_value(
        &self,
        value: Option<&Value>,
        max: Option<usize>,
        validate: bool,
    ) -> Result<Option<String>, FieldProblem> {
        let text = match value {
            None => return Err(FieldProblem::Missing),
            Some(Value::Null) => return Err(FieldProblem::Messages(vec![msg::NULL.into()])),
            Some(Value::String(s)) => s.clone(),
            // djoser-compat: DRF turns JSON numbers into their Python str().
            Some(Value::Number(n)) => python_number_str(n),
            Some(_) => return Err(FieldProblem::Messages(vec![msg::NOT_A_STRING.into()])),
        };
        let trimmed = python_strip(&text);
        if trimmed.is_empty() {
            return Err(FieldProblem::Messages(vec![msg::BLANK.into()]));
        }
        let mut problems = Vec::new();
        if let Some(max) = max {
            if trimmed.chars().count() > max {
                problems.push(format!(
                    "Ensure this field has no more than {max} characters."
                ));
            }
        }
        if validate {
            if trimmed.contains('\0') {
                problems.push(msg::NULL_CHARACTERS.into());
            }
            problems.extend(self.surrogate_message(trimmed));
        }
        if problems.is_empty() {
            Ok(Some(trimmed.to_string()))
        } else {
            Err(FieldProblem::Messages(problems))
        }
    }

    fn extract(
        &self,
        name: &str,
        required: bool,
        errors: &mut FieldErrors,
        read: impl Fn(Option<&Value>) -> Result<Option<String>, FieldProblem>,
    ) -> Option<String> {
        match read(self.fields.get(name)) {
            Ok(v) => v,
            Err(FieldProblem::Missing) => {
                if required {
                    errors.add(name, msg::REQUIRED);
                }
                None
            }
            Err(FieldProblem::Messages(messages)) => {
                errors.extend(name, messages);
                None
            }
        }
    }
}

enum FieldProblem {
    Missing,
    Messages(Vec<String>),
}

use crate::domain::profile::python_number_str;
pub use crate::domain::profile::python_strip;

/// The lone surrogate a stand-in character holds, if it is one.
fn surrogate_of(c: char) -> Option<u32> {
    let offset = u32::from(c).checked_sub(SURROGATE_STAND_IN)?;
    (offset < 0x800).then_some(0xD800 + offset)
}

/// Rewrites every lone surrogate escape (`\uD800`..`\uDFFF` not part of a high+low pair) inside
/// the JSON strings of `text` into its stand-in character; `None` when there is none.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    if !text.contains("\\u") {
        return None;
    }
    let bytes = text.as_bytes();
    let hex4 = |at: usize| -> Option<u32> {
        let digits = text.get(at..at + 4)?;
        if digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            u32::from_str_radix(digits, 16).ok()
        } else {
            None
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut found = false;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if bytes.get(i + 1) != Some(&b'u') {
                    i += 2;
                    continue;
                }
                let Some(unit) = hex4(i + 2) else {
                    i += 2;
                    continue;
                };
                let paired = (0xD800..0xDC00).contains(&unit)
                    && bytes.get(i + 6) == Some(&b'\\')
                    && bytes.get(i + 7) == Some(&b'u')
                    && hex4(i + 8).is_some_and(|low| (0xDC00..0xE000).contains(&low));
                if paired {
                    i += 12;
                    continue;
                }
                if (0xD800..0xE000).contains(&unit) {
                    let stand_in = char::from_u32(SURROGATE_STAND_IN + unit - 0xD800)?;
                    out.push_str(&text[copied..i]);
                    out.push(stand_in);
                    copied = i + 6;
                    found = true;
                }
                i += 6;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if !found {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

fn parse_json(bytes: &[u8]) -> Result<Body, ApiError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let pos = e.valid_up_to();
            let byte = bytes.get(pos).copied().unwrap_or(0);
            let reason = if e.error_len().is_none() {
                "unexpected end of data"
            } else if (0x80..0xc0).contains(&byte) || byte >= 0xf8 {
                "invalid start byte"
            } else {
                "invalid continuation byte"
            };
            return Err(ApiError::Parse(format!(
                "'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: {reason}"
            )));
        }
    };
    // Python's parser accepts lone surrogate escapes and DRF's field validator names them; serde_json
    // would refuse the whole body, so they are swapped for stand-ins first.
    let rewritten = replace_lone_surrogates(text);
    let surrogates = rewritten.is_some();
    let parsed = match &rewritten {
        Some(clean) => serde_json::from_str(clean).or_else(|_| serde_json::from_str(text)),
        None => serde_json::from_str(text),
    };
    let value: Value = parsed.map_err(|e| ApiError::Parse(python_json_message(text, &e)))?;
    match value {
        Value::Object(map) => Ok(Body {
            fields: map,
            surrogates,
        }),
        other => {
            let kind = match other {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Bool(_) => "bool",
                Value::Null => "NoneType",
                Value::Number(n) if n.is_f64() => "float",
                _ => "int",
            };
            Err(ApiError::non_field(format!(
                "Invalid data. Expected a dictionary, but got {kind}."
            )))
        }
    }
}

/// Renders a serde_json error the way Python's json module words it, with its line/column/char.
fn python_json_message(text: &str, err: &serde_json::Error) -> String {
    let line = err.line().max(1);
    let column = err.column().max(1);
    // serde_json points at the offending character (1-based); Python reports a 0-based char offset.
    let mut offset = 0usize;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            offset += l.chars().take(column.saturating_sub(1)).count();
            break;
        }
        offset += l.chars().count() + 1;
    }
    let detail = err.to_string();
    let what = if detail.starts_with("EOF while parsing") || detail.starts_with("expected value") {
        "Expecting value"
    } else if detail.starts_with("key must be a string") {
        "Expecting property name enclosed in double quotes"
    } else if detail.starts_with("expected `:`") {
        "Expecting ':' delimiter"
    } else if detail.starts_with("expected `,` or") {
        "Expecting ',' delimiter"
    } else if detail.starts_with("trailing characters") {
        "Extra data"
    } else if detail.starts_with("invalid escape") || detail.starts_with("invalid unicode") {
        "Invalid \\escape"
    } else if detail.starts_with("control character") {
        "Invalid control character at"
    } else if detail.contains("surrogate") {
        "Invalid \\uXXXX escape"
    } else {
        "Expecting value"
    };
    format!("{what}: line {line} column {column} (char {offset})")
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    // djoser-compat: Django decodes form data with errors="replace".
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(bytes: &[u8]) -> Body {
    let text = String::from_utf8_lossy(bytes);
    let mut map = Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // QueryDict.get returns the last value of a repeated key.
        map.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    Body::from_map(map)
}

fn parse_multipart(content_type: &str, bytes: &[u8]) -> Result<Body, ApiError> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 200);
    let Some(boundary) = boundary else {
        // djoser-compat: DRF's MultiPartParser words it so (not "JSON parse error - ...").
        return Err(ApiError::detail(
            400,
            "Multipart form parse error - Invalid boundary in multipart: None",
        ));
    };
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(bytes);
    let mut map = Map::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let mut name = None;
        let mut is_file = false;
        for line in head.split("\r\n") {
            let Some((h, v)) = line.split_once(':') else {
                continue;
            };
            if !h.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in v.split(';').skip(1) {
                if let Some((k, val)) = param.trim().split_once('=') {
                    let val = val.trim().trim_matches('"').to_string();
                    match k.trim() {
                        "name" => name = Some(val),
                        "filename" => is_file = true,
                        _ => {}
                    }
                }
            }
        }
        if let (Some(name), false) = (name, is_file) {
            map.insert(name, Value::String(value.to_string()));
        }
    }
    Ok(Body::from_map(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Result<Body, ApiError> {
        Body::parse(Some("application/json"), body.as_bytes())
    }

    #[test]
    fn empty_body_is_an_empty_object_for_any_media_type() {
        assert!(Body::parse(Some("text/plain"), b"").is_ok());
        assert!(Body::parse(None, b"").is_ok());
    }

    #[test]
    fn other_media_types_are_415_with_drf_message() {
        let err = Body::parse(Some("text/plain"), b"x").err().unwrap();
        assert_eq!(err.status(), 415);
        assert_eq!(
            err.body()["detail"],
            "Unsupported media type \"text/plain\" in request."
        );
    }

    #[test]
    fn malformed_json_gets_python_wording() {
        let err = json("x").err().unwrap();
        assert_eq!(
            err.body()["detail"],
            "JSON parse error - Expecting value: line 1 column 1 (char 0)"
        );
        let err = json("{\"a\":1} x").err().unwrap();
        assert!(err.body()["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - Extra data"));
    }

    #[test]
    fn non_object_json_names_python_type() {
        for (body, kind) in [
            ("[]", "list"),
            ("\"s\"", "str"),
            ("3", "int"),
            ("1.5", "float"),
        ] {
            let err = json(body).err().unwrap();
            assert_eq!(
                err.body()["non_field_errors"][0],
                format!("Invalid data. Expected a dictionary, but got {kind}."),
            );
        }
    }

    #[test]
    fn invalid_utf8_is_a_parse_error() {
        let err = Body::parse(Some("application/json"), b"{\"a\":\"\xff\"}")
            .err()
            .unwrap();
        assert_eq!(err.status(), 400);
        assert!(err.body()["detail"]
            .as_str()
            .unwrap()
            .contains("can't decode byte 0xff"));
    }

    #[test]
    fn char_fields_follow_drf_rules() {
        let body = json(
            r#"{"a":"  x  ","b":"   ","c":null,"d":true,"e":12345678901,"f":"a\u0000b","g":1.0}"#,
        )
        .unwrap();
        let mut errors = FieldErrors::new();
        assert_eq!(body.required("a", &mut errors).as_deref(), Some("x"));
        assert_eq!(body.required("b", &mut errors), None);
        assert_eq!(body.required("c", &mut errors), None);
        assert_eq!(body.required("d", &mut errors), None);
        assert_eq!(
            body.required("e", &mut errors).as_deref(),
            Some("12345678901")
        );
        assert_eq!(body.required("f", &mut errors), None);
        assert_eq!(body.required("g", &mut errors).as_deref(), Some("1.0"));
        assert_eq!(body.required("missing", &mut errors), None);
        assert_eq!(body.optional("missing2", &mut errors), None);
        let out = ApiError::from(errors).body();
        assert_eq!(out["b"][0], msg::BLANK);
        assert_eq!(out["c"][0], msg::NULL);
        assert_eq!(out["d"][0], msg::NOT_A_STRING);
        assert_eq!(out["f"][0], msg::NULL_CHARACTERS);
        assert_eq!(out["missing"][0], msg::REQUIRED);
        assert!(out.get("missing2").is_none());
    }

    #[test]
    fn email_fields_report_wrong_types_with_their_own_invalid_message() {
        let body =
            json(r#"{"a":["x"],"b":true,"c":{"k":1},"d":5,"e":null,"f":" x@y.z "}"#).unwrap();
        let mut errors = FieldErrors::new();
        for name in ["a", "b", "c"] {
            assert_eq!(body.email_text(name, true, "bad e-mail", &mut errors), None);
        }
        assert_eq!(
            body.email_text("d", true, "bad e-mail", &mut errors)
                .as_deref(),
            Some("5")
        );
        assert_eq!(body.email_text("e", true, "bad e-mail", &mut errors), None);
        assert_eq!(
            body.email_text("f", true, "bad e-mail", &mut errors)
                .as_deref(),
            Some("x@y.z")
        );
        let out = ApiError::from(errors).body();
        assert_eq!(out["a"][0], "bad e-mail");
        assert_eq!(out["b"][0], "bad e-mail");
        assert_eq!(out["c"][0], "bad e-mail");
        assert_eq!(out["e"][0], msg::NULL);
    }

    #[test]
    fn lone_surrogates_reach_the_field_with_drfs_message() {
        let body = json(
            r#"{"a":"\ud800","b":" x\udc00y\udbff\ud800 ","c":"\ud83d\ude00","d":"\u0000\udfff"}"#,
        )
        .unwrap();
        let mut errors = FieldErrors::new();
        assert_eq!(body.required("a", &mut errors), None);
        assert_eq!(body.required("b", &mut errors), None);
        assert_eq!(
            body.required("c", &mut errors).as_deref(),
            Some("\u{1F600}")
        );
        assert_eq!(body.required("d", &mut errors), None);
        let out = ApiError::from(errors).body();
        assert_eq!(
            out.to_string(),
            r#"{"a":["Surrogate characters are not allowed: U+D800."],"b":["Surrogate characters are not allowed: U+DC00."],"d":["Null characters are not allowed.","Surrogate characters are not allowed: U+DFFF."]}"#
        );
    }

    #[test]
    fn escaped_backslashes_and_valid_pairs_are_not_surrogates() {
        assert_eq!(replace_lone_surrogates(r#"{"a":"\\ud800"}"#), None);
        assert_eq!(replace_lone_surrogates(r#"{"a":"\ud83d\ude00"}"#), None);
        assert_eq!(replace_lone_surrogates(r#"{"a":"\u0041"}"#), None);
        let rewritten = replace_lone_surrogates(r#"{"a":"\"\ud800\\"}"#).unwrap();
        assert_eq!(rewritten, "{\"a\":\"\\\"\u{100000}\\\\\"}");
        let body = json(r#"{"a":"\\ud800"}"#).unwrap();
        assert_eq!(body.surrogate_message("\u{100000}"), None);
    }

    #[test]
    fn surrogate_message_is_placed_where_django_runs_the_validator() {
        let body = json(r#"{"e":"a\udfff@example.com"}"#).unwrap();
        let mut errors = FieldErrors::new();
        let value = body.text("e", true, &mut errors).unwrap();
        assert_eq!(
            body.with_surrogate_message(&value, vec!["too long", "invalid"], Some("invalid")),
            vec![
                "too long".to_string(),
                "Surrogate characters are not allowed: U+DFFF.".to_string(),
                "invalid".to_string()
            ]
        );
        assert_eq!(
            body.with_surrogate_message(&value, vec!["bad name"], None),
            vec![
                "bad name".to_string(),
                "Surrogate characters are not allowed: U+DFFF.".to_string()
            ]
        );
        assert_eq!(
            body.with_surrogate_message("plain", vec!["x"], None),
            vec!["x".to_string()]
        );
    }

    #[test]
    fn python_whitespace_includes_the_ascii_separators() {
        assert_eq!(
            python_strip("\u{1f}\u{1c} a b\u{85}\u{a0}\u{3000}\t"),
            "a b"
        );
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x");
        let body = json(r#"{"a":"\u001f\u001d","b":"\u001epw\u001c"}"#).unwrap();
        let mut errors = FieldErrors::new();
        assert_eq!(body.required("a", &mut errors), None);
        assert_eq!(body.required("b", &mut errors).as_deref(), Some("pw"));
        assert_eq!(ApiError::from(errors).body()["a"][0], msg::BLANK);
    }

    #[test]
    fn multipart_without_boundary_uses_drfs_multipart_wording() {
        let err = Body::parse(Some("multipart/form-data"), b"x")
            .err()
            .unwrap();
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.body().to_string(),
            r#"{"detail":"Multipart form parse error - Invalid boundary in multipart: None"}"#
        );
    }

    #[test]
    fn max_length_counts_code_points() {
        let body = json(r#"{"u":"ééé","v":"éééé"}"#).unwrap();
        let mut errors = FieldErrors::new();
        assert!(body.required_max("u", 3, &mut errors).is_some());
        assert!(body.required_max("v", 3, &mut errors).is_none());
        assert_eq!(
            ApiError::from(errors).body()["v"][0],
            "Ensure this field has no more than 3 characters."
        );
    }

    #[test]
    fn form_bodies_decode_plus_and_percent() {
        let body = Body::parse(
            Some("application/x-www-form-urlencoded"),
            b"username=a+b%21&password=p%zz",
        )
        .unwrap();
        let mut errors = FieldErrors::new();
        assert_eq!(
            body.required("username", &mut errors).as_deref(),
            Some("a b!")
        );
        assert_eq!(
            body.required("password", &mut errors).as_deref(),
            Some("p%zz")
        );
    }

    #[test]
    fn multipart_text_fields_are_read_and_files_ignored() {
        let raw = "--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nfile\r\n--XX--\r\n";
        let body = Body::parse(Some("multipart/form-data; boundary=XX"), raw.as_bytes()).unwrap();
        let mut errors = FieldErrors::new();
        assert_eq!(
            body.required("username", &mut errors).as_deref(),
            Some("bob")
        );
        assert!(!body.has("f"));
    }
}

//! Request bodies as DRF reads them: JSON, form and multipart parsers, and CharField extraction.
//!
//! Pure: takes the Content-Type and the raw bytes. What DRF does is reproduced on purpose: an empty
//! body is `{}`, unknown fields are ignored, strings are trimmed, numbers become strings.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::messages as msg;

/// A parsed request body: field name → JSON value (form fields are strings).
#[derive(Debug, Default, Clone)]
pub struct Body(Map<String, Value>);

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
        Body(map)
    }

    /// True when the field is present (whatever its value).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The raw value of a field.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A required DRF CharField (trimmed, not blank, no NUL); errors go into `errors`.
    pub fn required(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        self.char_field(name, true, errors, None)
    }

    /// A required CharField with a max_length (DRF counts code points).
    pub fn required_max(&self, name: &str, max: usize, errors: &mut FieldErrors) -> Option<String> {
        self.char_field(name, true, errors, Some(max))
    }

    /// An optional CharField: `None` when absent.
    pub fn optional(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        self.char_field(name, false, errors, None)
    }

    /// A CharField whose validators (length, characters, NUL) the caller runs, in Django's order:
    /// only presence, null, type and blank are checked here.
    pub fn text(&self, name: &str, required: bool, errors: &mut FieldErrors) -> Option<String> {
        self.extract(name, required, errors, |v| char_value(v, None, false))
    }

    fn char_field(
        &self,
        name: &str,
        required: bool,
        errors: &mut FieldErrors,
        max: Option<usize>,
    ) -> Option<String> {
        self.extract(name, required, errors, |v| char_value(v, max, true))
    }

    fn extract(
        &self,
        name: &str,
        required: bool,
        errors: &mut FieldErrors,
        read: impl Fn(Option<&Value>) -> Result<Option<String>, FieldProblem>,
    ) -> Option<String> {
        match read(self.0.get(name)) {
            Ok(v) => v,
            Err(FieldProblem::Missing) => {
                if required {
                    errors.add(name, msg::REQUIRED);
                }
                None
            }
            Err(FieldProblem::Message(m)) => {
                errors.add(name, m);
                None
            }
        }
    }
}

enum FieldProblem {
    Missing,
    Message(String),
}

/// DRF CharField.to_internal_value + run_validation for one value.
fn char_value(
    value: Option<&Value>,
    max: Option<usize>,
    check_nul: bool,
) -> Result<Option<String>, FieldProblem> {
    let text = match value {
        None => return Err(FieldProblem::Missing),
        Some(Value::Null) => return Err(FieldProblem::Message(msg::NULL.into())),
        Some(Value::String(s)) => s.clone(),
        // djoser-compat: DRF turns JSON numbers into their Python str().
        Some(Value::Number(n)) => python_number_str(n),
        Some(_) => return Err(FieldProblem::Message(msg::NOT_A_STRING.into())),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldProblem::Message(msg::BLANK.into()));
    }
    let mut problems = Vec::new();
    if let Some(max) = max {
        if trimmed.chars().count() > max {
            problems.push(format!(
                "Ensure this field has no more than {max} characters."
            ));
        }
    }
    if check_nul && trimmed.contains('\0') {
        problems.push(msg::NULL_CHARACTERS.into());
    }
    match problems.len() {
        0 => Ok(Some(trimmed.to_string())),
        // One message per field is what callers report; the rest are rare combinations.
        _ => Err(FieldProblem::Message(problems.remove(0))),
    }
}

fn python_number_str(n: &serde_json::Number) -> String {
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
    let value: Value =
        serde_json::from_str(text).map_err(|e| ApiError::Parse(python_json_message(text, &e)))?;
    match value {
        Value::Object(map) => Ok(Body(map)),
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
    Body(map)
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
        return Err(ApiError::Parse(
            "Invalid boundary in multipart: None".into(),
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
    Ok(Body(map))
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

//! djoser's customisation points as settings: the user fields (`USER_FIELDS`,
//! `USER_EXTRA_FIELDS`, `REQUIRED_FIELDS`), the `PERMISSIONS` keys of the user endpoints
//! (`PERMISSIONS_USER_CREATE`, …) and the access token's extra claims (`ACCESS_TOKEN_CLAIMS`).
//! See docs/customisation.md.

use serde_json::Value;

use super::{LoginField, Reader, Settings};
use crate::domain::profile::{
    Column, FieldKind, UserField, DEFAULT_STRING_LENGTH, MAX_STRING_LENGTH, RESERVED_NAMES,
};

/// The most extra fields USER_EXTRA_FIELDS may declare.
pub const MAX_EXTRA_FIELDS: usize = 32;
/// The longest extra field name.
const MAX_NAME_CHARS: usize = 40;

/// One of djoser's permission classes, as a PERMISSIONS_* value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `anyone`: AllowAny.
    Anyone,
    /// `authenticated`: IsAuthenticated.
    Authenticated,
    /// `current_user_or_admin`: djoser's CurrentUserOrAdmin (signed in; one's own object, or
    /// any for staff).
    CurrentUserOrAdmin,
    /// `staff`: IsAdminUser.
    Staff,
    /// `nobody`: no caller passes (401 for anonymous callers, 403 for signed-in ones).
    Nobody,
}

impl Permission {
    /// The value's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Anyone => "anyone",
            Permission::Authenticated => "authenticated",
            Permission::CurrentUserOrAdmin => "current_user_or_admin",
            Permission::Staff => "staff",
            Permission::Nobody => "nobody",
        }
    }
}

/// djoser's PERMISSIONS keys for the user endpoints, with djoser's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// PERMISSIONS_USER_CREATE (anyone): POST users/.
    pub user_create: Permission,
    /// PERMISSIONS_USER (current_user_or_admin): GET/PUT/PATCH users/me/ and users/{id}/.
    pub user: Permission,
    /// PERMISSIONS_USER_LIST (current_user_or_admin): GET users/.
    pub user_list: Permission,
    /// PERMISSIONS_USER_DELETE (current_user_or_admin): DELETE users/me/ and users/{id}/.
    pub user_delete: Permission,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            user_create: Permission::Anyone,
            user: Permission::CurrentUserOrAdmin,
            user_list: Permission::CurrentUserOrAdmin,
            user_delete: Permission::CurrentUserOrAdmin,
        }
    }
}

/// The user attributes that ACCESS_TOKEN_CLAIMS may name besides the declared fields.
pub const CLAIMABLE: &[&str] = &["username", "email", "is_staff", "first_name", "last_name"];

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// A comma- or space-separated list; empty when unset.
    fn list(&self, key: &str) -> Vec<String> {
        self.raw(key)
            .map(|v| {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn permission(&mut self, key: &str, slot: &mut Permission, allowed: &[Permission]) {
        let Some(v) = self.raw(key) else { return };
        match allowed.iter().find(|p| p.name() == v) {
            Some(p) => *slot = *p,
            None => {
                let names: Vec<&str> = allowed.iter().map(|p| p.name()).collect();
                self.problems.push(format!(
                    "{key}: expected one of {}, got {v:?}",
                    names.join(", ")
                ));
            }
        }
    }

    /// USER_EXTRA_FIELDS: a JSON object of `name: type`, type `string`, `string:N`, `integer`
    /// or `boolean`, in declaration order.
    fn extra_fields(&mut self) -> Vec<UserField> {
        const KEY: &str = "USER_EXTRA_FIELDS";
        let Some(text) = self.raw(KEY).filter(|v| !v.is_empty()) else {
            return Vec::new();
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            self.problems.push(format!(
                "{KEY}: expected a JSON object such as {{\"phone\":\"string:20\",\"age\":\"integer\"}}"
            ));
            return Vec::new();
        };
        if map.len() > MAX_EXTRA_FIELDS {
            self.problems.push(format!(
                "{KEY}: at most {MAX_EXTRA_FIELDS} fields, got {}",
                map.len()
            ));
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, kind) in &map {
            let valid_name = name.len() <= MAX_NAME_CHARS
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_name {
                self.problems.push(format!(
                    "{KEY}: field name {name:?} must be lower-case letters, digits and _, \
                     starting with a letter, at most {MAX_NAME_CHARS} characters"
                ));
                continue;
            }
            if RESERVED_NAMES.contains(&name.as_str()) {
                self.problems.push(format!(
                    "{KEY}: {name:?} is a built-in user attribute or request field"
                ));
                continue;
            }
            let kind = match kind.as_str().map(parse_kind) {
                Some(Some(kind)) => kind,
                _ => {
                    self.problems.push(format!(
                        "{KEY}: field {name:?} has type {kind}; expected \"string\", \
                         \"string:N\" (N from 1 to {MAX_STRING_LENGTH}), \"integer\" or \"boolean\""
                    ));
                    continue;
                }
            };
            out.push(UserField {
                name: name.clone(),
                kind,
                required: false,
                column: Column::Extra,
            });
        }
        out
    }
}

fn parse_kind(text: &str) -> Option<FieldKind> {
    match text {
        "string" => Some(FieldKind::Text {
            max_length: DEFAULT_STRING_LENGTH,
        }),
        "integer" => Some(FieldKind::Integer),
        "boolean" => Some(FieldKind::Boolean),
        other => {
            let n: usize = other.strip_prefix("string:")?.parse().ok()?;
            (1..=MAX_STRING_LENGTH)
                .contains(&n)
                .then_some(FieldKind::Text { max_length: n })
        }
    }
}

/// Reads the customisation keys into `s` (after LOGIN_FIELD is known).
pub(super) fn read<F: Fn(&str) -> Option<String>>(r: &mut Reader<F>, s: &mut Settings) {
    use Permission::*;
    let p = &mut s.permissions;
    r.permission(
        "PERMISSIONS_USER_CREATE",
        &mut p.user_create,
        &[Anyone, Authenticated, Staff, Nobody],
    );
    let object = [CurrentUserOrAdmin, Staff, Nobody];
    r.permission("PERMISSIONS_USER", &mut p.user, &object);
    r.permission("PERMISSIONS_USER_LIST", &mut p.user_list, &object);
    r.permission("PERMISSIONS_USER_DELETE", &mut p.user_delete, &object);

    // USER_FIELDS orders first_name, last_name and the declared fields; a declared field it
    // does not name comes after, in declaration order.
    let mut extras = r.extra_fields();
    let mut fields = Vec::new();
    for name in r.list("USER_FIELDS") {
        if fields.iter().any(|f: &UserField| f.name == name) {
            r.problems
                .push(format!("USER_FIELDS: {name:?} is listed twice"));
            continue;
        }
        let builtin = match name.as_str() {
            "first_name" => Some(Column::FirstName),
            "last_name" => Some(Column::LastName),
            _ => None,
        };
        if let Some(column) = builtin {
            fields.push(UserField {
                name,
                kind: FieldKind::Text {
                    max_length: DEFAULT_STRING_LENGTH,
                },
                required: false,
                column,
            });
        } else if let Some(at) = extras.iter().position(|f| f.name == name) {
            fields.push(extras.remove(at));
        } else {
            r.problems.push(format!(
                "USER_FIELDS: {name:?} is neither first_name, last_name nor a field of \
                 USER_EXTRA_FIELDS"
            ));
        }
    }
    fields.append(&mut extras);

    s.email_required = s.login_field == LoginField::Email;
    for name in r.list("REQUIRED_FIELDS") {
        if name == "email" {
            s.email_required = true;
        } else if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
            field.required = true;
        } else {
            r.problems.push(format!(
                "REQUIRED_FIELDS: {name:?} is not email nor a field of USER_FIELDS or \
                 USER_EXTRA_FIELDS"
            ));
        }
    }
    s.user_fields = fields;

    let mut claims = Vec::new();
    for name in r.list("ACCESS_TOKEN_CLAIMS") {
        let known =
            CLAIMABLE.contains(&name.as_str()) || s.user_fields.iter().any(|f| f.name == name);
        if !known {
            r.problems.push(format!(
                "ACCESS_TOKEN_CLAIMS: {name:?} is not one of {} nor a field of \
                 USER_EXTRA_FIELDS (simplejwt's own claims cannot be replaced)",
                CLAIMABLE.join(", ")
            ));
        } else if !claims.contains(&name) {
            claims.push(name);
        }
    }
    s.access_token_claims = claims;

    r.bool("EMAIL_TEMPLATE_OVERRIDES", &mut s.email_template_overrides);
    r.bool("EMAIL_WEBHOOK_CONTEXT", &mut s.email_webhook_context);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::from;

    fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
        from(pairs).err().expect("a configuration error").problems
    }

    #[test]
    fn defaults_are_djosers() {
        let s = from(&[]).unwrap();
        assert_eq!(s.permissions, Permissions::default());
        assert_eq!(s.permissions.user_create, Permission::Anyone);
        assert_eq!(s.permissions.user_delete, Permission::CurrentUserOrAdmin);
        assert!(s.user_fields.is_empty());
        assert!(!s.email_required);
        assert!(s.access_token_claims.is_empty());
    }

    #[test]
    fn permissions_are_read_and_bad_values_name_the_key() {
        let s = from(&[
            ("PERMISSIONS_USER_CREATE", "nobody"),
            ("PERMISSIONS_USER_LIST", "staff"),
        ])
        .unwrap();
        assert_eq!(s.permissions.user_create, Permission::Nobody);
        assert_eq!(s.permissions.user_list, Permission::Staff);
        assert_eq!(s.permissions.user, Permission::CurrentUserOrAdmin);
        let p = problems(&[
            ("PERMISSIONS_USER_CREATE", "everyone"),
            ("PERMISSIONS_USER_DELETE", "anyone"),
        ]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("PERMISSIONS_USER_CREATE: expected one of anyone,"));
        // Deleting must never be open to anonymous callers.
        assert!(p[1].starts_with("PERMISSIONS_USER_DELETE: expected one of current_user_or_admin"));
    }

    #[test]
    fn fields_are_ordered_typed_and_required_as_declared() {
        let s = from(&[
            (
                "USER_EXTRA_FIELDS",
                r#"{"phone":"string:20","age":"integer","newsletter":"boolean","bio":"string"}"#,
            ),
            ("USER_FIELDS", "first_name, age last_name"),
            ("REQUIRED_FIELDS", "email,age,first_name"),
        ])
        .unwrap();
        let names: Vec<&str> = s.user_fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "first_name",
                "age",
                "last_name",
                "phone",
                "newsletter",
                "bio"
            ]
        );
        assert_eq!(s.user_fields[0].column, Column::FirstName);
        assert_eq!(s.user_fields[1].kind, FieldKind::Integer);
        assert_eq!(s.user_fields[3].kind, FieldKind::Text { max_length: 20 });
        assert_eq!(
            s.user_fields[5].kind,
            FieldKind::Text {
                max_length: DEFAULT_STRING_LENGTH
            }
        );
        let required: Vec<&str> = s
            .user_fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(required, ["first_name", "age"]);
        assert!(s.email_required);
    }

    #[test]
    fn login_by_email_makes_the_email_required() {
        assert!(from(&[("LOGIN_FIELD", "email")]).unwrap().email_required);
    }

    #[test]
    fn bad_field_declarations_name_the_key() {
        let p = problems(&[("USER_EXTRA_FIELDS", "[1]")]);
        assert!(
            p[0].starts_with("USER_EXTRA_FIELDS: expected a JSON object"),
            "{p:?}"
        );
        let p = problems(&[(
            "USER_EXTRA_FIELDS",
            r#"{"Phone":"string","is_staff":"boolean","x":"float","y":"string:0","z":"string:10001"}"#,
        )]);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p.iter().all(|m| m.starts_with("USER_EXTRA_FIELDS: ")));
        let p = problems(&[("USER_FIELDS", "nickname"), ("REQUIRED_FIELDS", "phone")]);
        assert!(p[0].starts_with("USER_FIELDS: \"nickname\""), "{p:?}");
        assert!(p[1].starts_with("REQUIRED_FIELDS: \"phone\""), "{p:?}");
        let p = problems(&[("USER_FIELDS", "first_name first_name")]);
        assert!(p[0].contains("listed twice"));
    }

    #[test]
    fn claims_name_user_attributes_or_declared_fields_only() {
        let s = from(&[
            ("USER_EXTRA_FIELDS", r#"{"plan":"string:10"}"#),
            ("ACCESS_TOKEN_CLAIMS", "username,is_staff,plan,username"),
        ])
        .unwrap();
        assert_eq!(s.access_token_claims, ["username", "is_staff", "plan"]);
        for bad in [
            "user_id",
            "exp",
            "jti",
            "token_type",
            "sid",
            "password",
            "plan",
        ] {
            let p = problems(&[("ACCESS_TOKEN_CLAIMS", bad)]);
            assert!(p[0].starts_with("ACCESS_TOKEN_CLAIMS: "), "{bad}: {p:?}");
        }
    }
}

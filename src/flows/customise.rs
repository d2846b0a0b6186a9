//! The rules behind djoser's customisation points: reading the configured user fields from a
//! request, the PERMISSIONS_* checks of the user endpoints, and the access token's extra
//! claims. See docs/customisation.md.

use serde_json::{Map, Value};

use crate::config::{Permission, Settings};
use crate::domain::profile::Column;
use crate::domain::user::{ProfileChange, User};
use crate::error::FieldErrors;
use crate::flows::{Checked, FlowError};
use crate::messages as msg;

/// Reads the configured user fields from a body (`raw` looks a field up) in USER_FIELDS order.
/// `needed`: absent required fields are errors (registration and PUT; not PATCH).
/// `surrogate` is the body's lone-surrogate check of a text value (`Body::surrogate_message`).
pub fn read_profile<'b>(
    settings: &Settings,
    raw: impl Fn(&str) -> Option<&'b Value>,
    surrogate: &dyn Fn(&str) -> Option<String>,
    needed: bool,
) -> Checked<ProfileChange> {
    let mut errors = FieldErrors::new();
    let mut change = ProfileChange::default();
    for field in &settings.user_fields {
        match field.read(raw(&field.name), needed, surrogate) {
            Ok(None) => {}
            Ok(Some(value)) => match (field.column, value) {
                (Column::FirstName, Value::String(s)) => change.first_name = Some(s),
                (Column::LastName, Value::String(s)) => change.last_name = Some(s),
                (Column::Extra, value) => {
                    change.extra.insert(field.name.clone(), value);
                }
                // A text field always reads as a string.
                (_, _) => {}
            },
            Err(problems) => errors.extend(&field.name, problems),
        }
    }
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(errors)
    }
}

/// The model's e-mail field when REQUIRED_FIELDS (or LOGIN_FIELD=email) requires it: absent is
/// "This field is required." (only when `needed`), blank "This field may not be blank.".
/// Otherwise absent is a blank address, as djoser's default user model has it.
pub fn email_field(
    settings: &Settings,
    email: Checked<Option<String>>,
    needed: bool,
) -> Checked<Option<String>> {
    let email = email?;
    if !settings.email_required {
        return Ok(email);
    }
    let problem = match email.as_deref() {
        None if needed => msg::REQUIRED,
        Some("") => msg::BLANK,
        _ => return Ok(email),
    };
    let mut errors = FieldErrors::new();
    errors.add("email", problem);
    Err(errors)
}

/// Which object a permission is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// No object (creating, listing): only the view-level rule.
    None,
    /// The user object with this id.
    User(i64),
}

/// DRF's `check_permissions` (and, for an object, `check_object_permissions`) for one of the
/// PERMISSIONS_* values: an anonymous caller who fails is 401 (DRF's NotAuthenticated, as
/// every route here authenticates), a signed-in one 403.
pub fn permit(
    permission: Permission,
    caller: Option<&User>,
    object: Object,
) -> Result<(), FlowError> {
    let allowed = match (permission, caller) {
        (Permission::Anyone, _) => return Ok(()),
        (_, None) => return Err(FlowError::NotAuthenticated),
        (Permission::Authenticated, Some(_)) => true,
        (Permission::Staff, Some(me)) => me.is_staff,
        (Permission::Nobody, Some(_)) => false,
        (Permission::CurrentUserOrAdmin, Some(me)) => match object {
            Object::None => true,
            Object::User(id) => me.is_staff || me.id == id,
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(FlowError::PermissionDenied)
    }
}

/// The ACCESS_TOKEN_CLAIMS of `user`, as the access token carries them (simplejwt's
/// `get_token` override adds `token["name"] = user.name`).
pub fn user_claims(settings: &Settings, user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    for name in &settings.access_token_claims {
        let value = match name.as_str() {
            "username" => Value::String(user.username.clone()),
            "email" => Value::String(user.email.clone()),
            "is_staff" => Value::Bool(user.is_staff),
            "first_name" => Value::String(user.first_name.clone()),
            "last_name" => Value::String(user.last_name.clone()),
            other => match settings.user_fields.iter().find(|f| f.name == other) {
                Some(field) => user.field_value(field),
                None => continue,
            },
        };
        out.insert(name.clone(), value);
    }
    out
}

/// Writes `user`'s claims into an access token's extra claims, replacing any copied from the
/// refresh token, so every access token shows the user as they are when it is issued.
pub fn add_user_claims(settings: &Settings, user: &User, extra: &mut Map<String, Value>) {
    for (name, value) in user_claims(settings, user) {
        extra.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Settings parsed from `KEY, value` pairs.
    pub(super) fn settings(pairs: &[(&str, &str)]) -> Settings {
        let map: std::collections::HashMap<_, _> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    fn fields() -> Settings {
        settings(&[
            (
                "USER_EXTRA_FIELDS",
                r#"{"phone":"string:5","age":"integer","newsletter":"boolean"}"#,
            ),
            ("USER_FIELDS", "first_name"),
            ("REQUIRED_FIELDS", "age"),
        ])
    }

    #[test]
    fn profile_fields_are_read_in_order_with_every_error() {
        let s = fields();
        let body =
            json!({"first_name": " Ada ", "phone": "123456", "age": "x", "newsletter": "yes"});
        let err = read_profile(&s, |n| body.get(n), &|_| None, true).unwrap_err();
        let mut expected = FieldErrors::new();
        expected.add("phone", "Ensure this field has no more than 5 characters.");
        expected.add("age", "A valid integer is required.");
        assert_eq!(err, expected);

        let body = json!({"first_name": " Ada ", "age": "41", "newsletter": "yes"});
        let change = read_profile(&s, |n| body.get(n), &|_| None, true).unwrap();
        assert_eq!(change.first_name.as_deref(), Some("Ada"));
        assert_eq!(change.extra.get("age"), Some(&json!(41)));
        assert_eq!(change.extra.get("newsletter"), Some(&json!(true)));
        assert!(!change.extra.contains_key("phone"));
    }

    #[test]
    fn required_fields_are_required_only_when_needed() {
        let s = fields();
        let body = json!({});
        let err = read_profile(&s, |n| body.get(n), &|_| None, true).unwrap_err();
        let mut expected = FieldErrors::new();
        expected.add("age", msg::REQUIRED);
        assert_eq!(err, expected);
        assert!(read_profile(&s, |n| body.get(n), &|_| None, false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_required_email_is_required_and_not_blank() {
        let s = settings(&[("LOGIN_FIELD", "email")]);
        let one = |e: &str| {
            let mut x = FieldErrors::new();
            x.add("email", e);
            x
        };
        assert_eq!(email_field(&s, Ok(None), true), Err(one(msg::REQUIRED)));
        assert_eq!(
            email_field(&s, Ok(Some(String::new())), true),
            Err(one(msg::BLANK))
        );
        assert_eq!(
            email_field(&s, Ok(Some(String::new())), false),
            Err(one(msg::BLANK))
        );
        assert_eq!(email_field(&s, Ok(None), false), Ok(None));
        assert_eq!(
            email_field(&s, Ok(Some("a@b.example".into())), true),
            Ok(Some("a@b.example".into()))
        );
        let default = Settings::default();
        assert_eq!(email_field(&default, Ok(None), true), Ok(None));
        assert_eq!(
            email_field(&default, Ok(Some(String::new())), true),
            Ok(Some(String::new()))
        );
    }

    #[test]
    fn permissions_follow_drf_401_then_403() {
        let me = User::for_tests(2, "me", "", "h");
        let mut staff = User::for_tests(3, "boss", "", "h");
        staff.is_staff = true;
        use Permission::*;
        let cases = [
            (Anyone, None, Object::None, Ok(())),
            (
                Authenticated,
                None,
                Object::None,
                Err(FlowError::NotAuthenticated),
            ),
            (Authenticated, Some(&me), Object::None, Ok(())),
            (Staff, None, Object::None, Err(FlowError::NotAuthenticated)),
            (
                Staff,
                Some(&me),
                Object::None,
                Err(FlowError::PermissionDenied),
            ),
            (Staff, Some(&staff), Object::None, Ok(())),
            (
                Staff,
                Some(&me),
                Object::User(2),
                Err(FlowError::PermissionDenied),
            ),
            (Nobody, None, Object::None, Err(FlowError::NotAuthenticated)),
            (
                Nobody,
                Some(&staff),
                Object::None,
                Err(FlowError::PermissionDenied),
            ),
            (
                CurrentUserOrAdmin,
                None,
                Object::User(2),
                Err(FlowError::NotAuthenticated),
            ),
            (CurrentUserOrAdmin, Some(&me), Object::User(2), Ok(())),
            (
                CurrentUserOrAdmin,
                Some(&me),
                Object::User(3),
                Err(FlowError::PermissionDenied),
            ),
            (CurrentUserOrAdmin, Some(&staff), Object::User(2), Ok(())),
            (CurrentUserOrAdmin, Some(&me), Object::None, Ok(())),
        ];
        for (permission, caller, object, expected) in cases {
            assert_eq!(
                permit(permission, caller, object),
                expected,
                "{permission:?} {:?} {object:?}",
                caller.map(|u| u.id)
            );
        }
    }

    #[test]
    fn claims_are_the_users_current_values_in_the_configured_order() {
        let s = settings(&[
            (
                "USER_EXTRA_FIELDS",
                r#"{"plan":"string:10","age":"integer"}"#,
            ),
            ("ACCESS_TOKEN_CLAIMS", "is_staff,username,plan,age,email"),
        ]);
        let mut user = User::for_tests(5, "alice", "a@example.com", "h");
        user.extra.insert("plan".into(), json!("pro"));
        let claims = user_claims(&s, &user);
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"is_staff":false,"username":"alice","plan":"pro","age":null,"email":"a@example.com"}"#
        );
        let mut extra = Map::new();
        extra.insert("is_staff".into(), json!(true));
        extra.insert("sid".into(), json!("f"));
        add_user_claims(&s, &user, &mut extra);
        assert_eq!(extra.get("is_staff"), Some(&json!(false)));
        assert_eq!(extra.get("sid"), Some(&json!("f")));
        assert!(user_claims(&Settings::default(), &user).is_empty());
    }
}

/// The customisation points through the flows, against the memory store.
#[cfg(test)]
mod flow_tests {
    use serde_json::json;

    use crate::config::Settings;
    use crate::domain::user::{ProfileChange, User};
    use crate::error::FieldErrors;
    use crate::flows::account::update_with_profile;
    use crate::flows::registration::{register, RegisterInput};
    use crate::flows::session::{jwt_create, jwt_refresh};
    use crate::flows::testing::{cx, settings, user_with_password, NOW};
    use crate::flows::FlowError;
    use crate::messages as msg;
    use crate::storage::memory::{block_on, MemoryStore};
    use crate::tokens::jwt;

    /// The flow-test settings with the customisation keys of `pairs` on top.
    fn custom(pairs: &[(&str, &str)]) -> Settings {
        let parsed = super::tests::settings(pairs);
        Settings {
            user_fields: parsed.user_fields,
            email_required: parsed.email_required,
            login_field: parsed.login_field,
            permissions: parsed.permissions,
            access_token_claims: parsed.access_token_claims,
            ..settings()
        }
    }

    fn fields() -> Settings {
        custom(&[
            (
                "USER_EXTRA_FIELDS",
                r#"{"phone":"string:20","age":"integer"}"#,
            ),
            ("USER_FIELDS", "first_name,last_name"),
            ("REQUIRED_FIELDS", "age"),
        ])
    }

    fn input(s: &Settings, body: serde_json::Value) -> RegisterInput {
        let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
        RegisterInput {
            raw_email: text("email"),
            email: Ok(text("email")),
            profile: super::read_profile(s, |n| body.get(n), &|_| None, true),
            username: Ok(text("username").unwrap_or_default()),
            password: Ok("correct-horse-9".into()),
            re_password: Ok(None),
        }
    }

    #[test]
    fn registration_stores_the_fields_and_shows_them_in_serializer_order() {
        let s = fields();
        let store = MemoryStore::new();
        let body = json!({"email": "a@example.com", "username": "alice", "first_name": "Ada",
                          "age": "36", "phone": "+31 6 1234"});
        let done = block_on(register(&cx(&s, &store), input(&s, body))).unwrap();
        let stored = store.user(done.user.id).unwrap();
        assert_eq!(stored.first_name, "Ada");
        assert_eq!(stored.extra.get("age"), Some(&json!(36)));
        assert_eq!(
            serde_json::to_string(&stored.created_representation(&s)).unwrap(),
            r#"{"email":"a@example.com","first_name":"Ada","last_name":"","phone":"+31 6 1234","age":36,"username":"alice","id":1}"#
        );
        assert_eq!(
            serde_json::to_string(&stored.representation(&s)).unwrap(),
            r#"{"email":"a@example.com","first_name":"Ada","last_name":"","phone":"+31 6 1234","age":36,"id":1,"username":"alice"}"#
        );
    }

    #[test]
    fn field_errors_come_between_email_and_username_and_nothing_is_stored() {
        let s = fields();
        let store = MemoryStore::new();
        store.put_user(User::for_tests(9, "taken", "t@example.com", "h"));
        let body = json!({"email": "t@example.com", "username": "taken", "phone": []});
        let err = block_on(register(&cx(&s, &store), input(&s, body))).unwrap_err();
        let mut expected = FieldErrors::new();
        expected.add("email", msg::EMAIL_TAKEN);
        expected.add("phone", msg::NOT_A_STRING);
        expected.add("age", msg::REQUIRED);
        expected.add("username", msg::USERNAME_TAKEN);
        assert_eq!(err, FlowError::Fields(expected));
        assert_eq!(store.user(10), None);
    }

    #[test]
    fn the_password_is_compared_with_the_names_sent_at_registration() {
        let s = fields();
        let store = MemoryStore::new();
        let mut i = input(
            &s,
            json!({"email": "", "username": "bob", "first_name": "Correcthorse", "age": 1}),
        );
        i.password = Ok("correcthorse".into());
        let err = block_on(register(&cx(&s, &store), i)).unwrap_err();
        let FlowError::Fields(errors) = err else {
            panic!("{err:?}")
        };
        assert!(errors.has("password"));
    }

    #[test]
    fn login_by_email_needs_an_email_at_registration() {
        let s = custom(&[("LOGIN_FIELD", "email")]);
        let store = MemoryStore::new();
        for (body, message) in [
            (json!({"username": "a"}), msg::REQUIRED),
            (json!({"username": "a", "email": ""}), msg::BLANK),
        ] {
            let err = block_on(register(&cx(&s, &store), input(&s, body))).unwrap_err();
            assert_eq!(err, FlowError::field("email", message));
        }
        assert_eq!(store.user(1), None);
        // Default settings: an absent e-mail is a blank one, as djoser's default user has it.
        let d = settings();
        let done = block_on(register(
            &cx(&d, &store),
            input(&d, json!({"username": "a"})),
        ));
        assert_eq!(done.unwrap().user.email, "");
    }

    #[test]
    fn an_update_merges_fields_patch_skips_required_and_errors_change_nothing() {
        let s = fields();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "a@example.com", "pw-12345678");
        let patch = json!({"phone": "123", "last_name": "Lovelace"});
        let change = super::read_profile(&s, |n| patch.get(n), &|_| None, false);
        let done = block_on(update_with_profile(
            &cx(&s, &store),
            me.clone(),
            Ok(None),
            change,
            false,
        ))
        .unwrap();
        assert_eq!(done.user.last_name, "Lovelace");
        assert_eq!(
            store.user(1).unwrap().extra.get("phone"),
            Some(&json!("123"))
        );

        // PUT without the required field: refused, nothing written.
        let put = json!({"phone": "999"});
        let change = super::read_profile(&s, |n| put.get(n), &|_| None, true);
        let err = block_on(update_with_profile(
            &cx(&s, &store),
            store.user(1).unwrap(),
            Ok(None),
            change,
            true,
        ))
        .unwrap_err();
        assert_eq!(err, FlowError::field("age", msg::REQUIRED));
        assert_eq!(
            store.user(1).unwrap().extra.get("phone"),
            Some(&json!("123"))
        );

        // A taken e-mail refuses the whole update.
        store.put_user(User::for_tests(2, "bob", "b@example.com", "h"));
        let change = Ok(ProfileChange {
            last_name: Some("X".into()),
            ..ProfileChange::default()
        });
        let err = block_on(update_with_profile(
            &cx(&s, &store),
            store.user(1).unwrap(),
            Ok(Some("b@example.com".into())),
            change,
            false,
        ))
        .unwrap_err();
        assert_eq!(err, FlowError::field("email", msg::EMAIL_TAKEN));
        assert_eq!(store.user(1).unwrap().last_name, "Lovelace");
    }

    #[test]
    fn a_required_email_cannot_be_blanked_by_an_update() {
        let s = custom(&[("LOGIN_FIELD", "email")]);
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "a@example.com", "pw-12345678");
        let update = |email: Option<&str>, full: bool| {
            block_on(update_with_profile(
                &cx(&s, &store),
                me.clone(),
                Ok(email.map(str::to_string)),
                Ok(ProfileChange::default()),
                full,
            ))
        };
        assert_eq!(
            update(Some(""), false).unwrap_err(),
            FlowError::field("email", msg::BLANK)
        );
        // PUT is a full update: the required e-mail must be sent; PATCH may leave it out.
        assert_eq!(
            update(None, true).unwrap_err(),
            FlowError::field("email", msg::REQUIRED)
        );
        assert!(update(None, false).is_ok());
        assert_eq!(store.user(1).unwrap().email, "a@example.com");
    }

    #[test]
    fn claims_are_in_the_access_token_only_and_follow_the_user_on_refresh() {
        let s = custom(&[
            ("USER_EXTRA_FIELDS", r#"{"plan":"string:10"}"#),
            ("ACCESS_TOKEN_CLAIMS", "username,is_staff,plan"),
        ]);
        let store = MemoryStore::new();
        let mut staff = user_with_password(&store, &s, 1, "alice", "a@example.com", "pw-12345678");
        staff.is_staff = true;
        staff.extra.insert("plan".into(), json!("pro"));
        store.put_user(staff.clone());
        let key = s.jwt_keys().unwrap();
        let pair = block_on(jwt_create(&cx(&s, &store), "alice", "pw-12345678"))
            .unwrap()
            .open();
        let access = jwt::decode(&key, &pair.access, NOW, 0).unwrap();
        assert_eq!(access.extra.get("is_staff"), Some(&json!(true)));
        assert_eq!(access.extra.get("username"), Some(&json!("alice")));
        assert_eq!(access.extra.get("plan"), Some(&json!("pro")));
        assert_eq!(access.user_id.as_deref(), Some("1"));
        let refresh = jwt::decode(&key, &pair.refresh, NOW, 0).unwrap();
        assert!(refresh.extra.get("is_staff").is_none());

        // Demoted: the next access token says so.
        staff.is_staff = false;
        staff.extra.remove("plan");
        store.put_user(staff);
        let next = block_on(jwt_refresh(&cx(&s, &store), &pair.refresh)).unwrap();
        let access = jwt::decode(&key, &next.access, NOW, 0).unwrap();
        assert_eq!(access.extra.get("is_staff"), Some(&json!(false)));
        assert_eq!(access.extra.get("plan"), Some(&json!("")));
        assert_eq!(access.token_type.as_deref(), Some("access"));
    }

    #[test]
    fn without_claims_settings_tokens_carry_no_user_attributes() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "pw-12345678");
        let pair = block_on(jwt_create(&cx(&s, &store), "alice", "pw-12345678"))
            .unwrap()
            .open();
        let access = jwt::decode(&s.jwt_keys().unwrap(), &pair.access, NOW, 0).unwrap();
        assert!(access.extra.get("username").is_none());
        assert!(access.extra.get("is_staff").is_none());
    }
}

//! `npm run admin` and `npm run createsuperuser`: the account operations Django's admin and
//! `manage.py` gave a djoser operator, as SQL for `wrangler d1 execute`.

use super::quote;
use crate::domain::email::{email_errors, normalize_email};
use crate::domain::event::EventKind;
use crate::domain::password::{validate_password, SimilarityAttributes};
use crate::domain::user::email_key;
use crate::domain::username::{normalize_username, username_errors};
use crate::tokens::password_hash::{hash_password, HashCost};

/// An account operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Operator-disabled: inactive, not waiting for activation (a link cannot re-enable it),
    /// every session ended.
    Disable,
    /// Active again (whatever kept it inactive).
    Enable,
    /// Gone, with its DRF token.
    Delete,
    /// Staff (`on`) or not.
    SetStaff(bool),
    /// Signed out everywhere: every JWT refused and the DRF token deleted.
    Logout,
}

impl Verb {
    /// The verb named on the command line (`set-staff` takes `--off` to clear the flag).
    pub fn parse(name: &str, off: bool) -> Option<Verb> {
        match name {
            "disable" => Some(Verb::Disable),
            "enable" => Some(Verb::Enable),
            "delete" => Some(Verb::Delete),
            "set-staff" => Some(Verb::SetStaff(!off)),
            "logout" => Some(Verb::Logout),
            _ => None,
        }
    }
}

/// The query that finds the user an operator names (the username, exactly as stored): the first
/// statement of every operation, so its answer says whether the user existed, and as what.
pub fn find_user_sql(username: &str) -> String {
    format!(
        "SELECT id, username, email, is_active, activation_pending, is_staff FROM users \
         WHERE username = {};",
        quote(username)
    )
}

/// Ends every session of the user at `now`: tokens issued before `now + 1` are refused. One
/// second past `now`, so a token issued in this very second dies too (the Worker compares whole
/// seconds and keeps tokens issued in the revocation's second); a new login works a second later.
fn end_sessions(who: &str, now: i64) -> String {
    format!(
        "UPDATE users SET tokens_valid_after = MAX({}, tokens_valid_after + 1) WHERE {who};",
        now.saturating_add(1)
    )
}

/// The statements of `verb` on the user named `username` at `now` (unix seconds), after the
/// look-up of [`find_user_sql`]; one `wrangler d1 execute` runs them all. A name that matches no
/// user changes nothing.
pub fn verb_sql(verb: Verb, username: &str, now: i64) -> String {
    let by_name = format!("username = {}", quote(username));
    let by_id = format!("user_id = (SELECT id FROM users WHERE {by_name})");
    let action = match verb {
        Verb::Disable => format!(
            "UPDATE users SET is_active = 0, activation_pending = 0 WHERE {by_name};\n{}\n\
             INSERT INTO events (at, user_id, kind, session, ip, user_agent, country) \
             SELECT {now}, id, {}, NULL, '', 'npm run admin', NULL FROM users WHERE {by_name};",
            end_sessions(&by_name, now),
            quote(EventKind::AccountDisabled.name())
        ),
        Verb::Enable => {
            format!("UPDATE users SET is_active = 1, activation_pending = 0 WHERE {by_name};")
        }
        Verb::Delete => {
            format!("DELETE FROM auth_tokens WHERE {by_id};\nDELETE FROM users WHERE {by_name};")
        }
        Verb::SetStaff(on) => format!(
            "UPDATE users SET is_staff = {} WHERE {by_name};",
            i64::from(on)
        ),
        Verb::Logout => format!(
            "{}\nDELETE FROM auth_tokens WHERE {by_id};",
            end_sessions(&by_name, now)
        ),
    };
    format!("{}\n{action}", find_user_sql(username))
}

/// What `createsuperuser` was given.
#[derive(Debug, Clone)]
pub struct NewSuperuser<'a> {
    /// The username, as typed.
    pub username: &'a str,
    /// The e-mail, as typed ("" for none).
    pub email: &'a str,
    /// The password.
    pub password: &'a str,
}

/// A superuser's INSERT, after the checks registration makes (username, e-mail, Django's four
/// password validators): every problem found, or the statement. The conflict checks (taken name
/// or address) are the caller's, against D1.
pub fn createsuperuser_sql(
    new: &NewSuperuser<'_>,
    cost: HashCost,
    salt: &[u8; 16],
    now: i64,
) -> Result<String, Vec<String>> {
    let username = normalize_username(new.username);
    let email = normalize_email(new.email);
    let mut problems: Vec<String> = Vec::new();
    for e in username_errors(&username) {
        problems.push(format!("username: {e}"));
    }
    if !email.is_empty() {
        for e in email_errors(&email, Some(254)) {
            problems.push(format!("email: {e}"));
        }
    }
    let attributes = SimilarityAttributes {
        username: &username,
        email: &email,
        ..SimilarityAttributes::default()
    };
    for e in validate_password(new.password, Some(&attributes)) {
        problems.push(format!("password: {e}"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let hash = hash_password(new.password, cost, salt).map_err(|e| vec![e.to_string()])?;
    Ok(format!(
        "INSERT INTO users (username, email, email_key, password, is_active, is_staff, \
         date_joined, activation_pending) VALUES ({}, {}, {}, {}, 1, 1, {now}, 0);",
        quote(&username),
        quote(&email),
        quote(&email_key(&email)),
        quote(&hash)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::password_hash::CHEAP;

    #[test]
    fn verbs_name_the_user_by_a_quoted_username_and_look_it_up_first() {
        let sql = verb_sql(Verb::Logout, "o'hara", 100);
        assert!(sql.starts_with("SELECT id, username"), "{sql}");
        assert!(sql.contains("username = 'o''hara'"), "{sql}");
        assert!(sql.contains("MAX(101, tokens_valid_after + 1)"), "{sql}");
        assert!(sql.contains("DELETE FROM auth_tokens"), "{sql}");
        let disable = verb_sql(Verb::Disable, "bob", 100);
        assert!(disable.contains("is_active = 0, activation_pending = 0"));
        assert!(disable.contains("'account_disabled'"));
        assert!(verb_sql(Verb::SetStaff(false), "bob", 1).contains("is_staff = 0"));
        assert_eq!(Verb::parse("set-staff", true), Some(Verb::SetStaff(false)));
        assert_eq!(Verb::parse("nope", false), None);
    }

    #[test]
    fn createsuperuser_runs_the_registration_checks() {
        let weak = NewSuperuser {
            username: "admin",
            email: "admin@example.com",
            password: "admin123",
        };
        let problems = createsuperuser_sql(&weak, CHEAP, &[1; 16], 5).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("too common")),
            "{problems:?}"
        );
        let bad_name = NewSuperuser {
            username: "no spaces",
            email: "",
            password: "a-long-unusual-pass-9",
        };
        assert!(createsuperuser_sql(&bad_name, CHEAP, &[1; 16], 5)
            .unwrap_err()
            .iter()
            .any(|p| p.starts_with("username:")));
        let good = NewSuperuser {
            username: "admin",
            email: "Admin@EXAMPLE.com",
            password: "a-long-unusual-pass-9",
        };
        let sql = createsuperuser_sql(&good, CHEAP, &[1; 16], 5).unwrap();
        assert!(
            sql.contains("'Admin@example.com', 'admin@example.com', '$argon2id$"),
            "{sql}"
        );
        assert!(sql.contains(", 1, 1, 5, 0);"), "{sql}");
    }
}

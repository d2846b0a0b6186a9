//! `npm run check`: the configuration of one environment, validated offline before it is
//! deployed (Django's `manage.py check`). Host-only (never in the Worker).
//!
//! Values are parsed by the Worker's own `Settings::from_lookup`, so a value that passes here
//! passes at isolate start. On top of that: unknown keys (with the nearest known one), the
//! secrets the configuration needs (by name: their values live in Cloudflare), the bindings the
//! backends need, and, for production, values that only make sense on a developer's machine.
//!
//! - production: wrangler.toml `[vars]` plus the secrets named with `--secrets` (`wrangler
//!   secret list` prints them; it needs a login, so the check takes the names instead).
//! - local: `[vars]` overlaid by `.dev.vars`, whose keys are the local secrets too.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{EmailBackend, Settings, KNOWN_KEYS, MIN_SIGNING_KEY_BYTES, SECRET_KEYS};

/// Which environment is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The deployed Worker: `[vars]` and `wrangler secret put`.
    Production,
    /// `npm run dev`: `[vars]` overlaid by `.dev.vars`.
    Local,
}

/// What wrangler.toml declares that the check looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `[vars]`, each value as the Worker sees it (`Err` holds the TOML type of a non-string).
    pub vars: BTreeMap<String, Result<String, String>>,
    /// `[[d1_databases]]`: binding and database_id.
    pub d1: Vec<(String, String)>,
    /// `[[kv_namespaces]]`: binding and id.
    pub kv: Vec<(String, String)>,
    /// `[[send_email]]` names.
    pub send_email: Vec<String>,
    /// `[observability] enabled`.
    pub observability: bool,
}

/// The outcome: any error fails the check (non-zero exit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems that would break the Worker or are unsafe for the target.
    pub errors: Vec<String>,
    /// Worth a look, but deployable.
    pub warnings: Vec<String>,
}

fn table_str(table: &toml::Table, key: &str) -> String {
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn array_of_tables<'a>(doc: &'a toml::Table, key: &str) -> impl Iterator<Item = &'a toml::Table> {
    doc.get(key)
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
}

impl Deployment {
    /// Reads wrangler.toml's text.
    pub fn from_wrangler_toml(text: &str) -> Result<Deployment, String> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| format!("wrangler.toml: {e}"))?;
        let vars = doc
            .get("vars")
            .and_then(toml::Value::as_table)
            .map(|t| {
                t.iter()
                    .map(|(k, v)| {
                        let value = match v {
                            toml::Value::String(s) => Ok(s.clone()),
                            other => Err(other.type_str().to_string()),
                        };
                        (k.clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Deployment {
            vars,
            d1: array_of_tables(&doc, "d1_databases")
                .map(|t| (table_str(t, "binding"), table_str(t, "database_id")))
                .collect(),
            kv: array_of_tables(&doc, "kv_namespaces")
                .map(|t| (table_str(t, "binding"), table_str(t, "id")))
                .collect(),
            send_email: array_of_tables(&doc, "send_email")
                .map(|t| table_str(t, "name"))
                .collect(),
            observability: doc
                .get("observability")
                .and_then(toml::Value::as_table)
                .and_then(|t| t.get("enabled"))
                .and_then(toml::Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// `.dev.vars` (dotenv): `KEY=value` lines, `#` comments, optional surrounding quotes.
pub fn parse_dev_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|(a, b)| v.strip_prefix(*a)?.strip_suffix(*b))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// Levenshtein distance (bytes; keys are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known key nearest to `key`, when it is near enough to be a typo.
pub fn suggestion(key: &str) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    KNOWN_KEYS
        .iter()
        .map(|k| (distance(&upper, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3.max(upper.len() / 4))
        .map(|(_, k)| k)
}

fn unknown_key(key: &str, place: &str) -> String {
    match suggestion(key) {
        Some(near) => format!("{key}: unknown setting in {place}; did you mean {near}?"),
        None => format!("{key}: unknown setting in {place}"),
    }
}

/// A stand-in value for a secret known only by name, so the rest parses as the Worker would
/// parse it with the real one (whose value the check cannot see).
fn stand_in(key: &str, algorithm: Option<&str>) -> String {
    match key {
        "SIGNING_KEY" | "SIGNING_KEY_FALLBACKS" => "s".repeat(MIN_SIGNING_KEY_BYTES),
        "JWT_PRIVATE_JWKS" => stand_in_jwks(algorithm.unwrap_or("EdDSA")),
        _ => "set".to_string(),
    }
}

/// A one-key JWT_PRIVATE_JWKS of `algorithm` from a fixed seed: only ever parsed, never used.
fn stand_in_jwks(algorithm: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let seed = [7u8; 32];
    let key = if algorithm == "ES256" {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = p256::SecretKey::from_slice(&seed)
            .map(|k| k.public_key().to_encoded_point(false))
            .ok();
        let coordinate = |c: Option<&[u8]>| c.map(b64).unwrap_or_default();
        serde_json::json!({
            "kty": "EC", "crv": "P-256", "state": "active", "d": b64(&seed),
            "x": coordinate(point.as_ref().and_then(|p| p.x()).map(|x| x.as_slice())),
            "y": coordinate(point.as_ref().and_then(|p| p.y()).map(|y| y.as_slice())),
        })
    } else {
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "state": "active", "d": b64(&seed),
            "x": b64(public.as_bytes()),
        })
    };
    serde_json::json!({ "keys": [key] }).to_string()
}

/// True for a host that is a placeholder or only reachable from the developer's machine.
fn is_placeholder_host(host: &str) -> bool {
    let host = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let local = host == "localhost"
        || host.ends_with(".localhost")
        || host == "127.0.0.1"
        || host == "[::1]"
        || host.ends_with(".test")
        || host.ends_with(".invalid");
    let example = ["example.com", "example.org", "example.net"]
        .iter()
        .any(|e| host == *e || host.ends_with(&format!(".{e}")));
    local || example
}

fn all_zero(id: &str) -> bool {
    id.chars().all(|c| c == '0' || c == '-')
}

/// Checks one environment; `dev_vars` is used for `Local` only, `secrets` for `Production`.
pub fn check(
    target: Target,
    deployment: &Deployment,
    dev_vars: &BTreeMap<String, String>,
    secrets: &BTreeSet<String>,
) -> Report {
    let mut report = Report::default();
    let errors = &mut report.errors;

    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in &deployment.vars {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            errors.push(unknown_key(key, "[vars]"));
        }
        match value {
            Ok(v) => {
                values.insert(key.clone(), v.clone());
            }
            Err(kind) => errors.push(format!(
                "{key}: a {kind} in [vars]; write it as a string (\"…\"): every setting is read \
                 as text"
            )),
        }
        if target == Target::Production && SECRET_KEYS.contains(&key.as_str()) {
            errors.push(format!(
                "{key}: a secret in [vars], which is committed; remove it and run `wrangler \
                 secret put {key}`"
            ));
        }
    }
    let present: BTreeSet<String> = match target {
        Target::Production => {
            for name in secrets {
                if !KNOWN_KEYS.contains(&name.as_str()) {
                    errors.push(unknown_key(name, "--secrets"));
                }
                let algorithm = values.get("ALGORITHM").cloned();
                values
                    .entry(name.clone())
                    .or_insert_with(|| stand_in(name, algorithm.as_deref()));
            }
            secrets.clone()
        }
        Target::Local => {
            for (key, value) in dev_vars {
                if !KNOWN_KEYS.contains(&key.as_str()) {
                    errors.push(unknown_key(key, ".dev.vars"));
                }
                values.insert(key.clone(), value.clone());
            }
            dev_vars.keys().cloned().collect()
        }
    };

    let settings = match Settings::from_lookup(|key| values.get(key).cloned()) {
        Ok(s) => s,
        Err(e) => {
            errors.extend(e.problems);
            return report;
        }
    };
    for name in settings.required_secrets() {
        if !present.contains(name) {
            errors.push(match target {
                Target::Production => format!(
                    "{name}: secret not set; run `wrangler secret put {name}` and name it in \
                     --secrets"
                ),
                Target::Local => format!(
                    "{name}: not in .dev.vars; `npm run dev` writes a SIGNING_KEY there, other \
                     secrets you add by hand"
                ),
            });
        }
    }

    let has = |list: &[(String, String)], name: &str| list.iter().any(|(b, _)| b == name);
    if !has(&deployment.d1, "DB") {
        errors.push("DB: no [[d1_databases]] binding named DB (the users database)".into());
    }
    if !has(&deployment.kv, "AUTH_KV") {
        errors.push("AUTH_KV: no [[kv_namespaces]] binding named AUTH_KV (refresh tokens)".into());
    }
    if settings.email_backend == EmailBackend::Cloudflare
        && !deployment.send_email.iter().any(|n| n == "EMAIL")
    {
        errors.push("EMAIL_BACKEND: cloudflare needs a [[send_email]] binding named EMAIL".into());
    }
    if settings.email_backend == EmailBackend::Webhook && !present.contains("EMAIL_WEBHOOK_SECRET")
    {
        report.warnings.push(
            "EMAIL_WEBHOOK_SECRET: not set; the webhook is called without Authorization".into(),
        );
    }
    if target == Target::Local {
        return report;
    }

    let errors = &mut report.errors;
    // Production: what works on a laptop but must not ship.
    errors.extend(settings.warnings());
    if is_placeholder_host(&settings.domain) {
        errors.push(format!(
            "DOMAIN={:?}: a placeholder or local host; e-mailed links must point at your frontend",
            settings.domain
        ));
    }
    let sender_host = settings
        .default_from_email
        .rsplit('@')
        .next()
        .unwrap_or_default();
    if is_placeholder_host(sender_host) {
        errors.push(format!(
            "DEFAULT_FROM_EMAIL={:?}: a placeholder or local sender; use an address of your \
             own domain",
            settings.default_from_email
        ));
    }
    for (binding, id) in deployment.d1.iter().chain(&deployment.kv) {
        if all_zero(id) {
            errors.push(format!(
                "{binding}: the id in wrangler.toml is the placeholder; put the one `wrangler d1 \
                 create` / `wrangler kv namespace create` printed"
            ));
        }
    }
    if !deployment.observability {
        report.warnings.push(
            "[observability] enabled is not true: Workers Logs will not keep the JSON log lines"
                .into(),
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../wrangler.toml");

    fn secrets(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn production(toml: &str, names: &[&str]) -> Report {
        let d = Deployment::from_wrangler_toml(toml).unwrap();
        check(Target::Production, &d, &BTreeMap::new(), &secrets(names))
    }

    /// The shipped wrangler.toml with its placeholders filled in as an operator would.
    fn filled_in() -> String {
        SHIPPED
            .replace(
                "00000000-0000-0000-0000-000000000000",
                "6f1c0a52-1d8e-4c1e-9b7a-2f4e5d6c7b8a",
            )
            .replace(
                "00000000000000000000000000000000",
                "3b9f6a1c2d4e5f60718293a4b5c6d7e8",
            )
            .replace("\"example.com\"", "\"app.acme-widgets.io\"")
            .replace("noreply@example.com", "noreply@acme-widgets.io")
    }

    #[test]
    fn the_shipped_config_passes_for_production_only_once_its_placeholders_are_filled_in() {
        let as_shipped = production(SHIPPED, &["SIGNING_KEY"]);
        for placeholder in ["DOMAIN", "DEFAULT_FROM_EMAIL", "DB:", "AUTH_KV:"] {
            assert!(
                as_shipped.errors.iter().any(|e| e.starts_with(placeholder)),
                "{placeholder} not flagged: {as_shipped:?}"
            );
        }
        let filled = production(&filled_in(), &["SIGNING_KEY"]);
        assert_eq!(filled, Report::default());
        // Without the secret it still fails, naming it.
        let no_secret = production(&filled_in(), &[]);
        assert_eq!(no_secret.errors.len(), 1, "{no_secret:?}");
        assert!(no_secret.errors[0].starts_with("SIGNING_KEY: secret not set"));
    }

    #[test]
    fn a_bad_value_fails_naming_the_key_exactly_as_the_worker_would() {
        let toml = filled_in().replace("[vars]", "[vars]\nLOGIN_FIELD = \"phone\"");
        let r = production(&toml, &["SIGNING_KEY"]);
        assert_eq!(
            r.errors,
            ["LOGIN_FIELD: expected username or email, got \"phone\""]
        );
        let toml = filled_in().replace("[vars]", "[vars]\nACCESS_TOKEN_LIFETIME = 60");
        let r = production(&toml, &["SIGNING_KEY"]);
        assert!(r.errors[0].starts_with("ACCESS_TOKEN_LIFETIME: a integer in [vars]"));
    }

    #[test]
    fn a_typod_key_is_flagged_with_the_nearest_known_one() {
        let toml = filled_in().replace("[vars]", "[vars]\nROTATE_REFRESH_TOKEN = \"true\"");
        let r = production(&toml, &["SIGNING_KEY"]);
        assert_eq!(
            r.errors,
            ["ROTATE_REFRESH_TOKEN: unknown setting in [vars]; did you mean ROTATE_REFRESH_TOKENS?"]
        );
        assert_eq!(
            suggestion("acess_token_lifetime"),
            Some("ACCESS_TOKEN_LIFETIME")
        );
        assert_eq!(suggestion("COMPLETELY_UNRELATED_THING"), None);
        let r = production(&filled_in(), &["SIGNING_KEY", "SIGNIN_KEY"]);
        assert!(r.errors[0].contains("did you mean SIGNING_KEY?"), "{r:?}");
    }

    #[test]
    fn production_refuses_development_values_and_secrets_in_vars() {
        for (line, key) in [
            ("EMAIL_BACKEND = \"console\"", "EMAIL_BACKEND=console"),
            ("PROTOCOL = \"http\"", "PROTOCOL=\"http\""),
            ("DEBUG = \"true\"", "DEBUG=true"),
            (
                "SIGNING_KEY = \"0123456789abcdef0123456789abcdef\"",
                "SIGNING_KEY: a secret",
            ),
        ] {
            let toml = filled_in()
                .replace("EMAIL_BACKEND = \"cloudflare\"", "")
                .replace("PROTOCOL = \"https\"", "")
                .replace("[vars]", &format!("[vars]\n{line}"));
            let r = production(&toml, &["SIGNING_KEY"]);
            assert!(r.errors.iter().any(|e| e.starts_with(key)), "{line}: {r:?}");
        }
        let toml = filled_in().replace("app.acme-widgets.io", "localhost:3000");
        assert!(production(&toml, &["SIGNING_KEY"]).errors[0].starts_with("DOMAIN="));
    }

    #[test]
    fn backends_are_checked_against_their_bindings() {
        let without_email = filled_in().replace("[[send_email]]\nname = \"EMAIL\"", "");
        let r = production(&without_email, &["SIGNING_KEY"]);
        assert_eq!(
            r.errors,
            ["EMAIL_BACKEND: cloudflare needs a [[send_email]] binding named EMAIL"]
        );
        let without_kv = filled_in().replace("binding = \"AUTH_KV\"", "binding = \"KV\"");
        let r = production(&without_kv, &["SIGNING_KEY"]);
        assert!(
            r.errors[0].starts_with("AUTH_KV: no [[kv_namespaces]]"),
            "{r:?}"
        );
        let resend = filled_in().replace("\"cloudflare\"", "\"resend\"");
        let r = production(&resend, &["SIGNING_KEY"]);
        assert!(r.errors[0].starts_with("RESEND_API_KEY: required"), "{r:?}");
        assert!(production(&resend, &["SIGNING_KEY", "RESEND_API_KEY"])
            .errors
            .is_empty());
    }

    #[test]
    fn a_social_backend_needs_its_secret_and_the_secret_stays_out_of_vars() {
        let github = filled_in().replace(
            "[vars]",
            "[vars]\nSOCIAL_AUTH_GITHUB_KEY = \"gh-client\"\n\
             SOCIAL_AUTH_ALLOWED_REDIRECT_URIS = \"https://app.acme-widgets.io/auth/callback\"",
        );
        let r = production(&github, &["SIGNING_KEY"]);
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains("SOCIAL_AUTH_GITHUB_SECRET: needed")),
            "{r:?}"
        );
        assert!(
            production(&github, &["SIGNING_KEY", "SOCIAL_AUTH_GITHUB_SECRET"])
                .errors
                .is_empty()
        );
        let in_vars = github.replace("[vars]", "[vars]\nSOCIAL_AUTH_GITHUB_SECRET = \"oops\"");
        let r = production(&in_vars, &["SIGNING_KEY"]);
        assert!(
            r.errors
                .iter()
                .any(|e| e.starts_with("SOCIAL_AUTH_GITHUB_SECRET: a secret in [vars]")),
            "{r:?}"
        );
    }

    #[test]
    fn an_asymmetric_algorithm_needs_its_key_set_secret() {
        for alg in ["ES256", "EdDSA"] {
            let toml = filled_in().replace("[vars]", &format!("[vars]\nALGORITHM = \"{alg}\""));
            let r = production(&toml, &["SIGNING_KEY"]);
            assert!(
                r.errors[0].starts_with("JWT_PRIVATE_JWKS: required"),
                "{r:?}"
            );
            let r = production(&toml, &["SIGNING_KEY", "JWT_PRIVATE_JWKS"]);
            assert_eq!(r, Report::default(), "{alg}");
        }
    }

    #[test]
    fn local_overlays_dev_vars_and_allows_development_values() {
        let d = Deployment::from_wrangler_toml(SHIPPED).unwrap();
        let dev = parse_dev_vars(
            "# written by npm run dev\nSIGNING_KEY=\"abcdefghijklmnopqrstuvwxyz0123456789\"\n\
             EMAIL_BACKEND=console\nPROTOCOL=http\nDOMAIN=localhost:3000\nDEBUG=true\n",
        );
        assert_eq!(dev["SIGNING_KEY"], "abcdefghijklmnopqrstuvwxyz0123456789");
        let r = check(Target::Local, &d, &dev, &BTreeSet::new());
        assert_eq!(r, Report::default());
        let mut short = dev.clone();
        short.insert("SIGNING_KEY".into(), "short".into());
        short.insert("RATE_LIMIT_LOGN".into(), "5/60".into());
        let r = check(Target::Local, &d, &short, &BTreeSet::new());
        assert!(
            r.errors[0].contains("did you mean RATE_LIMIT_LOGIN?"),
            "{r:?}"
        );
        assert!(
            r.errors[1].starts_with("SIGNING_KEY: must be at least 32 bytes"),
            "{r:?}"
        );
        let mut none = dev;
        none.remove("SIGNING_KEY");
        let r = check(Target::Local, &d, &none, &BTreeSet::new());
        assert!(
            r.errors[0].starts_with("SIGNING_KEY: not in .dev.vars"),
            "{r:?}"
        );
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(distance("", "ABC"), 3);
        assert_eq!(distance("LEEWAY", "LEEWAY"), 0);
        assert_eq!(distance("LEWAY", "LEEWAY"), 1);
        assert_eq!(distance("KITTEN", "SITTING"), 3);
    }
}

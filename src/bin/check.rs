//! `npm run check [-- --env production|local] [--secrets NAME,NAME]`: validates one
//! environment's configuration offline (see `djoser_edge::check`). Exit 1 on any error.
//!
//! Options (each also read from the environment, for `npm run deploy`):
//! - `--env production|local` (`CHECK_ENV`, default production);
//! - `--secrets NAME,NAME` (`CHECK_SECRETS`): the production secrets that are set, as
//!   `wrangler secret list` shows them;
//! - `--config PATH` (`CHECK_CONFIG`, default wrangler.toml), `--dev-vars PATH`
//!   (`CHECK_DEV_VARS`, default .dev.vars).

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use djoser_edge::check::{check, parse_dev_vars, Deployment, Target};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("check: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let mut opts: BTreeMap<&str, String> = BTreeMap::new();
    for (name, var) in [
        ("env", "CHECK_ENV"),
        ("secrets", "CHECK_SECRETS"),
        ("config", "CHECK_CONFIG"),
        ("dev-vars", "CHECK_DEV_VARS"),
    ] {
        if let Ok(v) = std::env::var(var) {
            opts.insert(name, v);
        }
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.strip_prefix("--").map(|a| a.split_once('=')) {
            Some(Some((n, v))) => (n.to_string(), Some(v.to_string())),
            Some(None) => (arg[2..].to_string(), None),
            None => return Err(format!("unexpected argument {arg:?}")),
        };
        let known = ["env", "secrets", "config", "dev-vars"];
        let Some(key) = known.iter().find(|k| **k == name) else {
            return Err(format!(
                "unknown option --{name} (known: --{})",
                known.join(", --")
            ));
        };
        let value = inline
            .or_else(|| args.next())
            .ok_or(format!("--{name} needs a value"))?;
        opts.insert(key, value);
    }
    let target = match opts.get("env").map(String::as_str).unwrap_or("production") {
        "production" => Target::Production,
        "local" => Target::Local,
        other => {
            return Err(format!(
                "--env: expected production or local, got {other:?}"
            ))
        }
    };
    let config = opts.get("config").map_or("wrangler.toml", String::as_str);
    let text = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
    let deployment = Deployment::from_wrangler_toml(&text)?;
    let dev_vars = match target {
        Target::Local => {
            let path = opts.get("dev-vars").map_or(".dev.vars", String::as_str);
            // No file yet is no local value yet (`npm run dev` writes it).
            parse_dev_vars(&std::fs::read_to_string(path).unwrap_or_default())
        }
        Target::Production => BTreeMap::new(),
    };
    let secrets: BTreeSet<String> = opts
        .get("secrets")
        .map(|s| {
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();

    let report = check(target, &deployment, &dev_vars, &secrets);
    let name = match target {
        Target::Production => "production",
        Target::Local => "local",
    };
    for e in &report.errors {
        println!("error: {e}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    println!(
        "check ({name}, {config}): {} error(s), {} warning(s)",
        report.errors.len(),
        report.warnings.len()
    );
    Ok(report.errors.is_empty())
}

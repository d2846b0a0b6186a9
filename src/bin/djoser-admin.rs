//! The SQL of the operator commands (`npm run admin`, `npm run createsuperuser`), printed for
//! scripts/admin.mjs to run with wrangler:
//!
//! - `djoser-admin verb disable|enable|delete|set-staff|logout USERNAME [--off] [--now SECONDS]`:
//!   the look-up of the user, then the statements of the operation (`--off` clears the staff
//!   flag);
//! - `djoser-admin createsuperuser USERNAME EMAIL`, with the password in the environment variable
//!   DJOSER_SUPERUSER_PASSWORD: the INSERT of an active staff user, after the registration
//!   checks (a taken name or address is D1's UNIQUE constraint); the argon2id cost comes from ARGON2_MEMORY_KIB / ARGON2_ITERATIONS /
//!   ARGON2_PARALLELISM as the Worker reads them (defaults 19456 / 2 / 1).
//!
//! Problems are printed one per line on stderr with exit status 2.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::run(std::env::args().skip(1).collect()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use djoser_edge::ops::admin::{createsuperuser_sql, verb_sql, NewSuperuser, Verb};
    use djoser_edge::tokens::password_hash::HashCost;

    const USAGE: &str = "usage: djoser-admin verb VERB USERNAME [--off] [--now S] | \
createsuperuser USERNAME EMAIL";

    fn fail(message: &str) -> i32 {
        eprintln!("{message}");
        2
    }

    fn env_u32(name: &str, default: u32) -> Result<u32, String> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{name} should be a whole number, is {v:?}")),
            Err(_) => Ok(default),
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    pub fn run(args: Vec<String>) -> i32 {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["verb", verb, username, rest @ ..] => {
                let mut off = false;
                let mut at = now();
                let mut it = rest.iter();
                while let Some(flag) = it.next() {
                    match *flag {
                        "--off" => off = true,
                        "--now" => match it.next().and_then(|v| v.parse().ok()) {
                            Some(n) => at = n,
                            None => return fail("--now takes unix seconds"),
                        },
                        other => return fail(&format!("unknown option {other}\n{USAGE}")),
                    }
                }
                let Some(verb) = Verb::parse(verb, off) else {
                    return fail(&format!("unknown verb {verb}\n{USAGE}"));
                };
                println!("{}", verb_sql(verb, username, at));
            }
            ["createsuperuser", username, email] => {
                let Ok(password) = std::env::var("DJOSER_SUPERUSER_PASSWORD") else {
                    return fail("DJOSER_SUPERUSER_PASSWORD is not set");
                };
                let cost = (|| {
                    Ok::<_, String>(HashCost {
                        memory_kib: env_u32("ARGON2_MEMORY_KIB", 19_456)?,
                        iterations: env_u32("ARGON2_ITERATIONS", 2)?,
                        parallelism: env_u32("ARGON2_PARALLELISM", 1)?,
                    })
                })();
                let cost = match cost {
                    Ok(c) => c,
                    Err(e) => return fail(&e),
                };
                let mut salt = [0u8; 16];
                if let Err(e) = getrandom::fill(&mut salt) {
                    return fail(&format!("no randomness for the salt: {e}"));
                }
                let new = NewSuperuser {
                    username,
                    email,
                    password: &password,
                };
                match createsuperuser_sql(&new, cost, &salt, now()) {
                    Ok(sql) => println!("{sql}"),
                    Err(problems) => return fail(&problems.join("\n")),
                }
            }
            _ => return fail(USAGE),
        }
        0
    }
}

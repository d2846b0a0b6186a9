//! Times argon2id natively with the crate, version and hashing call the service uses, and prints
//! one JSON line: `{"m":…,"t":…,"p":…,"runs":…,"min_ms":…,"median_ms":…}`.
//!
//! Usage: `argon2-native [M_KIB T P RUNS [reuse]]` (defaults: OWASP's m=19456 t=2 p=1, 20 runs).
//! With `reuse`, each hash runs in the same memory (`hash_password_into_with_memory`), as the
//! Worker's hashing does: no allocation and no page faults per hash, only the algorithm.

use std::process::ExitCode;
use std::time::Instant;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

fn arg(args: &[String], i: usize, default: u32) -> Result<u32, String> {
    match args.get(i) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("argument {i}: not a number: {v}")),
        None => Ok(default),
    }
}

/// One hash, built the way the service's `password_hash::hash_password` builds it.
fn hash_once(params: &Params, salt: &SaltString, password: &[u8]) -> Result<String, String> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password, salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().collect();
    let (m, t, p, runs) = (
        arg(&args, 1, 19_456)?,
        arg(&args, 2, 2)?,
        arg(&args, 3, 1)?,
        arg(&args, 4, 20)?.clamp(1, 1_000),
    );
    let reuse = args.get(5).map(String::as_str) == Some("reuse");
    let params = Params::new(m, t, p, None).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&[0x5a; 16]).map_err(|e| e.to_string())?;
    let password = b"correct horse battery staple";
    let mut memory = vec![Block::new(); params.block_count()];
    let mut once = || -> Result<(), String> {
        if reuse {
            let mut tag = [0u8; 32];
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
                .hash_password_into_with_memory(password, &[0x5a; 16], &mut tag, &mut memory)
                .map_err(|e| e.to_string())?;
            std::hint::black_box(tag);
        } else {
            std::hint::black_box(hash_once(&params, &salt, password)?);
        }
        Ok(())
    };
    // Warm-up: page in the allocator and the code before timing.
    for _ in 0..2 {
        once()?;
    }
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let start = Instant::now();
        once()?;
        times.push(start.elapsed().as_secs_f64() * 1_000.0);
    }
    times.sort_by(f64::total_cmp);
    let min = times.first().copied().unwrap_or(f64::NAN);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    Ok(format!(
        "{{\"m\":{m},\"t\":{t},\"p\":{p},\"runs\":{runs},\"min_ms\":{min:.3},\"median_ms\":{median:.3}}}"
    ))
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("argon2-native: {e}");
            ExitCode::FAILURE
        }
    }
}

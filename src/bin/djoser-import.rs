//! `djoser-import DUMP.json --existing STATE.json --out DIR [--duplicate-emails=MODE]
//! [--batch-bytes N] [--now SECONDS]`
//!
//! Plans the import of a Django `dumpdata` file (see `djoser_edge::ops::import`) against what D1
//! holds (STATE.json, gathered by scripts/import-djoser.mjs), writes the statements to
//! DIR/0001.sql, DIR/0002.sql, ... (each at most N bytes, default 90,000) and prints the summary as
//! JSON. A dump that cannot be imported prints every problem and exits 2, writing no file.
//! Run through `npm run import-djoser`, which applies the files with wrangler.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::run(std::env::args().skip(1).collect()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use djoser_edge::ops::import::{batches, plan, statements, summary, DuplicateEmails, Existing};
    use std::path::PathBuf;

    const USAGE: &str = "usage: djoser-import DUMP.json --existing STATE.json --out DIR \
                         [--duplicate-emails=refuse|keep-first-clear-others] [--batch-bytes N] \
                         [--now SECONDS]";

    fn fail(message: &str) -> i32 {
        eprintln!("{message}");
        2
    }

    pub fn run(args: Vec<String>) -> i32 {
        let mut dump = None;
        let mut existing = None;
        let mut out = None;
        let mut duplicates = DuplicateEmails::Refuse;
        let mut batch_bytes = 90_000usize;
        let mut now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if let Some(mode) = arg.strip_prefix("--duplicate-emails=") {
                let Some(mode) = DuplicateEmails::parse(mode) else {
                    return fail(&format!(
                        "unknown --duplicate-emails mode {mode:?}\n{USAGE}"
                    ));
                };
                duplicates = mode;
                continue;
            }
            match arg.as_str() {
                "--existing" => existing = it.next().map(PathBuf::from),
                "--out" => out = it.next().map(PathBuf::from),
                "--batch-bytes" => match it.next().and_then(|v| v.parse().ok()) {
                    Some(n) if n >= 1_000 => batch_bytes = n,
                    _ => {
                        return fail(&format!(
                            "--batch-bytes takes a number of at least 1000\n{USAGE}"
                        ))
                    }
                },
                "--now" => match it.next().and_then(|v| v.parse().ok()) {
                    Some(n) => now = n,
                    None => return fail(&format!("--now takes unix seconds\n{USAGE}")),
                },
                _ if arg.starts_with("--") => {
                    return fail(&format!("unknown option {arg}\n{USAGE}"))
                }
                _ if dump.is_none() => dump = Some(PathBuf::from(arg)),
                _ => return fail(USAGE),
            }
        }
        let (Some(dump), Some(existing), Some(out)) = (dump, existing, out) else {
            return fail(USAGE);
        };
        let text = match std::fs::read_to_string(&dump) {
            Ok(t) => t,
            Err(e) => return fail(&format!("cannot read {}: {e}", dump.display())),
        };
        let state = std::fs::read_to_string(&existing)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            .and_then(|v| Existing::from_json(&v));
        let state = match state {
            Ok(s) => s,
            Err(e) => return fail(&format!("cannot read {}: {e}", existing.display())),
        };
        let plan = match plan(&text, &state, duplicates, now) {
            Ok(p) => p,
            Err(e) => return fail(&format!("{}: {e}", dump.display())),
        };
        let statements = statements(&plan);
        let files = batches(&statements, batch_bytes);
        if let Err(e) = std::fs::create_dir_all(&out) {
            return fail(&format!("cannot make {}: {e}", out.display()));
        }
        for (i, sql) in files.iter().enumerate() {
            let path = out.join(format!("{:04}.sql", i + 1));
            if let Err(e) = std::fs::write(&path, sql) {
                return fail(&format!("cannot write {}: {e}", path.display()));
            }
        }
        let mut report = summary(&plan);
        report["statements"] = statements.len().into();
        report["batches"] = files.len().into();
        println!("{report}");
        0
    }
}

//! djoser at the edge: the djoser + SimpleJWT authentication API as a Cloudflare Worker.
//!
//! This file only wires the Worker entry point to the settings and the http layer.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(not(target_arch = "wasm32"))]
pub mod check;
pub mod config;
pub mod domain;
pub mod email;
pub mod error;
pub mod flows;
pub mod http;
pub mod log;
pub mod messages;
#[cfg(not(target_arch = "wasm32"))]
pub mod ops;
pub mod storage;
pub mod tokens;

use std::sync::OnceLock;

use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use config::{ConfigError, Settings};
use error::ApiError;

/// Settings are parsed once per isolate; the environment does not change within one.
static SETTINGS: OnceLock<Result<Settings, ConfigError>> = OnceLock::new();

fn settings(env: &Env) -> &'static Result<Settings, ConfigError> {
    SETTINGS.get_or_init(|| {
        let settings = Settings::from_lookup(|key| {
            env.var(key)
                .map(|v| v.to_string())
                .or_else(|_| env.secret(key).map(|v| v.to_string()))
                .ok()
        });
        if let Ok(s) = &settings {
            storage::d1::TRACE.store(s.sql_trace, std::sync::atomic::Ordering::Relaxed);
        }
        log_configuration(&settings);
        settings
    })
}

/// Once per isolate, loudly: every problem of a bad configuration (a missing SIGNING_KEY
/// included) as one `config_invalid` line, and each value that is only safe on a developer's
/// machine as a `config_warning` line.
fn log_configuration(settings: &Result<Settings, ConfigError>) {
    let problems = match settings {
        Ok(s) => {
            for warning in s.warnings() {
                log::warn("config_warning", json!({ "message": warning }));
            }
            s.missing()
        }
        Err(e) => e.problems.clone(),
    };
    if !problems.is_empty() {
        log::error(
            "config_invalid",
            json!({ "at": "isolate_start", "problems": problems }),
        );
    }
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    match settings(&env) {
        Ok(settings) => http::handle(req, env, ctx, settings).await,
        Err(problem) => {
            let error = ApiError::Config(problem.problems.join("; "));
            // DEBUG read on its own: the rest of the configuration is what failed.
            let debug = env
                .var("DEBUG")
                .ok()
                .and_then(|v| config::parse_bool(&v.to_string()))
                .unwrap_or(false);
            let fallback = Settings {
                debug,
                ..Settings::default()
            };
            log::error(
                "request",
                json!({
                    "request_id": req.headers().get("cf-ray").ok().flatten(),
                    "method": req.inner().method(),
                    "route": http::routes::resolve(&req.path()).map(|m| m.log_route()),
                    "status": 500,
                    "problems": problem.problems,
                }),
            );
            // Still an answer of this API: the same security headers as every other one.
            let response = http::response::error(&error, &fallback)?;
            http::response::finish(
                response,
                None,
                None,
                &fallback,
                http::routes::Exposure::Private,
            )
        }
    }
}

/// The hourly cron (wrangler.toml `[triggers]`): deletes arbiter and throttle rows whose time is
/// over, in bounded chunks, so D1 does not grow with every refresh. Failures are logged; the
/// next run retries, and continues where a run stopped at its bound.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    // A spent or revoked token is still refused for LEEWAY after its expiry: its row must stay
    // that long too, with the leeway as it is set now.
    let leeway = settings(&env).as_ref().map_or(0, |s| s.leeway);
    let retention_days = settings(&env)
        .as_ref()
        .map_or(90, |s| s.events_retention_days);
    match env.d1("DB") {
        Ok(db) => {
            let store = storage::d1::Store::new(db, Err("not needed".into()));
            match flows::maintenance::purge_expired(&store, now.saturating_sub(leeway)).await {
                Ok(done) => log::info(
                    "purge",
                    json!({ "what": "expired", "rows": done.rows, "complete": done.complete }),
                ),
                Err(e) => log::error(
                    "purge_failed",
                    json!({ "what": "expired", "error": e.to_string() }),
                ),
            }
            let cutoff = now.saturating_sub(retention_days.saturating_mul(86_400));
            match flows::maintenance::purge_events(&store, cutoff).await {
                Ok(done) => log::info("purge", json!({ "what": "events", "rows": done.rows })),
                Err(e) => log::error(
                    "purge_failed",
                    json!({ "what": "events", "error": e.to_string() }),
                ),
            }
        }
        Err(e) => log::error(
            "purge_failed",
            json!({ "what": "all", "error": format!("no DB binding: {e}") }),
        ),
    }
}

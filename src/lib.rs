//! djoser at the edge: the djoser + SimpleJWT authentication API as a Cloudflare Worker.
//!
//! This file only wires the Worker entry point to the settings and the http layer.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod domain;
pub mod email;
pub mod error;
pub mod flows;
pub mod http;
pub mod messages;
#[cfg(not(target_arch = "wasm32"))]
pub mod ops;
pub mod storage;
pub mod tokens;

use std::sync::OnceLock;

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
        // Once per isolate, loudly: values that are only safe on a developer's machine.
        if let Ok(s) = &settings {
            for warning in s.warnings() {
                worker::console_warn!("WARNING: {warning}");
            }
        }
        settings
    })
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
            worker::console_error!("{problem}");
            let error = ApiError::Config(problem.problems.join("; "));
            let fallback = Settings::default();
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
                Ok(done) if done.complete => {
                    worker::console_log!("purged {} expired rows", done.rows)
                }
                Ok(done) => worker::console_log!(
                    "purged {} expired rows; more remain for the next run",
                    done.rows
                ),
                Err(e) => worker::console_error!("purge failed: {e}"),
            }
            let cutoff = now.saturating_sub(retention_days.saturating_mul(86_400));
            match flows::maintenance::purge_events(&store, cutoff).await {
                Ok(done) => worker::console_log!("purged {} old events", done.rows),
                Err(e) => worker::console_error!("event purge failed: {e}"),
            }
        }
        Err(e) => worker::console_error!("purge: no DB binding: {e}"),
    }
}

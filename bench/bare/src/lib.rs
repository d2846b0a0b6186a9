//! A hello-world Rust Worker: the ceiling a Worker built with this toolchain reaches on this
//! machine, against which `npm run bench` sets each endpoint of the service.
//!
//! Any path but `/storage`: "Hello, world!" with no storage access and no body read (the ceiling
//! the issue's budgets use).
//! `/storage?d1=first,batch,run&kv=put` (any method): reads the request body, then makes the same
//! sequence of D1 and KV calls an endpoint of the service makes (as bench/run.mjs counted them),
//! and nothing else: the same I/O as the endpoint without its work, so that the bench can tell
//! the platform's cost apart from the service's own.

use worker::wasm_bindgen::JsValue;
use worker::{event, js_sys, Context, Env, Method, Request, Response, Result};

/// The service's user row, read the way its `users/me` reads it.
const USER_READ: &str = "SELECT id, username, email, password, is_active, is_staff, first_name, \
                         last_name, last_login, tokens_valid_after FROM users WHERE id = ?1";

fn random_key(prefix: &str) -> String {
    format!(
        "{prefix}{:016x}",
        (js_sys::Math::random() * 2f64.powi(53)) as u64
    )
}

async fn d1_call(env: &Env, op: &str) -> Result<()> {
    let db = env.d1("DB")?;
    let user = || db.prepare(USER_READ).bind(&[JsValue::from_f64(1.0)]);
    match op {
        // The rows are not deserialized: the service's own decoding is not the platform's cost.
        "first" | "all" => {
            user()?.all().await?;
        }
        "batch" => {
            let state = db
                .prepare("SELECT (SELECT spent_at FROM refresh_spent WHERE jti = ?1) AS spent_at")
                .bind(&[JsValue::from_str("none")])?;
            db.batch(vec![state, user()?]).await?;
        }
        "run" => {
            db.prepare(
                "INSERT INTO refresh_spent (jti, family, user_id, spent_at, expires_at) \
                 VALUES (?1, 'bench', '1', 0, 0) ON CONFLICT(jti) DO NOTHING",
            )
            .bind(&[JsValue::from_str(&random_key("jti"))])?
            .run()
            .await?;
        }
        other => return Err(format!("unknown D1 call {other}").into()),
    }
    Ok(())
}

async fn kv_call(env: &Env, op: &str) -> Result<()> {
    let kv = env.kv("AUTH_KV")?;
    match op {
        "get" => {
            kv.get(&random_key("refresh:")).text().await?;
        }
        "put" => {
            kv.put(
                &random_key("refresh:"),
                r#"{"user_id":"1","family":"bench","exp":0}"#,
            )?
            .expiration_ttl(86_400)
            .execute()
            .await?;
        }
        "delete" => {
            kv.delete(&random_key("refresh:")).await?;
        }
        other => return Err(format!("unknown KV call {other}").into()),
    }
    Ok(())
}

/// Hello, or (under `/storage`) the body read and the listed storage calls, in order.
#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    if !req.path().starts_with("/storage") {
        return Response::ok("Hello, world!");
    }
    // An unread body makes workerd drop the connection instead of keeping it alive.
    if !matches!(req.method(), Method::Get | Method::Head) {
        req.bytes().await?;
    }
    let url = req.url()?;
    for (kind, list) in url.query_pairs() {
        for op in list.split(',').filter(|op| !op.is_empty()) {
            match kind.as_ref() {
                "d1" => d1_call(&env, op).await?,
                "kv" => kv_call(&env, op).await?,
                _ => return Response::error("unknown storage kind", 400),
            }
        }
    }
    Response::ok("stored")
}

//! simplejwt's views: `jwt/create/`, `jwt/refresh/`, `jwt/verify/` and `jwt/blacklist/`, with
//! refresh-token rotation, reuse detection and family revocation.
//!
//! State: a refresh token's family is written into its own signed jti (family id, then random);
//! KV keeps one record per issued refresh token (user, family, expiry); D1 decides single use
//! (`refresh_spent` insert that succeeds once per jti) and keeps revoked families. These views
//! never read the Authorization header.

use serde_json::json;
use sha2::{Digest, Sha256};
use worker::Response;

use crate::error::{ApiError, FieldErrors};
use crate::http::auth::{
    bound_to_another_password, issued_before_revocation, password_binding, PASSWORD_BINDING_CLAIM,
};
use crate::http::token::{authenticate, login_field_name};
use crate::http::users::password_field;
use crate::http::{random, response, Ctx};
use crate::messages as msg;
use crate::storage::d1::RefreshState;
use crate::storage::kv::RefreshRecord;
use crate::tokens::auth_token::hex;
use crate::tokens::jwt::{self, Claims, JwtError, JwtKey, TokenType};

/// A new jti: 32 lowercase hex characters, as simplejwt's `uuid4().hex`.
fn new_jti() -> Result<String, ApiError> {
    Ok(hex(&random::<16>()?))
}

/// Hex digits of a family id: the first half of every refresh jti of the family.
const FAMILY_HEX: usize = 16;

/// A new family id (64 random bits), for a login.
fn new_family() -> Result<String, ApiError> {
    Ok(hex(&random::<8>()?))
}

/// A refresh jti of `family`: the family id, then 64 random bits; 32 lowercase hex in all, the
/// shape of simplejwt's `uuid4().hex`.
fn family_jti(family: &str) -> Result<String, ApiError> {
    Ok(format!("{family}{}", hex(&random::<8>()?)))
}

/// The family of a refresh token, read from its signed jti.
///
/// Why not from the KV record: KV is eventually consistent, so a token presented at another
/// location within about a minute of its issue may find no record there. Falling back to "its
/// own family" would let a thief who refreshes there grow a branch that a later reuse-triggered
/// revocation of the real family never reaches. The jti is covered by the signature, so every
/// location derives the same family with no lookup at all.
///
/// A jti of another shape (a validly signed token from another issuer) maps to a stable digest,
/// so the tokens rotated from it, which carry that digest as their prefix, stay in its family.
fn family_of(jti: &str) -> String {
    let ours = jti.len() == 2 * FAMILY_HEX
        && jti
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match jti.get(..FAMILY_HEX) {
        Some(prefix) if ours => prefix.to_string(),
        _ => hex(&Sha256::digest(jti.as_bytes())[..FAMILY_HEX / 2]),
    }
}

fn encode(key: &JwtKey, claims: &Claims) -> Result<String, ApiError> {
    jwt::encode(key, claims).map_err(|e| ApiError::internal(format!("jwt encode: {}", e.message())))
}

fn not_valid(e: JwtError) -> ApiError {
    ApiError::token_not_valid(e.message())
}

/// Reads the one token field a jwt view takes.
fn token_field(ctx: &Ctx, name: &str) -> Result<String, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    let token = body.required(name, &mut errors);
    errors.into_result()?;
    token.ok_or_else(|| ApiError::internal("validated field missing"))
}

/// Issues and records a refresh token of `family` for `user_id`.
async fn issue_refresh(
    ctx: &Ctx,
    key: &JwtKey,
    claims: &Claims,
    family: &str,
) -> Result<String, ApiError> {
    let jti = claims.jti.clone().unwrap_or_default();
    let record = RefreshRecord {
        user_id: claims.user_id.clone().unwrap_or_default(),
        family: family.to_string(),
        exp: claims.exp.unwrap_or(ctx.now),
    };
    ctx.refresh_store()?
        .put(&jti, &record, ctx.now)
        .await
        .map_err(|e| ApiError::internal(format!("kv put: {e}")))?;
    encode(key, claims)
}

// POST /auth/jwt/create/ (simplejwt TokenObtainPairView): 200 {refresh, access} | 400 | 401 | 429
/// Logs in with the LOGIN_FIELD and password and returns a new token pair (a new family).
pub async fn create(ctx: &Ctx) -> Result<Response, ApiError> {
    let key = ctx.jwt_key()?;
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    let login = body.required(login_field_name(ctx), &mut errors);
    let password = password_field(&body, "password", &mut errors);
    errors.into_result()?;
    let (Some(login), Some(password)) = (login, password) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let user = authenticate(ctx, &login, &password).await?;
    let Some(user) = user.filter(|u| u.is_active) else {
        return Err(ApiError::detail(401, msg::NO_ACTIVE_ACCOUNT));
    };
    let s = ctx.settings;
    let family = new_family()?;
    let mut refresh = jwt::new_claims(
        TokenType::Refresh,
        &user.id.to_string(),
        ctx.now,
        s.refresh_token_lifetime,
        family_jti(&family)?,
    );
    if s.logout_on_password_change {
        // simplejwt's CHECK_REVOKE_TOKEN: bind the pair to the current hash, so a password change
        // ends it exactly, even within the second it was issued. The access token copies it.
        refresh.extra.insert(
            PASSWORD_BINDING_CLAIM.into(),
            json!(password_binding(&user.password)),
        );
    }
    let access = jwt::access_from_refresh(&refresh, ctx.now, s.access_token_lifetime, new_jti()?);
    let refresh_token = issue_refresh(ctx, &key, &refresh, &family).await?;
    if s.update_last_login {
        ctx.store
            .set_last_login(user.id, ctx.now)
            .await
            .map_err(ApiError::internal)?;
    }
    response::json(
        200,
        &json!({ "refresh": refresh_token, "access": encode(&key, &access)? }),
    )
}

/// A decoded refresh-type token with what storage knows about it.
struct Presented {
    claims: Claims,
    jti: String,
    family: String,
    state: RefreshState,
    user: Option<crate::domain::user::User>,
}

/// Decodes a presented token (signature and time checks first, as simplejwt does).
fn decode(ctx: &Ctx, key: &JwtKey, token: &str) -> Result<Claims, ApiError> {
    jwt::decode(key, token, ctx.now, ctx.settings.leeway).map_err(not_valid)
}

/// Loads what storage knows of a decoded token: whether it was spent, whether its family was
/// revoked, and its user.
/// `load_user` is for refresh, which checks the user; verify and blacklist do not read it.
async fn present(ctx: &Ctx, claims: Claims, load_user: bool) -> Result<Presented, ApiError> {
    // The reference answers 500 for a refresh token without jti; simplejwt's message fits.
    let jti = claims
        .jti
        .clone()
        .ok_or_else(|| not_valid(JwtError::NoId))?;
    // Validly signed tokens this service never recorded are accepted, as simplejwt does.
    let family = family_of(&jti);
    let user_id = claims
        .user_id
        .as_deref()
        .and_then(|id| id.trim().parse::<i64>().ok())
        .filter(|_| load_user);
    let (state, user) = ctx
        .store
        .refresh_state(&jti, &family, user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Presented {
        claims,
        jti,
        family,
        state,
        user,
    })
}

/// True when a token spent at `spent_at` and presented again at `now` is a reuse that revokes its
/// family. The grace window is `[spent_at, spent_at + grace)` in whole seconds: a client retrying
/// after a lost response inside it is only refused; `grace == 0` means no tolerance at all, so a
/// replay in the very second of the rotation revokes too. A clock behind `spent_at` (another
/// location's skew) counts as inside the window.
fn is_reuse(spent_at: i64, now: i64, grace: i64) -> bool {
    now.saturating_sub(spent_at) >= grace
}

/// simplejwt's blacklist check, plus reuse detection: a spent token presented again after the
/// grace window revokes its whole family (every descendant stops working).
async fn check_not_blacklisted(ctx: &Ctx, p: &Presented) -> Result<(), ApiError> {
    if p.state.family_revoked {
        return Err(ApiError::token_not_valid(msg::TOKEN_BLACKLISTED));
    }
    if let Some(spent_at) = p.state.spent_at {
        if is_reuse(spent_at, ctx.now, ctx.settings.refresh_reuse_grace) {
            let user_id = p.claims.user_id.clone().unwrap_or_default();
            worker::console_warn!(
                "refresh token reuse: jti {} of family {} (user {user_id}) presented {}s after rotation; family revoked",
                p.jti,
                p.family,
                ctx.now.saturating_sub(spent_at)
            );
            let expires = ctx.now.saturating_add(ctx.settings.refresh_token_lifetime);
            ctx.store
                .revoke_family(&p.family, &user_id, ctx.now, expires)
                .await
                .map_err(ApiError::internal)?;
        }
        return Err(ApiError::token_not_valid(msg::TOKEN_BLACKLISTED));
    }
    Ok(())
}

// POST /auth/jwt/refresh/ (simplejwt TokenRefreshView): 200 {access, refresh} | 400 | 401
/// Exchanges a refresh token for a new access token and, with rotation, a new refresh token of the
/// same family; the presented one is spent exactly once, decided by D1.
pub async fn refresh(ctx: &Ctx) -> Result<Response, ApiError> {
    let key = ctx.jwt_key()?;
    let token = token_field(ctx, "refresh")?;
    let p = present(ctx, decode(ctx, &key, &token)?, true).await?;
    check_not_blacklisted(ctx, &p).await?;
    jwt::check_claims(&p.claims, Some(TokenType::Refresh)).map_err(not_valid)?;
    if p.claims.user_id.is_some() {
        // The reference answers 500 for a deleted user; simplejwt's inactive answer fits.
        let active = p.user.as_ref().filter(|u| u.is_active);
        let Some(user) = active else {
            return Err(ApiError::detail(401, msg::NO_ACTIVE_ACCOUNT_FOR_TOKEN));
        };
        if issued_before_revocation(p.claims.iat, user.tokens_valid_after)
            || bound_to_another_password(&p.claims, user)
        {
            return Err(ApiError::token_not_valid(msg::TOKEN_BLACKLISTED));
        }
    }
    let s = ctx.settings;
    let access = jwt::access_from_refresh(&p.claims, ctx.now, s.access_token_lifetime, new_jti()?);
    let access = encode(&key, &access)?;
    if !s.rotate_refresh_tokens {
        return response::json(200, &json!({ "access": access }));
    }
    // The new token's KV record is written before the presented token is spent, so a KV failure
    // leaves the client holding a still-usable token rather than a spent one and nothing new.
    let mut rotated = jwt::rotate_refresh(
        &p.claims,
        ctx.now,
        s.refresh_token_lifetime,
        family_jti(&p.family)?,
    );
    if !s.refresh_token_sliding {
        // Absolute lifetime: the login's first expiry carries over to every descendant.
        if let (Some(new), Some(old)) = (rotated.exp, p.claims.exp) {
            rotated.exp = Some(new.min(old));
        }
    }
    let refresh = issue_refresh(ctx, &key, &rotated, &p.family).await?;
    if s.blacklist_after_rotation {
        let user_id = p.claims.user_id.clone().unwrap_or_default();
        let exp = p.claims.exp.unwrap_or(ctx.now);
        let won = ctx
            .store
            .spend_refresh(&p.jti, &p.family, &user_id, ctx.now, exp)
            .await
            .map_err(ApiError::internal)?;
        if !won {
            // A concurrent refresh of the same token got there first (so within the grace window).
            // The record written above belongs to a token nobody receives: remove it (best
            // effort; it would expire with the token anyway).
            if let Some(jti) = rotated.jti.as_deref() {
                if let Err(e) = ctx.refresh_store()?.delete(jti).await {
                    worker::console_warn!("kv delete of an unissued refresh record failed: {e}");
                }
            }
            return Err(ApiError::token_not_valid(msg::TOKEN_BLACKLISTED));
        }
    }
    response::json(200, &json!({ "access": access, "refresh": refresh }))
}

// POST /auth/jwt/verify/ (simplejwt TokenVerifyView): 200 {"token_status":"valid"} | 400 | 401
/// Checks a token's signature and time claims (any type); a spent or revoked refresh token is 400.
pub async fn verify(ctx: &Ctx) -> Result<Response, ApiError> {
    let key = ctx.jwt_key()?;
    let token = token_field(ctx, "token")?;
    let claims = decode(ctx, &key, &token)?;
    jwt::check_claims(&claims, None).map_err(not_valid)?;
    // Only refresh jtis are ever blacklisted, so access tokens need no storage round trip.
    if claims.token_type.as_deref() != Some(TokenType::Access.as_str()) {
        let p = present(ctx, claims, false).await?;
        if p.state.family_revoked || p.state.spent_at.is_some() {
            return Err(ApiError::non_field(msg::TOKEN_BLACKLISTED));
        }
    }
    // The API brief's body; djoser's reference answers `{}` with the same status.
    response::json(200, &json!({ "token_status": "valid" }))
}

// POST /auth/jwt/blacklist/ (simplejwt TokenBlacklistView): 200 {} | 400 | 401
/// Revokes a refresh token and its whole family (a logout of that login).
pub async fn blacklist(ctx: &Ctx) -> Result<Response, ApiError> {
    let key = ctx.jwt_key()?;
    let token = token_field(ctx, "refresh")?;
    let p = present(ctx, decode(ctx, &key, &token)?, false).await?;
    check_not_blacklisted(ctx, &p).await?;
    jwt::check_claims(&p.claims, Some(TokenType::Refresh)).map_err(not_valid)?;
    let user_id = p.claims.user_id.clone().unwrap_or_default();
    let exp = p.claims.exp.unwrap_or(ctx.now);
    ctx.store
        .spend_refresh(&p.jti, &p.family, &user_id, ctx.now, exp)
        .await
        .map_err(ApiError::internal)?;
    let expires = ctx.now.saturating_add(ctx.settings.refresh_token_lifetime);
    ctx.store
        .revoke_family(&p.family, &user_id, ctx.now, expires)
        .await
        .map_err(ApiError::internal)?;
    response::json(200, &json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_inside_the_grace_window_is_not_reuse() {
        assert!(!is_reuse(1_000, 1_000, 10));
        assert!(!is_reuse(1_000, 1_009, 10));
        assert!(is_reuse(1_000, 1_010, 10));
        assert!(is_reuse(1_000, 5_000, 10));
    }

    #[test]
    fn our_refresh_jtis_carry_their_family_in_the_first_half() {
        let jti = "0123456789abcdef0011223344556677";
        assert_eq!(family_of(jti), "0123456789abcdef");
        let child = format!("{}{}", family_of(jti), "8899aabbccddeeff");
        assert_eq!(family_of(&child), family_of(jti));
    }

    #[test]
    fn foreign_jtis_map_to_a_stable_family_their_descendants_share() {
        for jti in ["", "x/../y", "ü", "0123456789ABCDEF0011223344556677", "abc"] {
            let family = family_of(jti);
            assert_eq!(family.len(), FAMILY_HEX, "{jti:?}");
            assert_eq!(family, family_of(jti));
            assert_ne!(family, family_of(&format!("{jti}x")));
            let child = format!("{family}0011223344556677");
            assert_eq!(family_of(&child), family, "{jti:?}");
        }
        let long = "a".repeat(600);
        assert_eq!(family_of(&long).len(), FAMILY_HEX);
    }

    #[test]
    fn zero_grace_makes_every_replay_a_reuse() {
        assert!(is_reuse(1_000, 1_000, 0));
        assert!(is_reuse(1_000, 1_001, 0));
    }

    #[test]
    fn clock_skew_and_extreme_times_neither_revoke_nor_panic() {
        assert!(!is_reuse(1_000, 999, 10));
        assert!(!is_reuse(i64::MAX, i64::MIN, 0));
        assert!(is_reuse(i64::MIN, i64::MAX, 300));
    }
}

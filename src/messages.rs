//! Every user-facing string, named after djoser's `constants.Messages`, DRF's and simplejwt's texts.
//! They are copied verbatim: clients written for djoser match on them.

/// DRF: a required field is absent.
pub const REQUIRED: &str = "This field is required.";
/// DRF: a CharField is empty after trimming.
pub const BLANK: &str = "This field may not be blank.";
/// DRF: a field is JSON null.
pub const NULL: &str = "This field may not be null.";
/// DRF: a CharField got a boolean, array or object.
pub const NOT_A_STRING: &str = "Not a valid string.";
/// DRF: ProhibitNullCharactersValidator.
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";
/// DRF: 401 without credentials.
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
/// DRF: object permission failed.
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";
/// DRF: 404 (also HIDE_USERS and unknown paths here).
pub const NOT_FOUND: &str = "Not found.";
/// Django get_object_or_404 for a missing user id.
pub const NO_USER_MATCHES: &str = "No User matches the given query.";
/// DRF: generic 500.
pub const SERVER_ERROR: &str = "A server error occurred.";
/// DRF: request body over the size limit (413).
pub const BODY_TOO_LARGE: &str = "Request body is too large.";

/// djoser INVALID_CREDENTIALS_ERROR.
pub const INVALID_CREDENTIALS: &str = "Unable to log in with provided credentials.";
/// djoser INACTIVE_ACCOUNT_ERROR.
pub const INACTIVE_ACCOUNT: &str = "User account is disabled.";
/// djoser INVALID_TOKEN_ERROR.
pub const INVALID_TOKEN: &str = "Invalid token for given user.";
/// djoser INVALID_UID_ERROR.
pub const INVALID_UID: &str = "Invalid user id or user doesn't exist.";
/// djoser STALE_TOKEN_ERROR.
pub const STALE_TOKEN: &str = "Stale token for given user.";
/// djoser INVALID_PASSWORD_ERROR.
pub const INVALID_PASSWORD: &str = "Invalid password.";
/// djoser EMAIL_NOT_FOUND.
pub const EMAIL_NOT_FOUND: &str = "User with given email does not exist.";
/// djoser CANNOT_CREATE_USER_ERROR.
pub const CANNOT_CREATE_USER: &str = "Unable to create account.";
/// djoser PASSWORD_MISMATCH_ERROR.
pub const PASSWORD_MISMATCH: &str = "The two password fields didn't match.";
/// djoser USERNAME_MISMATCH_ERROR (with USERNAME_FIELD = username).
pub const USERNAME_MISMATCH: &str = "The two username fields didn't match.";
/// Django: unique username.
pub const USERNAME_TAKEN: &str = "A user with that username already exists.";
/// Django: unique e-mail field (this service keeps e-mails unique).
pub const EMAIL_TAKEN: &str = "user with this email address already exists.";

/// simplejwt: bad login on jwt/create.
pub const NO_ACTIVE_ACCOUNT: &str = "No active account found with the given credentials";
/// simplejwt: refresh for an inactive or deleted user.
pub const NO_ACTIVE_ACCOUNT_FOR_TOKEN: &str = "No active account found for the given token.";
/// simplejwt: header token failed every token class.
pub const TOKEN_NOT_VALID_ANY_TYPE: &str = "Given token not valid for any token type";
/// simplejwt: access token without a user id claim.
pub const NO_USER_IDENTIFICATION: &str = "Token contained no recognizable user identification";
/// simplejwt: user of the token does not exist.
pub const USER_NOT_FOUND: &str = "User not found";
/// simplejwt: user of the token is inactive.
pub const USER_INACTIVE: &str = "User is inactive";
/// simplejwt: the token's jti is blacklisted.
pub const TOKEN_BLACKLISTED: &str = "Token is blacklisted";
/// simplejwt: the password changed after the token was issued (CHECK_REVOKE_TOKEN).
pub const PASSWORD_CHANGED: &str = "The user's password has been changed.";
/// simplejwt: malformed Authorization header.
pub const BAD_AUTHORIZATION_HEADER: &str =
    "Authorization header must contain two space-delimited values";

/// DRF TokenAuthentication: `Token` with no key.
pub const TOKEN_HEADER_NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
/// DRF TokenAuthentication: key with spaces.
pub const TOKEN_HEADER_SPACES: &str =
    "Invalid token header. Token string should not contain spaces.";
/// DRF TokenAuthentication: key not valid UTF-8 / unusual characters.
pub const TOKEN_HEADER_INVALID_CHARACTERS: &str =
    "Invalid token header. Token string should not contain invalid characters.";
/// DRF TokenAuthentication: unknown key.
pub const INVALID_TOKEN_KEY: &str = "Invalid token.";
/// DRF TokenAuthentication: user inactive.
pub const TOKEN_USER_INACTIVE: &str = "User inactive or deleted.";

/// DRF IntegerField's `invalid` message (query parameters of the event log).
pub const INVALID_INTEGER: &str = "A valid integer is required.";
/// DRF's SessionAuthentication prefix of every CSRF refusal (403).
pub const CSRF_FAILED: &str = "CSRF Failed: ";
/// Django REASON_BAD_ORIGIN (`%s` is the request's Origin).
pub const CSRF_BAD_ORIGIN: &str = "Origin checking failed - %s does not match any trusted origins.";
/// Django REASON_NO_REFERER: a cross-site request without an Origin to check.
pub const CSRF_NO_REFERER: &str = "Referer checking failed - no Referer.";
/// Django REASON_NO_CSRF_COOKIE.
pub const CSRF_NO_COOKIE: &str = "CSRF cookie not set.";
/// Django REASON_CSRF_TOKEN_MISSING.
pub const CSRF_TOKEN_MISSING: &str = "CSRF token missing.";
/// Django REASON_CSRF_TOKEN_INCORRECT.
pub const CSRF_TOKEN_INCORRECT: &str = "CSRF token incorrect.";
/// dj-rest-auth: jwt/refresh in cookie mode with no refresh token in the body or the cookie.
pub const NO_REFRESH_TOKEN: &str = "No valid refresh token found.";
/// dj-rest-auth LogoutView's answer.
pub const LOGGED_OUT: &str = "Successfully logged out.";

/// mfa/totp/activate/ (and confirm) while a second factor is already on.
pub const MFA_ALREADY_ENABLED: &str = "Two-factor authentication is already enabled.";
/// mfa/totp/deactivate/ and backup_codes/regenerate/ without a second factor.
pub const MFA_NOT_ENABLED: &str = "Two-factor authentication is not enabled.";
/// mfa/totp/activate/confirm/ before mfa/totp/activate/.
pub const MFA_NOT_STARTED: &str = "Two-factor authentication has not been activated.";
/// A TOTP or backup code that is wrong, expired or already used.
pub const MFA_INVALID_CODE: &str = "Invalid or expired code.";
/// An ephemeral token that is forged, expired, used, or out of tries.
pub const MFA_INVALID_TOKEN: &str = "Invalid or expired token.";

/// djoser's webauthn views: any ceremony that does not verify (the body's one string).
pub const WEBAUTHN_FAILED: &str = "WebAuthn verification failed.";
/// djoser's WebauthnSignupSerializer: the name is taken (f"User {username} already exists.").
pub fn webauthn_user_exists(username: &str) -> String {
    format!("User {username} already exists.")
}
/// The model's unique constraint on CredentialOptions.username, as DRF words it.
pub const WEBAUTHN_SIGNUP_PENDING: &str = "credential options with this username already exists.";
/// A credential id already registered.
pub const WEBAUTHN_CREDENTIAL_TAKEN: &str = "This passkey is already registered.";
/// Removing the last way to sign in.
pub const WEBAUTHN_LAST_CREDENTIAL: &str =
    "This is the account's only way to sign in; set a password or add another passkey first.";
/// djoser's signup/{ukey}/ for a ukey it has no CredentialOptions for (get_object_or_404).
pub const WEBAUTHN_NO_OPTIONS: &str = "No CredentialOptions matches the given query.";
// ---- djoser.social (djoser/social/) and python-social-auth 6's reasons ----
/// GET o/{provider}/ with a redirect_uri not in SOCIAL_AUTH_ALLOWED_REDIRECT_URIS (a bare string).
pub const SOCIAL_REDIRECT_URI_NOT_ALLOWED: &str =
    "redirect_uri must be in SOCIAL_AUTH_ALLOWED_REDIRECT_URIS";
/// POST without `state` (or `code`): python-social-auth's missing_parameter.
pub const SOCIAL_MISSING_PARAMETER: &str = "A required authentication parameter is missing.";
/// A `state` that was never issued, was used, expired, or belongs to another provider
/// (djoser's STATE_INVALID).
pub const SOCIAL_STATE_INVALID: &str = "Invalid state has been provided.";
/// The token endpoint refused the code (or the PKCE verifier).
pub const SOCIAL_CODE_REJECTED: &str = "The authorization code was rejected. Please restart login.";
/// Another error status from the provider.
pub const SOCIAL_HTTP_ERROR: &str = "The authentication provider rejected the request.";
/// The provider's answer was not what the protocol says.
pub const SOCIAL_MALFORMED_RESPONSE: &str =
    "The authentication provider returned an invalid response.";
/// The provider could not be reached.
pub const SOCIAL_CONNECTION_FAILED: &str = "The authentication provider could not be reached.";
/// The provider did not answer in time.
pub const SOCIAL_TIMEOUT: &str = "The authentication provider did not respond in time.";
/// The ID token's signature does not verify against the provider's keys.
pub const SOCIAL_INVALID_SIGNATURE: &str =
    "The authentication response signature could not be verified.";
/// A required ID token claim is missing.
pub const SOCIAL_MISSING_CLAIM: &str = "The authentication response is missing a required field.";
/// An ID token claim has the wrong value.
pub const SOCIAL_INVALID_CLAIM: &str = "An authentication response field could not be verified.";
/// The ID token's nonce is not the one of this sign-in.
pub const SOCIAL_NONCE_MISMATCH: &str =
    "The authentication response could not be matched to the request.";
/// The ID token has expired.
pub const SOCIAL_RESPONSE_EXPIRED: &str = "The authentication response has expired.";
/// The ID token is not valid yet.
pub const SOCIAL_NOT_YET_VALID: &str = "The authentication response is not yet valid.";
/// The e-mail belongs to an account that this identity may not join.
pub const SOCIAL_EMAIL_IN_USE: &str = "This email address is already in use.";
/// The account is inactive or disabled.
pub const SOCIAL_DISALLOWED: &str = "Authentication is not allowed by the application policy.";

//! The faults the IdP injects, each exercising one of the app's rejection paths.

/// A fault the IdP injects into the ID token or one of its endpoints, until changed. The claim
/// and signature faults (all but the nonce, `at_hash` and endpoint ones) also hit JWT access
/// tokens. ID tokens from the refresh grant carry a nonce or `at_hash` only when a fault adds
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Behave like Logto.
    None,
    /// Sign with a freshly generated key, but keep the current (published) `kid`.
    WrongSignature,
    /// `aud` is `"someone-else"`.
    WrongAudience,
    /// `iss` is `"https://evil.example/oidc"`.
    WrongIssuer,
    /// `iat` two hours ago, `exp` one hour ago.
    Expired,
    /// `iat` in one hour, `exp` in two hours.
    IssuedInTheFuture,
    /// `nonce` is `"not-the-nonce"`.
    WrongNonce,
    /// No `nonce` claim, even if the authorization request had one.
    MissingNonce,
    /// Sign with a key that is not published, under `kid` `"unknown-kid"`.
    UnknownKid,
    /// Unsigned token: header `{"alg":"none","typ":"JWT"}` and an empty signature.
    AlgNone,
    /// HS256 with the current public key's SPKI PEM as HMAC secret (key-confusion attack).
    Hs256SignedWithPublicKey,
    /// `at_hash` of a different access token.
    WrongAtHash,
    /// The token endpoint answers 500 with an HTML body.
    TokenEndpointError500,
    /// The token endpoint answers 200 `application/json` with truncated JSON.
    TokenEndpointInvalidJson,
    /// The token endpoint answers 500 `{"error":"server_error"}`, as oidc-provider (and so
    /// Logto) does when it fails inside.
    TokenEndpointServerError,
    /// Something in front of the token endpoint (a WAF, a proxy) answers 403 with an HTML
    /// page: what a visitor may provoke with a hostile code.
    TokenEndpointRefusedInFront,
    /// The discovery endpoint answers 503 (Logto starting, or failing behind its proxy).
    DiscoveryUnavailable,
    /// The JWKS endpoint answers 503; discovery still works.
    JwksUnavailable,
    /// `/oidc/me` answers for another user: its `sub` is [`ANOTHER_USER_SUB`](super::ANOTHER_USER_SUB).
    UserInfoForAnotherUser,
}

/// How [`TestIdp::logout_token`](super::TestIdp::logout_token) breaks a logout token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogoutMisbehaviour {
    /// A valid logout token, as Logto sends it.
    #[default]
    None,
    /// Signed with a key that is not published, under the current (published) `kid`.
    WrongKey,
    /// `iat` two hours ago, `exp` one hour ago.
    Expired,
    /// Has a `nonce`, which logout tokens must not have.
    WithNonce,
    /// No `events` claim: a plain JWT, not a logout token.
    MissingEvents,
    /// `aud` is `"someone-else"`.
    WrongAudience,
    /// `iss` is `"https://evil.example/oidc"`.
    WrongIssuer,
    /// No `jti` claim.
    MissingJti,
    /// Unsigned: header `{"alg":"none"}` and an empty signature.
    AlgNone,
    /// No `exp` claim.
    MissingExp,
    /// `iat` seven minutes ago (`exp` still ahead): older than receivers accept.
    IssuedLongAgo,
    /// The back-channel logout event's value is `true` instead of a JSON object.
    EventNotAnObject,
    /// Signed with a key that is not published, under `kid` `"unknown-kid"`.
    UnknownKid,
}

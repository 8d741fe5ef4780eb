//! Protecting an API with Logto access tokens (RFC 6750 bearer tokens, RFC 9068 JWTs).
//!
//! [`LogtoClient::authorize_bearer`](crate::LogtoClient::authorize_bearer) takes the raw
//! `Authorization` header and an [`ApiRequirement`], and answers [`ApiClaims`] or a
//! [`BearerError`] that says what to answer: [`status`](BearerError::status),
//! [`www_authenticate`](BearerError::www_authenticate) and a JSON [`body`](BearerError::body).
//! A framework integration needs only those three around the call.
//!
//! Where this differs from Logto's own samples, it follows RFC 6750: a token for another
//! audience is a 401 `invalid_token` (Logto's samples answer 403), and only a genuine token
//! that lacks a scope, or an organization token of another organization, is a 403.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::LogtoError;
use crate::jwt::TokenError;

/// The prefix of an organization token's audience, before the organization id.
pub const ORGANIZATION_AUDIENCE_PREFIX: &str = "urn:logto:organization:";

/// What an API route demands of an access token: its audience and the scopes it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequirement {
    audience: String,
    organization_id: Option<String>,
    scopes: Vec<String>,
}

impl ApiRequirement {
    /// A token for the API resource `indicator` (its `aud`), for example
    /// `https://api.bookstore.example`.
    pub fn resource(indicator: impl Into<String>) -> Self {
        Self {
            audience: indicator.into(),
            organization_id: None,
            scopes: Vec::new(),
        }
    }

    /// An organization token for the organization `id`: `aud` is
    /// `urn:logto:organization:<id>`. A genuine organization token of another organization is
    /// refused with 403 ([`BearerError::OtherOrganization`]).
    pub fn organization(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            audience: format!("{ORGANIZATION_AUDIENCE_PREFIX}{id}"),
            organization_id: Some(id),
            scopes: Vec::new(),
        }
    }

    /// The same requirement, with these scopes (permissions) required too: every one of them
    /// must be granted.
    #[must_use]
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The `aud` the token must name.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The organization, for an organization requirement.
    pub fn organization_id(&self) -> Option<&str> {
        self.organization_id.as_deref()
    }

    /// The scopes the token must grant.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// The verified claims of an access token that met an [`ApiRequirement`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiClaims {
    /// The user's id, or for a machine-to-machine token the app's id (then equal to
    /// `client_id`).
    pub sub: String,
    /// The application the token was issued to.
    pub client_id: Option<String>,
    /// The granted scopes (the `scope` claim split on spaces; none when it is absent or empty).
    pub scopes: BTreeSet<String>,
    /// The organization: from the audience of an organization token, or the `organization_id`
    /// claim of a token for an organization-level API resource.
    pub organization_id: Option<String>,
    /// The audience the token was accepted for.
    pub audience: String,
    /// Expiry, in Unix seconds.
    pub expires_at: i64,
    /// Issue time, in Unix seconds.
    pub issued_at: Option<i64>,
    /// The token's unique id.
    pub jti: Option<String>,
}

impl ApiClaims {
    /// Whether the token belongs to an application itself (machine to machine, the
    /// client-credentials grant): Logto sets `sub` to the app's id, so `sub == client_id`.
    pub fn is_app(&self) -> bool {
        self.client_id.as_deref() == Some(self.sub.as_str())
    }

    /// The user's id, for a token of a user; `None` for an app's own token.
    pub fn user_id(&self) -> Option<&str> {
        (!self.is_app()).then_some(self.sub.as_str())
    }

    /// Whether `scope` was granted (matched whole, never as a substring).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Why a request's bearer token was refused, or could not be checked. Its `Display` (for
/// logs) never quotes the token.
///
/// Answer it with [`status`](Self::status), the [`www_authenticate`](Self::www_authenticate)
/// header and the JSON [`body`](Self::body). New reasons may be added in a minor release:
/// match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization` header. 401 with a bare `Bearer` challenge (RFC 6750 §3.1: no error
    /// code when the request carries no authentication).
    #[error("the request has no Authorization header")]
    Missing,
    /// An `Authorization` header of another scheme, such as `Basic`. RFC 6750 §3.1 counts an
    /// unsupported authentication method as no authentication: 401 with a bare `Bearer`
    /// challenge, like [`Missing`](Self::Missing).
    #[error("the Authorization header does not use the Bearer scheme")]
    UnsupportedScheme,
    /// `Bearer` with no token, or a token of characters a token cannot have. 401
    /// `invalid_token`.
    #[error("the Authorization header does not hold a bearer token")]
    MalformedHeader,
    /// An opaque token: Logto issues one when no resource (or organization) was requested,
    /// and it is good only at Logto's userinfo endpoint. 401 `invalid_token`.
    #[error("the access token is opaque; a JWT for the API resource is needed")]
    Opaque {
        /// Whether the route needs an organization token rather than a resource's.
        organization: bool,
        /// The audience the route needs.
        audience: String,
    },
    /// The JWT failed verification: signature, algorithm, key, `typ`, `iss`, `aud`, `exp`,
    /// `nbf`, `iat` or a required claim. 401 `invalid_token`.
    #[error("the access token is invalid")]
    Invalid {
        /// Why.
        #[source]
        reason: TokenError,
        /// The audience the route needs.
        audience: String,
    },
    /// A genuine token that lacks a required scope. 403 `insufficient_scope`.
    #[error("the access token lacks a required scope")]
    InsufficientScope {
        /// Every scope the route requires.
        required: Vec<String>,
        /// The required scopes the token lacks.
        missing: Vec<String>,
    },
    /// A genuine organization token of another organization than the route's. 403
    /// `insufficient_scope`.
    #[error("the access token is for another organization")]
    OtherOrganization {
        /// Every scope the route requires.
        required: Vec<String>,
    },
    /// Logto's keys could not be loaded (Logto unreachable, backing off, or a bad answer):
    /// the token can be neither accepted nor refused. 503 (or 502/500, as
    /// [`LogtoError::status_code`] says), with no challenge.
    #[error("the access token cannot be checked now")]
    CannotVerify(#[source] LogtoError),
}

/// The JSON body of a refusal: `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BearerErrorBody {
    /// `invalid_token`, `insufficient_scope`, `unauthorized` (no token), or
    /// `temporarily_unavailable` / `server_error` when the token could not be checked.
    pub error: &'static str,
    /// What went wrong and what to do, for the API's caller; it never quotes the token.
    pub error_description: String,
}

impl BearerError {
    /// The HTTP status to answer with: 401, 403, or for [`CannotVerify`](Self::CannotVerify)
    /// the status of its [`LogtoError`] (503 while Logto is unavailable).
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing
            | Self::UnsupportedScheme
            | Self::MalformedHeader
            | Self::Opaque { .. }
            | Self::Invalid { .. } => 401,
            Self::InsufficientScope { .. } | Self::OtherOrganization { .. } => 403,
            Self::CannotVerify(error) => error.status_code(),
        }
    }

    /// The RFC 6750 error code: `invalid_token`, `insufficient_scope`, or `None` when the
    /// request carried no bearer token or the token could not be checked.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::Missing | Self::UnsupportedScheme | Self::CannotVerify(_) => None,
            Self::MalformedHeader | Self::Opaque { .. } | Self::Invalid { .. } => {
                Some("invalid_token")
            }
            Self::InsufficientScope { .. } | Self::OtherOrganization { .. } => {
                Some("insufficient_scope")
            }
        }
    }

    /// What went wrong and what to do, for the API's caller. Never the token, nor anything
    /// read from it.
    pub fn description(&self) -> String {
        match self {
            Self::Missing => {
                "this API needs an access token: send Authorization: Bearer <token>".to_owned()
            }
            Self::UnsupportedScheme => {
                "the Authorization header must use the Bearer scheme".to_owned()
            }
            Self::MalformedHeader => "the Authorization header is not Bearer <token>".to_owned(),
            Self::Opaque {
                organization: true, ..
            } => "the access token is opaque, not a JWT: request an organization token \
                  (organization_id) for this organization"
                .to_owned(),
            Self::Opaque { audience, .. } => format!(
                "the access token is opaque, not a JWT: request the token for the API \
                 resource (resource={audience})"
            ),
            Self::Invalid { reason, audience } => invalid_token_description(reason, audience),
            Self::InsufficientScope { missing, .. } => {
                format!("the access token lacks the scope {}", missing.join(" "))
            }
            Self::OtherOrganization { .. } => {
                "the access token is for another organization".to_owned()
            }
            Self::CannotVerify(error) if error.is_unavailable() => {
                "the access token cannot be checked now: Logto is unavailable".to_owned()
            }
            Self::CannotVerify(_) => {
                "the access token cannot be checked: Logto's keys are unusable".to_owned()
            }
        }
    }

    /// The `WWW-Authenticate` header to send (RFC 6750 §3): `Bearer` alone for a request
    /// without a bearer token, `Bearer error="invalid_token", error_description="..."` for a
    /// bad one, and `Bearer error="insufficient_scope", error_description="...",
    /// scope="..."` for a 403. `None` when the token could not be checked (no challenge).
    /// Quoted values hold only the characters RFC 6750 allows: any other is replaced by `?`.
    pub fn www_authenticate(&self) -> Option<String> {
        let code = match self {
            Self::CannotVerify(_) => return None,
            Self::Missing | Self::UnsupportedScheme => return Some("Bearer".to_owned()),
            other => other.error_code()?,
        };
        let mut challenge = format!(
            "Bearer error=\"{code}\", error_description=\"{}\"",
            rfc6750_quotable(&self.description(), false)
        );
        let required = match self {
            Self::InsufficientScope { required, .. } | Self::OtherOrganization { required } => {
                required.as_slice()
            }
            _ => &[],
        };
        if !required.is_empty() {
            let scopes: Vec<String> = required
                .iter()
                .map(|scope| rfc6750_quotable(scope, true))
                .collect();
            challenge.push_str(&format!(", scope=\"{}\"", scopes.join(" ")));
        }
        Some(challenge)
    }

    /// The JSON body to answer with.
    pub fn body(&self) -> BearerErrorBody {
        let error = match self {
            Self::CannotVerify(error) if error.is_unavailable() => "temporarily_unavailable",
            Self::CannotVerify(_) => "server_error",
            other => other.error_code().unwrap_or("unauthorized"),
        };
        BearerErrorBody {
            error,
            error_description: self.description(),
        }
    }
}

/// A fixed description per reason: what the token claims is never echoed.
fn invalid_token_description(reason: &TokenError, audience: &str) -> String {
    let text = match reason {
        TokenError::Malformed => "the access token is not a well-formed JWT",
        TokenError::DisallowedAlgorithm(_) => {
            "the access token is signed with an algorithm that is not allowed"
        }
        TokenError::UnknownKey { .. } => {
            "the access token is signed with a key that Logto does not publish"
        }
        TokenError::BadSignature => "the access token's signature does not verify",
        TokenError::Expired => "the access token has expired",
        TokenError::NotYetValid | TokenError::IssuedInTheFuture => {
            "the access token is not valid yet"
        }
        TokenError::WrongIssuer => "the access token was not issued by this API's Logto",
        TokenError::WrongAudience => {
            return format!(
                "the access token is for another audience; this API needs one for {audience}"
            );
        }
        TokenError::WrongType(_) => "the token is not an access token (its typ is not at+jwt)",
        TokenError::MissingClaim(_) => "the access token lacks a required claim",
        _ => "the access token is invalid",
    };
    text.to_owned()
}

/// `value` with every character RFC 6750 §3 forbids in a quoted attribute replaced by `?`:
/// `error_description` allows %x20-21 / %x23-5B / %x5D-7E (no `"`, no `\`, no control or
/// non-ASCII character), and a scope token the same without the space.
fn rfc6750_quotable(value: &str, scope_token: bool) -> String {
    value
        .chars()
        .map(|c| match c {
            ' ' if scope_token => '?',
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

/// What the `Authorization` header holds.
pub(crate) enum Presented<'a> {
    /// Three dot-separated base64url parts: a JWT to verify.
    Jwt(&'a str),
    /// A token68 value without dots: Logto's opaque access token.
    Opaque,
}

/// Reads a bearer token from the raw `Authorization` header (RFC 6750 §2.1, RFC 7235: the
/// scheme is case-insensitive, the token a `token68` after one or more spaces).
pub(crate) fn read_bearer(authorization: Option<&str>) -> Result<Presented<'_>, BearerError> {
    let value = authorization.ok_or(BearerError::Missing)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::UnsupportedScheme);
    }
    let token = rest.trim_start_matches(' ');
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let body = token.trim_end_matches('=');
    if body.is_empty() || !body.chars().all(token68) {
        return Err(BearerError::MalformedHeader);
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        1 => Ok(Presented::Opaque),
        3 if parts[..2].iter().all(|part| !part.is_empty()) => Ok(Presented::Jwt(token)),
        _ => Err(BearerError::MalformedHeader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(reason: TokenError) -> BearerError {
        BearerError::Invalid {
            reason,
            audience: "https://api.example".to_owned(),
        }
    }

    #[test]
    fn the_header_is_read_as_rfc_6750_says() {
        assert!(matches!(read_bearer(None), Err(BearerError::Missing)));
        for other_scheme in ["Basic dXNlcjpwYXNz", "Digest x", "Bearerx a.b.c", "a.b.c"] {
            assert!(
                matches!(
                    read_bearer(Some(other_scheme)),
                    Err(BearerError::UnsupportedScheme)
                ),
                "{other_scheme}"
            );
        }
        for malformed in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a.b",
            "Bearer a..c",
            "Bearer .b.c",
            "Bearer a.b.c.d",
            "Bearer \"a.b.c\"",
            "Bearer a.b.c\r\nX: y",
            "Bearer é",
        ] {
            assert!(
                matches!(
                    read_bearer(Some(malformed)),
                    Err(BearerError::MalformedHeader)
                ),
                "{malformed:?}"
            );
        }
        assert!(matches!(
            read_bearer(Some("bearer   eyJh.eyJz.c2ln ")),
            Ok(Presented::Jwt("eyJh.eyJz.c2ln"))
        ));
        assert!(matches!(
            read_bearer(Some("Bearer a.b.")),
            Ok(Presented::Jwt("a.b."))
        ));
        assert!(matches!(
            read_bearer(Some("BEARER Z2F6h7qkPv3-Xw_9bSb1mYq0sFQ3nN8xJ2kLrT5uVwA")),
            Ok(Presented::Opaque)
        ));
    }

    #[test]
    fn each_refusal_has_its_status_and_challenge() {
        let table: [(BearerError, u16, &str); 6] = [
            (BearerError::Missing, 401, "Bearer"),
            (BearerError::UnsupportedScheme, 401, "Bearer"),
            (
                BearerError::MalformedHeader,
                401,
                r#"Bearer error="invalid_token", error_description="the Authorization header is not Bearer <token>""#,
            ),
            (
                invalid(TokenError::Expired),
                401,
                r#"Bearer error="invalid_token", error_description="the access token has expired""#,
            ),
            (
                BearerError::InsufficientScope {
                    required: vec!["read:books".into(), "write:books".into()],
                    missing: vec!["write:books".into()],
                },
                403,
                r#"Bearer error="insufficient_scope", error_description="the access token lacks the scope write:books", scope="read:books write:books""#,
            ),
            (
                BearerError::OtherOrganization {
                    required: vec!["read:club-shelf".into()],
                },
                403,
                r#"Bearer error="insufficient_scope", error_description="the access token is for another organization", scope="read:club-shelf""#,
            ),
        ];
        for (error, status, challenge) in table {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.www_authenticate().as_deref(), Some(challenge));
        }
        let unavailable =
            BearerError::CannotVerify(LogtoError::TokenEndpointUnreachable("timed out".to_owned()));
        assert_eq!(unavailable.status(), 503);
        assert_eq!(unavailable.www_authenticate(), None);
        assert_eq!(unavailable.body().error, "temporarily_unavailable");
        assert_eq!(BearerError::Missing.body().error, "unauthorized");
    }

    #[test]
    fn quoted_values_hold_only_what_rfc_6750_allows() {
        // An organization id comes from the request path: it must not break the header.
        let error = BearerError::Opaque {
            organization: false,
            audience: "https://api.example/\"x\\y\r\nSet-Cookie: a=b é".to_owned(),
        };
        let challenge = error.www_authenticate().unwrap();
        assert!(
            challenge.ends_with(r#"resource=https://api.example/?x?y??Set-Cookie: a=b ?)""#),
            "{challenge}"
        );
        let inside = &challenge
            ["Bearer error=\"invalid_token\", error_description=\"".len()..challenge.len() - 1];
        assert!(!inside.contains('"') && !inside.contains('\\'));
        assert!(challenge.bytes().all(|byte| (b' '..=b'~').contains(&byte)));
        let scoped = BearerError::InsufficientScope {
            required: vec!["a\"b".into(), "c d".into()],
            missing: vec![],
        };
        assert!(
            scoped
                .www_authenticate()
                .unwrap()
                .ends_with(r#"scope="a?b c?d""#)
        );
    }

    #[test]
    fn a_refusal_never_echoes_what_the_token_says() {
        let forged = invalid(TokenError::WrongType(Some("\"evil".into())));
        assert!(!forged.description().contains("evil"));
        let forged = invalid(TokenError::UnknownKey {
            kid: Some("evil-kid".into()),
        });
        assert!(!forged.www_authenticate().unwrap().contains("evil"));
    }

    #[test]
    fn requirements_name_their_audience_and_scopes() {
        let books = ApiRequirement::resource("https://api.example").with_scopes(["read:books"]);
        assert_eq!(books.audience(), "https://api.example");
        assert_eq!(books.scopes(), ["read:books"]);
        assert_eq!(books.organization_id(), None);
        let shelf = ApiRequirement::organization("org_1").with_scopes(["read:club-shelf"]);
        assert_eq!(shelf.audience(), "urn:logto:organization:org_1");
        assert_eq!(shelf.organization_id(), Some("org_1"));
    }

    #[test]
    fn an_app_token_has_its_own_id_as_subject() {
        let claims = ApiClaims {
            sub: "m2m-app".into(),
            client_id: Some("m2m-app".into()),
            scopes: BTreeSet::from(["read:books".to_owned()]),
            organization_id: None,
            audience: "https://api.example".into(),
            expires_at: 0,
            issued_at: None,
            jti: None,
        };
        assert!(claims.is_app());
        assert_eq!(claims.user_id(), None);
        assert!(claims.has_scope("read:books") && !claims.has_scope("read"));
        let user = ApiClaims {
            sub: "user_1".into(),
            ..claims
        };
        assert!(!user.is_app());
        assert_eq!(user.user_id(), Some("user_1"));
    }
}

//! Protecting a JSON API with Logto access tokens: [`LogtoAuth::api_scope`] and the
//! [`ApiUser`] extractor.
//!
//! Every route of an [`ApiScope`] states what it requires (an API resource's scopes, or an
//! organization's), so a route cannot be added without one. The scope sits outside
//! [`LogtoAuth::scope`]: no session, no cookie, no cross-site check. Refusals are JSON with
//! the RFC 6750 status and `WWW-Authenticate` header, never an HTML page.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory, Payload};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, HeaderValue, WWW_AUTHENTICATE};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, Route, Scope, web};
use logto_client::LogtoClient;
use logto_client::api::{ApiClaims, ApiRequirement, BearerError};

use crate::auth::LogtoAuth;

/// A request whose bearer token met its route's requirement: the token's verified claims.
///
/// Only routes of a [`LogtoAuth::api_scope`] can extract it. Elsewhere it answers 500 and
/// logs how to fix the wiring, never a request let through unchecked.
#[derive(Debug, Clone)]
pub struct ApiUser {
    claims: ApiClaims,
}

impl ApiUser {
    /// The token's verified claims: `sub`, `client_id`, scopes, organization.
    pub fn claims(&self) -> &ApiClaims {
        &self.claims
    }

    /// Whether the caller is an application (a machine-to-machine token), not a user.
    pub fn is_app(&self) -> bool {
        self.claims.is_app()
    }
}

/// What one route of an [`ApiScope`] requires, before the request fills in its organization.
#[derive(Debug, Clone)]
enum Requirement {
    /// A token for the scope's API resource with these scopes.
    Resource(ApiRequirement),
    /// An organization token for the organization named by this path segment.
    Organization {
        segment: String,
        scopes: Vec<String>,
    },
}

impl Requirement {
    fn for_request(&self, request: &HttpRequest) -> Result<ApiRequirement, ApiRefusal> {
        match self {
            Self::Resource(requirement) => Ok(requirement.clone()),
            Self::Organization { segment, scopes } => {
                let id = request.match_info().get(segment).ok_or_else(|| {
                    ApiRefusal::Wiring(format!(
                        "the route has no path segment {{{segment}}} naming the organization"
                    ))
                })?;
                Ok(ApiRequirement::organization(id).with_scopes(scopes.iter().cloned()))
            }
        }
    }
}

/// Why an API request was refused: its bearer token, or routes wired without a requirement.
#[derive(Debug, thiserror::Error)]
pub enum ApiRefusal {
    /// The token was missing, invalid, or not enough (RFC 6750), or could not be checked.
    #[error(transparent)]
    Bearer(#[from] BearerError),
    /// `ApiUser` on a route that states no requirement: a wiring fault of the product.
    #[error(
        "ApiUser needs a route of `LogtoAuth::api_scope()`, which states what it requires ({0})"
    )]
    Wiring(String),
}

impl ResponseError for ApiRefusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Bearer(error) => {
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Wiring(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            Self::Bearer(error) => {
                if let Some(challenge) = error.www_authenticate() {
                    response.insert_header((WWW_AUTHENTICATE, challenge));
                }
                response.json(error.body())
            }
            Self::Wiring(_) => {
                log::error!("{self}");
                response.json(serde_json::json!({
                    "error": "server_error",
                    "error_description": "this API route is not set up to check access tokens",
                }))
            }
        }
    }
}

/// What an [`ApiScope`] gives its routes: the client that verifies tokens.
#[derive(Clone)]
struct ApiGuard {
    client: Arc<LogtoClient>,
}

impl FromRequest for ApiUser {
    type Error = ApiRefusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiRefusal>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let guard = request.app_data::<ApiGuard>().cloned();
        let requirement = request.app_data::<Requirement>().cloned();
        let wired = match (guard, requirement) {
            (Some(guard), Some(requirement)) => requirement
                .for_request(request)
                .map(|requirement| (guard, requirement)),
            (None, _) => Err(ApiRefusal::Wiring(
                "this route is outside every API scope".to_owned(),
            )),
            (Some(_), None) => Err(ApiRefusal::Wiring(
                "this route was added without a requirement".to_owned(),
            )),
        };
        // Only a header of visible ASCII can hold a bearer token.
        let authorization = request
            .headers()
            .get(AUTHORIZATION)
            .map(|value| value.to_str().map(str::to_owned));
        Box::pin(async move {
            let (guard, requirement) = wired?;
            let authorization = match authorization {
                None => None,
                Some(Ok(value)) => Some(value),
                Some(Err(_)) => return Err(BearerError::MalformedHeader.into()),
            };
            let claims = guard
                .client
                .authorize_bearer(authorization.as_deref(), &requirement)
                .await?;
            Ok(Self { claims })
        })
    }
}

/// A scope of API routes, each with what its bearer token must grant. Built by
/// [`LogtoAuth::api_scope`]; register it with `App::service`, before [`LogtoAuth::scope`]
/// (which matches every path).
#[must_use = "register it with `App::service`"]
pub struct ApiScope {
    scope: Scope,
    resource: String,
}

impl ApiScope {
    /// A route that needs a token for the scope's API resource granting every one of
    /// `scopes`, for example `.route("/books", &["read:books"], web::get().to(list))`.
    pub fn route(self, path: &str, scopes: &[&str], route: Route) -> Self {
        let requirement = Requirement::Resource(
            ApiRequirement::resource(self.resource.clone()).with_scopes(scopes.iter().copied()),
        );
        self.with_resource(path, requirement, route)
    }

    /// A route that needs an organization token for the organization named by the path
    /// segment `{segment}`, granting every one of `scopes`: for example
    /// `.organization_route("/organizations/{id}/shelf", "id", &["read:club-shelf"], …)`.
    pub fn organization_route(
        self,
        path: &str,
        segment: &str,
        scopes: &[&str],
        route: Route,
    ) -> Self {
        let requirement = Requirement::Organization {
            segment: segment.to_owned(),
            scopes: scopes.iter().map(|&scope| scope.to_owned()).collect(),
        };
        self.with_resource(path, requirement, route)
    }

    fn with_resource(self, path: &str, requirement: Requirement, route: Route) -> Self {
        Self {
            scope: self
                .scope
                .service(web::resource(path).app_data(requirement).route(route)),
            ..self
        }
    }
}

impl HttpServiceFactory for ApiScope {
    fn register(self, config: &mut AppService) {
        self.scope.register(config);
    }
}

impl LogtoAuth {
    /// A scope at `prefix` (such as `/api`) for routes that accept Logto access tokens for the
    /// API resource `resource` (its indicator, as registered in Logto). Its routes extract
    /// [`ApiUser`]; it reads no session and sets no cookie.
    pub fn api_scope(&self, prefix: &str, resource: impl Into<String>) -> ApiScope {
        ApiScope {
            scope: web::scope(prefix)
                .app_data(ApiGuard {
                    client: Arc::clone(self.client()),
                })
                .default_service(web::to(no_such_api_route)),
            resource: resource.into(),
        }
    }
}

/// Any address of the API scope without a route: JSON, like every API answer.
async fn no_such_api_route() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "error_description": "there is no API route at this address",
    }))
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service, read_body_json};
    use actix_web::{App, HttpResponse};

    use super::*;
    use crate::scope::tests::auth;

    async fn caller(caller: ApiUser) -> HttpResponse {
        HttpResponse::Ok().body(caller.claims().sub.clone())
    }

    #[actix_web::test]
    async fn api_user_outside_an_api_scope_fails_loudly_never_lets_a_request_through() {
        let auth = auth();
        let app = init_service(
            App::new()
                .route("/api/orphan", web::get().to(caller))
                .service(auth.api_scope("/v1", "https://api.example")),
        )
        .await;
        for path in ["/api/orphan", "/v1/missing"] {
            let response = call_service(
                &app,
                TestRequest::get()
                    .uri(path)
                    .insert_header(("authorization", "Bearer a.b.c"))
                    .to_request(),
            )
            .await;
            let expected = if path == "/api/orphan" {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(response.status(), expected, "{path}");
            let body: serde_json::Value = read_body_json(response).await;
            assert!(body["error"].is_string(), "{path}: JSON, {body}");
        }
        assert!(
            ApiRefusal::Wiring("x".to_owned())
                .to_string()
                .contains("LogtoAuth::api_scope()"),
            "the log line says how to fix it"
        );
    }

    #[actix_web::test]
    async fn an_authorization_header_that_is_not_text_is_malformed_not_missing() {
        let auth = auth();
        let app = init_service(App::new().service(
            auth.api_scope("/api", "https://api.example").route(
                "/books",
                &["read:books"],
                web::get().to(caller),
            ),
        ))
        .await;
        let response = call_service(
            &app,
            TestRequest::get()
                .uri("/api/books")
                .insert_header((
                    AUTHORIZATION,
                    HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
                ))
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{challenge}"
        );
    }
}

//! The HTTP endpoints under `/oidc`, and their request parsing.

use super::*;

pub(super) async fn discovery(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
    state.count(Endpoint::Discovery);
    if state.lock().misbehaviour == Misbehaviour::DiscoveryUnavailable {
        return service_unavailable();
    }
    let issuer = &state.issuer;
    // As in oidc-provider (so in Logto), the endpoints follow the request's Host; only the
    // issuer is fixed.
    let host = request.connection_info().host().to_owned();
    let oidc = format!("http://{host}/oidc");
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{oidc}/auth"),
        "token_endpoint": format!("{oidc}/token"),
        "userinfo_endpoint": format!("{oidc}/me"),
        "jwks_uri": format!("{oidc}/jwks"),
        "end_session_endpoint": format!("{oidc}/session/end"),
        "revocation_endpoint": format!("{oidc}/token/revocation"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES384"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": [
            "openid", "offline_access", "profile", "email", "phone",
            "custom_data", "identities", "roles", ORGANIZATIONS_SCOPE,
            "urn:logto:scope:organization_roles",
        ],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "name", "username", "picture", "email", "email_verified",
            "phone_number", "phone_number_verified", "created_at", "updated_at",
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    }))
}

pub(super) async fn jwks(state: web::Data<IdpState>) -> HttpResponse {
    state.count(Endpoint::Jwks);
    if state.lock().misbehaviour == Misbehaviour::JwksUnavailable {
        return service_unavailable();
    }
    let keys = state
        .lock()
        .signing_keys
        .iter()
        .rev()
        .map(SigningKey::public_jwk)
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(JwkSet { keys })
}

pub(super) async fn authorize(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
    state.count(Endpoint::Authorize);
    let query = form_pairs(request.query_string().as_bytes());
    state.lock().last_authorize_query = Some(query.clone());
    let param = |name| first_value(&query, name);

    // Without a trusted redirect target the error can only be shown, never redirected.
    if param("client_id") != Some(state.client.client_id.as_str()) {
        return plain_bad_request("invalid_client: unknown client_id");
    }
    if param("redirect_uri") != Some(state.client.redirect_uri.as_str()) {
        return plain_bad_request("invalid_redirect_uri: redirect_uri is not registered");
    }

    let request = match parse_authorization_request(&query) {
        Ok(request) => request,
        Err((error, description)) => {
            // The client and redirect URI are trusted now, so errors go back to the client.
            let mut response = vec![("error", error), ("error_description", description)];
            response.extend(param("state").map(|oauth_state| ("state", oauth_state)));
            response.push(("iss", &state.issuer));
            return see_other(with_query(&state.redirect_uri, &response));
        }
    };

    let code = random_token();
    let sid = random_token();
    let mut shared = state.lock();
    let authorization = AuthorizationCode {
        issued_at: Instant::now(),
        nonce: request.nonce.map(str::to_owned),
        code_challenge: request.code_challenge.to_owned(),
        sign_in: SignIn {
            auth_time: unix_now(),
            sid: sid.clone(),
            scope: request.scope.to_owned(),
            resources: request.resources,
            user: shared.user.clone(),
        },
    };
    shared.codes.insert(code.clone(), authorization);
    shared.last_sid = Some(sid);
    drop(shared);
    see_other(with_query(
        &state.redirect_uri,
        &[
            ("code", &code),
            ("state", request.state),
            ("iss", &state.issuer),
        ],
    ))
}

/// The parts of a valid authorization request that the grant keeps.
struct AuthorizationRequest<'a> {
    state: &'a str,
    scope: &'a str,
    code_challenge: &'a str,
    nonce: Option<&'a str>,
    resources: Vec<String>,
}

/// Checks what Logto requires of an authorization request besides client and redirect URI.
/// Errors are `(error, error_description)` for the redirect back to the client.
fn parse_authorization_request(
    query: &[(String, String)],
) -> Result<AuthorizationRequest<'_>, (&'static str, &'static str)> {
    let param = |name| first_value(query, name);
    if param("response_type") != Some("code") {
        return Err((
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let scope = param("scope")
        .filter(|scope| has_scope(scope, "openid"))
        .ok_or(("invalid_scope", "the openid scope is required"))?;
    let code_challenge = param("code_challenge")
        .filter(|challenge| !challenge.is_empty())
        .ok_or(("invalid_request", "code_challenge is required (PKCE)"))?;
    if param("code_challenge_method") != Some("S256") {
        return Err(("invalid_request", "code_challenge_method must be S256"));
    }
    let state = param("state").ok_or(("invalid_request", "state is required"))?;
    let resources: Vec<String> = query
        .iter()
        .filter(|(name, _)| name == "resource")
        .map(|(_, resource)| resource.clone())
        .collect();
    let known = |resource: &String| resource == BOOKSTORE_API || resource == ORGANIZATIONS_RESOURCE;
    if !resources.iter().all(known) {
        return Err((
            "invalid_target",
            "resource indicator is missing, or unknown",
        ));
    }
    Ok(AuthorizationRequest {
        state,
        scope,
        code_challenge,
        nonce: param("nonce"),
        resources,
    })
}

pub(super) async fn token(
    state: web::Data<IdpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    state.count(Endpoint::Token);
    let (misbehaviour, delay) = {
        let shared = state.lock();
        (shared.misbehaviour, shared.token_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // Endpoint-level faults come first: a broken server does not get to validate anything.
    match misbehaviour {
        Misbehaviour::TokenEndpointError500 => {
            return HttpResponse::InternalServerError()
                .content_type(ContentType::html())
                .body(
                    "<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>",
                );
        }
        Misbehaviour::TokenEndpointInvalidJson => {
            return HttpResponse::Ok()
                .content_type(ContentType::json())
                .body(r#"{"access_token": "#);
        }
        Misbehaviour::TokenEndpointServerError => {
            return HttpResponse::InternalServerError().json(json!({
                "error": "server_error",
                "error_description": "oops! something went wrong",
            }));
        }
        Misbehaviour::TokenEndpointRefusedInFront => {
            return HttpResponse::Forbidden()
                .content_type(ContentType::html())
                .body("<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>");
        }
        _ => {}
    }

    let form = form_pairs(&body);
    if first_value(&form, "grant_type") == Some("client_credentials") {
        let Some(machine) = state.authenticated_machine_client(&request) else {
            // The web app may not use this grant; anyone else is unknown.
            return if state.authenticates_client(&request) {
                oauth_error(&GrantError::new(
                    "unauthorized_client",
                    "requested grant type is not allowed for this client",
                ))
            } else {
                invalid_client()
            };
        };
        state
            .client_credentials_grants
            .fetch_add(1, Ordering::SeqCst);
        return match client_credentials_grant(&state, &machine, &form) {
            Ok(response) => HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(response),
            Err(error) => oauth_error(&error),
        };
    }
    if !state.authenticates_client(&request) {
        return invalid_client();
    }

    let result = match first_value(&form, "grant_type") {
        Some("authorization_code") => authorization_code_grant(&state, &form),
        Some("refresh_token") => {
            state.refresh_grants.fetch_add(1, Ordering::SeqCst);
            refresh_token_grant(&state, &form)
        }
        _ => Err(GrantError::new(
            "unsupported_grant_type",
            "only authorization_code, refresh_token and client_credentials are supported",
        )),
    };
    match result {
        Ok(response) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(response),
        Err(error) => oauth_error(&error),
    }
}

pub(super) fn authorization_code_grant(
    state: &IdpState,
    form: &[(String, String)],
) -> Result<TokenResponse, GrantError> {
    let param = |name| first_value(form, name);
    let code = param("code").ok_or(GrantError::new(
        "invalid_request",
        "missing required parameter 'code'",
    ))?;
    // Removing it consumes the code on first use, even if a check below then fails.
    let authorization = state.lock().codes.remove(code).ok_or(GrantError::new(
        "invalid_grant",
        "grant request is invalid (code not found or already used)",
    ))?;
    if authorization.issued_at.elapsed() > AUTHORIZATION_CODE_LIFETIME {
        return Err(GrantError::new(
            "invalid_grant",
            "grant request is invalid (code expired)",
        ));
    }
    if param("redirect_uri") != Some(state.client.redirect_uri.as_str()) {
        return Err(GrantError::new(
            "invalid_grant",
            "grant request is invalid (redirect_uri mismatch)",
        ));
    }
    let pkce_verified = param("code_verifier")
        .is_some_and(|verifier| pkce_challenge(verifier) == authorization.code_challenge);
    if !pkce_verified {
        return Err(GrantError::new(
            "invalid_grant",
            "grant request is invalid (PKCE verification failed)",
        ));
    }
    let sign_in = authorization.sign_in;
    let target = target_of(form, &sign_in)?;

    let grant_id = random_token();
    let refresh_token = has_scope(&sign_in.scope, "offline_access").then(random_token);
    let mut shared = state.lock();
    if let Some(refresh_token) = &refresh_token {
        shared.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshTokenState {
                grant_id: grant_id.clone(),
                spent: false,
            },
        );
    }
    shared.grants.insert(
        grant_id.clone(),
        Grant {
            sign_in: sign_in.clone(),
            revoked: false,
        },
    );
    drop(shared);

    let (access_token, expires_in, scope) = state.issue_access_token(&grant_id, &sign_in, &target);
    Ok(TokenResponse {
        id_token: Some(state.issue_id_token(
            &sign_in,
            authorization.nonce.as_deref(),
            Some(&access_token),
        )),
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token,
        scope,
    })
}

/// Logto's refresh-token grant: rotation, and reuse detection that revokes the whole grant.
pub(super) fn refresh_token_grant(
    state: &IdpState,
    form: &[(String, String)],
) -> Result<TokenResponse, GrantError> {
    let presented = first_value(form, "refresh_token").ok_or(GrantError::new(
        "invalid_request",
        "missing required parameter 'refresh_token'",
    ))?;
    let not_found = GrantError::new("invalid_grant", "grant request is invalid");

    // One critical section, so that of two concurrent uses exactly one rotates the token.
    let mut shared = state.lock();
    let (grant_id, spent) = shared
        .refresh_tokens
        .get(presented)
        .map(|token| (token.grant_id.clone(), token.spent))
        .ok_or_else(|| not_found.clone())?;
    let grant = shared.grants.get_mut(&grant_id).ok_or(not_found.clone())?;
    if grant.revoked {
        return Err(not_found);
    }
    if spent {
        grant.revoked = true;
        return Err(GrantError::new(
            "invalid_grant",
            "grant request is invalid (refresh token already used)",
        ));
    }
    let sign_in = grant.sign_in.clone();
    let target = target_of(form, &sign_in)?;
    if let Target::Organization(id) = &target {
        if !has_scope(&sign_in.scope, ORGANIZATIONS_SCOPE) {
            return Err(GrantError {
                status: 403,
                error: "insufficient_scope",
                description: "refresh token missing required scope",
            });
        }
        if !sign_in.user.organizations().contains(&id.as_str()) {
            return Err(GrantError::new(
                "access_denied",
                "user is not a member of the organization",
            ));
        }
    }
    let rotated = random_token();
    if let Some(token) = shared.refresh_tokens.get_mut(presented) {
        token.spent = true;
    }
    shared.refresh_tokens.insert(
        rotated.clone(),
        RefreshTokenState {
            grant_id: grant_id.clone(),
            spent: false,
        },
    );
    drop(shared);

    let (access_token, expires_in, scope) = state.issue_access_token(&grant_id, &sign_in, &target);
    Ok(TokenResponse {
        // Refreshed ID tokens have neither nonce nor at_hash, as in Logto.
        id_token: Some(state.issue_id_token(&sign_in, None, None)),
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: Some(rotated),
        scope,
    })
}

/// Logto's client-credentials grant for a machine-to-machine app: `resource` is required
/// (one, and known), the scope is the requested permissions the app's roles hold (none, and
/// no `scope` field, when none), and there is neither a refresh token nor an ID token.
pub(super) fn client_credentials_grant(
    state: &IdpState,
    machine: &MachineClient,
    form: &[(String, String)],
) -> Result<TokenResponse, GrantError> {
    let resources: Vec<&str> = form
        .iter()
        .filter(|(name, _)| name == "resource")
        .map(|(_, value)| value.as_str())
        .collect();
    let resource = match resources.as_slice() {
        [] if first_value(form, "organization_id").is_none() => {
            return Err(GrantError::new(
                "invalid_target",
                "both `resource` and `organization_id` are not provided",
            ));
        }
        [] => {
            return Err(GrantError::new(
                "invalid_request",
                "the test IdP issues no organization tokens to machine-to-machine apps",
            ));
        }
        [resource] if *resource == BOOKSTORE_API => *resource,
        [_] => {
            return Err(GrantError::new(
                "invalid_target",
                "resource indicator is missing, or unknown",
            ));
        }
        _ => {
            return Err(GrantError::new(
                "invalid_target",
                "only a single resource indicator value is supported for this grant type",
            ));
        }
    };
    let requested = first_value(form, "scope").unwrap_or_default();
    let granted: Vec<&str> = requested
        .split_whitespace()
        .filter(|scope| has_scope(&machine.permissions, scope))
        .collect();
    let scope = (!granted.is_empty()).then(|| granted.join(" "));
    let lifetime = state.lock().access_token_ttl;
    let mut spec = AccessTokenSpec::app(&machine.client_id, resource);
    spec.scope = scope.clone();
    spec.lifetime_secs = lifetime;
    spec.misbehaviour = state.lock().misbehaviour;
    Ok(TokenResponse {
        access_token: state.mint_access_token(&spec),
        token_type: "Bearer",
        expires_in: lifetime,
        scope,
        id_token: None,
        refresh_token: None,
    })
}

/// What a token request asks an access token for; a resource must have been requested at
/// sign-in, as Logto requires.
pub(super) fn target_of(form: &[(String, String)], sign_in: &SignIn) -> Result<Target, GrantError> {
    match (
        first_value(form, "resource"),
        first_value(form, "organization_id"),
    ) {
        (None, None) => Ok(Target::UserInfo),
        (Some(resource), None) => {
            if resource == BOOKSTORE_API && sign_in.resources.iter().any(|r| r == resource) {
                Ok(Target::Resource(resource.to_owned()))
            } else {
                Err(GrantError::new(
                    "invalid_target",
                    "resource indicator is missing, or unknown",
                ))
            }
        }
        (None, Some(id)) => Ok(Target::Organization(id.to_owned())),
        (Some(_), Some(_)) => Err(GrantError::new(
            "invalid_request",
            "resource and organization_id cannot be combined",
        )),
    }
}

/// `GET /oidc/me`: the claims of the user behind a valid opaque access token.
pub(super) async fn userinfo(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
    state.count(Endpoint::UserInfo);
    let challenge = |status: u16, error: &str, description: &str| {
        HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status).expect("a valid status code"),
        )
        .insert_header((
            header::WWW_AUTHENTICATE,
            format!(
                r#"Bearer realm="{}", error="{error}", error_description="{description}""#,
                state.issuer
            ),
        ))
        .json(json!({ "error": error, "error_description": description }))
    };
    let Some(token) = bearer_token(&request) else {
        // Like oidc-provider: a missing token is a bad request, a bad one is unauthorized.
        return challenge(400, "invalid_request", "no access token provided");
    };
    let shared = state.lock();
    let for_another_user = shared.misbehaviour == Misbehaviour::UserInfoForAnotherUser;
    let sign_in = shared
        .access_tokens
        .get(token)
        .filter(|access| !access.revoked && unix_now() < access.expires_at)
        .and_then(|access| shared.grants.get(&access.grant_id))
        .filter(|grant| !grant.revoked)
        .map(|grant| grant.sign_in.clone());
    drop(shared);
    match sign_in {
        Some(sign_in) => {
            let mut claims = state.userinfo_claims(&sign_in);
            if for_another_user {
                claims.insert("sub".to_owned(), json!(ANOTHER_USER_SUB));
            }
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(claims)
        }
        None => challenge(401, "invalid_token", "invalid token provided"),
    }
}

/// `POST /oidc/token/revocation` (RFC 7009). Revoking a refresh token revokes its grant, as
/// oidc-provider does; unknown tokens are fine.
pub(super) async fn revocation(
    state: web::Data<IdpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    state.count(Endpoint::Revocation);
    if !state.authenticates_client(&request) {
        return invalid_client();
    }
    let form = form_pairs(&body);
    let Some(token) = first_value(&form, "token") else {
        return oauth_error(&GrantError::new(
            "invalid_request",
            "missing required parameter 'token'",
        ));
    };
    // The hint only speeds up the lookup (RFC 7009 §2.1), so both kinds are always searched.
    let mut shared = state.lock();
    let grant_id = shared
        .refresh_tokens
        .get(token)
        .map(|refresh| refresh.grant_id.clone());
    if let Some(grant) = grant_id.and_then(|id| shared.grants.get_mut(&id)) {
        grant.revoked = true;
    }
    if let Some(access) = shared.access_tokens.get_mut(token) {
        access.revoked = true;
    }
    drop(shared);
    HttpResponse::Ok().finish()
}

pub(super) async fn end_session(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
    state.count(Endpoint::EndSession);
    let query = form_pairs(request.query_string().as_bytes());
    state.lock().last_end_session_query = Some(query.clone());
    let param = |name| first_value(&query, name);

    if param("client_id") != Some(state.client.client_id.as_str()) {
        return plain_bad_request("invalid_client: unknown client_id");
    }
    if param("post_logout_redirect_uri") != Some(state.client.post_logout_redirect_uri.as_str()) {
        return plain_bad_request("invalid_request: post_logout_redirect_uri is not registered");
    }
    if param("id_token_hint").is_some_and(|hint| !state.verifies_id_token_hint(hint)) {
        return plain_bad_request("invalid_request: could not validate id_token_hint");
    }

    let state_pair = param("state").map(|oauth_state| ("state", oauth_state));
    see_other(with_query(
        &state.post_logout_redirect_uri,
        state_pair.as_slice(),
    ))
}

/// The `client_secret_basic` id and secret. Per RFC 6749 §2.3.1 both are form-urlencoded
/// before being base64-encoded, so they are url-decoded after base64-decoding.
pub(super) fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_url_decode(id)?, form_url_decode(secret)?))
}

/// Reverses `application/x-www-form-urlencoded` encoding of one value; `None` if malformed.
pub(super) fn form_url_decode(encoded: &str) -> Option<String> {
    let mut bytes = encoded.bytes();
    let mut decoded = Vec::with_capacity(encoded.len());
    while let Some(byte) = bytes.next() {
        decoded.push(match byte {
            b'+' => b' ',
            b'%' => {
                let high = char::from(bytes.next()?).to_digit(16)?;
                let low = char::from(bytes.next()?).to_digit(16)?;
                u8::try_from(high * 16 + low).ok()?
            }
            other => other,
        });
    }
    String::from_utf8(decoded).ok()
}

/// Decoded pairs of a query string or form body, in order.
pub(super) fn form_pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded).into_owned().collect()
}

pub(super) fn has_scope(scopes: &str, wanted: &str) -> bool {
    scopes.split_whitespace().any(|scope| scope == wanted)
}

pub(super) fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `url` with `pairs` appended to its query.
pub(super) fn with_query(url: &Url, pairs: &[(&str, &str)]) -> Url {
    let mut url = url.clone();
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url
}

/// Logto redirects with 303 See Other, so the browser follows with a GET.
pub(super) fn see_other(location: Url) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.as_str()))
        .finish()
}

/// What Logto's proxy answers while Logto is down or starting.
pub(super) fn service_unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type(ContentType::html())
        .body("<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>")
}

pub(super) fn plain_bad_request(message: &'static str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type(ContentType::plaintext())
        .body(message)
}

/// A token endpoint error (RFC 6749 §5.2).
pub(super) fn oauth_error(error: &GrantError) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(error.status).expect("a valid status code"),
    )
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .json(json!({ "error": error.error, "error_description": error.description }))
}

/// The 401 for failed `client_secret_basic` authentication.
pub(super) fn invalid_client() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="oidc""#))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }))
}

/// The token of an `Authorization: Bearer` header.
pub(super) fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|token| !token.is_empty())
}

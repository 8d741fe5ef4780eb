//! Protecting an API: the bearer guard (`LogtoClient::authorize_bearer`) against tokens the
//! Logto-shaped test IdP issues or forges, and machine-to-machine tokens
//! (`LogtoClient::client_credentials_token`): cached, renewed before they expire, single-flight.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use logto_client::api::{ApiClaims, ApiRequirement, BearerError};
use logto_client::{LogtoClient, LogtoConfig, LogtoError, SignInOptions, TokenError, TokenTarget};
use secrecy::SecretString;
use url::Url;

use test_support::idp::{
    AccessTokenSpec, BOOKSTORE_API, Endpoint, MachineClient, Misbehaviour,
    ORGANIZATION_MEMBER_PERMISSIONS, ORGANIZATIONS_SCOPE, TestIdp, TestUser,
};

mod common;

use common::{APP_ID, APP_SECRET, idp_and_config, sign_in_by_hand};

const READ_BOOKS: &str = "read:books";

/// The IdP, and the web app's client, which signs users in with the Bookstore API's
/// `read:books` and verifies tokens as the API.
async fn setup(adjust: impl FnOnce(&mut LogtoConfig)) -> (TestIdp, LogtoClient) {
    let (idp, mut config) = idp_and_config(APP_SECRET).await;
    config.resources = vec![BOOKSTORE_API.to_owned()];
    config.scopes.push(READ_BOOKS.to_owned());
    adjust(&mut config);
    let client = LogtoClient::new(config).expect("the client builds");
    (idp, client)
}

/// A client of the M2M app `machine`, registered at the IdP.
fn machine_client(idp: &TestIdp, machine: &MachineClient) -> LogtoClient {
    idp.register_machine_client(machine.clone());
    machine_client_with(idp, machine, |_| {})
}

fn machine_client_with(
    idp: &TestIdp,
    machine: &MachineClient,
    adjust: impl FnOnce(&mut LogtoConfig),
) -> LogtoClient {
    let mut config = LogtoConfig::machine_to_machine(
        Url::parse(&idp.endpoint()).unwrap(),
        machine.client_id.clone(),
        SecretString::from(machine.client_secret.clone()),
    );
    adjust(&mut config);
    LogtoClient::new(config).expect("the client builds")
}

fn books() -> ApiRequirement {
    ApiRequirement::resource(BOOKSTORE_API).with_scopes([READ_BOOKS])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn refused(client: &LogtoClient, header: Option<&str>, need: &ApiRequirement) -> BearerError {
    match client.authorize_bearer(header, need).await {
        Ok(claims) => panic!("accepted: {claims:?}"),
        Err(error) => error,
    }
}

/// A user's JWT for the Bookstore API, the way an app gets it: sign-in, then refresh; and the
/// opaque token of the sign-in.
async fn users_resource_token(app: &LogtoClient) -> (String, String) {
    let signed_in = sign_in_by_hand(app, &SignInOptions::default()).await;
    let refreshed = app
        .refresh(
            signed_in.tokens.refresh_token.as_deref().unwrap(),
            &TokenTarget::Resource(BOOKSTORE_API.to_owned()),
            &signed_in.claims.sub,
        )
        .await
        .unwrap();
    (refreshed.access_token, signed_in.tokens.access_token)
}

#[tokio::test]
async fn a_users_resource_token_passes_with_its_claims() {
    let (_idp, api) = setup(|_| {}).await;
    let (token, _) = users_resource_token(&api).await;
    let claims = api
        .authorize_bearer(Some(&bearer(&token)), &books())
        .await
        .expect("a genuine token with the scope");
    assert_eq!(claims.sub, TestUser::alice().sub);
    assert_eq!(claims.user_id(), Some(claims.sub.as_str()));
    assert!(!claims.is_app());
    assert_eq!(claims.client_id.as_deref(), Some(APP_ID));
    assert_eq!(claims.scopes, BTreeSet::from([READ_BOOKS.to_owned()]));
    assert_eq!(claims.audience, BOOKSTORE_API);
    assert_eq!(claims.organization_id, None);
    assert!(claims.jti.is_some() && claims.expires_at > claims.issued_at.unwrap());
}

#[tokio::test]
async fn an_m2m_token_passes_as_the_apps_own() {
    let (idp, api) = setup(|_| {}).await;
    let reader = MachineClient::new("bookstore-m2m", READ_BOOKS);
    let machine = machine_client(&idp, &reader);
    let token = machine
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS, "write:books"])
        .await
        .expect("the M2M app gets a token");
    assert_eq!(token.scopes, [READ_BOOKS], "only what its role holds");

    let claims: ApiClaims = api
        .authorize_bearer(Some(&bearer(&token.access_token)), &books())
        .await
        .expect("a genuine M2M token with the scope");
    assert!(claims.is_app());
    assert_eq!(claims.sub, "bookstore-m2m");
    assert_eq!(claims.user_id(), None);
    assert!(claims.has_scope(READ_BOOKS));
}

#[tokio::test]
async fn a_request_without_a_bearer_token_gets_a_bare_challenge() {
    let (_idp, api) = setup(|_| {}).await;
    for header in [None, Some("Basic Ym9va3N0b3JlOnNlY3JldA==")] {
        let error = refused(&api, header, &books()).await;
        assert_eq!(error.status(), 401, "{header:?}");
        assert_eq!(error.www_authenticate().as_deref(), Some("Bearer"));
        assert_eq!(error.error_code(), None);
    }
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_token() {
    let (idp, api) = setup(|_| {}).await;
    let (_, opaque) = users_resource_token(&api).await;
    let forged = |misbehaviour| {
        idp.access_token(
            &AccessTokenSpec::user("user_alice", BOOKSTORE_API)
                .with_scope(READ_BOOKS)
                .forged(misbehaviour),
        )
    };
    let challenge = |description: &str| {
        format!(r#"Bearer error="invalid_token", error_description="{description}""#)
    };
    let table = [
        (
            "malformed",
            bearer("not.a.jwt"),
            challenge("the access token is not a well-formed JWT"),
        ),
        (
            "no token after the scheme",
            "Bearer ".to_owned(),
            challenge("the Authorization header is not Bearer <token>"),
        ),
        (
            "opaque",
            bearer(&opaque),
            challenge(&format!(
                "the access token is opaque, not a JWT: request the token for the API \
                 resource (resource={BOOKSTORE_API})"
            )),
        ),
        (
            "wrong aud",
            bearer(&forged(Misbehaviour::WrongAudience)),
            challenge(&format!(
                "the access token is for another audience; this API needs one for {BOOKSTORE_API}"
            )),
        ),
        (
            "wrong iss",
            bearer(&forged(Misbehaviour::WrongIssuer)),
            challenge("the access token was not issued by this API's Logto"),
        ),
        (
            "expired",
            bearer(&forged(Misbehaviour::Expired)),
            challenge("the access token has expired"),
        ),
        (
            "alg none",
            bearer(&forged(Misbehaviour::AlgNone)),
            challenge("the access token is not a well-formed JWT"),
        ),
        (
            "HS256 signed with the public key",
            bearer(&forged(Misbehaviour::Hs256SignedWithPublicKey)),
            challenge("the access token is signed with an algorithm that is not allowed"),
        ),
        (
            "unknown kid",
            bearer(&forged(Misbehaviour::UnknownKid)),
            challenge("the access token is signed with a key that Logto does not publish"),
        ),
        (
            "wrong signature",
            bearer(&forged(Misbehaviour::WrongSignature)),
            challenge("the access token's signature does not verify"),
        ),
    ];
    for (case, header, expected) in table {
        let error = refused(&api, Some(&header), &books()).await;
        assert_eq!(error.status(), 401, "{case}: {error:?}");
        assert_eq!(error.error_code(), Some("invalid_token"), "{case}");
        assert_eq!(error.www_authenticate(), Some(expected), "{case}");
        assert_eq!(error.body().error, "invalid_token", "{case}");
        let token = header.trim_start_matches("Bearer ");
        let said = format!(
            "{} {error:?} {:?}",
            logto_client::error_chain(&error),
            error.body()
        );
        assert!(
            token.is_empty() || !said.contains(token),
            "{case}: the token is never part of the error"
        );
    }

    // An ID token is signed by the same key, for the app's audience: still no access token.
    let signed_in = sign_in_by_hand(&api, &SignInOptions::default()).await;
    let id_token = ApiRequirement::resource(APP_ID);
    let error = refused(&api, Some(&bearer(&signed_in.tokens.id_token)), &id_token).await;
    assert!(
        matches!(
            &error,
            BearerError::Invalid {
                reason: TokenError::WrongType(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_burst_of_unknown_kids_fetches_the_jwks_at_most_once_per_cooldown() {
    let cooldown = Duration::from_secs(1);
    let (idp, api) = setup(|config| config.jwks_min_refetch_interval = cooldown).await;
    api.prefetch().await.expect("Logto is up");
    // Let the cooldown of the prefetch's JWKS request pass, so that the burst may fetch once.
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let before = idp.request_count(Endpoint::Jwks);
    let api = Arc::new(api);
    let header = bearer(
        &idp.access_token(
            &AccessTokenSpec::user("user_alice", BOOKSTORE_API)
                .with_scope(READ_BOOKS)
                .forged(Misbehaviour::UnknownKid),
        ),
    );

    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (api, header) = (Arc::clone(&api), header.clone());
        burst.spawn(async move { api.authorize_bearer(Some(&header), &books()).await });
    }
    while let Some(answer) = burst.join_next().await {
        let error = answer.unwrap().unwrap_err();
        assert_eq!(error.status(), 401, "{error:?}");
    }
    assert_eq!(
        idp.request_count(Endpoint::Jwks) - before,
        1,
        "one refetch for the whole burst"
    );
    for _ in 0..5 {
        assert_eq!(refused(&api, Some(&header), &books()).await.status(), 401);
    }
    assert_eq!(
        idp.request_count(Endpoint::Jwks) - before,
        1,
        "none again within the cooldown"
    );
}

#[tokio::test]
async fn a_genuine_token_without_the_scope_is_403_naming_the_required_scopes() {
    let (idp, api) = setup(|_| {}).await;
    let writer = ApiRequirement::resource(BOOKSTORE_API).with_scopes([READ_BOOKS, "write:books"]);
    for scope in [None, Some(""), Some("read:books read:books-and-more")] {
        let mut spec = AccessTokenSpec::user("user_alice", BOOKSTORE_API);
        spec.scope = scope.map(str::to_owned);
        let header = bearer(&idp.access_token(&spec));
        let error = refused(&api, Some(&header), &writer).await;
        assert_eq!(error.status(), 403, "{scope:?}");
        assert_eq!(error.error_code(), Some("insufficient_scope"));
        let missing = if scope.is_some_and(|scope| scope.contains(READ_BOOKS)) {
            "write:books"
        } else {
            "read:books write:books"
        };
        assert_eq!(
            error.www_authenticate().unwrap(),
            format!(
                r#"Bearer error="insufficient_scope", error_description="the access token lacks the scope {missing}", scope="read:books write:books""#
            )
        );
    }
    // A substring of a granted scope is no grant.
    let header = bearer(&idp.access_token(
        &AccessTokenSpec::user("user_alice", BOOKSTORE_API).with_scope("read:books-and-more"),
    ));
    assert_eq!(refused(&api, Some(&header), &books()).await.status(), 403);
}

#[tokio::test]
async fn an_organization_token_of_another_organization_is_403() {
    let (idp, api) = setup(|config| {
        config.scopes.push(ORGANIZATIONS_SCOPE.to_owned());
        config
            .scopes
            .push(ORGANIZATION_MEMBER_PERMISSIONS.to_owned());
    })
    .await;
    idp.set_user(TestUser::alice().in_organizations(&["org_1", "org_2"]));
    let signed_in = sign_in_by_hand(&api, &SignInOptions::default()).await;
    let org_2 = api
        .refresh(
            signed_in.tokens.refresh_token.as_deref().unwrap(),
            &TokenTarget::Organization("org_2".to_owned()),
            &signed_in.claims.sub,
        )
        .await
        .unwrap();
    let header = bearer(&org_2.access_token);

    let shelf =
        |id: &str| ApiRequirement::organization(id).with_scopes([ORGANIZATION_MEMBER_PERMISSIONS]);
    let claims = api
        .authorize_bearer(Some(&header), &shelf("org_2"))
        .await
        .expect("its own organization");
    assert_eq!(claims.organization_id.as_deref(), Some("org_2"));
    assert!(claims.has_scope(ORGANIZATION_MEMBER_PERMISSIONS));

    let error = refused(&api, Some(&header), &shelf("org_1")).await;
    assert!(
        matches!(error, BearerError::OtherOrganization { .. }),
        "{error:?}"
    );
    assert_eq!(error.status(), 403);
    assert_eq!(
        error.www_authenticate().unwrap(),
        r#"Bearer error="insufficient_scope", error_description="the access token is for another organization", scope="read:club-shelf""#
    );

    // A resource token at an organization's route is not an organization token at all.
    let resource_token = idp
        .access_token(&AccessTokenSpec::user("user_alice", BOOKSTORE_API).with_scope(READ_BOOKS));
    let error = refused(&api, Some(&bearer(&resource_token)), &shelf("org_1")).await;
    assert_eq!(error.status(), 401, "{error:?}");
    // Nor is a forged organization token another organization's.
    let forged = idp.access_token(
        &AccessTokenSpec::organization("user_alice", "org_2").forged(Misbehaviour::WrongSignature),
    );
    assert_eq!(
        refused(&api, Some(&bearer(&forged)), &shelf("org_1"))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn an_m2m_token_is_cached_until_the_margin_before_it_expires() {
    let (idp, _api) = setup(|_| {}).await;
    let machine = machine_client(&idp, &MachineClient::new("m2m", READ_BOOKS));

    let first = machine
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    let second = machine
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(
        idp.client_credentials_grant_count(),
        1,
        "the second call sends nothing"
    );

    // Another scope set is another token; the same set in another order is the same.
    machine
        .client_credentials_token(BOOKSTORE_API, &[])
        .await
        .unwrap();
    assert_eq!(idp.client_credentials_grant_count(), 2);
    machine
        .client_credentials_token(BOOKSTORE_API, &["write:books", READ_BOOKS])
        .await
        .unwrap();
    machine
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS, "write:books"])
        .await
        .unwrap();
    assert_eq!(idp.client_credentials_grant_count(), 3);

    // Two minutes left is more than the 60 s margin: reused. Thirty seconds is not.
    let margin_test = machine_client_with(&idp, &MachineClient::new("m2m", READ_BOOKS), |_| {});
    idp.set_access_token_ttl(120);
    margin_test
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    margin_test
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    assert_eq!(idp.client_credentials_grant_count(), 4);
    let short_lived = machine_client_with(&idp, &MachineClient::new("m2m", READ_BOOKS), |_| {});
    idp.set_access_token_ttl(30);
    let old = short_lived
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    let renewed = short_lived
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    assert_eq!(
        idp.client_credentials_grant_count(),
        6,
        "within the margin: renewed"
    );
    assert_ne!(old.access_token, renewed.access_token);

    // While Logto is down, the renewal fails but the token still valid is handed out.
    idp.set_misbehaviour(Misbehaviour::TokenEndpointError500);
    let during_outage = short_lived
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .expect("the cached token, not yet expired");
    assert_eq!(during_outage, renewed);
    idp.set_misbehaviour(Misbehaviour::None);
    idp.set_access_token_ttl(0);
    let expired = machine_client_with(&idp, &MachineClient::new("m2m", READ_BOOKS), |_| {});
    expired
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap();
    idp.set_misbehaviour(Misbehaviour::TokenEndpointError500);
    assert!(
        expired
            .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
            .await
            .is_err(),
        "an expired token is never handed out"
    );
}

#[tokio::test]
async fn ten_concurrent_callers_share_one_token_request() {
    let (idp, _api) = setup(|_| {}).await;
    let machine = Arc::new(machine_client(&idp, &MachineClient::new("m2m", READ_BOOKS)));
    machine.prefetch().await.unwrap();
    idp.set_token_delay(Duration::from_millis(300));

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let machine = Arc::clone(&machine);
        callers.spawn(async move {
            machine
                .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
                .await
                .map(|token| token.access_token)
        });
    }
    let mut tokens = BTreeSet::new();
    while let Some(answer) = callers.join_next().await {
        tokens.insert(answer.unwrap().expect("a token"));
    }
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert_eq!(idp.client_credentials_grant_count(), 1);
}

#[tokio::test]
async fn token_endpoint_refusals_of_an_m2m_app_are_typed() {
    let (idp, _api) = setup(|_| {}).await;
    let reader = MachineClient::new("m2m", READ_BOOKS);
    let machine = machine_client(&idp, &reader);

    for resource in ["", "https://unknown.example"] {
        let error = machine
            .client_credentials_token(resource, &[READ_BOOKS])
            .await
            .unwrap_err();
        assert!(error.is_invalid_target(), "{resource:?}: {error:?}");
        assert_eq!(error.status_code(), 400);
    }

    let wrong_secret = MachineClient {
        client_secret: "not-the-secret".to_owned(),
        ..reader
    };
    let impostor = machine_client_with(&idp, &wrong_secret, |_| {});
    let error = impostor
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap_err();
    assert!(error.is_invalid_client(), "{error:?}");
    assert!(!impostor.health().is_down(), "a refusal is no outage");

    let web_app = setup(|_| {}).await;
    let error = web_app
        .1
        .client_credentials_token(BOOKSTORE_API, &[READ_BOOKS])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LogtoError::TokenRejected { error, .. } if error == "unauthorized_client"),
        "{error:?}"
    );
}

/// The token with one character of its signature changed: the same header and claims.
fn with_another_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{first}{}", &signature[1..])
}

#[tokio::test]
async fn a_cached_token_still_meets_each_routes_audience_and_scopes() {
    let (idp, api) = setup(|_| {}).await;
    let token =
        bearer(&idp.access_token(
            &AccessTokenSpec::user("user_alice", BOOKSTORE_API).with_scope(READ_BOOKS),
        ));
    api.authorize_bearer(Some(&token), &books())
        .await
        .expect("verified, and now cached");

    let elsewhere = ApiRequirement::resource("https://api.elsewhere.example");
    let error = refused(&api, Some(&token), &elsewhere).await;
    assert!(
        matches!(
            error,
            BearerError::Invalid {
                reason: TokenError::WrongAudience,
                ..
            }
        ),
        "{error:?}"
    );
    let writer = books().with_scopes(["write:books"]);
    let error = refused(&api, Some(&token), &writer).await;
    assert_eq!(error.status(), 403, "{error:?}");
    assert!(
        matches!(&error, BearerError::InsufficientScope { missing, .. } if missing == &["write:books"]),
        "{error:?}"
    );
    let shelf = ApiRequirement::organization("org_1");
    assert_eq!(refused(&api, Some(&token), &shelf).await.status(), 401);
    // And the first route still accepts it.
    api.authorize_bearer(Some(&token), &books())
        .await
        .expect("the cached token, for its own route");
}

#[tokio::test]
async fn a_forged_signature_is_refused_while_the_genuine_token_is_cached() {
    let (idp, api) = setup(|_| {}).await;
    let genuine = idp
        .access_token(&AccessTokenSpec::user("user_alice", BOOKSTORE_API).with_scope(READ_BOOKS));
    api.authorize_bearer(Some(&bearer(&genuine)), &books())
        .await
        .expect("verified, and now cached");

    let forged = with_another_signature(&genuine);
    assert_ne!(forged, genuine);
    let error = refused(&api, Some(&bearer(&forged)), &books()).await;
    assert!(
        matches!(
            error,
            BearerError::Invalid {
                reason: TokenError::BadSignature,
                ..
            }
        ),
        "{error:?}"
    );
    // Refused again: the failure was not cached as a success either.
    assert_eq!(
        refused(&api, Some(&bearer(&forged)), &books())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn with_the_cache_off_every_request_is_verified() {
    let (idp, config) = common::idp_and_config(APP_SECRET).await;
    let api = LogtoClient::builder(config)
        .verified_token_cache(0)
        .build()
        .expect("the client builds");
    let token =
        bearer(&idp.access_token(
            &AccessTokenSpec::user("user_alice", BOOKSTORE_API).with_scope(READ_BOOKS),
        ));
    for _ in 0..2 {
        api.authorize_bearer(Some(&token), &books())
            .await
            .expect("a genuine token with the scope");
    }
    let forged = with_another_signature(token.trim_start_matches("Bearer "));
    assert_eq!(
        refused(&api, Some(&bearer(&forged)), &books())
            .await
            .status(),
        401
    );
}

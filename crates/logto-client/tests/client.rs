//! The Logto client on its own, against the test IdP: sign-in options, refresh, userinfo,
//! revocation, and verification of access and logout tokens. No app is involved.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use logto_client::{
    Backoff, DirectSignIn, FirstScreen, Identifier, LogtoClient, LogtoConfig, LogtoError,
    SignInOptions, SignedIn, TokenError, TokenTarget, decode_stored_id_token,
};
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use test_support::browser::{query_pairs, query_value};
use test_support::idp::{
    ANOTHER_USER_SUB, BOOKSTORE_API, Endpoint, LogoutMisbehaviour, LogoutTokenSpec, Misbehaviour,
    ORGANIZATION_MEMBER_PERMISSIONS, ORGANIZATIONS_RESOURCE, ORGANIZATIONS_SCOPE, TestIdp,
    TestUser,
};

mod common;

use common::{APP_ADDRESS, APP_ID, APP_SECRET, idp_and_config, sign_in_by_hand};

/// A Logto client and the IdP it talks to.
struct Fixture {
    idp: TestIdp,
    client: LogtoClient,
}

/// The IdP, and a client with the default configuration changed by `adjust`.
async fn setup(adjust: impl FnOnce(&mut LogtoConfig)) -> Fixture {
    setup_with_secret(APP_SECRET, adjust).await
}

/// Like [`setup`], with another client secret.
async fn setup_with_secret(secret: &str, adjust: impl FnOnce(&mut LogtoConfig)) -> Fixture {
    let (idp, mut config) = idp_and_config(secret).await;
    adjust(&mut config);
    let client = LogtoClient::new(config).expect("the client builds");
    Fixture { idp, client }
}

/// A configuration that asks for the Bookstore API and its permissions.
fn with_bookstore_api(config: &mut LogtoConfig) {
    config.resources = vec![BOOKSTORE_API.to_owned()];
    config.scopes.extend(["email".into(), "read:books".into()]);
}

impl Fixture {
    /// Signs in by hand: the authorization URL, the IdP's 303, then the callback's query.
    async fn sign_in_with(&self, options: &SignInOptions) -> SignedIn {
        sign_in_by_hand(&self.client, options).await
    }

    async fn sign_in(&self) -> SignedIn {
        self.sign_in_with(&SignInOptions::default()).await
    }

    /// A refresh-token grant sent by hand, bypassing the client's ID token verification, to
    /// obtain tokens that the IdP forged.
    async fn raw_refresh(&self, refresh_token: &str, resource: &str) -> Value {
        let credentials = STANDARD.encode(format!("{APP_ID}:{APP_SECRET}"));
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.idp.issuer()))
            .header(AUTHORIZATION, format!("Basic {credentials}"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("the token endpoint answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a token response")
    }
}

fn refresh_token_of(signed_in: &SignedIn) -> &str {
    signed_in
        .tokens
        .refresh_token
        .as_deref()
        .expect("offline_access was granted")
}

/// Decodes the claims of a compact JWT without verifying anything.
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

const SIGN_IN_OPTIONS: [&str; 7] = [
    "first_screen",
    "direct_sign_in",
    "identifier",
    "login_hint",
    "ui_locales",
    "organization_id",
    "resource",
];

#[tokio::test]
async fn default_options_add_nothing_to_the_authorization_request() {
    let fixture = setup(|_| {}).await;
    let start = fixture
        .client
        .start_sign_in(&SignInOptions::default())
        .await
        .unwrap();
    let pairs = query_pairs(start.url.as_str());
    let mut names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "client_id",
            "code_challenge",
            "code_challenge_method",
            "nonce",
            "prompt",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
        ]
    );
    for option in SIGN_IN_OPTIONS {
        assert!(query_value(&pairs, option).is_none(), "{option}");
    }
}

#[tokio::test]
async fn every_sign_in_option_and_configured_resource_is_sent() {
    let second_resource = "https://reports.bookstore.example";
    let fixture = setup(|config| {
        config.resources = vec![BOOKSTORE_API.to_owned(), second_resource.to_owned()];
    })
    .await;
    let options = SignInOptions {
        first_screen: Some(FirstScreen::IdentifierSignIn),
        direct_sign_in: Some(DirectSignIn::Social("github".to_owned())),
        identifiers: vec![Identifier::Email, Identifier::Username],
        login_hint: Some("alice@example.com".to_owned()),
        ui_locales: Some("ja en".to_owned()),
        organization_id: Some("org_1".to_owned()),
    };
    let start = fixture.client.start_sign_in(&options).await.unwrap();
    let pairs = query_pairs(start.url.as_str());
    for (name, expected) in [
        ("first_screen", "identifier:sign_in"),
        ("direct_sign_in", "social:github"),
        ("identifier", "email username"),
        ("login_hint", "alice@example.com"),
        ("ui_locales", "ja en"),
        ("organization_id", "org_1"),
    ] {
        assert_eq!(query_value(&pairs, name), Some(expected), "{name}");
    }
    let resources: Vec<&str> = pairs
        .iter()
        .filter(|(name, _)| name == "resource")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(resources, [BOOKSTORE_API, second_resource]);

    // SSO and the other screens, through the IdP, which records what it received.
    let fixture = setup(with_bookstore_api).await;
    let options = SignInOptions {
        first_screen: Some(FirstScreen::SingleSignOn),
        direct_sign_in: Some(DirectSignIn::Sso("abc123".to_owned())),
        identifiers: vec![Identifier::Phone],
        ..SignInOptions::default()
    };
    fixture.sign_in_with(&options).await;
    let recorded = fixture.idp.last_authorize_query().unwrap();
    assert_eq!(
        query_value(&recorded, "first_screen"),
        Some("single_sign_on")
    );
    assert_eq!(query_value(&recorded, "direct_sign_in"), Some("sso:abc123"));
    assert_eq!(query_value(&recorded, "identifier"), Some("phone"));
    assert_eq!(query_value(&recorded, "resource"), Some(BOOKSTORE_API));
    assert_eq!(query_value(&recorded, "login_hint"), None);
}

#[tokio::test]
async fn the_organizations_scope_adds_the_organizations_resource_to_the_sign_in_once() {
    let resources_sent = async |adjust: fn(&mut LogtoConfig)| {
        let fixture = setup(adjust).await;
        let start = fixture
            .client
            .start_sign_in(&SignInOptions::default())
            .await
            .unwrap();
        query_pairs(start.url.as_str())
            .into_iter()
            .filter(|(name, _)| name == "resource")
            .map(|(_, value)| value)
            .collect::<Vec<_>>()
    };

    let with_api_and_organizations = |config: &mut LogtoConfig| {
        with_bookstore_api(config);
        config.scopes.push(ORGANIZATIONS_SCOPE.to_owned());
    };
    assert_eq!(
        resources_sent(with_api_and_organizations).await,
        [BOOKSTORE_API, ORGANIZATIONS_RESOURCE]
    );
    let configured_already = |config: &mut LogtoConfig| {
        config.scopes.push(ORGANIZATIONS_SCOPE.to_owned());
        config.resources = vec![ORGANIZATIONS_RESOURCE.to_owned()];
    };
    assert_eq!(
        resources_sent(configured_already).await,
        [ORGANIZATIONS_RESOURCE]
    );
    assert_eq!(resources_sent(with_bookstore_api).await, [BOOKSTORE_API]);
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_verifies_the_new_id_token() {
    let fixture = setup(|_| {}).await;
    let signed_in = fixture.sign_in().await;
    let sub = signed_in.claims.sub.clone();
    let first = refresh_token_of(&signed_in);

    let refreshed = fixture
        .client
        .refresh(first, &TokenTarget::UserInfo, &sub)
        .await
        .expect("the refresh succeeds");
    assert_ne!(refreshed.refresh_token, first, "rotated");
    assert_ne!(refreshed.access_token, signed_in.tokens.access_token);
    let claims = refreshed.claims.as_ref().expect("a verified ID token");
    assert_eq!(claims.sub, sub);
    assert_eq!(claims.sid, signed_in.claims.sid, "same Logto session");
    assert_eq!(claims.nonce, None, "refreshed ID tokens carry no nonce");
    assert_eq!(claims.at_hash, None);
    assert!(refreshed.id_token.is_some());
    assert!(refreshed.expires_at.is_some());
    assert_eq!(
        refreshed.scope.as_deref(),
        Some("openid offline_access profile")
    );
    let userinfo = fixture.client.userinfo(&refreshed.access_token, &sub).await;
    assert_eq!(userinfo.unwrap()["sub"], json!(sub), "the new token works");

    let again = fixture
        .client
        .refresh(&refreshed.refresh_token, &TokenTarget::UserInfo, &sub)
        .await
        .expect("the rotated token refreshes once more");
    assert_ne!(again.refresh_token, refreshed.refresh_token);
    assert_eq!(fixture.idp.refresh_grant_count(), 2);
    assert_eq!(fixture.idp.request_count(Endpoint::Token), 3);
}

#[tokio::test]
async fn a_refreshed_id_token_must_be_genuine_and_for_the_same_user() {
    let fixture = setup(|_| {}).await;
    let signed_in = fixture.sign_in().await;

    let error = fixture
        .client
        .refresh(
            refresh_token_of(&signed_in),
            &TokenTarget::UserInfo,
            "user_mallory",
        )
        .await
        .unwrap_err();
    let LogtoError::RefreshedIdTokenRejected {
        rotated_refresh_token,
        reason,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(matches!(
        **reason,
        LogtoError::InvalidIdToken(TokenError::SubjectMismatch)
    ));
    assert_ne!(
        rotated_refresh_token.expose_secret(),
        refresh_token_of(&signed_in),
        "the rotated refresh token comes with the error"
    );
    assert!(!format!("{error:?}").contains(rotated_refresh_token.expose_secret()));
    assert!(!error.is_invalid_grant());

    let signed_in = fixture.sign_in().await;
    fixture.idp.set_misbehaviour(Misbehaviour::WrongSignature);
    let error = fixture
        .client
        .refresh(
            refresh_token_of(&signed_in),
            &TokenTarget::UserInfo,
            &signed_in.claims.sub,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        LogtoError::RefreshedIdTokenRejected { reason, .. }
            if matches!(*reason, LogtoError::InvalidIdToken(TokenError::BadSignature))
    ));
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_grant() {
    let fixture = setup(|_| {}).await;
    let signed_in = fixture.sign_in().await;
    let sub = &signed_in.claims.sub;
    let first = refresh_token_of(&signed_in);
    let refreshed = fixture
        .client
        .refresh(first, &TokenTarget::UserInfo, sub)
        .await
        .unwrap();

    let reuse = fixture
        .client
        .refresh(first, &TokenTarget::UserInfo, sub)
        .await
        .unwrap_err();
    assert!(reuse.is_invalid_grant(), "{reuse:?}");
    assert!(
        !reuse.to_string().contains(first),
        "errors never show tokens"
    );

    let newest = fixture
        .client
        .refresh(&refreshed.refresh_token, &TokenTarget::UserInfo, sub)
        .await
        .unwrap_err();
    assert!(newest.is_invalid_grant(), "the newest token died too");
    assert!(matches!(
        fixture.client.userinfo(&refreshed.access_token, sub).await,
        Err(LogtoError::AccessTokenRejected)
    ));
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_end_the_grant() {
    let fixture = setup(|_| {}).await;
    let signed_in = fixture.sign_in().await;
    let sub = &signed_in.claims.sub;
    let token = refresh_token_of(&signed_in);
    fixture.idp.set_token_delay(Duration::from_millis(200));

    let (one, other) = tokio::join!(
        fixture.client.refresh(token, &TokenTarget::UserInfo, sub),
        fixture.client.refresh(token, &TokenTarget::UserInfo, sub),
    );
    let (winner, loser) = match (one, other) {
        (Ok(winner), Err(loser)) | (Err(loser), Ok(winner)) => (winner, loser),
        unexpected => panic!("exactly one refresh wins: {unexpected:?}"),
    };
    assert!(loser.is_invalid_grant());
    let after = fixture
        .client
        .refresh(&winner.refresh_token, &TokenTarget::UserInfo, sub)
        .await
        .unwrap_err();
    assert!(after.is_invalid_grant(), "the race revoked the grant");
}

#[tokio::test]
async fn refresh_for_a_resource_yields_a_jwt_for_that_resource_only() {
    let fixture = setup(with_bookstore_api).await;
    let signed_in = fixture.sign_in().await;
    let sub = &signed_in.claims.sub;
    assert!(
        matches!(
            fixture
                .client
                .verify_access_token(&signed_in.tokens.access_token, BOOKSTORE_API)
                .await,
            Err(LogtoError::InvalidAccessToken(TokenError::Malformed))
        ),
        "the code exchange gives an opaque token"
    );

    let target = TokenTarget::Resource(BOOKSTORE_API.to_owned());
    let refreshed = fixture
        .client
        .refresh(refresh_token_of(&signed_in), &target, sub)
        .await
        .unwrap();
    assert_eq!(refreshed.scope.as_deref(), Some("read:books"));
    let audience = target.audience().unwrap();
    let claims = fixture
        .client
        .verify_access_token(&refreshed.access_token, &audience)
        .await
        .expect("a valid JWT access token");
    assert_eq!(claims.sub.as_deref(), Some(sub.as_str()));
    assert_eq!(claims.iss, fixture.client.issuer());
    assert_eq!(claims.client_id.as_deref(), Some(APP_ID));
    assert!(claims.has_scope("read:books") && !claims.has_scope("write:books"));
    assert!(claims.exp > claims.iat.unwrap());

    let elsewhere = fixture
        .client
        .verify_access_token(&refreshed.access_token, "https://other.example")
        .await;
    assert!(matches!(
        elsewhere,
        Err(LogtoError::InvalidAccessToken(TokenError::WrongAudience))
    ));
    // An ID token is signed by the same key but is no access token, even for its audience.
    let id_token = refreshed.id_token.as_deref().unwrap();
    assert!(matches!(
        fixture.client.verify_access_token(id_token, APP_ID).await,
        Err(LogtoError::InvalidAccessToken(TokenError::WrongType(Some(typ)))) if typ == "JWT"
    ));
    assert!(matches!(
        fixture.client.userinfo(&refreshed.access_token, sub).await,
        Err(LogtoError::AccessTokenRejected)
    ));

    let unknown = TokenTarget::Resource("https://unknown.example".to_owned());
    let error = fixture
        .client
        .refresh(&refreshed.refresh_token, &unknown, sub)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LogtoError::TokenRejected { error, .. } if error == "invalid_target"),
        "{error:?}"
    );
    assert!(!error.is_invalid_grant());
}

#[tokio::test]
async fn forged_access_tokens_are_rejected() {
    let fixture = setup(with_bookstore_api).await;
    for (misbehaviour, expected) in [
        (Misbehaviour::WrongSignature, TokenError::BadSignature),
        (Misbehaviour::Expired, TokenError::Expired),
        (Misbehaviour::WrongIssuer, TokenError::WrongIssuer),
        (Misbehaviour::WrongAudience, TokenError::WrongAudience),
        (
            Misbehaviour::IssuedInTheFuture,
            TokenError::IssuedInTheFuture,
        ),
        (
            Misbehaviour::UnknownKid,
            TokenError::UnknownKey {
                kid: Some("unknown-kid".to_owned()),
            },
        ),
        (Misbehaviour::AlgNone, TokenError::Malformed),
        (
            Misbehaviour::Hs256SignedWithPublicKey,
            TokenError::DisallowedAlgorithm("HS256".to_owned()),
        ),
    ] {
        fixture.idp.set_misbehaviour(Misbehaviour::None);
        let signed_in = fixture.sign_in().await;
        fixture.idp.set_misbehaviour(misbehaviour);
        let body = fixture
            .raw_refresh(refresh_token_of(&signed_in), BOOKSTORE_API)
            .await;
        let forged = body["access_token"].as_str().unwrap();
        match fixture
            .client
            .verify_access_token(forged, BOOKSTORE_API)
            .await
        {
            Err(LogtoError::InvalidAccessToken(error)) => {
                assert_eq!(error, expected, "{misbehaviour:?}");
            }
            other => panic!("{misbehaviour:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn organization_tokens_need_the_scope_and_a_membership() {
    let fixture = setup(|config| {
        config.scopes.push(ORGANIZATIONS_SCOPE.to_owned());
        config
            .scopes
            .push(ORGANIZATION_MEMBER_PERMISSIONS.to_owned());
    })
    .await;
    fixture
        .idp
        .set_user(TestUser::alice().in_organizations(&["org_1"]));
    let signed_in = fixture.sign_in().await;
    let sub = &signed_in.claims.sub;

    let target = TokenTarget::Organization("org_1".to_owned());
    let refreshed = fixture
        .client
        .refresh(refresh_token_of(&signed_in), &target, sub)
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(&refreshed.access_token)["aud"],
        "urn:logto:organization:org_1"
    );
    let claims = fixture
        .client
        .verify_access_token(&refreshed.access_token, &target.audience().unwrap())
        .await
        .expect("a valid organization token");
    assert_eq!(claims.sub.as_deref(), Some(sub.as_str()));
    assert_eq!(
        claims.scope.as_deref(),
        Some(ORGANIZATION_MEMBER_PERMISSIONS),
        "the member's organization permissions, as the sign-in asked for them"
    );
    assert_eq!(
        refreshed.scope.as_deref(),
        Some(ORGANIZATION_MEMBER_PERMISSIONS)
    );
    assert_eq!(
        signed_in.claims.extra["organizations"],
        json!(["org_1"]),
        "the ID token lists the memberships"
    );

    let not_a_member = fixture
        .client
        .refresh(
            &refreshed.refresh_token,
            &TokenTarget::Organization("org_2".to_owned()),
            sub,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&not_a_member, LogtoError::TokenRejected { error, .. } if error == "access_denied"),
        "{not_a_member:?}"
    );

    let without_scope = setup(|_| {}).await;
    without_scope
        .idp
        .set_user(TestUser::alice().in_organizations(&["org_1"]));
    let signed_in = without_scope.sign_in().await;
    let error = without_scope
        .client
        .refresh(refresh_token_of(&signed_in), &target, sub)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LogtoError::TokenRejected { error, .. } if error == "insufficient_scope"),
        "{error:?}"
    );
}

#[tokio::test]
async fn userinfo_returns_the_profile_and_rejects_bad_tokens() {
    let fixture = setup(with_bookstore_api).await;
    let mut user = TestUser::alice();
    user.extra_claims
        .insert("custom_data".to_owned(), json!({ "plan": "gold" }));
    fixture.idp.set_user(user);
    let signed_in = fixture.sign_in().await;

    let sub = &signed_in.claims.sub;
    let claims = fixture
        .client
        .userinfo(&signed_in.tokens.access_token, sub)
        .await
        .expect("the profile");
    assert_eq!(claims["sub"], "user_alice");
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert!(
        !claims.contains_key("custom_data"),
        "custom_data needs its scope"
    );

    assert!(matches!(
        fixture.client.userinfo("bogus", sub).await,
        Err(LogtoError::AccessTokenRejected)
    ));

    fixture.idp.set_access_token_ttl(0);
    let expired = fixture.sign_in().await;
    assert!(expired.tokens.access_token_expires_at.unwrap() <= unix_now());
    assert!(matches!(
        fixture
            .client
            .userinfo(&expired.tokens.access_token, sub)
            .await,
        Err(LogtoError::AccessTokenRejected)
    ));
    assert_eq!(fixture.idp.request_count(Endpoint::UserInfo), 3);
}

#[tokio::test]
async fn userinfo_about_anyone_but_the_signed_in_user_is_refused() {
    let fixture = setup(|_| {}).await;
    let signed_in = fixture.sign_in().await;
    let access_token = &signed_in.tokens.access_token;

    fixture
        .idp
        .set_misbehaviour(Misbehaviour::UserInfoForAnotherUser);
    let error = fixture
        .client
        .userinfo(access_token, &signed_in.claims.sub)
        .await
        .unwrap_err();
    assert!(
        matches!(error, LogtoError::UserInfoSubjectMismatch),
        "{error:?}"
    );
    assert!(!error.to_string().contains(ANOTHER_USER_SUB));

    fixture.idp.set_misbehaviour(Misbehaviour::None);
    assert!(matches!(
        fixture.client.userinfo(access_token, "user_bob").await,
        Err(LogtoError::UserInfoSubjectMismatch)
    ));
    assert!(
        fixture
            .client
            .userinfo(access_token, &signed_in.claims.sub)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_is_unusable() {
    let fixture = setup(|_| {}).await;
    let signed_in = fixture.sign_in().await;
    let token = refresh_token_of(&signed_in);

    fixture
        .client
        .revoke_refresh_token(token)
        .await
        .expect("revoked");
    let error = fixture
        .client
        .refresh(token, &TokenTarget::UserInfo, &signed_in.claims.sub)
        .await
        .unwrap_err();
    assert!(error.is_invalid_grant());
    assert!(
        matches!(
            fixture
                .client
                .userinfo(&signed_in.tokens.access_token, &signed_in.claims.sub)
                .await,
            Err(LogtoError::AccessTokenRejected)
        ),
        "the grant's access token died with it"
    );

    // RFC 7009: revoking an already revoked or unknown token succeeds.
    fixture.client.revoke_refresh_token(token).await.unwrap();
    fixture
        .client
        .revoke_refresh_token("unknown")
        .await
        .unwrap();
    assert_eq!(fixture.idp.request_count(Endpoint::Revocation), 3);
}

#[tokio::test]
async fn client_secret_basic_form_encodes_the_secret_everywhere() {
    // Characters that RFC 6749 §2.3.1 form-encoding changes; the IdP decodes them.
    let fixture = setup_with_secret("s3cr3t +/=:&%", |_| {}).await;
    let signed_in = fixture.sign_in().await;
    let refreshed = fixture
        .client
        .refresh(
            refresh_token_of(&signed_in),
            &TokenTarget::UserInfo,
            &signed_in.claims.sub,
        )
        .await
        .expect("the token endpoint authenticates the client");
    fixture
        .client
        .revoke_refresh_token(&refreshed.refresh_token)
        .await
        .expect("the revocation endpoint authenticates the client");
    let error = fixture
        .client
        .refresh(
            &refreshed.refresh_token,
            &TokenTarget::UserInfo,
            &signed_in.claims.sub,
        )
        .await
        .unwrap_err();
    assert!(error.is_invalid_grant(), "really revoked: {error:?}");

    let wrong_secret = setup_with_secret("right", |_| {}).await;
    let impostor = LogtoClient::new(LogtoConfig::new(
        Url::parse(&wrong_secret.idp.endpoint()).unwrap(),
        APP_ID.to_owned(),
        SecretString::from("wrong"),
        Url::parse(&format!("{APP_ADDRESS}/callback")).unwrap(),
        Url::parse(&format!("{APP_ADDRESS}/")).unwrap(),
    ))
    .unwrap();
    match impostor.revoke_refresh_token("any").await {
        Err(LogtoError::Revocation(reason)) => {
            assert_eq!(reason, "Logto answered HTTP 401 invalid_client");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn logout_tokens_are_verified_and_forgeries_rejected() {
    // Refetching at once lets the key-rotation case below find the new key.
    let fixture = setup(|config| config.jwks_min_refetch_interval = Duration::ZERO).await;
    let signed_in = fixture.sign_in().await;
    let sid = fixture.idp.last_sid().expect("a sign-in happened");
    assert_eq!(signed_in.claims.sid.as_deref(), Some(sid.as_str()));

    let claims = fixture
        .client
        .verify_logout_token(&fixture.idp.logout_token(LogoutTokenSpec::session(&sid)))
        .await
        .expect("a genuine logout token");
    assert_eq!(claims.sid.as_deref(), Some(sid.as_str()));
    assert_eq!(claims.sub, None);
    assert_eq!(claims.iss, fixture.client.issuer());
    assert!(!claims.jti.is_empty());
    assert_eq!(
        claims.exp - claims.iat,
        120,
        "the caller learns when it expires"
    );

    let by_user = LogoutTokenSpec {
        sub: Some("user_alice".to_owned()),
        ..LogoutTokenSpec::default()
    };
    let claims = fixture
        .client
        .verify_logout_token(&fixture.idp.logout_token(by_user))
        .await
        .expect("sub alone is enough");
    assert_eq!(claims.sub.as_deref(), Some("user_alice"));

    let genuine = LogoutTokenSpec::session(&sid);
    for (spec, expected) in [
        (
            genuine.clone().forged(LogoutMisbehaviour::WrongKey),
            TokenError::BadSignature,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::Expired),
            TokenError::Expired,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::WithNonce),
            TokenError::UnexpectedNonce,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::MissingEvents),
            TokenError::NotALogoutToken,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::WrongAudience),
            TokenError::WrongAudience,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::WrongIssuer),
            TokenError::WrongIssuer,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::MissingJti),
            TokenError::MissingClaim("jti".to_owned()),
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::AlgNone),
            TokenError::Malformed,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::MissingExp),
            TokenError::MissingClaim("exp".to_owned()),
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::IssuedLongAgo),
            TokenError::IssuedTooLongAgo,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::EventNotAnObject),
            TokenError::NotALogoutToken,
        ),
        (
            genuine.clone().forged(LogoutMisbehaviour::UnknownKid),
            TokenError::UnknownKey {
                kid: Some("unknown-kid".to_owned()),
            },
        ),
        (
            LogoutTokenSpec::default(),
            TokenError::MissingClaim("sid or sub".to_owned()),
        ),
    ] {
        let description = format!("{spec:?}");
        match fixture
            .client
            .verify_logout_token(&fixture.idp.logout_token(spec))
            .await
        {
            Err(LogtoError::InvalidLogoutToken(error)) => {
                assert_eq!(error, expected, "{description}");
            }
            other => panic!("{description}: {other:?}"),
        }
    }
    // An ID token is signed by Logto for this app too, but it is no logout token.
    assert!(matches!(
        fixture
            .client
            .verify_logout_token(&signed_in.tokens.id_token)
            .await,
        Err(LogtoError::InvalidLogoutToken(TokenError::NotALogoutToken))
    ));

    fixture.idp.rotate_signing_key();
    fixture
        .client
        .verify_logout_token(&fixture.idp.logout_token(genuine))
        .await
        .expect("a token signed with a new key is verified after a JWKS refetch");
}

/// A backoff short enough for a test to wait it out.
const SHORT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(60),
};

#[tokio::test]
async fn after_a_jwks_failure_logto_is_left_alone_until_the_backoff_has_passed() {
    let fixture = setup(|config| {
        config.jwks_min_refetch_interval = Duration::ZERO;
        config.provider_backoff = SHORT_BACKOFF;
    })
    .await;
    fixture.client.prefetch().await.expect("Logto is up");
    assert!(!fixture.client.health().is_down());
    let jwks_requests = fixture.idp.request_count(Endpoint::Jwks);
    fixture.idp.set_misbehaviour(Misbehaviour::JwksUnavailable);
    fixture.idp.rotate_signing_key();
    let new_key_token = fixture
        .idp
        .logout_token(LogoutTokenSpec::session("a-logto-session"));

    assert!(matches!(
        fixture.client.verify_logout_token(&new_key_token).await,
        Err(LogtoError::ProviderStatus {
            document: "JWKS",
            status: 503
        })
    ));
    for _ in 0..10 {
        assert!(matches!(
            fixture.client.verify_logout_token(&new_key_token).await,
            Err(LogtoError::ProviderBackingOff {
                document: "JWKS",
                ..
            })
        ));
    }
    assert_eq!(fixture.idp.request_count(Endpoint::Jwks) - jwks_requests, 1);
    let health = fixture.client.health();
    assert!(health.is_down());
    assert_eq!(health.consecutive_failures, 1);
    assert!(health.retry_in <= SHORT_BACKOFF.initial);
    assert!(
        matches!(
            fixture
                .client
                .start_sign_in(&SignInOptions::default())
                .await,
            Err(LogtoError::ProviderBackingOff { .. })
        ),
        "no browser is sent to a Logto that just failed, though discovery was loaded before"
    );

    fixture.idp.set_misbehaviour(Misbehaviour::None);
    tokio::time::sleep(fixture.client.health().retry_in).await;
    let claims = fixture
        .client
        .verify_logout_token(&new_key_token)
        .await
        .expect("verified with the new key once Logto answers again");
    assert_eq!(claims.sid.as_deref(), Some("a-logto-session"));
    assert_eq!(fixture.idp.request_count(Endpoint::Jwks) - jwks_requests, 2);
    assert!(!fixture.client.health().is_down());
}

#[tokio::test]
async fn a_failed_jwks_request_counts_against_the_refetch_interval() {
    let interval = Duration::from_millis(500);
    let fixture = setup(|config| {
        config.jwks_min_refetch_interval = interval;
        // No backoff: only the re-fetch interval holds the requests back.
        config.provider_backoff = Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
        };
    })
    .await;
    fixture.client.prefetch().await.expect("Logto is up");
    // Wait out the interval after the successful fetch.
    tokio::time::sleep(interval).await;
    let jwks_requests = fixture.idp.request_count(Endpoint::Jwks);
    fixture.idp.set_misbehaviour(Misbehaviour::JwksUnavailable);
    let unknown_kid = fixture.idp.logout_token(
        LogoutTokenSpec::session("a-logto-session").forged(LogoutMisbehaviour::UnknownKid),
    );

    assert!(matches!(
        fixture.client.verify_logout_token(&unknown_kid).await,
        Err(LogtoError::ProviderStatus { status: 503, .. })
    ));
    for _ in 0..10 {
        assert!(matches!(
            fixture.client.verify_logout_token(&unknown_kid).await,
            Err(LogtoError::InvalidLogoutToken(
                TokenError::UnknownKey { .. }
            ))
        ));
    }
    assert_eq!(
        fixture.idp.request_count(Endpoint::Jwks) - jwks_requests,
        1,
        "the failed request started the interval"
    );
}

#[tokio::test]
async fn after_a_discovery_failure_sign_in_fails_fast_until_the_backoff_has_passed() {
    let fixture = setup(|config| config.provider_backoff = SHORT_BACKOFF).await;
    fixture
        .idp
        .set_misbehaviour(Misbehaviour::DiscoveryUnavailable);

    let first = fixture
        .client
        .start_sign_in(&SignInOptions::default())
        .await;
    assert!(
        matches!(
            first,
            Err(LogtoError::ProviderStatus {
                document: "discovery document",
                status: 503
            })
        ),
        "{first:?}"
    );
    for _ in 0..10 {
        assert!(matches!(
            fixture
                .client
                .start_sign_in(&SignInOptions::default())
                .await,
            Err(LogtoError::ProviderBackingOff {
                document: "discovery document",
                ..
            })
        ));
    }
    assert!(matches!(
        fixture.client.prefetch().await,
        Err(LogtoError::ProviderBackingOff { .. })
    ));
    assert_eq!(fixture.idp.request_count(Endpoint::Discovery), 1);
    let health = fixture.client.health();
    assert!(health.is_down());
    assert!(health.down_since.unwrap() <= std::time::SystemTime::now());

    fixture.idp.set_misbehaviour(Misbehaviour::None);
    tokio::time::sleep(health.retry_in).await;
    fixture.sign_in().await;
    assert_eq!(fixture.idp.request_count(Endpoint::Discovery), 2);
    assert_eq!(fixture.idp.request_count(Endpoint::Jwks), 1);
    assert!(!fixture.client.health().is_down());
}

#[tokio::test]
async fn stored_id_tokens_decode_to_the_verified_claims() {
    let fixture = setup(|_| {}).await;
    let mut user = TestUser::alice();
    user.extra_claims
        .insert("roles".to_owned(), json!(["admin", "editor"]));
    fixture.idp.set_user(user);
    let signed_in = fixture.sign_in().await;

    assert_eq!(signed_in.claims.extra["roles"], json!(["admin", "editor"]));
    assert!(
        signed_in.claims.extra["created_at"].as_i64().unwrap() > 1_000_000_000_000,
        "Logto's milliseconds"
    );
    let decoded = decode_stored_id_token(&signed_in.tokens.id_token).unwrap();
    assert_eq!(decoded, signed_in.claims);
}

fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

//! An in-process OpenID Connect provider that mimics Logto's OIDC server, for integration tests.
//!
//! It serves discovery, JWKS, an auto-approving authorization endpoint, a token endpoint
//! (authorization code + PKCE S256 and refresh token with rotation, `client_secret_basic`),
//! userinfo, token revocation and RP-initiated logout, all under `{endpoint}/oidc` like Logto.
//! It knows one API resource, [`BOOKSTORE_API`], and Logto's organization tokens, which carry
//! [`ORGANIZATION_MEMBER_PERMISSIONS`] only when the sign-in requested
//! [`ORGANIZATIONS_RESOURCE`] and those permissions as scopes, as in Logto 1.37. Tests can
//! switch it into a [`Misbehaviour`] to exercise the app's rejection paths, swap the signed-in
//! [`TestUser`], rotate the signing key, mint back-channel logout tokens, slow the token
//! endpoint down, shorten access token lifetimes and stop the server to simulate an outage.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, ContentType};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p384::SecretKey;
use p384::elliptic_curve::sec1::ToEncodedPoint;
use p384::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha384};
use tokio::task::JoinHandle;
use url::Url;

/// How long an authorization code can be redeemed (Logto uses 60 s as well).
const AUTHORIZATION_CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Lifetime of ID tokens, and default lifetime of access tokens, in seconds.
const TOKEN_LIFETIME_SECS: i64 = 3600;
/// Lifetime of logout tokens, in seconds.
const LOGOUT_TOKEN_LIFETIME_SECS: i64 = 120;
/// Age of a [`LogoutMisbehaviour::IssuedLongAgo`] token, in seconds: seven minutes, past the
/// five that Back-Channel Logout receivers accept plus the usual minute of clock leeway.
const OLD_LOGOUT_TOKEN_AGE_SECS: i64 = 7 * 60;
/// `sub` that `/oidc/me` answers with under [`Misbehaviour::UserInfoForAnotherUser`].
pub const ANOTHER_USER_SUB: &str = "user_mallory";
/// The API resource indicator the IdP knows, like one registered in Logto's console.
pub const BOOKSTORE_API: &str = "https://api.bookstore.example";
/// The permissions (scopes) of [`BOOKSTORE_API`].
pub const BOOKSTORE_API_SCOPES: &str = "read:books write:books";
/// The scope Logto requires for organization tokens.
pub const ORGANIZATIONS_SCOPE: &str = "urn:logto:scope:organizations";
/// Logto's reserved resource for organization permissions: unless the sign-in requested it,
/// organization tokens have an empty scope.
pub const ORGANIZATIONS_RESOURCE: &str = "urn:logto:resource:organizations";
/// The organization permissions every member holds in each of their organizations (one
/// "member" role for all, unlike Logto, where they depend on the member's roles).
pub const ORGANIZATION_MEMBER_PERMISSIONS: &str = "read:club-shelf";
/// The `events` member of a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Fixed account creation time of every test user (2023-11-14), in milliseconds like Logto.
const USER_CREATED_AT_MS: i64 = 1_700_000_000_000;
/// `aud` used by [`Misbehaviour::WrongAudience`].
const FOREIGN_AUDIENCE: &str = "someone-else";
/// `iss` used by [`Misbehaviour::WrongIssuer`].
const FOREIGN_ISSUER: &str = "https://evil.example/oidc";
/// `nonce` used by [`Misbehaviour::WrongNonce`].
const WRONG_NONCE: &str = "not-the-nonce";
/// Header `kid` used by [`Misbehaviour::UnknownKid`]; never published in the JWKS.
const UNKNOWN_KID: &str = "unknown-kid";

/// What the IdP knows about the app (its one registered client).
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    /// The app's client id (`client_id`, and the ID token's `aud`).
    pub client_id: String,
    /// The app's client secret, checked with `client_secret_basic`.
    pub client_secret: String,
    /// The only `redirect_uri` the authorization and token endpoints accept (exact match).
    pub redirect_uri: String,
    /// The only `post_logout_redirect_uri` the end-session endpoint accepts (exact match).
    pub post_logout_redirect_uri: String,
}

/// The user the IdP signs in; tests change it to vary claims (e.g. a huge claim for cookie-size tests).
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Subject identifier (`sub`).
    pub sub: String,
    /// Full name (`name`), omitted from the ID token when `None`.
    pub name: Option<String>,
    /// Logto username (`username`), omitted from the ID token when `None`.
    pub username: Option<String>,
    /// Avatar URL (`picture`), emitted as JSON `null` when `None`, as Logto does.
    pub picture: Option<String>,
    /// Email (`email`, with `email_verified: true`), both omitted when `None`.
    pub email: Option<String>,
    /// Added to the ID token last, so they can also override the standard claims.
    pub extra_claims: Map<String, Value>,
}

impl TestUser {
    /// The default user: Alice, with every profile claim set.
    pub fn alice() -> Self {
        Self {
            sub: "user_alice".to_owned(),
            name: Some("Alice Liddell".to_owned()),
            username: Some("alice".to_owned()),
            picture: Some("https://example.com/alice.png".to_owned()),
            email: Some("alice@example.com".to_owned()),
            extra_claims: Map::new(),
        }
    }

    /// The same user as a member of these organizations (the `organizations` claim, which
    /// also decides who gets an organization token).
    pub fn in_organizations(mut self, ids: &[&str]) -> Self {
        self.extra_claims
            .insert("organizations".to_owned(), json!(ids));
        self
    }

    /// The organizations the user is a member of.
    fn organizations(&self) -> Vec<&str> {
        self.extra_claims
            .get("organizations")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

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
    /// `/oidc/me` answers for another user: its `sub` is [`ANOTHER_USER_SUB`].
    UserInfoForAnotherUser,
}

/// The IdP endpoints whose requests are counted, see [`TestIdp::request_count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /oidc/.well-known/openid-configuration`
    Discovery,
    /// `GET /oidc/jwks`
    Jwks,
    /// `GET /oidc/auth`
    Authorize,
    /// `POST /oidc/token`
    Token,
    /// `GET /oidc/session/end`
    EndSession,
    /// `GET /oidc/me`
    UserInfo,
    /// `POST /oidc/token/revocation`
    Revocation,
}

impl Endpoint {
    /// Number of variants, i.e. of request counters (counters are indexed by `endpoint as usize`).
    const COUNT: usize = 7;
}

/// What [`TestIdp::logout_token`] puts in a back-channel logout token.
#[derive(Clone, Debug, Default)]
pub struct LogoutTokenSpec {
    /// The Logto session that ended, see [`TestIdp::last_sid`].
    pub sid: Option<String>,
    /// The user who signed out.
    pub sub: Option<String>,
    /// A forgery to make, or none.
    pub misbehaviour: LogoutMisbehaviour,
}

impl LogoutTokenSpec {
    /// A valid logout token for one Logto session.
    pub fn session(sid: &str) -> Self {
        Self {
            sid: Some(sid.to_owned()),
            ..Self::default()
        }
    }

    /// The same token, forged as described.
    pub fn forged(self, misbehaviour: LogoutMisbehaviour) -> Self {
        Self {
            misbehaviour,
            ..self
        }
    }
}

/// How [`TestIdp::logout_token`] breaks a logout token.
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

/// A running test IdP; dropping it without [`TestIdp::stop`] leaves it running until the
/// test's runtime shuts down.
pub struct TestIdp {
    state: Arc<IdpState>,
    port: u16,
    server_handle: ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
}

impl TestIdp {
    /// Starts the IdP on a random free port of 127.0.0.1.
    pub async fn start(client: RegisteredClient) -> TestIdp {
        Self::start_on_port(client, 0).await
    }

    /// Starts the IdP on the given port of 127.0.0.1 (e.g. to bring a stopped IdP back).
    ///
    /// # Panics
    /// If the port cannot be bound or the client's URIs are not absolute URLs.
    pub async fn start_on_port(client: RegisteredClient, port: u16) -> TestIdp {
        Self::start_as(client, port, "127.0.0.1").await
    }

    /// Starts the IdP on a free port of 127.0.0.1, but with `http://{public_host}:PORT` as its
    /// endpoint, in its issuer and discovery document: Logto as browsers see it through a
    /// published port, while the app reaches it at 127.0.0.1 (as inside Docker Compose).
    pub async fn start_behind(client: RegisteredClient, public_host: &str) -> TestIdp {
        Self::start_as(client, 0, public_host).await
    }

    async fn start_as(client: RegisteredClient, port: u16, public_host: &str) -> TestIdp {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|error| panic!("test IdP cannot bind 127.0.0.1:{port}: {error}"));
        let port = listener
            .local_addr()
            .expect("bound listener has a local address")
            .port();
        let state = Arc::new(IdpState::new(
            client,
            format!("http://{public_host}:{port}"),
        ));

        let app_state = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .route(
                    "/oidc/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/oidc/jwks", web::get().to(jwks))
                .route("/oidc/auth", web::get().to(authorize))
                .route("/oidc/token", web::post().to(token))
                .route("/oidc/token/revocation", web::post().to(revocation))
                .route("/oidc/me", web::get().to(userinfo))
                .route("/oidc/session/end", web::get().to(end_session))
        })
        .workers(1)
        // Bounds `stop` should a client leave a request hanging; ours answer instantly.
        .shutdown_timeout(5)
        // A test server must not install process-wide signal handlers.
        .disable_signals()
        .listen(listener)
        .expect("actix-web accepts the bound listener")
        .run();

        TestIdp {
            state,
            port,
            server_handle: server.handle(),
            server_task: tokio::spawn(server),
        }
    }

    /// Every refresh token and opaque access token issued so far (spent ones included), for
    /// tests that check they never reach a log.
    pub fn issued_token_values(&self) -> Vec<String> {
        let state = self.state.lock();
        state
            .refresh_tokens
            .keys()
            .chain(state.access_tokens.keys())
            .cloned()
            .collect()
    }

    /// Base URL, `http://127.0.0.1:PORT` (or the public host it was started behind): what the
    /// app gets as `LOGTO_ENDPOINT` (no `/oidc`).
    pub fn endpoint(&self) -> String {
        self.state.endpoint.clone()
    }

    /// The issuer, `{endpoint}/oidc`, as Logto names it.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// The port the IdP listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Makes every following token response misbehave as described, until changed again.
    pub fn set_misbehaviour(&self, misbehaviour: Misbehaviour) {
        self.state.lock().misbehaviour = misbehaviour;
    }

    /// Signs in `user` from the next authorization request on.
    pub fn set_user(&self, user: TestUser) {
        self.state.lock().user = user;
    }

    /// How many requests `endpoint` has received, valid or not.
    pub fn request_count(&self, endpoint: Endpoint) -> usize {
        self.state.request_counts[endpoint as usize].load(Ordering::SeqCst)
    }

    /// Query pairs of the last `/oidc/session/end` request, in order.
    pub fn last_end_session_query(&self) -> Option<Vec<(String, String)>> {
        self.state.lock().last_end_session_query.clone()
    }

    /// Query pairs of the last `/oidc/auth` request, in order.
    pub fn last_authorize_query(&self) -> Option<Vec<(String, String)>> {
        self.state.lock().last_authorize_query.clone()
    }

    /// The Logto session id (`sid`) of the last successful authorization request: what a
    /// logout token names to end that browser's session.
    pub fn last_sid(&self) -> Option<String> {
        self.state.lock().last_sid.clone()
    }

    /// How many refresh-token grants the token endpoint has received from the authenticated
    /// client, valid or not.
    pub fn refresh_grant_count(&self) -> usize {
        self.state.refresh_grants.load(Ordering::SeqCst)
    }

    /// Makes the token endpoint wait this long before answering (from the next request on),
    /// so that concurrent refreshes overlap as they would against a busy Logto.
    pub fn set_token_delay(&self, delay: Duration) {
        self.state.lock().token_delay = delay;
    }

    /// Lifetime of the access tokens issued from now on (`expires_in`), in seconds; 0 makes
    /// them expire at once. The default is 3600, like Logto.
    pub fn set_access_token_ttl(&self, secs: i64) {
        self.state.lock().access_token_ttl = secs;
    }

    /// Revokes every grant, as when the user is signed out of all apps in the Logto Console:
    /// their refresh and access tokens stop working.
    pub fn revoke_all_grants(&self) {
        for grant in self.state.lock().grants.values_mut() {
            grant.revoked = true;
        }
    }

    /// Mints a back-channel logout token for the registered client, signed with the current
    /// key (or forged as `spec.misbehaviour` says): `iss`, `aud`, `iat`, `exp` (two minutes),
    /// `jti`, the logout event and the `sid` and `sub` of `spec`, under header `typ`
    /// `logout+jwt`.
    pub fn logout_token(&self, spec: LogoutTokenSpec) -> String {
        self.state.logout_token(&spec)
    }

    /// Signs new tokens with a new P-384 key under a new `kid`; the JWKS keeps serving the old
    /// keys too, like Logto during a key rotation.
    pub fn rotate_signing_key(&self) {
        self.state.lock().signing_keys.push(SigningKey::generate());
    }

    /// Unpublishes every signing key but the newest, as when the previous private key is
    /// deleted in the Logto Console after a rotation: tokens signed with the old keys no
    /// longer verify, and an `id_token_hint` among them is refused at end-session.
    pub fn delete_previous_signing_keys(&self) {
        let mut shared = self.state.lock();
        let newest = shared.signing_keys.len().saturating_sub(1);
        shared.signing_keys.drain(..newest);
    }

    /// Stops the server and waits until the port is free again (simulates the IdP going down).
    /// Takes about a second when clients hold keep-alive connections.
    pub async fn stop(self) {
        // Graceful, because only that waits for the worker to close idle keep-alive connections;
        // otherwise a client could still reuse one and see a half-dead IdP.
        self.server_handle.stop(true).await;
        self.server_task
            .await
            .expect("test IdP server task panicked")
            .expect("test IdP server failed");
    }
}

/// State shared by the [`TestIdp`] handle and the request handlers.
struct IdpState {
    client: RegisteredClient,
    /// Parsed copy of `client.redirect_uri`, to build redirects from.
    redirect_uri: Url,
    /// Parsed copy of `client.post_logout_redirect_uri`, to build redirects from.
    post_logout_redirect_uri: Url,
    endpoint: String,
    issuer: String,
    /// Indexed by `Endpoint as usize`.
    request_counts: [AtomicUsize; Endpoint::COUNT],
    refresh_grants: AtomicUsize,
    mutable: Mutex<MutableState>,
}

/// The part of [`IdpState`] that tests and requests change.
struct MutableState {
    misbehaviour: Misbehaviour,
    user: TestUser,
    /// Oldest first; the last one signs new tokens, all are published.
    signing_keys: Vec<SigningKey>,
    /// Unredeemed authorization codes.
    codes: HashMap<String, AuthorizationCode>,
    /// Grants by id, from the code exchange on; revoked ones stay, flagged.
    grants: HashMap<String, Grant>,
    /// Refresh tokens by value; a spent one stays, flagged, to detect its reuse.
    refresh_tokens: HashMap<String, RefreshTokenState>,
    /// Opaque access tokens by value, for `/oidc/me`.
    access_tokens: HashMap<String, OpaqueAccessToken>,
    last_authorize_query: Option<Vec<(String, String)>>,
    last_end_session_query: Option<Vec<(String, String)>>,
    last_sid: Option<String>,
    token_delay: Duration,
    access_token_ttl: i64,
}

/// What an authorization code stands for, captured when the user "signed in".
struct AuthorizationCode {
    issued_at: Instant,
    nonce: Option<String>,
    code_challenge: String,
    sign_in: SignIn,
}

/// One sign-in of one user: what the tokens of its grant are about.
#[derive(Clone)]
struct SignIn {
    /// Unix seconds of the sign-in, for `auth_time`.
    auth_time: i64,
    /// Session id, random per sign-in.
    sid: String,
    scope: String,
    /// The `resource` parameters of the authorization request.
    resources: Vec<String>,
    /// Snapshot, so that `set_user` between authorize and token does not leak into this grant.
    user: TestUser,
}

/// A redeemed authorization: every refresh and access token belongs to one.
struct Grant {
    sign_in: SignIn,
    /// Revoking a grant invalidates all of its tokens, as in Logto.
    revoked: bool,
}

struct RefreshTokenState {
    grant_id: String,
    /// Rotated away: using it again revokes the grant.
    spent: bool,
}

struct OpaqueAccessToken {
    grant_id: String,
    /// Unix seconds.
    expires_at: i64,
    revoked: bool,
}

/// What the token endpoint issues an access token for (`resource` / `organization_id`).
enum Target {
    UserInfo,
    Resource(String),
    Organization(String),
}

/// A P-384 signing key and the `kid` under which its public half is published.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    secret: SecretKey,
}

/// Successful token endpoint response body.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2) from deep inside a grant, before it becomes a response.
#[derive(Clone)]
struct GrantError {
    status: u16,
    error: &'static str,
    description: &'static str,
}

impl GrantError {
    /// A 400 error, the usual status.
    fn new(error: &'static str, description: &'static str) -> Self {
        Self {
            status: 400,
            error,
            description,
        }
    }
}

impl IdpState {
    fn new(client: RegisteredClient, endpoint: String) -> Self {
        let parse = |uri: &str| {
            Url::parse(uri).unwrap_or_else(|error| {
                panic!("registered client URI {uri:?} is not an absolute URL: {error}")
            })
        };
        Self {
            redirect_uri: parse(&client.redirect_uri),
            post_logout_redirect_uri: parse(&client.post_logout_redirect_uri),
            client,
            issuer: format!("{endpoint}/oidc"),
            endpoint,
            request_counts: Default::default(),
            refresh_grants: AtomicUsize::new(0),
            mutable: Mutex::new(MutableState {
                misbehaviour: Misbehaviour::None,
                user: TestUser::alice(),
                signing_keys: vec![SigningKey::generate()],
                codes: HashMap::new(),
                grants: HashMap::new(),
                refresh_tokens: HashMap::new(),
                access_tokens: HashMap::new(),
                last_authorize_query: None,
                last_end_session_query: None,
                last_sid: None,
                token_delay: Duration::ZERO,
                access_token_ttl: TOKEN_LIFETIME_SECS,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MutableState> {
        self.mutable.lock().expect("test IdP state lock poisoned")
    }

    fn count(&self, endpoint: Endpoint) {
        self.request_counts[endpoint as usize].fetch_add(1, Ordering::SeqCst);
    }

    /// Checks `client_secret_basic` credentials against the registered client.
    fn authenticates_client(&self, request: &HttpRequest) -> bool {
        basic_credentials(request).is_some_and(|(id, secret)| {
            id == self.client.client_id && secret == self.client.client_secret
        })
    }

    /// The key that signs new tokens, and the fault to inject.
    fn signer(&self) -> Signer {
        let shared = self.lock();
        Signer {
            key: shared
                .signing_keys
                .last()
                .expect("there is always a key")
                .clone(),
            misbehaviour: shared.misbehaviour,
        }
    }

    /// The signed ID token of a sign-in, with the current misbehaviour applied. Only the code
    /// exchange passes the request's `nonce` and the `access_token` for `at_hash`.
    fn issue_id_token(
        &self,
        sign_in: &SignIn,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> String {
        let signer = self.signer();
        let claims = self.id_token_claims(sign_in, nonce, access_token, signer.misbehaviour);
        signer.sign(&claims, "JWT")
    }

    /// `iat`, `exp`, `iss` and `aud` of a token living `lifetime` seconds, with the faults in
    /// registered claims applied.
    fn registered_claims(
        &self,
        audience: &str,
        lifetime: i64,
        misbehaviour: Misbehaviour,
    ) -> Map<String, Value> {
        let now = unix_now();
        let (issued_at, expires_at) = match misbehaviour {
            Misbehaviour::Expired => (now - 2 * TOKEN_LIFETIME_SECS, now - TOKEN_LIFETIME_SECS),
            Misbehaviour::IssuedInTheFuture => {
                (now + TOKEN_LIFETIME_SECS, now + 2 * TOKEN_LIFETIME_SECS)
            }
            _ => (now, now + lifetime),
        };
        let issuer = match misbehaviour {
            Misbehaviour::WrongIssuer => FOREIGN_ISSUER,
            _ => &self.issuer,
        };
        let audience = match misbehaviour {
            Misbehaviour::WrongAudience => FOREIGN_AUDIENCE,
            _ => audience,
        };
        claims_map([
            ("iss", json!(issuer)),
            ("aud", json!(audience)),
            ("exp", json!(expires_at)),
            ("iat", json!(issued_at)),
        ])
    }

    fn id_token_claims(
        &self,
        sign_in: &SignIn,
        nonce: Option<&str>,
        access_token: Option<&str>,
        misbehaviour: Misbehaviour,
    ) -> Map<String, Value> {
        let nonce = match misbehaviour {
            Misbehaviour::WrongNonce => Some(WRONG_NONCE),
            Misbehaviour::MissingNonce => None,
            _ => nonce,
        };
        let hashed_access_token = match misbehaviour {
            Misbehaviour::WrongAtHash => Some("a-different-access-token"),
            _ => access_token,
        };

        let user = &sign_in.user;
        let mut claims =
            self.registered_claims(&self.client.client_id, TOKEN_LIFETIME_SECS, misbehaviour);
        claims.extend(claims_map([
            ("sub", json!(user.sub)),
            ("auth_time", json!(sign_in.auth_time)),
            ("sid", json!(sign_in.sid)),
            ("picture", json!(user.picture)),
            ("created_at", json!(USER_CREATED_AT_MS)),
            ("updated_at", json!(sign_in.auth_time * 1000)),
        ]));
        if let Some(access_token) = hashed_access_token {
            claims.insert("at_hash".to_owned(), json!(at_hash(access_token)));
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".to_owned(), json!(nonce));
        }
        if let Some(name) = &user.name {
            claims.insert("name".to_owned(), json!(name));
        }
        if let Some(username) = &user.username {
            claims.insert("username".to_owned(), json!(username));
        }
        if let Some(email) = &user.email {
            claims.insert("email".to_owned(), json!(email));
            claims.insert("email_verified".to_owned(), json!(true));
        }
        claims.extend(user.extra_claims.clone());
        claims
    }

    /// A JWT access token (RFC 9068, as Logto formats it) for `audience`.
    fn issue_jwt_access_token(
        &self,
        sign_in: &SignIn,
        audience: &str,
        scope: Option<&str>,
        lifetime: i64,
    ) -> String {
        let signer = self.signer();
        let mut claims = self.registered_claims(audience, lifetime, signer.misbehaviour);
        claims.extend(claims_map([
            ("jti", json!(random_token())),
            ("sub", json!(sign_in.user.sub)),
            ("client_id", json!(self.client.client_id)),
        ]));
        if let Some(scope) = scope {
            claims.insert("scope".to_owned(), json!(scope));
        }
        signer.sign(&claims, "at+jwt")
    }

    /// The claims `/oidc/me` returns for a sign-in: `sub`, and what the granted scopes allow.
    fn userinfo_claims(&self, sign_in: &SignIn) -> Map<String, Value> {
        let user = &sign_in.user;
        let granted = |scope| has_scope(&sign_in.scope, scope);
        let mut claims = claims_map([("sub", json!(user.sub))]);
        if granted("profile") {
            claims.extend(claims_map([
                ("name", json!(user.name)),
                ("username", json!(user.username)),
                ("picture", json!(user.picture)),
                ("created_at", json!(USER_CREATED_AT_MS)),
                ("updated_at", json!(sign_in.auth_time * 1000)),
            ]));
        }
        if granted("email") {
            claims.extend(claims_map([
                ("email", json!(user.email)),
                ("email_verified", json!(user.email.is_some())),
            ]));
        }
        // Extra claims that belong to a scope need it; the others are always returned.
        let scope_of_claim = |claim: &str| match claim {
            "custom_data" => Some("custom_data"),
            "identities" | "sso_identities" => Some("identities"),
            "roles" => Some("roles"),
            "organizations" => Some(ORGANIZATIONS_SCOPE),
            "organization_roles" => Some("urn:logto:scope:organization_roles"),
            _ => None,
        };
        claims.extend(
            user.extra_claims
                .iter()
                .filter(|(claim, _)| scope_of_claim(claim).is_none_or(granted))
                .map(|(claim, value)| (claim.clone(), value.clone())),
        );
        claims
    }

    /// A back-channel logout token for the registered client, forged as `spec` says.
    fn logout_token(&self, spec: &LogoutTokenSpec) -> String {
        let signer = self.signer();
        let now = unix_now();
        let (issued_at, expires_at) = match spec.misbehaviour {
            LogoutMisbehaviour::Expired => {
                (now - 2 * TOKEN_LIFETIME_SECS, now - TOKEN_LIFETIME_SECS)
            }
            LogoutMisbehaviour::IssuedLongAgo => (
                now - OLD_LOGOUT_TOKEN_AGE_SECS,
                now + LOGOUT_TOKEN_LIFETIME_SECS,
            ),
            _ => (now, now + LOGOUT_TOKEN_LIFETIME_SECS),
        };
        let issuer = match spec.misbehaviour {
            LogoutMisbehaviour::WrongIssuer => FOREIGN_ISSUER,
            _ => &self.issuer,
        };
        let audience = match spec.misbehaviour {
            LogoutMisbehaviour::WrongAudience => FOREIGN_AUDIENCE,
            _ => &self.client.client_id,
        };
        let mut claims = claims_map([
            ("iss", json!(issuer)),
            ("aud", json!(audience)),
            ("iat", json!(issued_at)),
            ("exp", json!(expires_at)),
            ("jti", json!(random_token())),
            ("events", json!({ BACKCHANNEL_LOGOUT_EVENT: {} })),
        ]);
        let optional = [("sid", &spec.sid), ("sub", &spec.sub)];
        for (name, value) in optional {
            if let Some(value) = value {
                claims.insert(name.to_owned(), json!(value));
            }
        }
        match spec.misbehaviour {
            LogoutMisbehaviour::WithNonce => {
                claims.insert("nonce".to_owned(), json!(WRONG_NONCE));
            }
            LogoutMisbehaviour::MissingEvents => {
                claims.remove("events");
            }
            LogoutMisbehaviour::MissingJti => {
                claims.remove("jti");
            }
            LogoutMisbehaviour::MissingExp => {
                claims.remove("exp");
            }
            LogoutMisbehaviour::EventNotAnObject => {
                claims.insert(
                    "events".to_owned(),
                    json!({ BACKCHANNEL_LOGOUT_EVENT: true }),
                );
            }
            _ => {}
        }

        let key = &signer.key;
        match spec.misbehaviour {
            LogoutMisbehaviour::WrongKey => {
                let impostor = SigningKey::generate();
                es384_jwt(&claims, &key.kid, "logout+jwt", &impostor.encoding_key())
            }
            LogoutMisbehaviour::AlgNone => unsigned_jwt(&claims, "logout+jwt"),
            LogoutMisbehaviour::UnknownKid => {
                let unpublished = SigningKey::generate();
                es384_jwt(
                    &claims,
                    UNKNOWN_KID,
                    "logout+jwt",
                    &unpublished.encoding_key(),
                )
            }
            _ => es384_jwt(&claims, &key.kid, "logout+jwt", &key.encoding_key()),
        }
    }

    /// Whether `hint` is an ID token this IdP issued to the client. Expired hints are fine:
    /// Logto accepts them, since users often sign out long after their ID token expired.
    fn verifies_id_token_hint(&self, hint: &str) -> bool {
        let mut validation = Validation::new(Algorithm::ES384);
        validation.set_audience(&[&self.client.client_id]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        validation.validate_exp = false;
        let keys = self.lock().signing_keys.clone();
        keys.iter().any(|key| {
            jsonwebtoken::decode::<Map<String, Value>>(hint, &key.decoding_key(), &validation)
                .is_ok()
        })
    }
}

impl SigningKey {
    fn generate() -> Self {
        Self {
            kid: random_token(),
            secret: SecretKey::random(&mut OsRng),
        }
    }

    fn encoding_key(&self) -> EncodingKey {
        // jsonwebtoken's ES384 signer reads PKCS#8 DER (what `from_ec_pem` would extract).
        let der = self
            .secret
            .to_pkcs8_der()
            .expect("a P-384 key encodes as PKCS#8");
        EncodingKey::from_ec_der(der.as_bytes())
    }

    fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_jwk(&self.public_jwk()).expect("our own JWK is a valid EC key")
    }

    /// The public key as Logto publishes it in the JWKS.
    fn public_jwk(&self) -> Jwk {
        let point = self.secret.public_key().to_encoded_point(false);
        let coordinate = |bytes: Option<&_>| {
            URL_SAFE_NO_PAD.encode(bytes.expect("an uncompressed point has both coordinates"))
        };
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::ES384),
                key_id: Some(self.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P384,
                x: coordinate(point.x()),
                y: coordinate(point.y()),
            }),
        }
    }

    /// The public key as SPKI PEM: the HMAC secret of the key-confusion attack.
    fn public_key_pem(&self) -> String {
        self.secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-384 public key encodes as PEM")
    }
}

/// A snapshot of what signs new tokens: the current key, and the fault to inject.
struct Signer {
    key: SigningKey,
    misbehaviour: Misbehaviour,
}

impl Signer {
    /// Signs `claims` under header `typ`, applying the signature-level misbehaviours.
    fn sign(&self, claims: &Map<String, Value>, typ: &str) -> String {
        let key = &self.key;
        match self.misbehaviour {
            Misbehaviour::WrongSignature => {
                let impostor = SigningKey::generate();
                es384_jwt(claims, &key.kid, typ, &impostor.encoding_key())
            }
            Misbehaviour::UnknownKid => {
                let unpublished = SigningKey::generate();
                es384_jwt(claims, UNKNOWN_KID, typ, &unpublished.encoding_key())
            }
            Misbehaviour::AlgNone => unsigned_jwt(claims, typ),
            Misbehaviour::Hs256SignedWithPublicKey => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(key.kid.clone());
                header.typ = Some(typ.to_owned());
                let secret = EncodingKey::from_secret(key.public_key_pem().as_bytes());
                jsonwebtoken::encode(&header, claims, &secret).expect("HS256 signing cannot fail")
            }
            // The remaining faults are in the claims, or never reach a token.
            _ => es384_jwt(claims, &key.kid, typ, &key.encoding_key()),
        }
    }
}

fn es384_jwt(claims: &Map<String, Value>, kid: &str, typ: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("ES384 signing with a P-384 key works")
}

/// A JWT with `alg: none` and an empty signature; jsonwebtoken cannot make one, so it is
/// assembled by hand.
fn unsigned_jwt(claims: &Map<String, Value>, typ: &str) -> String {
    let header = json!({ "alg": "none", "typ": typ });
    format!("{}.{}.", base64url_json(&header), base64url_json(claims))
}

/// A claims object from name-value pairs.
fn claims_map<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

async fn discovery(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
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
        // Only the grants the token endpoint implements (Logto also lists client_credentials).
        "grant_types_supported": ["authorization_code", "refresh_token"],
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

async fn jwks(state: web::Data<IdpState>) -> HttpResponse {
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

async fn authorize(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
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

async fn token(state: web::Data<IdpState>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
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

    if !state.authenticates_client(&request) {
        return invalid_client();
    }

    let form = form_pairs(&body);
    let result = match first_value(&form, "grant_type") {
        Some("authorization_code") => authorization_code_grant(&state, &form),
        Some("refresh_token") => {
            state.refresh_grants.fetch_add(1, Ordering::SeqCst);
            refresh_token_grant(&state, &form)
        }
        _ => Err(GrantError::new(
            "unsupported_grant_type",
            "only authorization_code and refresh_token are supported",
        )),
    };
    match result {
        Ok(response) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(response),
        Err(error) => oauth_error(&error),
    }
}

fn authorization_code_grant(
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
        id_token: state.issue_id_token(
            &sign_in,
            authorization.nonce.as_deref(),
            Some(&access_token),
        ),
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token,
        scope,
    })
}

/// Logto's refresh-token grant: rotation, and reuse detection that revokes the whole grant.
fn refresh_token_grant(
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
        id_token: state.issue_id_token(&sign_in, None, None),
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: Some(rotated),
        scope,
    })
}

/// What a token request asks an access token for; a resource must have been requested at
/// sign-in, as Logto requires.
fn target_of(form: &[(String, String)], sign_in: &SignIn) -> Result<Target, GrantError> {
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

impl IdpState {
    /// A new access token of `grant_id` for `target`: `(token, expires_in, scope)`.
    fn issue_access_token(
        &self,
        grant_id: &str,
        sign_in: &SignIn,
        target: &Target,
    ) -> (String, i64, Option<String>) {
        let lifetime = self.lock().access_token_ttl;
        match target {
            Target::UserInfo => {
                let token = random_token();
                self.lock().access_tokens.insert(
                    token.clone(),
                    OpaqueAccessToken {
                        grant_id: grant_id.to_owned(),
                        expires_at: unix_now() + lifetime,
                        revoked: false,
                    },
                );
                (token, lifetime, Some(sign_in.scope.clone()))
            }
            Target::Resource(resource) => {
                let granted: Vec<&str> = BOOKSTORE_API_SCOPES
                    .split_whitespace()
                    .filter(|scope| has_scope(&sign_in.scope, scope))
                    .collect();
                let scope = (!granted.is_empty()).then(|| granted.join(" "));
                let token =
                    self.issue_jwt_access_token(sign_in, resource, scope.as_deref(), lifetime);
                (token, lifetime, scope)
            }
            Target::Organization(id) => {
                let audience = format!("urn:logto:organization:{id}");
                let scope = organization_scope(sign_in);
                let token =
                    self.issue_jwt_access_token(sign_in, &audience, scope.as_deref(), lifetime);
                // Logto answers an empty scope as `"scope": ""`, with no claim in the token.
                (token, lifetime, Some(scope.unwrap_or_default()))
            }
        }
    }
}

/// The permissions in an organization token, `None` when none: those requested as scopes
/// at sign-in, and only when the sign-in also requested [`ORGANIZATIONS_RESOURCE`] (Logto
/// grants organization permissions through that resource alone).
fn organization_scope(sign_in: &SignIn) -> Option<String> {
    if !sign_in
        .resources
        .iter()
        .any(|r| r == ORGANIZATIONS_RESOURCE)
    {
        return None;
    }
    let granted: Vec<&str> = ORGANIZATION_MEMBER_PERMISSIONS
        .split_whitespace()
        .filter(|permission| has_scope(&sign_in.scope, permission))
        .collect();
    (!granted.is_empty()).then(|| granted.join(" "))
}

/// `GET /oidc/me`: the claims of the user behind a valid opaque access token.
async fn userinfo(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
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
async fn revocation(
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

async fn end_session(state: web::Data<IdpState>, request: HttpRequest) -> HttpResponse {
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
fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
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
fn form_url_decode(encoded: &str) -> Option<String> {
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
fn form_pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded).into_owned().collect()
}

fn has_scope(scopes: &str, wanted: &str) -> bool {
    scopes.split_whitespace().any(|scope| scope == wanted)
}

fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `url` with `pairs` appended to its query.
fn with_query(url: &Url, pairs: &[(&str, &str)]) -> Url {
    let mut url = url.clone();
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url
}

/// Logto redirects with 303 See Other, so the browser follows with a GET.
fn see_other(location: Url) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.as_str()))
        .finish()
}

/// What Logto's proxy answers while Logto is down or starting.
fn service_unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type(ContentType::html())
        .body("<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>")
}

fn plain_bad_request(message: &'static str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type(ContentType::plaintext())
        .body(message)
}

/// A token endpoint error (RFC 6749 §5.2).
fn oauth_error(error: &GrantError) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(error.status).expect("a valid status code"),
    )
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .json(json!({ "error": error.error, "error_description": error.description }))
}

/// The 401 for failed `client_secret_basic` authentication.
fn invalid_client() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="oidc""#))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }))
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(request: &HttpRequest) -> Option<&str> {
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

/// BASE64URL-NOPAD(SHA-256(verifier)), the S256 PKCE challenge (RFC 7636 §4.2).
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Left half of the SHA-384 of the access token (the hash that matches ES384), base64url.
fn at_hash(access_token: &str) -> String {
    let digest = Sha384::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

fn base64url_json(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON values serialize"))
}

/// 256 random bits as 43 base64url characters: codes, tokens, session and key ids.
fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("Unix time fits in i64")
}

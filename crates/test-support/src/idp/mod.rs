//! An in-process OpenID Connect provider that mimics Logto's OIDC server, for integration tests.
//!
//! It serves discovery, JWKS, an auto-approving authorization endpoint, a token endpoint
//! (authorization code + PKCE S256 and refresh token with rotation, `client_secret_basic`),
//! userinfo, token revocation and RP-initiated logout, all under `{endpoint}/oidc` like Logto.
//! It also serves Logto's client-credentials grant to registered machine-to-machine apps
//! ([`MachineClient`]), and mints access tokens on demand ([`TestIdp::access_token`]), genuine
//! or forged, for the tests of an API guard.
//! It knows one API resource, [`BOOKSTORE_API`], and Logto's organization tokens, which carry
//! [`ORGANIZATION_MEMBER_PERMISSIONS`] only when the sign-in requested
//! [`ORGANIZATIONS_RESOURCE`] and those permissions as scopes, as in Logto 1.37. Tests can
//! switch it into a [`Misbehaviour`] to exercise the app's rejection paths, swap the signed-in
//! [`TestUser`], rotate the signing key, mint back-channel logout tokens, slow the token
//! endpoint down, shorten access token lifetimes and stop the server to simulate an outage.
//!
//! [`TestIdp`] and its state live here; the HTTP endpoints in `endpoints`, the signing of
//! tokens in `tokens`, and the faults in `misbehaviour`.

mod endpoints;
mod misbehaviour;
mod tokens;

use crate::unix_now;
use endpoints::*;
pub use misbehaviour::{LogoutMisbehaviour, Misbehaviour};
use tokens::*;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// A machine-to-machine app, as registered in Logto's Console with a role: it gets its own
/// access tokens with `grant_type=client_credentials` and `client_secret_basic`.
#[derive(Clone, Debug)]
pub struct MachineClient {
    /// The app's id: its tokens' `sub` and `client_id`.
    pub client_id: String,
    /// The app's secret.
    pub client_secret: String,
    /// The permissions of [`BOOKSTORE_API`] that its machine-to-machine roles hold,
    /// space-separated: a token's scope is the requested ones among them.
    pub permissions: String,
}

impl MachineClient {
    /// An M2M app `client_id` (its secret is `{client_id}-secret`) whose role holds
    /// `permissions` (space-separated).
    pub fn new(client_id: &str, permissions: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: format!("{client_id}-secret"),
            permissions: permissions.to_owned(),
        }
    }
}

/// What [`TestIdp::access_token`] puts in a JWT access token, signed with the current key
/// (or forged as `misbehaviour` says).
#[derive(Clone, Debug)]
pub struct AccessTokenSpec {
    /// `sub`: a user's id, or the app's for a machine-to-machine token.
    pub sub: String,
    /// `client_id`; `None` for the registered app's.
    pub client_id: Option<String>,
    /// `aud`: a resource indicator, or `urn:logto:organization:<id>`.
    pub audience: String,
    /// `scope`, left out when `None`.
    pub scope: Option<String>,
    /// `organization_id`, for an organization-level API resource's token.
    pub organization_id: Option<String>,
    /// Seconds from now to `exp`.
    pub lifetime_secs: i64,
    /// A forgery to make, or none.
    pub misbehaviour: Misbehaviour,
}

impl AccessTokenSpec {
    /// A user's token for the API resource `audience`, from the registered app, with no scope.
    pub fn user(sub: &str, audience: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            client_id: None,
            audience: audience.to_owned(),
            scope: None,
            organization_id: None,
            lifetime_secs: TOKEN_LIFETIME_SECS,
            misbehaviour: Misbehaviour::None,
        }
    }

    /// A user's organization token: `aud` is `urn:logto:organization:<organization_id>`.
    pub fn organization(sub: &str, organization_id: &str) -> Self {
        Self::user(sub, &format!("urn:logto:organization:{organization_id}"))
    }

    /// A machine-to-machine token of the app `app_id` for `audience` (`sub` = `client_id`).
    pub fn app(app_id: &str, audience: &str) -> Self {
        Self {
            client_id: Some(app_id.to_owned()),
            ..Self::user(app_id, audience)
        }
    }

    /// The same token with this `scope` claim (space-separated).
    pub fn with_scope(self, scope: &str) -> Self {
        Self {
            scope: Some(scope.to_owned()),
            ..self
        }
    }

    /// The same token, forged as described (claim and signature faults of [`Misbehaviour`]).
    pub fn forged(self, misbehaviour: Misbehaviour) -> Self {
        Self {
            misbehaviour,
            ..self
        }
    }
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

    /// Registers a machine-to-machine app, which may then use the client-credentials grant.
    pub fn register_machine_client(&self, client: MachineClient) {
        self.state.lock().machine_clients.push(client);
    }

    /// How many client-credentials grants the token endpoint has received from a registered
    /// machine-to-machine app, valid or not.
    pub fn client_credentials_grant_count(&self) -> usize {
        self.state.client_credentials_grants.load(Ordering::SeqCst)
    }

    /// Mints a JWT access token as Logto formats it (RFC 9068: header `typ` `at+jwt`, `iss`,
    /// `aud`, `iat`, `exp`, `jti`, `sub`, `client_id`, and `scope` and `organization_id` when
    /// set), signed with the current key or forged as `spec.misbehaviour` says. No grant
    /// stands behind it.
    pub fn access_token(&self, spec: &AccessTokenSpec) -> String {
        self.state.mint_access_token(spec)
    }

    /// How many refresh-token grants the token endpoint has received from the authenticated
    /// client, valid or not.
    pub fn refresh_grant_count(&self) -> usize {
        self.state.refresh_grants.load(Ordering::SeqCst)
    }

    /// How many grants have been revoked (at the revocation endpoint, by reusing a spent
    /// refresh token, or by [`revoke_all_grants`](Self::revoke_all_grants)), of how many made.
    pub fn revoked_grants(&self) -> (usize, usize) {
        let state = self.state.lock();
        let revoked = state.grants.values().filter(|grant| grant.revoked).count();
        (revoked, state.grants.len())
    }

    /// Makes the token endpoint wait this long before answering (from the next request on),
    /// so that concurrent refreshes overlap as they would against a busy Logto.
    pub fn set_token_delay(&self, delay: Duration) {
        self.state.lock().token_delay = delay;
    }

    /// Lifetime of the access tokens issued from now on (`expires_in`), in seconds, those of
    /// the client-credentials grant included; 0 makes them expire at once. The default is
    /// 3600, like Logto.
    pub fn set_access_token_ttl(&self, secs: i64) {
        self.state.lock().access_token_ttl = secs;
    }

    /// The permissions the user's roles grant on [`BOOKSTORE_API`], space-separated; by
    /// default all of [`BOOKSTORE_API_SCOPES`]. As in Logto, a resource token carries the scopes
    /// asked for that these grant: `""` is a user with no role on the API.
    pub fn set_user_api_permissions(&self, permissions: &str) {
        self.state.lock().user_api_permissions = permissions.to_owned();
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
    client_credentials_grants: AtomicUsize,
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
    /// The permissions the user's roles grant on [`BOOKSTORE_API`] (Logto's RBAC).
    user_api_permissions: String,
    /// Registered machine-to-machine apps.
    machine_clients: Vec<MachineClient>,
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
    /// Derived once, as each derivation multiplies on the curve: slow in a debug build.
    encoding: EncodingKey,
    /// Derived when first published (many keys, the forged ones, never are).
    jwk: std::sync::OnceLock<Jwk>,
}

/// Successful token endpoint response body.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// None for the client-credentials grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
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
/// A snapshot of what signs new tokens: the current key, and the fault to inject.
struct Signer {
    key: SigningKey,
    misbehaviour: Misbehaviour,
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
            client_credentials_grants: AtomicUsize::new(0),
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
                user_api_permissions: BOOKSTORE_API_SCOPES.to_owned(),
                machine_clients: Vec::new(),
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

    /// The registered machine-to-machine app whose `client_secret_basic` credentials these
    /// are.
    fn authenticated_machine_client(&self, request: &HttpRequest) -> Option<MachineClient> {
        let (id, secret) = basic_credentials(request)?;
        self.lock()
            .machine_clients
            .iter()
            .find(|client| client.client_id == id && client.client_secret == secret)
            .cloned()
    }
}

//! Signing keys and the tokens the IdP mints: ID, access and logout tokens, with the
//! configured misbehaviour applied.

use super::*;

impl IdpState {
    /// The key that signs new tokens, and the fault to inject.
    pub(super) fn signer(&self) -> Signer {
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
    pub(super) fn issue_id_token(
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
    pub(super) fn registered_claims(
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

    pub(super) fn id_token_claims(
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
    pub(super) fn issue_jwt_access_token(
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

    /// A JWT access token as `spec` describes it, not tied to any grant.
    pub(super) fn mint_access_token(&self, spec: &AccessTokenSpec) -> String {
        let signer = Signer {
            misbehaviour: spec.misbehaviour,
            ..self.signer()
        };
        let mut claims =
            self.registered_claims(&spec.audience, spec.lifetime_secs, spec.misbehaviour);
        let client_id = spec.client_id.as_deref().unwrap_or(&self.client.client_id);
        claims.extend(claims_map([
            ("jti", json!(random_token())),
            ("sub", json!(spec.sub)),
            ("client_id", json!(client_id)),
        ]));
        if let Some(scope) = &spec.scope {
            claims.insert("scope".to_owned(), json!(scope));
        }
        if let Some(organization_id) = &spec.organization_id {
            claims.insert("organization_id".to_owned(), json!(organization_id));
        }
        signer.sign(&claims, "at+jwt")
    }

    /// The claims `/oidc/me` returns for a sign-in: `sub`, and what the granted scopes allow.
    pub(super) fn userinfo_claims(&self, sign_in: &SignIn) -> Map<String, Value> {
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
    pub(super) fn logout_token(&self, spec: &LogoutTokenSpec) -> String {
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
    pub(super) fn verifies_id_token_hint(&self, hint: &str) -> bool {
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
    pub(super) fn generate() -> Self {
        let kid = random_token();
        let secret = SecretKey::random(&mut OsRng);
        // jsonwebtoken's ES384 signer reads PKCS#8 DER (what `from_ec_pem` would extract).
        let der = secret
            .to_pkcs8_der()
            .expect("a P-384 key encodes as PKCS#8");
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        Self {
            kid,
            secret,
            encoding,
            jwk: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn encoding_key(&self) -> EncodingKey {
        self.encoding.clone()
    }

    pub(super) fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_jwk(&self.public_jwk()).expect("our own JWK is a valid EC key")
    }

    /// The public key as Logto publishes it in the JWKS.
    pub(super) fn public_jwk(&self) -> Jwk {
        self.jwk
            .get_or_init(|| public_jwk(&self.kid, &self.secret))
            .clone()
    }

    /// The public key as SPKI PEM: the HMAC secret of the key-confusion attack.
    pub(super) fn public_key_pem(&self) -> String {
        self.secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-384 public key encodes as PEM")
    }
}

/// The public half of `secret` as Logto publishes it in the JWKS, under `kid`.
fn public_jwk(kid: &str, secret: &SecretKey) -> Jwk {
    let point = secret.public_key().to_encoded_point(false);
    let coordinate = |bytes: Option<&_>| {
        URL_SAFE_NO_PAD.encode(bytes.expect("an uncompressed point has both coordinates"))
    };
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::ES384),
            key_id: Some(kid.to_owned()),
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

impl Signer {
    /// Signs `claims` under header `typ`, applying the signature-level misbehaviours.
    pub(super) fn sign(&self, claims: &Map<String, Value>, typ: &str) -> String {
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

pub(super) fn es384_jwt(
    claims: &Map<String, Value>,
    kid: &str,
    typ: &str,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("ES384 signing with a P-384 key works")
}

/// A JWT with `alg: none` and an empty signature; jsonwebtoken cannot make one, so it is
/// assembled by hand.
pub(super) fn unsigned_jwt(claims: &Map<String, Value>, typ: &str) -> String {
    let header = json!({ "alg": "none", "typ": typ });
    format!("{}.{}.", base64url_json(&header), base64url_json(claims))
}

/// A claims object from name-value pairs.
pub(super) fn claims_map<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

impl IdpState {
    /// A new access token of `grant_id` for `target`: `(token, expires_in, scope)`.
    pub(super) fn issue_access_token(
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
                // Logto's RBAC: what was asked for that the user's roles grant.
                let permissions = self.lock().user_api_permissions.clone();
                let granted: Vec<&str> = permissions
                    .split_whitespace()
                    .filter(|scope| BOOKSTORE_API_SCOPES.split_whitespace().any(|s| s == *scope))
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
pub(super) fn organization_scope(sign_in: &SignIn) -> Option<String> {
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

/// BASE64URL-NOPAD(SHA-256(verifier)), the S256 PKCE challenge (RFC 7636 §4.2).
pub(super) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Left half of the SHA-384 of the access token (the hash that matches ES384), base64url.
pub(super) fn at_hash(access_token: &str) -> String {
    let digest = Sha384::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

pub(super) fn base64url_json(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON values serialize"))
}

/// 256 random bits as 43 base64url characters: codes, tokens, session and key ids.
pub(super) fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

//! The floor of a sign-in's CPU cost in the app: the three things no sign-in can skip, each
//! timed alone with the crates the app uses.
//!
//! - one ES384 (P-384) signature verification of an ID token shaped like Logto's
//!   (jsonwebtoken with its aws-lc-rs backend, the key decoded once from a JWK, as the app's
//!   JWKS cache does);
//! - one AES-256-GCM seal of a session-sized value into the cookie crate's private jar, as
//!   actix-session's cookie store does when it writes the session;
//! - one token request: a reqwest POST (kept-alive client) to a loopback server answering like
//!   Logto's token endpoint, with the JSON body parsed.
//!
//! ```sh
//! cargo run --release --example sign_in_floor [-- --baseline-cpu-us 6.1]
//! ```
//!
//! Each cost is the CPU time of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`) over many
//! iterations, so the loopback server's work (Logto's, in production) is not counted. With
//! `--baseline-cpu-us` (the baseline's CPU per request from the same run of `bench/run`), the
//! sum is also given as a multiple of it. The last line is machine-readable:
//! `FLOOR_JSON {"p384_verify_us":…,"aes_gcm_seal_us":…,"token_round_trip_us":…,"sum_us":…}`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use cookie::{Cookie, CookieJar, Key};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p384::pkcs8::EncodePrivateKey;

/// Iterations of each measurement, after a tenth as many to warm up.
const VERIFICATIONS: u32 = 2_000;
const SEALS: u32 = 20_000;
const ROUND_TRIPS: u32 = 4_000;

/// About the size of the session actix-session's cookie store seals at sign-in (the ID,
/// access and refresh tokens, the profile and the session's bookkeeping, as JSON).
const SESSION_BYTES: usize = 1_400;

/// Everything this program can fail with: it is a measuring tool, so one message is enough.
type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let baseline_cpu_us = baseline_from_args()?;

    let p384_verify_us = p384_verify_us()?;
    println!("P-384 (ES384) signature verification: {p384_verify_us:.2} µs");
    let aes_gcm_seal_us = aes_gcm_seal_us();
    println!("AES-256-GCM seal of a {SESSION_BYTES}-byte session cookie: {aes_gcm_seal_us:.2} µs");
    let token_round_trip_us = token_round_trip_us()?;
    println!("token request round trip (client side, body parsed): {token_round_trip_us:.2} µs");
    let sum_us = p384_verify_us + aes_gcm_seal_us + token_round_trip_us;
    println!("floor of a sign-in: {sum_us:.2} µs");
    let mut json = format!(
        "{{\"p384_verify_us\":{p384_verify_us:.2},\"aes_gcm_seal_us\":{aes_gcm_seal_us:.2},\
         \"token_round_trip_us\":{token_round_trip_us:.2},\"sum_us\":{sum_us:.2}"
    );
    if let Some(baseline) = baseline_cpu_us {
        let ratio = sum_us / baseline;
        println!("= {ratio:.1}× the baseline's CPU per request ({baseline} µs)");
        json.push_str(&format!(",\"baseline_ratio\":{ratio:.2}"));
    }
    json.push('}');
    println!("FLOOR_JSON {json}");
    Ok(())
}

/// `--baseline-cpu-us <µs>`, if given.
fn baseline_from_args() -> Result<Option<f64>, Failure> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--baseline-cpu-us"), Some(value)) => Ok(Some(value.parse()?)),
        _ => Err("usage: sign_in_floor [--baseline-cpu-us <µs>]".into()),
    }
}

/// The CPU time this thread has used so far, in µs.
fn thread_cpu_us() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to; this clock exists on every Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    now.tv_sec as f64 * 1e6 + now.tv_nsec as f64 / 1e3
}

/// CPU µs per call of `op`, over `iterations` calls after `iterations / 10` to warm up.
fn cpu_us_per_op(iterations: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        op();
    }
    let start = thread_cpu_us();
    for _ in 0..iterations {
        op();
    }
    (thread_cpu_us() - start) / f64::from(iterations)
}

/// An ID token as Logto signs it: ES384, a `kid`, the usual claims.
fn id_token(encoding_key: &EncodingKey) -> Result<String, Failure> {
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("floor-key".to_owned());
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:3001/oidc",
        "sub": "u1a2b3c4d5e6",
        "aud": "bookstore-bench",
        "exp": now + 3600,
        "iat": now,
        "nonce": "Zq3v8Wc1bHn5yKx0LrTs7QeP2dMfA9uJ",
        "at_hash": "fK2cJm8xQz1pL7sV0bN3wA",
        "name": "Alice Liddell",
        "username": "alice",
        "picture": null,
        "email": "alice@example.com",
        "email_verified": true,
        "sid": "s9x8c7v6b5n4m3q2w1e0r",
    });
    Ok(jsonwebtoken::encode(&header, &claims, encoding_key)?)
}

fn p384_verify_us() -> Result<f64, Failure> {
    let secret = p384::SecretKey::random(&mut rand_core::OsRng);
    let encoding_key = EncodingKey::from_ec_der(secret.to_pkcs8_der()?.as_bytes());
    // The app decodes the JWKS into verifying keys once; so does this.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&secret.public_key().to_jwk_string())?;
    let decoding_key = DecodingKey::from_jwk(&jwk)?;
    let token = id_token(&encoding_key)?;
    let (message, signature) = token.rsplit_once('.').ok_or("a JWT has three parts")?;
    let mut verified = true;
    let us = cpu_us_per_op(VERIFICATIONS, || {
        verified &= jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &decoding_key,
            Algorithm::ES384,
        )
        .unwrap_or(false);
    });
    if !verified {
        return Err("the ES384 signature did not verify".into());
    }
    Ok(us)
}

fn aes_gcm_seal_us() -> f64 {
    let key = Key::from(&[7u8; 64]);
    let value = format!("{{\"session\":\"{}\"}}", "x".repeat(SESSION_BYTES - 14));
    let mut sealed_bytes = 0;
    let us = cpu_us_per_op(SEALS, || {
        let mut jar = CookieJar::new();
        jar.private_mut(&key)
            .add(Cookie::new("bookstore_session", value.clone()));
        sealed_bytes += jar.delta().count();
    });
    assert_eq!(sealed_bytes, (SEALS + SEALS / 10) as usize);
    us
}

/// A token response the size of Logto's: an opaque access token, a refresh token, an ID token.
fn token_response_body() -> Result<String, Failure> {
    let secret = p384::SecretKey::random(&mut rand_core::OsRng);
    let id_token = id_token(&EncodingKey::from_ec_der(secret.to_pkcs8_der()?.as_bytes()))?;
    Ok(serde_json::json!({
        "access_token": "a".repeat(43),
        "refresh_token": "r".repeat(43),
        "id_token": id_token,
        "expires_in": 3600,
        "scope": "openid offline_access profile email",
        "token_type": "Bearer",
    })
    .to_string())
}

/// The fields of the token response the app reads.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // read only to be parsed, like the app parses them
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
    token_type: String,
}

fn token_round_trip_us() -> Result<f64, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let body = token_response_body()?;
    std::thread::spawn(move || serve_token_endpoint(&listener, &body));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Kept and reused like the app's client: the connection stays open between requests.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()?;
    let url = format!("http://{address}/oidc/token");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "Yb3zQp0tW8mN1cX5vL9sK2dR7fH4gJ6a"),
        ("redirect_uri", "http://127.0.0.1:3000/callback"),
        (
            "code_verifier",
            "cVn3kP8zQ1wX5mL0sR7tY2uB9dF4gH6jK3aS8eW1qZo",
        ),
    ];
    let request = || async {
        let response = client
            .post(&url)
            .basic_auth("bookstore-bench", Some("bookstore-bench-secret"))
            .form(&form)
            .send()
            .await?
            .error_for_status()?;
        let bytes = response.bytes().await?;
        let parsed: TokenResponse = serde_json::from_slice(&bytes)?;
        Ok::<_, Failure>(parsed.access_token.len())
    };
    let mut failure = None;
    let us = cpu_us_per_op(ROUND_TRIPS, || {
        if let Err(error) = runtime.block_on(request()) {
            failure.get_or_insert(error);
        }
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(us),
    }
}

/// Answers every POST on every (kept-alive) connection with `body`.
fn serve_token_endpoint(listener: &TcpListener, body: &str) {
    for stream in listener.incoming().flatten() {
        let body = body.to_owned();
        std::thread::spawn(move || {
            let _ = answer_requests(stream, &body);
        });
    }
}

fn answer_requests(stream: TcpStream, body: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n\
         cache-control: no-store\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    loop {
        let mut content_length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(()); // the client closed the connection
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut request_body = vec![0; content_length];
        reader.read_exact(&mut request_body)?;
        writer.write_all(response.as_bytes())?;
    }
}

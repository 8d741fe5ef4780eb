//! A machine-to-machine client of the Bookstore's API: it gets an access token of its own from
//! Logto (the client-credentials grant, with `scope=read:books`) and lists the books of
//! `GET {BASE_URL}/api/books`, one title a line. The granted scopes go to stderr; the token is
//! never printed.
//!
//! It reads the Bookstore's settings (`.env.example`): `LOGTO_ENDPOINT` (and
//! `LOGTO_INTERNAL_ENDPOINT`, `LOGTO_TIMEOUT`), the API resource as the first entry of
//! `LOGTO_RESOURCES`, `BASE_URL` (default `http://localhost:3000`), and the M2M app's credentials in `LOGTO_M2M_APP_ID` and
//! `LOGTO_M2M_APP_SECRET`. Any failure is one line on stderr and exit status 1.
//!
//! ```sh
//! cargo run --example m2m
//! ```

use std::process::ExitCode;

use logto_client::settings::{SettingError, http_url, non_empty};
use logto_client::{LogtoClient, LogtoConfig, LogtoError, error_chain};
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

/// The permission `GET /api/books` requires.
const READ_BOOKS: &str = "read:books";

#[derive(Debug, thiserror::Error)]
enum M2mError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("Logto gave no token: {}{}", error_chain(.0), hint(.0))]
    Logto(#[from] LogtoError),
    #[error("the Bookstore did not answer: {}", error_chain(.0))]
    Bookstore(#[from] reqwest::Error),
    #[error("the Bookstore answered {status}: {explanation}")]
    Refused {
        status: StatusCode,
        explanation: String,
    },
}

/// What to check when Logto refuses the grant.
fn hint(error: &LogtoError) -> &'static str {
    if error.is_invalid_client() {
        " (check LOGTO_M2M_APP_ID and LOGTO_M2M_APP_SECRET)"
    } else if error.is_invalid_target() {
        " (the first of LOGTO_RESOURCES must be an API resource registered in Logto)"
    } else {
        ""
    }
}

/// What `/api/books` answers, and the RFC 6750 error body of a refusal.
#[derive(Deserialize)]
struct Shelf {
    books: Vec<Book>,
}

#[derive(Deserialize)]
struct Book {
    title: String,
}

#[derive(Deserialize)]
struct Refusal {
    error: String,
    error_description: Option<String>,
}

/// Logto's settings as the Bookstore reads them, with the M2M app's credentials in place of
/// the web app's (an M2M app has no redirect URIs: the placeholders are never used).
fn m2m_config() -> Result<LogtoConfig, SettingError> {
    let env = |name: &str| std::env::var(name).ok();
    for variable in ["LOGTO_M2M_APP_ID", "LOGTO_M2M_APP_SECRET"] {
        if non_empty(&env, variable).is_none() {
            return Err(SettingError::new(
                variable,
                "is not set",
                "Copy it from your machine-to-machine app in the Logto Console",
            ));
        }
    }
    let m2m_env = |name: &str| match name {
        "LOGTO_APP_ID" => env("LOGTO_M2M_APP_ID"),
        "LOGTO_APP_SECRET" => env("LOGTO_M2M_APP_SECRET"),
        _ => env(name),
    };
    let unused = Url::parse("http://localhost/").expect("a valid URL");
    LogtoConfig::from_lookup(m2m_env, unused.clone(), unused)
}

async fn list_books() -> Result<Vec<String>, M2mError> {
    let env = |name: &str| std::env::var(name).ok();
    let config = m2m_config()?;
    let resource = config.resources.first().cloned().ok_or_else(|| {
        SettingError::new(
            "LOGTO_RESOURCES",
            "is not set",
            "Set it to the API resource indicator, e.g. https://api.bookstore.example",
        )
    })?;
    let base_url = non_empty(&env, "BASE_URL").unwrap_or_else(|| "http://localhost:3000".into());
    let base_url = http_url(
        "BASE_URL",
        &base_url,
        "Set it to the Bookstore's address, e.g. http://localhost:3000",
    )?;
    let logto = LogtoClient::builder(config).build()?;

    // Logto grants the requested scopes that the app's roles hold, and drops the others.
    let token = logto
        .client_credentials_token(&resource, &[READ_BOOKS])
        .await?;
    match token.scopes.as_slice() {
        [] => eprintln!("granted scopes: none"),
        scopes => eprintln!("granted scopes: {}", scopes.join(" ")),
    }

    let url = format!("{}/api/books", base_url.as_str().trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&token.access_token)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let explanation = match response.json::<Refusal>().await {
            Ok(refusal) if status == StatusCode::FORBIDDEN => format!(
                "{} ({}): give the M2M app a role that holds {READ_BOOKS}",
                refusal.error,
                refusal.error_description.unwrap_or_default()
            ),
            Ok(refusal) => format!(
                "{} ({})",
                refusal.error,
                refusal.error_description.unwrap_or_default()
            ),
            Err(_) => "no RFC 6750 error body".to_owned(),
        };
        return Err(M2mError::Refused {
            status,
            explanation,
        });
    }
    let shelf: Shelf = response.json().await?;
    Ok(shelf.books.into_iter().map(|book| book.title).collect())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    dotenvy::dotenv().ok();
    match list_books().await {
        Ok(titles) => {
            for title in titles {
                println!("{title}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

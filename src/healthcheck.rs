//! `logto-bookstore healthcheck`: the container's health probe. The runtime image has no shell
//! and no curl, so the binary asks its own `/healthz`.

use std::process::ExitCode;
use std::time::Duration;

/// GETs `/healthz` of the server that `HOST` and `PORT` describe and tells, by exit code,
/// whether it answered `200`.
pub async fn run(host: Option<String>, port: Option<String>) -> ExitCode {
    // A wildcard address listens on loopback too.
    let host = match host.as_deref().map(str::trim) {
        None | Some("" | "0.0.0.0" | "::" | "[::]") => "127.0.0.1".to_owned(),
        Some(host) if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        Some(host) => host.to_owned(),
    };
    let port = port.as_deref().map_or("3000", str::trim).to_owned();
    let url = format!("http://{host}:{port}/healthz");

    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("unhealthy: {error}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("unhealthy: {url}: {error}");
            ExitCode::FAILURE
        }
    }
}

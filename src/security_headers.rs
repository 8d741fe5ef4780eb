//! The headers every response carries: a Content-Security-Policy that fits the pages (no
//! script at all), no sniffing, no framing, no referrer to other sites, HSTS on https, and
//! `no-store` for anything that does not say otherwise (pages show who is signed in).

use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::middleware::DefaultHeaders;
use url::Url;

/// The headers for an app at `base_url` that signs in with Logto at `logto_endpoint`.
///
/// `DefaultHeaders` only adds what a response lacks, so the static assets keep their own
/// long `Cache-Control`.
pub fn security_headers(base_url: &Url, logto_endpoint: &Url) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            CONTENT_SECURITY_POLICY,
            content_security_policy(logto_endpoint),
        ))
        .add((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((X_FRAME_OPTIONS, "DENY"))
        // The callback's address holds the authorization code: never pass it to another
        // site. `same-origin`, not `no-referrer`: with `no-referrer` browsers send
        // `Origin: null` on the app's own forms, which the cross-site check must refuse.
        .add((REFERRER_POLICY, "same-origin"))
        .add((CACHE_CONTROL, "no-store"));
    if base_url.scheme() == "https" {
        headers.add((
            STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// Pages use only their own stylesheet and images. Forms may lead to Logto, because sign-in
/// and sign-out forms answer with a redirect there, and browsers apply `form-action` to it.
/// Avatars come from the user's profile, which may point anywhere on https.
fn content_security_policy(logto_endpoint: &Url) -> String {
    let logto = logto_endpoint.origin().ascii_serialization();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' https: data: {logto}; \
         form-action 'self' {logto}; frame-ancestors 'none'; base-uri 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_may_lead_to_logto_and_nothing_runs_scripts() {
        let policy = content_security_policy(&Url::parse("https://tenant.logto.app/").unwrap());
        assert!(policy.contains("form-action 'self' https://tenant.logto.app;"));
        assert!(policy.starts_with("default-src 'none';"));
        assert!(
            !policy.contains("script-src"),
            "no script is allowed at all"
        );
        assert!(!policy.contains("unsafe"));
    }
}

//! The HTTP client every request to Logto goes through: this crate's own by default, or one the
//! product injects (for a proxy or its own CA certificates).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{HttpClientError, HttpRequest, HttpResponse};

/// What `oauth2` expects of an HTTP client call.
type HttpResult = Result<HttpResponse, HttpClientError<reqwest::Error>>;
use url::Url;

use crate::LogtoError;
use crate::config::LogtoConfig;

/// Whether this build has a TLS backend of its own (one of the TLS features).
pub(crate) const HAS_TLS_BACKEND: bool = cfg!(any(
    feature = "rustls-tls",
    feature = "rustls-tls-native-roots",
    feature = "native-tls"
));

/// A `reqwest::Client` and the limit each request gets.
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    /// This crate's own client: no redirects, the configured timeouts, and idle connections
    /// dropped before Logto's server drops them
    /// ([`idle_connection_timeout`](LogtoConfig::idle_connection_timeout)).
    pub(crate) fn default_for(config: &LogtoConfig) -> Result<Self, LogtoError> {
        if !HAS_TLS_BACKEND && config.endpoint_needs_tls() {
            return Err(LogtoError::NoTlsBackend);
        }
        let client = reqwest::Client::builder()
            // Never follow redirects from the IdP's API endpoints (SSRF, token leaks).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.http_timeout)
            .timeout(config.http_timeout)
            // Shorter than the 5 s after which Logto's Node.js server closes an idle
            // keep-alive connection: a token request sent on one as it closes is reset, and
            // cannot be sent again.
            .pool_idle_timeout(config.idle_connection_timeout)
            .user_agent(concat!("logto-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(LogtoError::HttpClient)?;
        Ok(Self::injected(client, config.http_timeout))
    }

    /// A client the product built. Each request is still bounded by `timeout`, and an answer
    /// that comes from another URL than the one asked (a redirect followed) is refused.
    pub(crate) fn injected(client: reqwest::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    /// A GET request to `url`, bounded by the timeout.
    pub(crate) fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.client.get(url).timeout(self.timeout)
    }

    /// A POST request to `url`, bounded by the timeout.
    pub(crate) fn post(&self, url: Url) -> reqwest::RequestBuilder {
        self.client.post(url).timeout(self.timeout)
    }

    /// Sends `request` for Logto's `document`; a failure to send is
    /// [`LogtoError::ProviderUnreachable`], a followed redirect [`LogtoError::Redirected`].
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        document: &'static str,
    ) -> Result<reqwest::Response, LogtoError> {
        let (client, request) = request.build_split();
        let request =
            request.map_err(|source| LogtoError::ProviderUnreachable { document, source })?;
        let requested = request.url().clone();
        let response = client
            .execute(request)
            .await
            .map_err(|source| LogtoError::ProviderUnreachable { document, source })?;
        if was_redirected(&requested, &response) {
            return Err(LogtoError::Redirected { document });
        }
        Ok(response)
    }

    /// Sends one of `oauth2`'s requests (the token endpoint) like `oauth2`'s own reqwest
    /// client does, with the timeout and the redirect check added.
    /// Boxed and `Send`, like the futures of `oauth2`'s own client.
    pub(crate) fn call(
        &self,
        request: HttpRequest,
    ) -> Pin<Box<dyn Future<Output = HttpResult> + Send + '_>> {
        Box::pin(async move {
            let mut request = reqwest::Request::try_from(request).map_err(Box::new)?;
            *request.timeout_mut() = Some(self.timeout);
            let requested = request.url().clone();
            let mut response = self.client.execute(request).await.map_err(Box::new)?;
            if was_redirected(&requested, &response) {
                return Err(HttpClientError::Other(REDIRECTED.to_owned()));
            }
            let status = response.status();
            let version = response.version();
            // Moved, not copied header by header: the body is all that is read afterwards.
            let headers = std::mem::take(response.headers_mut());
            let body = response.bytes().await.map_err(Box::new)?;
            let mut answer = oauth2::http::Response::new(Vec::from(body));
            *answer.status_mut() = status;
            *answer.version_mut() = version;
            *answer.headers_mut() = headers;
            Ok(answer)
        })
    }
}

/// Why an answer that followed a redirect is refused, for the token endpoint's error.
const REDIRECTED: &str = "the answer came from another URL: the injected HTTP client followed a \
                          redirect (build it with `redirect(reqwest::redirect::Policy::none())`)";

/// Whether `response` comes from another URL than `requested`: a redirect was followed.
fn was_redirected(requested: &Url, response: &reqwest::Response) -> bool {
    response.url() != requested
}

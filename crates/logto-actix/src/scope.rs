//! [`LogtoAuth::scope`]: what a product mounts.

use std::sync::Arc;

use actix_service::IntoServiceFactory;
use actix_web::body::MessageBody;
use actix_web::dev::{
    AppService, HttpServiceFactory, ServiceFactory, ServiceRequest, ServiceResponse,
};
use actix_web::middleware::from_fn;
use actix_web::{Error, Route, Scope, web};

use crate::auth::LogtoAuth;
use crate::cross_site::refuse_cross_site_writes;
use crate::pages::render_error_pages;
use crate::routes::{self, Endpoint, MountedAuth};
use crate::store::{render_session_store_failures, session_middleware};

/// The root scope with the auth middleware and routes in it, and `/backchannel-logout`
/// beside it, outside the middleware. Register it with `App::service`, after the routes that
/// must never touch the session (probes, assets); add the product's pages to it.
#[must_use = "register it with `App::service`"]
pub struct AuthScope<T> {
    scope: Scope<T>,
    backchannel: Endpoint,
}

impl<T> AuthScope<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = Error, InitError = ()>,
{
    /// A route of the product's, inside the middleware (see `Scope::route`).
    pub fn route(self, path: &str, route: Route) -> Self {
        Self {
            scope: self.scope.route(path, route),
            ..self
        }
    }

    /// A service of the product's (a resource, a nested scope), inside the middleware.
    pub fn service<F: HttpServiceFactory + 'static>(self, factory: F) -> Self {
        Self {
            scope: self.scope.service(factory),
            ..self
        }
    }

    /// What answers addresses without a route, inside the middleware (see
    /// `Scope::default_service`).
    pub fn default_service<F, U>(self, service: F) -> Self
    where
        F: IntoServiceFactory<U, ServiceRequest>,
        U: ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse, Error = Error>
            + 'static,
        U::InitError: std::fmt::Debug,
    {
        Self {
            scope: self.scope.default_service(service),
            ..self
        }
    }

    /// Data for the product's handlers in this scope (see `Scope::app_data`).
    pub fn app_data<U: 'static>(self, data: U) -> Self {
        Self {
            scope: self.scope.app_data(data),
            ..self
        }
    }
}

impl<T> HttpServiceFactory for AuthScope<T>
where
    Scope<T>: HttpServiceFactory,
{
    fn register(self, config: &mut AppService) {
        // First: the scope's empty prefix matches every path.
        self.backchannel.register(config);
        self.scope.register(config);
    }
}

impl LogtoAuth {
    /// The root scope (`""`), wrapped in the auth middleware, with `/sign-in`, `/callback` and
    /// `/sign-out` in it; `/backchannel-logout` is registered beside it, outside the
    /// middleware (Logto calls it server to server). The middleware, outermost first: the
    /// error pages of the product's [`Pages`](crate::Pages), the cross-site check (a refused
    /// write never reaches the session, so it sets no cookie), the store-failure page (503),
    /// and actix-session's middleware with the chosen store.
    pub fn scope(
        &self,
    ) -> AuthScope<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody + use<>>,
            Error = Error,
            InitError = (),
        > + use<>,
    > {
        let inner = &self.inner;
        let cross_site = inner.cross_site.clone();
        let pages = Arc::clone(&inner.pages);
        // Scope data, where the extractors find the auth handle: cheaper per request than
        // a middleware that puts it in each request's extensions.
        let mut scope = web::scope("")
            .app_data(MountedAuth(self.clone()))
            .wrap(session_middleware(
                &inner.backend,
                inner.key.clone(),
                inner.cookie_names.session,
                inner.secure,
                inner.lifetimes,
            ))
            .wrap(from_fn(render_session_store_failures))
            .wrap(from_fn(move |request, next| {
                refuse_cross_site_writes(cross_site.clone(), request, next)
            }))
            .wrap(from_fn(move |request, next| {
                render_error_pages(Arc::clone(&pages), request, next)
            }));
        for endpoint in routes::inside() {
            scope = scope.service(endpoint);
        }
        AuthScope {
            scope,
            backchannel: routes::backchannel(self),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use actix_web::cookie::Key;
    use actix_web::http::StatusCode;
    use actix_web::http::header::{ALLOW, LOCATION, SET_COOKIE};
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use actix_web::{App, HttpResponse};
    use logto_client::LogtoConfig;
    use url::Url;

    use super::*;
    use crate::{AuthError, MaybeUser, SignedInUser};

    /// Sign-in with the cookie store, against a Logto that nothing here needs to reach.
    pub(crate) fn auth() -> LogtoAuth {
        let config = LogtoConfig::new(
            Url::parse("http://127.0.0.1:9/").unwrap(),
            "app".to_owned(),
            "secret".to_owned().into(),
            Url::parse("http://localhost:3000/callback").unwrap(),
            Url::parse("http://localhost:3000/").unwrap(),
        );
        LogtoAuth::builder(config)
            .cookie_store(Key::generate())
            .build()
            .unwrap()
    }

    async fn private(user: SignedInUser) -> HttpResponse {
        HttpResponse::Ok().body(user.display_name().to_owned())
    }

    async fn home(visitor: MaybeUser) -> HttpResponse {
        HttpResponse::Ok().body(if visitor.user().is_some() {
            "signed in"
        } else {
            "anonymous"
        })
    }

    #[actix_web::test]
    async fn an_anonymous_visitor_is_sent_to_sign_in_and_brought_back() {
        let app = init_service(
            App::new().service(auth().scope().route("/private", web::get().to(private))),
        )
        .await;
        let response = call_service(
            &app,
            TestRequest::get().uri("/private?shelf=a").to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers().get(LOCATION).unwrap(),
            "/sign-in?return_to=%2Fprivate%3Fshelf%3Da"
        );
        assert!(
            response.headers().get(SET_COOKIE).is_none(),
            "an anonymous visitor gets no cookie"
        );
    }

    #[actix_web::test]
    async fn a_product_s_own_nested_scope_shares_the_auth_middleware() {
        let app = init_service(
            App::new().service(
                auth()
                    .scope()
                    .service(web::scope("/admin").route("/report", web::get().to(private))),
            ),
        )
        .await;
        let response =
            call_service(&app, TestRequest::get().uri("/admin/report").to_request()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers().get(LOCATION).unwrap(),
            "/sign-in?return_to=%2Fadmin%2Freport"
        );
    }

    #[actix_web::test]
    async fn maybe_user_is_nobody_for_an_anonymous_visitor() {
        let app =
            init_service(App::new().service(auth().scope().route("/", web::get().to(home)))).await;
        let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert_eq!(read_body(response).await, "anonymous");
    }

    #[actix_web::test]
    async fn a_signed_in_user_outside_the_middleware_fails_loudly() {
        // The scope is mounted, but this route is not in it; the product also keeps the auth
        // handle as app data of its own, which must not pass for the middleware.
        let auth = auth();
        let app = init_service(
            App::new()
                .app_data(auth.clone())
                .app_data(web::Data::new(auth.clone()))
                .route("/private", web::get().to(private))
                .route("/home", web::get().to(home))
                .service(auth.scope()),
        )
        .await;
        for path in ["/private", "/home"] {
            let response = call_service(&app, TestRequest::get().uri(path).to_request()).await;
            assert_eq!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{path}: never an anonymous visitor"
            );
        }
        assert!(
            AuthError::NotMounted
                .to_string()
                .contains("register it inside `LogtoAuth::scope()`"),
            "the log line says how to fix it"
        );
    }

    #[actix_web::test]
    async fn the_auth_routes_are_inside_the_stack_and_back_channel_logout_beside_it() {
        let app = init_service(App::new().service(auth().scope())).await;
        let send = |request: TestRequest| {
            let app = &app;
            async move { call_service(app, request.to_request()).await }
        };

        // Anonymous: nothing to sign out.
        let sign_out = send(TestRequest::get().uri("/sign-out")).await;
        assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
        assert_eq!(sign_out.headers().get(LOCATION).unwrap(), "/");

        // A GET that starts a sign-in is not for HEAD.
        let head = send(
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/sign-in"),
        )
        .await;
        assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(head.headers().get(ALLOW).unwrap(), "GET, POST");

        // Inside: a cross-site form is refused before the session is read.
        let cross_site = send(
            TestRequest::post()
                .uri("/sign-out")
                .insert_header(("origin", "https://evil.example"))
                .set_form([("csrf_token", "x")]),
        )
        .await;
        assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
        assert!(cross_site.headers().get(SET_COOKIE).is_none());

        // Beside: Logto posts from its own origin, and a malformed body is the route's own 400.
        let backchannel = send(
            TestRequest::post()
                .uri("/backchannel-logout")
                .insert_header(("origin", "https://logto.example"))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload("not_a_logout_token=1"),
        )
        .await;
        assert_eq!(backchannel.status(), StatusCode::BAD_REQUEST);
        let body = read_body(backchannel).await;
        assert!(
            String::from_utf8_lossy(&body).contains("Bad request"),
            "the error page, not a bare 400"
        );

        // Sign-in's query is checked by its own limits: an unknown option is a 400 page.
        let unknown = send(TestRequest::get().uri("/sign-in?prompt=none")).await;
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    }
}

//! [`LogtoAuth::scope`]: what a product mounts.

use std::sync::Arc;

use actix_service::IntoServiceFactory;
use actix_web::body::MessageBody;
use actix_web::dev::{
    AppService, HttpServiceFactory, ServiceFactory, ServiceRequest, ServiceResponse,
};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpMessage, Route, Scope, web};

use crate::auth::LogtoAuth;
use crate::cross_site::refuse_cross_site_writes;
use crate::pages::render_error_pages;
use crate::routes::{self, Endpoint};
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
        let auth = self.clone();
        let mut scope = web::scope("")
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
            }))
            .wrap(from_fn(move |request, next| {
                with_auth(auth.clone(), request, next)
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

/// Puts the auth handle where the extractors find it.
async fn with_auth(
    auth: LogtoAuth,
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    request.extensions_mut().insert(auth);
    next.call(request).await
}

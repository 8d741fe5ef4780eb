//! [`Endpoint`]: one address and the methods it answers. `HEAD` is answered like `GET` where a
//! `GET` changes nothing; any method an address does not take gets `405` with `Allow`.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, Route, guard, web};

use crate::error::AuthError;

/// An address and its handlers, registered with `App::service` or `Scope::service`.
///
/// ```
/// # use actix_web::{App, HttpResponse};
/// # use logto_actix::routes::Endpoint;
/// # async fn page() -> HttpResponse { HttpResponse::Ok().finish() }
/// App::new().service(Endpoint::at("/page").read(page));
/// ```
pub struct Endpoint {
    resource: Resource,
    /// What the `Allow` header of a `405` lists, in the order the handlers were added.
    allowed: Vec<Method>,
}

impl Endpoint {
    /// `path`, answering nothing yet.
    pub fn at(path: &str) -> Self {
        Self {
            resource: web::resource(path),
            allowed: Vec::new(),
        }
    }

    /// `GET` and `HEAD`, both by `handler`, for a `GET` that changes no state. actix-web
    /// sends a `HEAD` answer without its body, keeping every header, `Content-Length` included.
    pub fn read<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route()
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(handler);
        self.with(&[Method::GET, Method::HEAD], route)
    }

    /// `GET` alone, for a `GET` that changes state (it starts a sign-in or sets a cookie): a
    /// `HEAD` from a link checker must not do that, so it gets `405`.
    pub fn get_with_side_effects<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&[Method::GET], web::get().to(handler))
    }

    /// `POST`.
    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&[Method::POST], web::post().to(handler))
    }

    /// Data for this address's handlers and extractors (a `QueryConfig`, for example).
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.resource = self.resource.app_data(data);
        self
    }

    fn with(mut self, methods: &[Method], route: Route) -> Self {
        self.resource = self.resource.route(route);
        self.allowed.extend_from_slice(methods);
        self
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allowed = self.allowed;
        let method_not_allowed = web::route().to(move || {
            let allowed = allowed.clone();
            async move { Err::<HttpResponse, _>(AuthError::MethodNotAllowed { allowed }) }
        });
        self.resource
            .default_service(method_not_allowed)
            .register(config);
    }
}

//! The smallest actix-web product with Logto sign-in: a home page, one protected page and
//! sign-out. It reads the Bookstore's settings (`.env.example`): `LOGTO_*`, `BASE_URL`, `HOST`,
//! `PORT` and `SESSION_*` (`SESSION_STORE=redis` with `REDIS_URL` keeps sessions in Redis).
//!
//! ```sh
//! cargo run --example minimal
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};
use logto_actix::pages::escape;
use logto_actix::settings::{LogtoSettings, ServerSettings, SessionSettings};
use logto_actix::{LogtoAuth, MaybeUser, SignedInUser};

/// `GET /`: who is signed in, with the way in or out.
async fn home(visitor: MaybeUser) -> HttpResponse {
    let body = match visitor.user() {
        Some(user) => format!(
            r#"<p>Signed in as {}.</p><p><a href="/private">Private page</a> ·
            <a href="/sign-out">Sign out</a></p>"#,
            escape(user.display_name())
        ),
        None => r#"<p>Not signed in. <a href="/sign-in">Sign in</a></p>"#.to_owned(),
    };
    page("Home", &body)
}

/// `GET /private`: signed-in users only. Anyone else is sent to sign in and brought back here.
async fn private(user: SignedInUser) -> HttpResponse {
    let body = format!("<p>Only {} can read this.</p>", escape(user.display_name()));
    page("Private", &body)
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!doctype html><title>{title}</title><h1>{title}</h1>{body}"
        ))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    dotenvy::dotenv().ok();
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));
    // HOST, PORT and BASE_URL; LOGTO_*; SESSION_* and REDIS_URL.
    let server = ServerSettings::from_env()?;
    let logto = LogtoSettings::from_env(&server)?;
    let auth = LogtoAuth::from_settings(logto.config, &SessionSettings::from_env()?)
        .sign_in_methods(logto.sign_in_methods)
        .build()?;
    let http = HttpServer::new(move || {
        App::new().service(
            auth.scope()
                .route("/", web::get().to(home))
                .route("/private", web::get().to(private)),
        )
    })
    .bind(server.listen_address())?;
    for address in http.addrs() {
        log::info!("listening on http://{address}");
    }
    Ok(http.run().await?)
}

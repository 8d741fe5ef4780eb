//! The benchmark's baseline (`bench/run`): the smallest actix-web server, so that every figure
//! of the Bookstore can be read as a ratio to what actix-web itself does on the same machine
//! in the same run.
//!
//! ```sh
//! PORT=3100 cargo run --release --example bench_baseline
//! ```
//!
//! It listens on `127.0.0.1:$PORT` with actix's default worker count, like the app, and answers
//! `GET /` with a short text body. No logging, no middleware.

use actix_web::{App, HttpServer, web};

async fn hello() -> &'static str {
    "Hello, world!"
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::var("PORT").map(|port| port.parse()) {
        Ok(Ok(port)) => port,
        _ => {
            eprintln!("error: set PORT to the port to listen on, for example PORT=3100");
            std::process::exit(2);
        }
    };
    HttpServer::new(|| App::new().route("/", web::get().to(hello)))
        .bind(("127.0.0.1", port))?
        .run()
        .await
}

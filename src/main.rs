use std::process::ExitCode;

use logto_bookstore::configuration::Settings;
use logto_bookstore::healthcheck;
use logto_bookstore::startup::Application;

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("error: .env cannot be read: {error}. Fix the line it names, or remove the file");
        return ExitCode::from(2);
    }
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck::run(std::env::var("HOST").ok(), std::env::var("PORT").ok()).await;
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let base_url = settings.server.base_url.clone();
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "Bookstore listening on port {}, open {base_url}",
        application.port()
    );
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

//! Two instances of the app, one Redis, one IdP, and Debian's nginx in front of them,
//! round-robin: whatever one instance does to a session, the other sees.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode};
use tokio::task::JoinSet;

use crate::helpers::{
    APP_ID, APP_SECRET, TestRedis, browser, csrf_token, free_port, location, registered_client,
    serve_app,
};
use test_support::idp::TestIdp;

const NGINX: &str = "/usr/sbin/nginx";
/// Both instances must share it, or neither could read the other's session cookie.
const SESSION_SECRET: &str =
    "scale-out-test-session-secret-scale-out-test-session-secret-0123456789abcdef";
/// The header nginx adds to every answer: `127.0.0.1:PORT` of the instance that gave it.
const UPSTREAM: &str = "x-upstream";

/// Debian's nginx, balancing round-robin over `upstreams`, killed by its PID when dropped.
pub struct Nginx {
    pub origin: String,
    dir: PathBuf,
    process: Child,
}

impl Nginx {
    pub fn start(port: u16, upstreams: &[u16]) -> Self {
        assert!(
            std::path::Path::new(NGINX).exists(),
            "{NGINX} is missing: scripts/test installs Debian's nginx package \
             (or run `apt-get install nginx`)"
        );
        let dir =
            std::env::temp_dir().join(format!("bookstore-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir for nginx");
        let d = dir.display();
        let servers: String = upstreams
            .iter()
            .map(|port| format!("server 127.0.0.1:{port}; "))
            .collect();
        // Every path nginx writes is in `dir`, so it runs with or without root and leaves
        // /var alone. One process (no master) so that killing the PID stops all of it.
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{}}\nhttp {{\n\
             access_log {d}/access.log;\nclient_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\nfastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             upstream bookstore {{ {servers}}}\n\
             server {{\nlisten 127.0.0.1:{port};\nlocation / {{\n\
             proxy_pass http://bookstore;\nproxy_set_header Host $http_host;\n\
             # No second try on another instance: a test must see who answered.\n\
             proxy_next_upstream off;\nadd_header X-Upstream $upstream_addr always;\n\
             }}\n}}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let mut process = Command::new(NGINX)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(&dir)
            // Errors before the configuration is read would otherwise go to /var/log/nginx.
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {NGINX}: {error}"));
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    origin: format!("http://127.0.0.1:{port}"),
                    dir,
                    process,
                };
            }
            if let Ok(Some(status)) = process.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = process.kill();
        panic!("nginx did not listen on 127.0.0.1:{port}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Instances A and B behind one balancer, and a browser that can also reach each directly.
struct ScaleOut {
    a: String,
    b: String,
    balancer: Nginx,
    idp: TestIdp,
    _redis: TestRedis,
    client: reqwest::Client,
    cookies: Arc<Jar>,
}

impl ScaleOut {
    async fn start() -> Self {
        let listeners = [(); 2].map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"));
        let ports = listeners
            .each_ref()
            .map(|listener| listener.local_addr().unwrap().port());
        let balancer_port = free_port();
        let balancer_origin = format!("http://127.0.0.1:{balancer_port}");
        // Redirect URIs point at the balancer, as they would in production.
        let idp = TestIdp::start(registered_client(&balancer_origin)).await;
        let redis = TestRedis::start();
        let env = [
            ("LOGTO_ENDPOINT", idp.endpoint()),
            ("LOGTO_APP_ID", APP_ID.to_owned()),
            ("LOGTO_APP_SECRET", APP_SECRET.to_owned()),
            ("BASE_URL", balancer_origin),
            ("SESSION_STORE", "redis".to_owned()),
            ("REDIS_URL", redis.url()),
            ("SESSION_SECRET", SESSION_SECRET.to_owned()),
        ];
        for listener in listeners {
            serve_app(listener, &env, |_| {}).await;
        }
        // Cookies are scoped by host, not port: A, B and the balancer share them.
        let cookies = Arc::new(Jar::default());
        let client = browser(Arc::clone(&cookies));
        let scale_out = Self {
            a: format!("http://127.0.0.1:{}", ports[0]),
            b: format!("http://127.0.0.1:{}", ports[1]),
            balancer: Nginx::start(balancer_port, &ports),
            idp,
            _redis: redis,
            client,
            cookies,
        };
        for instance in [&scale_out.a, &scale_out.b] {
            scale_out.wait_until_ready(instance).await;
        }
        scale_out
    }

    /// Each instance loads discovery and keys on its own; `/readyz` says when.
    async fn wait_until_ready(&self, origin: &str) {
        for _ in 0..200 {
            let report: serde_json::Value = self
                .get(&format!("{origin}/readyz"))
                .await
                .json()
                .await
                .unwrap_or_default();
            if report["checks"]["identity_provider"] == "ok" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{origin} did not become ready");
    }

    async fn get(&self, url: &str) -> Response {
        self.client.get(url).send().await.expect("answered")
    }

    async fn home(&self, origin: &str) -> String {
        let response = self.get(&format!("{origin}/")).await;
        assert_eq!(response.status(), StatusCode::OK, "{origin}/");
        response.text().await.unwrap()
    }

    /// `GET /sign-in` on `start`, through the IdP, and the callback on `finish`.
    async fn sign_in(&self, start: &str, finish: &str) -> Response {
        let sign_in = self.get(&format!("{start}/sign-in")).await;
        assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
        let at_idp = self.get(&location(&sign_in)).await;
        assert_eq!(at_idp.status(), StatusCode::SEE_OTHER);
        let callback = location(&at_idp);
        let query = callback
            .strip_prefix(&format!("{}/callback?", self.balancer.origin))
            .expect("the IdP sends the browser back to the balancer");
        self.get(&format!("{finish}/callback?{query}")).await
    }

    /// The cookies the browser holds for 127.0.0.1 (any port), as a `Cookie` header.
    fn cookie_header(&self) -> String {
        let url = url::Url::parse(&self.a).unwrap();
        let header = self
            .cookies
            .cookies(&url)
            .expect("the browser holds cookies");
        header.to_str().unwrap().to_owned()
    }
}

fn upstream(response: &Response) -> String {
    response.headers()[UPSTREAM].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_user_signed_in_through_instance_a_is_signed_in_on_b_and_through_the_balancer() {
    let app = ScaleOut::start().await;

    let callback = app.sign_in(&app.a, &app.a).await;

    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert!(app.home(&app.b).await.contains("Signed in as"));
    let mut answered_by = Vec::new();
    for _ in 0..6 {
        let response = app.get(&format!("{}/", app.balancer.origin)).await;
        answered_by.push(upstream(&response));
        assert!(response.text().await.unwrap().contains("Signed in as"));
    }
    answered_by.sort();
    answered_by.dedup();
    assert_eq!(answered_by.len(), 2, "round-robin used both instances");
}

#[tokio::test]
async fn signing_out_through_instance_b_signs_the_user_out_on_a() {
    let app = ScaleOut::start().await;
    app.sign_in(&app.a, &app.a).await;
    // Replayed below: the session must end in Redis, not only in this browser's jar.
    let cookie = app.cookie_header();
    let token = csrf_token(&app.home(&app.b).await).expect("B shows the sign-out form");

    let sign_out = app
        .client
        .post(format!("{}/sign-out", app.b))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap();

    assert_eq!(sign_out.status(), StatusCode::SEE_OTHER);
    assert!(app.home(&app.a).await.contains("Not signed in"));
    let replayed = reqwest::Client::new()
        .get(format!("{}/", app.a))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert!(replayed.text().await.unwrap().contains("Not signed in"));
}

#[tokio::test]
async fn a_sign_in_started_on_one_instance_finishes_on_the_other() {
    let app = ScaleOut::start().await;

    for (start, finish) in [(&app.a, &app.b), (&app.b, &app.a)] {
        let callback = app.sign_in(start, finish).await;

        assert_eq!(
            callback.status(),
            StatusCode::SEE_OTHER,
            "{start} → {finish}"
        );
        assert_eq!(location(&callback), "/");
        assert!(app.home(&app.a).await.contains("Signed in as"));
        assert!(app.home(&app.b).await.contains("Signed in as"));
    }
}

#[tokio::test]
async fn a_sign_in_through_the_balancer_works_end_to_end() {
    let app = ScaleOut::start().await;
    let balancer = &app.balancer.origin;

    let sign_in = app.get(&format!("{balancer}/sign-in")).await;
    let at_idp = app.get(&location(&sign_in)).await;
    let callback = app.get(&location(&at_idp)).await;

    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    // Nothing else went through nginx in between, so round-robin alternated.
    assert_ne!(upstream(&sign_in), upstream(&callback));
    assert!(app.home(balancer).await.contains("Signed in as"));
    assert!(app.home(balancer).await.contains("Signed in as"));
}

#[tokio::test]
async fn twenty_concurrent_requests_over_both_instances_refresh_an_expired_token_once() {
    let app = ScaleOut::start().await;
    app.idp.set_access_token_ttl(0);
    app.sign_in(&app.a, &app.a).await;
    app.idp.set_access_token_ttl(3600);
    // Slow refreshes, so that racing requests would overlap if nothing serialized them.
    app.idp.set_token_delay(Duration::from_millis(200));

    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let request = app.client.get(format!("{}/profile", app.balancer.origin));
        requests.spawn(async move {
            let response = request.send().await.expect("answered");
            (response.status(), upstream(&response))
        });
    }
    let answers = requests.join_all().await;

    let statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    for instance in [&app.a, &app.b] {
        let port = instance.rsplit(':').next().unwrap();
        let served = answers.iter().filter(|(_, by)| by.ends_with(port)).count();
        assert!(served >= 5, "{instance} served {served} of 20");
    }
    assert_eq!(
        app.idp.refresh_grant_count(),
        1,
        "exactly one refresh grant"
    );
    for instance in [&app.a, &app.b] {
        let profile = app.get(&format!("{instance}/profile")).await;
        assert_eq!(
            profile.status(),
            StatusCode::OK,
            "{instance}: still signed in"
        );
    }
}

//! A real `redis-server` (Debian's `redis-server` package) for the Redis store's tests. It
//! listens on a Unix socket in a folder of its own and on no TCP port, so there is no free
//! port to pick and lose to another test between picking and binding.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::poll::eventually_blocking;

/// What the app's Redis keys start with unless [`TestRedis::with_key_prefix`] says otherwise:
/// the Bookstore's prefix.
pub const DEFAULT_KEY_PREFIX: &str = "bookstore:";

/// How long `redis-server` may take to listen after it was started.
const START_DEADLINE: Duration = Duration::from_secs(5);

/// A running `redis-server` without persistence (unless [`TestRedis::start_persistent`]). It is
/// killed, by its PID, and its folder removed, when dropped.
pub struct TestRedis {
    /// The server's folder: its socket and, with persistence, its append-only file.
    dir: PathBuf,
    process: Option<Child>,
    persistent: bool,
    /// What the app's keys start with, for the session helpers.
    key_prefix: &'static str,
}

impl TestRedis {
    /// Starts Redis on a socket of its own. Fails the test, with instructions, when Redis is
    /// missing.
    pub fn start() -> Self {
        Self::start_in_new_dir(false)
    }

    /// Starts Redis with an append-only file (`appendfsync everysec`) in its folder, which
    /// survives [`restart`](Self::restart).
    pub fn start_persistent() -> Self {
        Self::start_in_new_dir(true)
    }

    fn start_in_new_dir(persistent: bool) -> Self {
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "test-redis-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for redis-server");
        let mut redis = Self {
            dir,
            process: None,
            persistent,
            key_prefix: DEFAULT_KEY_PREFIX,
        };
        redis.restart();
        redis
    }

    /// For an app whose Redis keys start with `prefix`.
    pub fn with_key_prefix(mut self, prefix: &'static str) -> Self {
        self.key_prefix = prefix;
        self
    }

    /// What the app's keys start with.
    pub fn key_prefix(&self) -> &'static str {
        self.key_prefix
    }

    /// The pattern of the stored sessions' keys.
    fn session_keys_pattern(&self) -> String {
        format!("{}session:*", self.key_prefix)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// `redis+unix:///…/redis.sock`, as `REDIS_URL` takes it.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a
    /// Redis behind a dead network path.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let process = self.process.as_ref().expect("redis-server runs");
        let status = Command::new("kill")
            .args([signal, &process.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }

    /// Stops the server as an operator would (SIGTERM: it flushes its append-only file),
    /// then starts it again on the same socket and data.
    pub fn restart_gracefully(&mut self) {
        if let Some(mut process) = self.process.take() {
            let terminated = Command::new("kill")
                .args(["-TERM", &process.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(terminated.success());
            process.wait().expect("redis-server exits");
        }
        self.restart();
    }

    /// Stops the server (a Redis outage). Without persistence, its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
        // A killed server leaves its socket file behind; nothing answers on it.
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts the server again on the same socket (and data, with persistence).
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new("redis-server");
        command
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--save", "", "--dir"])
            .arg(&self.dir);
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "everysec"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let process = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start redis-server ({error}). The Redis tests need Debian's \
                     redis-server package: run scripts/test, which installs it, or \
                     `apt-get install redis-server`"
                )
            });
        self.process = Some(process);
        let socket = self.socket();
        eventually_blocking(
            "redis-server to listen on its socket",
            START_DEADLINE,
            || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        );
    }

    async fn connect(&self) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(self.url())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// How many sessions Redis holds (indexes, locks and token hand-offs not counted).
    pub async fn session_keys(&self) -> usize {
        self.keys(&self.session_keys_pattern()).await.len()
    }

    /// The keys matching `pattern`.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut connection = self.connect().await;
        ::redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut connection)
            .await
            .expect("KEYS answers")
    }

    /// Every stored session, by key, as Redis holds it.
    pub async fn sessions(&self) -> std::collections::BTreeMap<String, String> {
        let mut connection = self.connect().await;
        let mut sessions = std::collections::BTreeMap::new();
        for key in self.keys(&self.session_keys_pattern()).await {
            let value: String = ::redis::cmd("GET")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .expect("GET answers");
            sessions.insert(key, value);
        }
        sessions
    }

    /// The remaining lifetime, in seconds, of every stored session.
    pub async fn session_ttls(&self) -> Vec<i64> {
        self.ttls_of(&self.session_keys_pattern()).await
    }

    /// The remaining lifetime, in seconds, of every key matching `pattern`.
    pub async fn ttls_of(&self, pattern: &str) -> Vec<i64> {
        self.expiries_of("TTL", pattern).await
    }

    /// The remaining lifetime, in milliseconds, of every stored session.
    pub async fn session_pttls(&self) -> Vec<i64> {
        self.expiries_of("PTTL", &self.session_keys_pattern()).await
    }

    async fn expiries_of(&self, command: &str, pattern: &str) -> Vec<i64> {
        let mut connection = self.connect().await;
        let mut ttls = Vec::new();
        for key in self.keys(pattern).await {
            let ttl: i64 = ::redis::cmd(command)
                .arg(&key)
                .query_async(&mut connection)
                .await
                .expect("TTL answers");
            ttls.push(ttl);
        }
        ttls
    }

    /// The signed-in user of the one stored session, as JSON.
    pub async fn session_user(&self) -> serde_json::Value {
        let (_, state) = self.only_session().await;
        let user = state["user"].as_str().expect("a signed-in session");
        serde_json::from_str(user).expect("the user is JSON")
    }

    /// Changes the user of the one stored session, keeping its TTL: what another instance's
    /// request would have written.
    pub async fn edit_session_user(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let (key, mut state) = self.only_session().await;
        let mut user = self.session_user().await;
        edit(&mut user);
        state["user"] = serde_json::Value::String(user.to_string());
        let mut connection = self.connect().await;
        let () = ::redis::cmd("SET")
            .arg(&key)
            .arg(state.to_string())
            .arg("KEEPTTL")
            .query_async(&mut connection)
            .await
            .expect("SET answers");
    }

    async fn only_session(&self) -> (String, serde_json::Value) {
        let keys = self.keys(&self.session_keys_pattern()).await;
        assert_eq!(keys.len(), 1, "one stored session");
        let mut connection = self.connect().await;
        let json: String = ::redis::cmd("GET")
            .arg(&keys[0])
            .query_async(&mut connection)
            .await
            .expect("GET answers");
        let state = serde_json::from_str(&json).expect("a session is JSON");
        (keys[0].clone(), state)
    }

    /// How many keys Redis holds.
    pub async fn key_count(&self) -> usize {
        let mut connection = self.connect().await;
        ::redis::cmd("DBSIZE")
            .query_async(&mut connection)
            .await
            .expect("DBSIZE answers")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // A paused server ignores SIGKILL's cleanup until thawed; thaw it for a clean exit.
        if let Some(process) = &self.process {
            let _ = Command::new("kill")
                .args(["-CONT", &process.id().to_string()])
                .status();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! A server under test in a process of its own (an example's binary, the app's), on a port
//! that cannot race, ready once it says so, and killed (by its PID) when the test drops it.
//!
//! A port that a port-0 listener got and gave back lies in the kernel's ephemeral range, where
//! another port-0 listener or an outgoing connection may take it before the child binds it.
//! [`spare_port`] picks one below that range instead, where only a process that chooses fixed
//! ports could take it; and should one have, the child fails with "address in use", which
//! [`ServerProcess::start`] reports as [`Started::AddressInUse`] so the caller can try another.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How long a server may take to print its ready line.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Where [`spare_port`] starts looking (the e2e stack's rule: below, ports are often fixed).
const LOWEST_SPARE_PORT: u16 = 10_000;

/// A port on 127.0.0.1 that nothing listens on, below the kernel's ephemeral range, never
/// handed out twice by this process.
pub fn spare_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|low| *low > LOWEST_SPARE_PORT + 1_000)
        .unwrap_or(u16::MAX); // an unusual range: take any
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let port = LOWEST_SPARE_PORT + random_below(ephemeral_low - LOWEST_SPARE_PORT);
        if handed_out.contains(&port) || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        handed_out.insert(port);
        return port;
    }
    panic!("no free port found below the ephemeral range");
}

fn random_below(bound: u16) -> u16 {
    let mut bytes = [0u8; 2];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    u16::from_le_bytes(bytes) % bound
}

/// The binary of the root package's example `name`, built by `cargo test` (or `cargo build
/// --examples`) next to the test binaries: `target/<profile>/examples/<name>`.
///
/// # Panics
/// Saying how to build it, when it is missing or older than any of `sources` (files, or
/// folders searched for files): `cargo test --test <name>` alone does not build examples.
pub fn example_binary(name: &str, sources: &[&Path]) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let binary = profile_dir.join("examples").join(name);
    let fix = "run `cargo test` or `cargo build --examples` first";
    let Ok(built) = binary.metadata().and_then(|metadata| metadata.modified()) else {
        panic!(
            "the example {name} is not built at {}: {fix}",
            binary.display()
        );
    };
    if let Some(newer) = sources.iter().find_map(|source| newer_than(source, built)) {
        panic!(
            "the example {name} at {} is older than {}: {fix}",
            binary.display(),
            newer.display()
        );
    }
    binary
}

/// A file at or under `path` modified after `time`.
fn newer_than(path: &Path, time: SystemTime) -> Option<PathBuf> {
    let metadata = path.metadata().ok()?;
    if metadata.is_dir() {
        let entries = std::fs::read_dir(path).ok()?;
        return entries
            .filter_map(Result::ok)
            .find_map(|entry| newer_than(&entry.path(), time));
    }
    metadata
        .modified()
        .ok()
        .filter(|modified| *modified > time)
        .map(|_| path.to_owned())
}

/// How [`ServerProcess::start`] went, when the server did not come up.
#[derive(Debug)]
pub enum Started {
    /// The port was taken after all: pick another and start again.
    AddressInUse,
}

/// A running server process, with everything it printed so far. Dropping it kills the process
/// (by its PID, nothing else).
pub struct ServerProcess {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `program` with exactly `env` (nothing inherited but `PATH`), and waits until it
    /// prints a line containing `ready_line`.
    ///
    /// # Panics
    /// When it exits or stays silent instead, with what it printed.
    pub async fn start(
        program: &Path,
        env: &[(&str, String)],
        ready_line: &str,
    ) -> Result<ServerProcess, Started> {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
            .envs(
                env.iter()
                    .map(|(name, value)| (OsStr::new(name), OsStr::new(value))),
            )
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in [
            child
                .stdout
                .take()
                .map(|out| Box::new(out) as Box<dyn AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|err| Box::new(err) as Box<dyn AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            readers.push(tokio::spawn(collect_lines(stream, Arc::clone(&output))));
        }
        let mut process = ServerProcess { child, output };
        let started = tokio::time::Instant::now();
        loop {
            if process.output().contains(ready_line) {
                return Ok(process);
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                // Its pipes are closed: the readers end once they have read what it printed.
                for reader in readers.drain(..) {
                    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
                }
                let output = process.output();
                if output.to_lowercase().contains("address in use") {
                    return Err(Started::AddressInUse);
                }
                panic!(
                    "{} exited ({status}) before it was ready:\n{output}",
                    program.display()
                );
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "{} printed no line like {ready_line:?} within {READY_WITHIN:?}:\n{}",
                program.display(),
                process.output()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything the process printed so far (stdout and stderr, line by line).
    pub fn output(&self) -> String {
        lock(&self.output).clone()
    }

    /// The process's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGKILL to this child's PID; `kill_on_drop` would do it too, this says so.
        let _ = self.child.start_kill();
    }
}

async fn collect_lines(stream: impl AsyncRead + Unpin, output: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut output = lock(&output);
        output.push_str(&line);
        output.push('\n');
    }
}

fn lock(output: &Mutex<String>) -> MutexGuard<'_, String> {
    output.lock().unwrap_or_else(|p| p.into_inner())
}

//! The binary refuses to start with a setting that cannot work, with one clear line.

use std::process::Command;

#[test]
fn a_missing_setting_stops_the_binary_with_one_clear_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_logto-bookstore"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the binary runs");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: LOGTO_ENDPOINT is not set."),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_short_session_secret_stops_the_binary() {
    let output = Command::new(env!("CARGO_BIN_EXE_logto-bookstore"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("LOGTO_ENDPOINT", "http://127.0.0.1:9")
        .env("LOGTO_APP_ID", "app")
        .env("LOGTO_APP_SECRET", "secret")
        .env("SESSION_SECRET", "short")
        .output()
        .expect("the binary runs");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: SESSION_SECRET is 5 bytes long"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

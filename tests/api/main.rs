//! Integration tests: the app on port 0 against an in-process Logto-shaped IdP and, for the
//! Redis store, a real `redis-server`.

mod helpers;

mod api;
mod claim_times;
mod examples;
mod faults;
mod home;
mod http;
mod language;
mod logs;
mod operations;
mod page_markup;
mod readme;
mod scale_out;
mod signed_in_pages;
mod soak;
mod startup;

//! Integration tests: the app on port 0 against an in-process Logto-shaped IdP and, for the
//! Redis store, a real `redis-server`.

mod helpers;

mod backchannel;
mod callback;
mod claim_times;
mod cross_site;
mod examples;
mod faults;
mod home;
mod hostile;
mod http;
mod language;
mod logs;
mod operations;
mod page_markup;
mod protected;
mod readme;
mod scale_out;
mod sessions;
mod sign_in;
mod sign_out;
mod soak;
mod startup;
mod tokens;

//! logto-actix's integration tests: a product made of the crate's routes, its plain pages and a
//! few pages of its own, against the in-process Logto-shaped provider and, for the Redis
//! store, a real `redis-server`.

mod app;

mod api;
mod backchannel;
mod callback;
mod cross_site;
mod faults;
mod flow;
mod hostile;
mod logto_down;
mod protected;
mod sessions;
mod sign_in;
mod sign_out;
mod tokens;

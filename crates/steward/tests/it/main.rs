//! End-to-end tests: the real `steward` binary, its own temporary directory and port, a real
//! store, HTTP over loopback. One test binary, a module per area.

mod adjustments;
mod alerting;
mod api;
mod audit;
mod cli;
mod faults;
mod gate;
mod incidents;
mod login;
mod no_missed_page;
mod oncall;
mod readiness;
mod reload;
mod restart;
mod runbooks;
mod sso;
mod support;
mod tls;
mod tokens;

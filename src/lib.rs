//! The `hotline` system as a library: [`Config`], every setting declared
//! once, and [`App`], which binds every listener and runs the IVR and
//! ticketing together or alone. The `hotline` binary is a thin command line
//! over it; tests start it in-process with [`App::build`].

pub mod app;
pub mod config;
pub mod tls;

pub use app::{App, AppError, Role};
pub use config::{Config, ConfigError, ServeArgs, Settings};

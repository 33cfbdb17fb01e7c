//! One module per subcommand.

pub mod data;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod env;
pub mod history;
pub mod image;
pub mod local;
pub mod outputs;
pub mod render;
pub mod rollback;
pub mod smoke;
pub mod status;

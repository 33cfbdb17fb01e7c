//! One module per subcommand.

pub mod ci;
pub mod completions;
pub mod data;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod drift;
pub mod env;
pub mod history;
pub mod image;
pub mod local;
pub mod logs;
pub mod outputs;
pub mod render;
pub mod rollback;
pub mod smoke;
pub mod status;

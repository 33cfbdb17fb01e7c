//! One module per subcommand: its flags and its `run()`, which loads the environment, calls the
//! flow or the AWS calls it needs and prints the report once; `args` holds the flags several
//! commands share.

pub mod args;
pub mod ci;
pub mod completions;
pub mod data;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod drift;
pub mod history;
pub mod image;
pub mod local;
pub mod logs;
pub mod migrate;
pub mod outputs;
pub mod release;
pub mod render;
pub mod rollback;
pub mod smoke;
pub mod status;

#[cfg(test)]
pub(crate) mod tests;

//! The deployer's integration tests, one binary: the `noteapp` binary and library end to end
//! against real peers (moto, a Docker engine and registry, loopback stand-ins). Each module is
//! one concern; `common` holds what they share beyond `noteapp-test-support`.

mod aliases;
mod common;
mod credentials;
mod ecr;
mod image;
mod logs;
mod one_rule;
mod readme;
mod sts;
mod template;
mod workflow;

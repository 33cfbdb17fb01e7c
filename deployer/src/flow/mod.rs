//! The flows: the operations of several steps that commands run, between `commands/` (flags,
//! printing) and `aws/` (thin calls and polling).
//!
//! - [`change_set`]: the first half of every stack change — account and stack-state checks, kept
//!   tables brought back, a change set computed — and the way back out (`discard`, Ctrl-C).
//! - [`rollout`]: the whole deploy of an environment: the image shipped (or promoted), the plan
//!   rendered, the release recorded, then all at once or by [`canary`], and a failed smoke
//!   check rolled back.
//! - [`deploy`]: a plan's change set shown, confirmed, executed and followed, the release tagged
//!   and smoke checked; the deploy's report.
//! - [`rollback`]: an earlier release deployed again through the deploy flow, and the recovery
//!   of a stuck stack (`--continue`).
//! - [`destroy`]: the stack deleted, its tables kept.
//! - [`ci`]: the CI sign-in stack deployed through the deploy flow.
//! - [`recording`]: each deploy's release written into the plan and tagged in ECR.
//! - [`canary`]: a release shifted to a share of the traffic, watched, then finished, or
//!   returned to the last good release; `noteapp release finish|undo` for one left half-way.
//! - [`traffic`]: where the `live` aliases stand (steady, shifting, returned, moved back).
//! - [`promote`]: `--image-from`: the digest another environment runs, found in this one's
//!   repository.
//!
//! Each flow takes its clients and a plain description of what is asked, and returns a report
//! (`Serialize` + `Display`) that the command prints.

pub mod canary;
pub mod change_set;
pub mod ci;
pub mod deploy;
pub mod destroy;
pub mod migrate;
pub mod promote;
pub mod recording;
#[cfg(feature = "test-util")]
pub mod replayed;
pub mod rollback;
pub mod rollout;
pub mod traffic;

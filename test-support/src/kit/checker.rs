//! The kit on an SDK client: an interceptor that decides every request the client is about to
//! send for the client's identity, and fails a refused one with the error AWS would give.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::{Kit, calls};

/// Holds a client's requests to what one identity may do (see the module doc).
#[derive(Clone)]
pub struct Checker {
    kit: Kit,
    /// The access key of the client's identity.
    key: String,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").field("key", &self.key).finish()
    }
}

impl Checker {
    pub(super) fn new(kit: Kit, key: &str) -> Self {
        Self {
            kit,
            key: key.to_owned(),
        }
    }
}

impl Intercept for Checker {
    fn name(&self) -> &'static str {
        "NoteappTestKit"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let request = context.request();
        let body = request.body().bytes().unwrap_or_default();
        let path = request
            .uri()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let path = path
            .find("://")
            .and_then(|at| {
                path[at + 3..]
                    .find('/')
                    .map(|p| path[at + 3 + p..].to_owned())
            })
            .unwrap_or(path);
        if let Some(refusal) = calls::invalid(metadata.service(), metadata.name(), body) {
            return Err(BoxError::from(refusal));
        }
        let calls = calls::sdk(
            self.kit.place(),
            metadata.service(),
            metadata.name(),
            &path,
            body,
        )
        .unwrap_or_else(|unknown| panic!("{unknown}"));
        for call in &calls {
            if let Err(denial) = self.kit.decide(&self.key, call) {
                if self.kit.is_strict() {
                    panic!("{denial}");
                }
                return Err(BoxError::from(denial.to_string()));
            }
        }
        Ok(())
    }
}

//! The API Gateway management API (`PostToConnection`) as a [`Poster`].
//!
//! In AWS the endpoint is `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`; locally it
//! is the local gateway, which serves the same `/@connections/{id}` routes. SDK retries are off:
//! the fan-out retries throttling itself, with jitter, and must see a 410 at once.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use bytes::Bytes;

use super::fanout::{PostError, Poster};

/// Posts through the management API.
#[derive(Clone, Debug)]
pub struct ManagementPoster {
    client: Client,
}

impl ManagementPoster {
    /// A poster for `endpoint`, with credentials and region from `sdk` (as in Lambda).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }

    /// A poster for the local gateway at `endpoint` (plain HTTP on loopback), signing with fixed
    /// local credentials. Its client trusts no certificate at all, so it never looks for the
    /// system's root certificates (which a `scratch` container does not have).
    pub fn local(endpoint: &str) -> Self {
        Self::new(
            &crate::aws_http::loopback_config(endpoint, "us-east-1"),
            endpoint,
        )
    }
}

/// Maps an SDK failure to what the fan-out needs to know.
pub fn classify<R>(error: &SdkError<PostToConnectionError, R>) -> PostError
where
    R: HasStatus + std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = error {
        match service.err() {
            PostToConnectionError::GoneException(_) => return PostError::Gone,
            PostToConnectionError::LimitExceededException(_) => {
                return PostError::Throttled(DisplayErrorContext(error).to_string());
            }
            _ => {}
        }
        match service.raw().status() {
            410 => return PostError::Gone,
            429 => return PostError::Throttled(DisplayErrorContext(error).to_string()),
            _ => {}
        }
    }
    PostError::Failed(DisplayErrorContext(error).to_string())
}

/// The HTTP status of a raw response, whatever its type.
pub trait HasStatus {
    /// The status code.
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_apigatewaymanagement::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

#[async_trait]
impl Poster for ManagementPoster {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostError> {
        self.client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

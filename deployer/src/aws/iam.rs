//! IAM, one call: whether the account already has GitHub Actions' OIDC provider (there is one
//! per issuer URL and account), so that `ci bootstrap` reuses it instead of failing to make a
//! second. A signed query-protocol request rather than an SDK crate: one call does not pay for a
//! crate's compile time. IAM is global: its endpoint and signing region are the partition's.

use noteapp_runtime::aws_http::{Partition, Signer};

use crate::error::Error;
use crate::policy::ci::GITHUB_ISSUER;

/// IAM's endpoint and signing region for the partition of `region`.
/// (`custom`: the endpoint the command was given, used as it is).
pub fn endpoint(custom: Option<String>, region: &str) -> (String, &'static str) {
    let (url, signing) = match Partition::of(region).name {
        "aws-cn" => ("https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        "aws-us-gov" => ("https://iam.us-gov.amazonaws.com", "us-gov-west-1"),
        _ => ("https://iam.amazonaws.com", "us-east-1"),
    };
    let url = custom.unwrap_or_else(|| url.to_owned());
    (url, signing)
}

/// The ARN of GitHub's provider among ListOpenIDConnectProviders' `<Arn>` elements.
pub fn github_provider_in(answer: &str) -> Option<String> {
    answer
        .split("<Arn>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Arn>").map(|(arn, _)| arn.trim()))
        .find(|arn| arn.ends_with(&format!(":oidc-provider/{GITHUB_ISSUER}")))
        .map(str::to_owned)
}

/// The account's GitHub Actions OIDC provider, if it has one, asked of IAM at `url`, signing
/// for `signing_region` (see [`endpoint`]).
pub async fn github_provider(
    http: &reqwest::Client,
    signer: &Signer,
    (url, signing_region): (&str, &str),
) -> Result<Option<String>, Error> {
    let request = http::Request::post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bytes::Bytes::from_static(
            b"Action=ListOpenIDConnectProviders&Version=2010-05-08",
        ))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let (_, body) = signer
        .for_region(signing_region)
        .send(http, "iam", request)
        .await
        .map_err(|e| Error::Aws {
            action: "failed to list the account's OIDC providers (iam:ListOpenIDConnectProviders)"
                .to_owned(),
            reason: e.to_string(),
        })?;
    Ok(github_provider_in(&String::from_utf8_lossy(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_github_provider_is_found_among_the_accounts_providers() {
        let answer = r#"<ListOpenIDConnectProvidersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListOpenIDConnectProvidersResult>
    <OpenIDConnectProviderList>
      <member>
        <Arn>arn:aws:iam::123456789012:oidc-provider/accounts.google.com</Arn>
      </member>
      <member>
        <Arn>arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com</Arn>
      </member>
    </OpenIDConnectProviderList>
  </ListOpenIDConnectProvidersResult>
  <ResponseMetadata>
    <RequestId>de2c0228-4f63-11e4-aefa-bfd6aEXAMPLE</RequestId>
  </ResponseMetadata>
</ListOpenIDConnectProvidersResponse>"#;
        assert_eq!(
            github_provider_in(answer).as_deref(),
            Some("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
        );
        assert_eq!(github_provider_in("<OpenIDConnectProviderList/>"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_provider_list_is_a_signed_call_the_bootstrap_may_make_and_a_deploy_may_not() {
        use noteapp_test_support::kit::Endpoint;
        use noteapp_test_support::loopback::{Reply, Server};

        use crate::aws::replay;
        let kit = replay::kit();
        let answer = "<ListOpenIDConnectProvidersResponse><ListOpenIDConnectProvidersResult>\
            <OpenIDConnectProviderList><member><Arn>arn:aws:iam::123456789012:oidc-provider/\
            token.actions.githubusercontent.com</Arn></member></OpenIDConnectProviderList>\
            </ListOpenIDConnectProvidersResult></ListOpenIDConnectProvidersResponse>";
        let iam = Server::answering(move |request| match kit.admit(request, Endpoint::Iam) {
            Ok(_) => Reply::with_type(200, "text/xml", answer),
            Err(refusal) => refusal,
        })
        .await;
        let http =
            noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(5)).unwrap();
        let admin = replay::signer(replay::CI_BOOTSTRAP);
        let found = github_provider(&http, &admin, (&iam.url, "us-east-1"))
            .await
            .unwrap();
        assert_eq!(
            found.as_deref(),
            Some("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
        );
        let deployer = replay::signer(replay::DEPLOYER);
        let refused = github_provider(&http, &deployer, (&iam.url, "us-east-1"))
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("iam:ListOpenIDConnectProviders"),
            "{refused}"
        );
    }

    #[test]
    fn iam_is_reached_at_its_partitions_global_endpoint() {
        assert_eq!(
            endpoint(None, "ap-northeast-1"),
            ("https://iam.amazonaws.com".to_owned(), "us-east-1")
        );
        assert_eq!(endpoint(None, "cn-northwest-1").1, "cn-north-1");
        let moto = Some("http://127.0.0.1:5000".to_owned());
        assert_eq!(endpoint(moto, "eu-west-1").0, "http://127.0.0.1:5000");
    }
}

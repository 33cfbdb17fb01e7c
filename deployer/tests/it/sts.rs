//! STS against a real endpoint: moto's GetCallerIdentity, read by the account check.

use crate::common;

use noteapp::aws::sts::{caller_account, ensure_account};
use noteapp_test_support::moto::MotoServer;

#[tokio::test]
async fn caller_account_is_read_from_a_real_sts_endpoint() {
    let Some(moto) = MotoServer::start_or_skip("caller_account_is_read_from_a_real_sts_endpoint")
    else {
        return;
    };
    let client = common::sts_client(moto.endpoint());
    assert_eq!(caller_account(&client).await.unwrap(), "123456789012");
    ensure_account(&client, "staging", "123456789012")
        .await
        .unwrap();
    let err = ensure_account(&client, "staging", "210987654321")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("account 123456789012"), "{err}");
    assert!(err.to_string().contains("account 210987654321"), "{err}");
}

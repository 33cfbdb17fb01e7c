//! Signing in, every way people do, end to end through the `noteapp` binary: each test writes the
//! files a real sign-in leaves (a scratch `HOME` with `~/.aws/config`, the token cache `aws sso
//! login` writes, the cache `aws login` writes, a web identity token file), points the SDK's own
//! endpoint variables at moto (STS, CloudFormation) and at loopback stand-ins (the IAM Identity
//! Center portal, the container credentials endpoint), and runs `noteapp status staging`, which
//! checks the caller's account before anything else. And with no credentials at all, the error
//! a person gets.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use noteapp_test_support::loopback::{Reply, Server};
use noteapp_test_support::moto::MotoServer;
use noteapp_test_support::{free_port, workspace};

const NOTEAPP: &str = env!("CARGO_BIN_EXE_noteapp");
/// moto's default account, which the staging environment file names.
const ACCOUNT: &str = "123456789012";

/// A loopback HTTP server answering every request with `status` and `body` (a 401 as an
/// `UnauthorizedException`, as the SSO portal says it).
fn stand_in(status: u16, body: &'static str) -> Server {
    Server::start_on_thread(move |_| {
        let reply = Reply::json(status, body);
        if status == 401 {
            reply.header("x-amzn-ErrorType", "UnauthorizedException")
        } else {
            reply
        }
    })
}

fn home(config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/config"), config).unwrap();
    home
}

fn hex_digest(tool: &str, text: &str) -> String {
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..if tool == "sha1sum" { 40 } else { 64 }].to_owned()
}

/// The token cache `aws sso login` writes for `key` (a session name, or a legacy start URL).
fn sso_token(home: &Path, key: &str, expires_at: &str) {
    let dir = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&dir).unwrap();
    let token = format!(
        r#"{{"startUrl":"https://d-1234567890.awsapps.com/start","region":"ap-northeast-1","accessToken":"sso-access-token-1","expiresAt":"{expires_at}"}}"#
    );
    std::fs::write(
        dir.join(format!("{}.json", hex_digest("sha1sum", key))),
        token,
    )
    .unwrap();
}

/// `noteapp status staging` with only `vars` (and PATH) in its environment.
fn status(home: &Path, vars: &[(&str, String)]) -> Output {
    Command::new(NOTEAPP)
        .args(["status", "staging"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NOTEAPP_ROOT", workspace())
        .env("NOTEAPP_POLL_INTERVAL", "0")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("noteapp runs")
}

/// The endpoints that put STS and CloudFormation on `moto`, and no instance metadata.
fn on_moto(moto: &MotoServer) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_STS", moto.endpoint().to_owned()),
        (
            "AWS_ENDPOINT_URL_CLOUDFORMATION",
            moto.endpoint().to_owned(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

#[track_caller]
fn assert_reached_the_account_check(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "noteapp failed ({}): {stderr}",
        output.status
    );
    assert!(
        stderr.contains(&format!("signed in to AWS account {ACCOUNT} as ")),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("does not exist"),
        "the stack lookup on moto ran: {stderr}"
    );
    stderr
}

const SSO_SESSION_CONFIG: &str = "\
[profile dev]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = NoteappDeployer
region = ap-northeast-1

[sso-session corp]
sso_region = ap-northeast-1
sso_start_url = https://d-1234567890.awsapps.com/start
";

const ROLE_CREDENTIALS: &str = r#"{"roleCredentials":{"accessKeyId":"ASIASSOEXAMPLE","secretAccessKey":"sso-secret","sessionToken":"sso-session-token","expiration":4102444800000}}"#;

#[test]
fn an_sso_session_profile_with_a_cached_token_signs_in_through_the_portal() {
    let Some(moto) = MotoServer::start_or_skip("sso-session sign-in") else {
        return;
    };
    let portal = stand_in(200, ROLE_CREDENTIALS);
    let home = home(SSO_SESSION_CONFIG);
    sso_token(home.path(), "corp", "2099-01-01T00:00:00Z");
    let mut vars = on_moto(&moto);
    vars.push(("AWS_PROFILE", "dev".into()));
    vars.push(("AWS_ENDPOINT_URL_SSO", portal.url.clone()));
    assert_reached_the_account_check(&status(home.path(), &vars));
    let requests = portal.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    let uri = request.uri.to_string().to_ascii_lowercase();
    assert_eq!(request.method, "GET");
    assert!(uri.starts_with("/federation/credentials?"), "{uri}");
    assert!(
        uri.contains("role_name=noteappdeployer") && uri.contains("account_id=123456789012"),
        "{uri}"
    );
    assert_eq!(
        request.header("x-amz-sso_bearer_token"),
        Some("sso-access-token-1"),
        "{request:?}"
    );
}

#[test]
fn a_legacy_sso_profile_signs_in_through_the_portal() {
    let Some(moto) = MotoServer::start_or_skip("legacy SSO sign-in") else {
        return;
    };
    let portal = stand_in(200, ROLE_CREDENTIALS);
    let start_url = "https://d-1234567890.awsapps.com/start";
    let home = home(&format!(
        "[profile legacy]\nsso_start_url = {start_url}\nsso_region = ap-northeast-1\n\
         sso_account_id = 123456789012\nsso_role_name = NoteappDeployer\nregion = ap-northeast-1\n"
    ));
    sso_token(home.path(), start_url, "2099-01-01T00:00:00Z");
    let mut vars = on_moto(&moto);
    vars.push(("AWS_PROFILE", "legacy".into()));
    vars.push(("AWS_ENDPOINT_URL_SSO", portal.url.clone()));
    assert_reached_the_account_check(&status(home.path(), &vars));
    assert_eq!(portal.requests().len(), 1);
}

#[test]
fn an_expired_sso_session_says_so_and_how_to_sign_in_again() {
    let portal = stand_in(200, ROLE_CREDENTIALS);
    let home = home(SSO_SESSION_CONFIG);
    sso_token(home.path(), "corp", "2020-01-01T00:00:00Z");
    let vars = vec![
        ("AWS_PROFILE", "dev".to_owned()),
        ("AWS_ENDPOINT_URL_SSO", portal.url.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ];
    let output = status(home.path(), &vars);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has expired"), "{stderr}");
    assert!(stderr.contains("aws sso login --profile dev"), "{stderr}");
    assert!(
        portal.requests().is_empty(),
        "no portal call with an expired token"
    );
}

#[test]
fn an_assume_role_profile_signs_in_with_sts_assume_role() {
    let Some(moto) = MotoServer::start_or_skip("assume-role sign-in") else {
        return;
    };
    let home = home(
        "[profile base]\naws_access_key_id = AKIABASEEXAMPLE\naws_secret_access_key = base-secret\n\
         region = ap-northeast-1\n\n[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/noteapp-deployer\n\
         source_profile = base\nrole_session_name = release\nregion = ap-northeast-1\n",
    );
    let mut vars = on_moto(&moto);
    vars.push(("AWS_PROFILE", "deploy".into()));
    let stderr = assert_reached_the_account_check(&status(home.path(), &vars));
    assert!(
        stderr.contains("assumed-role/noteapp-deployer/release"),
        "the caller is the assumed role: {stderr}"
    );
}

#[test]
fn web_identity_signs_in_with_assume_role_with_web_identity() {
    let Some(moto) = MotoServer::start_or_skip("web identity sign-in") else {
        return;
    };
    let home = home("");
    let token = home.path().join("github-oidc-token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vcjpyZWY6cmVmcy9oZWFkcy9tYWluIn0.sig",
    )
    .unwrap();
    let mut vars = on_moto(&moto);
    vars.push(("AWS_REGION", "ap-northeast-1".into()));
    vars.push(("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()));
    vars.push((
        "AWS_ROLE_ARN",
        "arn:aws:iam::123456789012:role/github-deploy".into(),
    ));
    vars.push(("AWS_ROLE_SESSION_NAME", "ci-run".into()));
    let stderr = assert_reached_the_account_check(&status(home.path(), &vars));
    assert!(
        stderr.contains("assumed-role/github-deploy/ci-run"),
        "{stderr}"
    );
}

#[test]
fn credential_process_container_and_login_sessions_sign_in() {
    let Some(moto) = MotoServer::start_or_skip("credential_process, container and login") else {
        return;
    };
    // credential_process
    let home = home(
        "[profile helper]\nregion = ap-northeast-1\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS\",\"SecretAccessKey\":\"s\"}'\n",
    );
    let mut vars = on_moto(&moto);
    vars.push(("AWS_PROFILE", "helper".into()));
    assert_reached_the_account_check(&status(home.path(), &vars));

    // Container credentials (ECS, CodeBuild, App Runner…): a loopback full URI.
    let endpoint = stand_in(
        200,
        r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}"#,
    );
    let home = self::home("");
    let mut vars = on_moto(&moto);
    vars.push(("AWS_REGION", "ap-northeast-1".into()));
    vars.push((
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/creds", endpoint.url),
    ));
    assert_reached_the_account_check(&status(home.path(), &vars));
    assert_eq!(endpoint.requests().len(), 1);

    // An `aws login` session: the cache `aws login` writes, still valid, needs no network call.
    let session = "arn:aws:iam::123456789012:user/admin";
    let home = self::home(&format!(
        "[profile console]\nlogin_session = {session}\nregion = ap-northeast-1\n"
    ));
    let cache = home.path().join("login-cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join(format!("{}.json", hex_digest("sha256sum", session))),
        r#"{"accessToken":{"accessKeyId":"ASIALOGIN","secretAccessKey":"s","sessionToken":"t","accountId":"123456789012","expiresAt":"2099-01-01T00:00:00Z"},"tokenType":"aws_sigv4","refreshToken":"r","clientId":"arn:aws:signin:::devtools/same-device","dpopKey":"unused"}"#,
    )
    .unwrap();
    let mut vars = on_moto(&moto);
    vars.push(("AWS_PROFILE", "console".into()));
    vars.push(("AWS_LOGIN_CACHE_DIRECTORY", cache.display().to_string()));
    assert_reached_the_account_check(&status(home.path(), &vars));
}

#[test]
fn with_no_credentials_at_all_the_error_is_short_names_what_was_tried_and_how_to_sign_in() {
    let home = home("");
    // Instance metadata is tried too, on a loopback port nobody listens on (no real IMDS here).
    let imds = format!("http://127.0.0.1:{}", free_port());
    let output = status(
        home.path(),
        &[
            ("AWS_REGION", "ap-northeast-1".into()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = &stderr[stderr.find("error: ").expect("an error line")..];
    assert!(error.trim_end().lines().count() <= 5, "{error}");
    assert!(
        error.contains("profile `default` in region ap-northeast-1"),
        "{error}"
    );
    assert!(error.contains("tried:"), "{error}");
    assert!(error.contains("aws sso login --profile default"), "{error}");
    assert!(error.contains("AWS_PROFILE="), "{error}");
    assert!(!error.contains("HttpResponse"), "{error}");
}

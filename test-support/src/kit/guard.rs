//! IAM in front of an emulator: a loopback endpoint that admits each request as AWS would and
//! only then forwards it to the emulator (moto), which checks no signature and no permission.
//!
//! Processes the tests cannot reach into (a `bootstrap` handler, `noteapp` itself) point their
//! endpoint at the guard and sign with an identity's credentials; the guard verifies the
//! signature with that identity's secret ([`crate::sigv4`]), turns the request into what IAM
//! checks ([`super::calls`]: JSON-target protocols such as DynamoDB, CloudWatch Logs and ECR,
//! the query protocol of CloudFormation and STS, and Lambda's REST requests for aliases and
//! versions) and decides it for the identity. A refused
//! request gets the error the service gives (`AccessDeniedException`, HTTP 400, for JSON
//! protocols; `AccessDenied`, HTTP 403, for the query protocol) and never reaches the emulator;
//! the refusal is also printed on stderr, so a test's output names the identity, the action and
//! the resource.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::{Endpoint, Kit, calls};
use crate::loopback::{Reply, Request, Server};
use crate::sigv4;

/// Starts a guard in front of `upstream` (`http://host:port`) for `kit`'s identities, on a
/// thread of its own (it outlives the test that started it).
pub fn guard(kit: &Kit, upstream: &str) -> Server {
    let kit = kit.clone();
    let upstream = upstream.trim_end_matches('/').to_owned();
    Server::serve_on_thread(move |request| {
        let (kit, upstream) = (kit.clone(), upstream.clone());
        async move {
            match admit(&kit, &request) {
                Ok(()) => forward(&upstream, request).await,
                Err(refusal) => refusal,
            }
        }
    })
}

/// `(SDK service name, operation)` of a request, from its target header or its form.
fn operation(request: &Request, signing_name: &str) -> Option<(&'static str, String)> {
    if let Some(target) = request.header("x-amz-target") {
        let (prefix, op) = target.rsplit_once('.')?;
        let service = match prefix {
            p if p.starts_with("DynamoDB_") => "DynamoDB",
            p if p.starts_with("Logs_") => "CloudWatch Logs",
            p if p.starts_with("AmazonEC2ContainerRegistry_") => "ECR",
            _ => return None,
        };
        return Some((service, op.to_owned()));
    }
    let text = String::from_utf8_lossy(&request.body);
    let action = text.split('&').find_map(|p| p.strip_prefix("Action="))?;
    let service = match signing_name {
        "cloudformation" => "CloudFormation",
        "sts" => "STS",
        _ => return None,
    };
    Some((service, action.to_owned()))
}

fn admit(kit: &Kit, request: &Request) -> Result<(), Reply> {
    let json_protocol = request.header("x-amz-target").is_some();
    let refuse = |code: &str, message: String| {
        eprintln!("test kit guard: {message}");
        if json_protocol {
            let body = serde_json::json!({
                "__type": format!("com.amazon.coral.service#{code}Exception"),
                "message": message,
            });
            Reply::with_type(400, "application/x-amz-json-1.0", body.to_string())
        } else {
            let body = format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}\
                 </Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId>\
                 </ErrorResponse>",
                message.replace('&', "&amp;").replace('<', "&lt;")
            );
            Reply::with_type(403, "text/xml", body)
        }
    };
    let signing_name = request
        .header("authorization")
        .and_then(sigv4::service_of)
        .unwrap_or_default();
    let signed = kit
        .verify(request, &kit.place().region, &signing_name)
        .map_err(|refusal| refuse("UnrecognizedClient", refusal.to_string()))?;
    if signing_name == "lambda" {
        let target = (request.uri.path(), request.uri.query().unwrap_or_default());
        let method = request.method.as_str();
        let place = kit.place();
        let Some(call) = calls::http(place, Endpoint::Lambda, method, target, None, &request.body)
        else {
            return Err(refuse(
                "AccessDenied",
                format!(
                    "the test kit does not know what IAM checks for lambda {method} {}: add it \
                     to test-support/src/kit/calls.rs",
                    request.uri
                ),
            ));
        };
        return kit
            .decide(&signed.access_key, &call)
            .map_err(|denial| refuse("AccessDenied", denial.to_string()));
    }
    let Some((service, op)) = operation(request, &signing_name) else {
        return Err(refuse(
            "AccessDenied",
            format!(
                "the test kit's guard does not know {signing_name} {} {}: add it to \
                 test-support/src/kit/guard.rs",
                request.method, request.uri
            ),
        ));
    };
    let calls = calls::sdk(kit.place(), service, &op, request.uri.path(), &request.body)
        .map_err(|unknown| refuse("AccessDenied", unknown))?;
    for call in &calls {
        kit.decide(&signed.access_key, call)
            .map_err(|denial| refuse("AccessDenied", denial.to_string()))?;
    }
    Ok(())
}

/// Sends `request` on to `upstream` as it came, and its answer back.
async fn forward(upstream: &str, request: Request) -> Reply {
    let failed =
        |what: String| Reply::json(502, serde_json::json!({ "message": what }).to_string());
    let address = upstream.trim_start_matches("http://").to_owned();
    let stream = match tokio::net::TcpStream::connect(&address).await {
        Ok(stream) => stream,
        Err(e) => return failed(format!("the guard cannot reach {upstream}: {e}")),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return failed(format!("handshake with {upstream}: {e}")),
        };
    tokio::spawn(connection);
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(request.uri.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let outgoing = match builder.body(Full::new(request.body.clone())) {
        Ok(outgoing) => outgoing,
        Err(e) => return failed(format!("cannot rebuild the request: {e}")),
    };
    let response = match sender.send_request(outgoing).await {
        Ok(response) => response,
        Err(e) => return failed(format!("{upstream} did not answer: {e}")),
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "transfer-encoding" && *name != "connection")
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_else(|_| Bytes::new());
    Reply {
        status,
        headers,
        body,
    }
}

//! A WebSocket client for tests, reading the `{type, data, timestamp}` messages the API sends.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One connected client.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Connects to `url`; a refused handshake is an error carrying the HTTP status.
pub async fn connect(url: &str) -> Result<WsClient, tungstenite::Error> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(WsClient { ws })
}

/// The HTTP status of a refused handshake, if that is what `error` is.
pub fn refused_status(error: &tungstenite::Error) -> Option<u16> {
    match error {
        tungstenite::Error::Http(response) => Some(response.status().as_u16()),
        _ => None,
    }
}

impl WsClient {
    pub async fn send_json(&mut self, value: &Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .expect("send over the socket");
    }

    /// The next JSON message within `wait`, or `None`.
    pub async fn next_json(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(wait, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON message"));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next message, which must arrive within five seconds.
    pub async fn expect_json(&mut self) -> Value {
        self.next_json(Duration::from_secs(5))
            .await
            .expect("a message within 5 s")
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(message) = self.next_json(wait).await {
            panic!("expected no message, got {message}");
        }
    }

    /// This connection's id, learnt from the `$default` echo.
    pub async fn connection_id(&mut self) -> String {
        self.send_json(&serde_json::json!({"hello": "id?"})).await;
        let echo = self.expect_json().await;
        assert_eq!(echo["type"], "echo", "{echo}");
        echo["data"]["connectionId"]
            .as_str()
            .expect("connectionId")
            .to_string()
    }

    /// Closes the socket cleanly.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(2), self.ws.next()).await {
        }
    }
}

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
    /// Sends `value` as one text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .expect("send over the socket");
    }

    /// Sends one text frame as is (JSON or not).
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send over the socket");
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws
            .send(Message::binary(data))
            .await
            .expect("send over the socket");
    }

    /// The next text message within `wait`, as sent; `None` when nothing came or the socket
    /// closed.
    pub async fn next_text(&mut self, wait: Duration) -> Option<String> {
        loop {
            let message = tokio::time::timeout(wait, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => return Some(text.as_str().to_owned()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next JSON message within `wait`, or `None`.
    pub async fn next_json(&mut self, wait: Duration) -> Option<Value> {
        let text = self.next_text(wait).await?;
        Some(serde_json::from_str(&text).expect("JSON message"))
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

    /// Sends `count` messages `{"n": i}` one at a time, asserting each is echoed, then one more
    /// (`{"n": "one more"}`), whose answer it returns: at `count` messages a rate window, the
    /// server's refusal.
    pub async fn echo_burst(&mut self, count: usize) -> Value {
        for n in 0..count {
            self.send_json(&serde_json::json!({"n": n})).await;
            let echo = self.expect_json().await;
            assert_eq!(echo["type"], "echo", "message {n}: {echo}");
            assert_eq!(echo["data"]["original"], serde_json::json!({"n": n}));
        }
        self.send_json(&serde_json::json!({"n": "one more"})).await;
        self.expect_json().await
    }

    /// [`WsClient::echo_burst`] inside one rate window of `window_secs`: each try starts as a
    /// window begins, and a burst that a slow machine stretched into the next window is tried
    /// again (three tries), so the limit is met whatever the load.
    pub async fn echo_burst_in_one_window(&mut self, count: usize, window_secs: i64) -> Value {
        let window = |ms: i64| ms.div_euclid(window_secs * 1000);
        for _ in 0..3 {
            tokio::time::sleep(rate_window_left(window_secs) + Duration::from_millis(50)).await;
            let began = window(chrono::Utc::now().timestamp_millis());
            let answer = self.echo_burst(count).await;
            if window(chrono::Utc::now().timestamp_millis()) == began {
                return answer;
            }
        }
        panic!("{count} messages never fitted in one {window_secs} s window in three tries");
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

/// What is left of the current `$default` rate window of `window_secs` seconds: the server
/// counts a connection's messages per epoch second divided by the window length, so a burst
/// sent with room to spare is counted in one window.
pub fn rate_window_left(window_secs: i64) -> Duration {
    let window_ms = window_secs * 1000;
    let now_ms = chrono::Utc::now().timestamp_millis();
    Duration::from_millis(u64::try_from(window_ms - now_ms.rem_euclid(window_ms)).unwrap_or(0))
}

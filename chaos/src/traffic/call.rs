//! One request to make, and its answer.

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

/// One request to make.
#[derive(Debug)]
pub(crate) struct Call {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Option<Value>,
    pub(super) bearer: Option<String>,
}

impl Call {
    pub(super) fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            bearer: None,
        }
    }

    pub(super) fn post(path: &str, body: Value) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            body: Some(body),
            bearer: None,
        }
    }

    /// `PATCH /channels/{channel}` with a new `title`, as the owner (`token`).
    pub(super) fn retitle(channel: i64, token: &str, title: &str) -> Self {
        Self {
            method: Method::PATCH,
            path: format!("/channels/{channel}"),
            body: Some(serde_json::json!({ "title": title })),
            bearer: Some(token.to_owned()),
        }
    }
}

/// An answer: status, `X-Cache`, parsed body (`Null` if not JSON).
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status.
    pub(crate) status: StatusCode,
    /// The `X-Cache` header.
    pub(crate) x_cache: String,
    /// The body as JSON.
    pub(crate) json: Value,
}

/// Sends `call` to `base`.
pub(crate) async fn send(http: &Client, base: &str, call: &Call) -> Result<Reply, reqwest::Error> {
    let mut req = http.request(call.method.clone(), format!("{base}{}", call.path));
    if let Some(body) = &call.body {
        req = req.json(body);
    }
    if let Some(token) = &call.bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let x_cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let bytes = resp.bytes().await?;
    Ok(Reply {
        status,
        x_cache,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

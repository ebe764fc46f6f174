//! One turn's conversation with the model: ask, validate, ask again with the error
//! (a bounded number of times, inside the turn's time budget), and keep every
//! exchange for the owner's trace.

use std::time::Instant;

use parley_engine::ModelCall;
use serde_json::{json, Value};

use crate::client::{Client, FAILED, TIME_UP};

/// What a turn's conversation came to.
pub struct Asked<T> {
    /// The validated answer, or `None` when every attempt failed (take the fallback).
    pub answer: Option<T>,
    /// Every exchange, in order, with what parley made of it.
    pub calls: Vec<ModelCall>,
}

/// Asks `client` with `system` and `user` for a JSON reply matching `schema`, and
/// validates it with `validate`; an invalid reply is answered with its error and
/// asked again, at most `settings.retries` more times and while the turn's
/// `settings.timeout` lasts.
pub fn ask<T>(
    client: &mut Client,
    settings: &crate::Settings,
    system: &str,
    user: &str,
    name: &str,
    schema: &Value,
    mut validate: impl FnMut(&Value) -> Result<T, String>,
) -> Asked<T> {
    let (retries, budget) = (settings.retries, settings.timeout);
    let started = Instant::now();
    let mut messages = vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": user}),
    ];
    let mut calls = Vec::new();
    for attempt in 0..=retries {
        if attempt > 0 && started.elapsed() >= budget {
            if let Some(last) = calls.last_mut() {
                let last: &mut ModelCall = last;
                last.note
                    .push_str("; the turn's time is up: no further attempt");
            }
            break;
        }
        let reply = client.chat(
            &messages,
            name,
            schema,
            budget.saturating_sub(started.elapsed()),
        );
        let text = match reply.content {
            Ok(text) => text,
            Err(e) => {
                calls.push(ModelCall {
                    prompt: reply.sent,
                    reply: String::new(),
                    note: format!("{FAILED}{e}"),
                });
                // A transport failure or a timeout ends the turn: another request
                // would wait as long again.
                break;
            }
        };
        let outcome = parse_json(&text).and_then(|v| validate(&v));
        match outcome {
            Ok(answer) => {
                calls.push(ModelCall {
                    prompt: reply.sent,
                    reply: text,
                    note: String::new(),
                });
                return Asked {
                    answer: Some(answer),
                    calls,
                };
            }
            Err(error) => {
                let mut note = format!("invalid reply (attempt {}): {error}", attempt + 1);
                let up = attempt < retries && client.time_up(started, budget);
                if up {
                    note.push_str(&format!("; {TIME_UP}: no further attempt"));
                }
                calls.push(ModelCall {
                    prompt: reply.sent,
                    reply: text.clone(),
                    note,
                });
                if up {
                    break;
                }
                messages.push(json!({"role": "assistant", "content": text}));
                messages.push(json!({
                    "role": "user",
                    "content": format!(
                        "That reply is invalid: {error}. Answer again with one JSON object \
                         only, in the shape asked for."
                    ),
                }));
            }
        }
    }
    Asked {
        answer: None,
        calls,
    }
}

/// The JSON object in a reply: the whole text, or else the first object in it that
/// parses (a model without a schema may wrap it in prose or a code fence; a reasoning
/// model may think aloud in `<think>…</think>` first, which is left out).
pub fn parse_json(text: &str) -> Result<Value, String> {
    let text = without_thinking(text);
    if let Ok(v) = serde_json::from_str::<Value>(text.trim()) {
        return if v.is_object() {
            Ok(v)
        } else {
            Err("the reply is JSON but not an object".into())
        };
    }
    let mut first_error = None;
    for (start, _) in text.match_indices('{') {
        let mut objects = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match objects.next() {
            Some(Ok(v)) if v.is_object() => return Ok(v),
            Some(Err(e)) if first_error.is_none() => first_error = Some(e.to_string()),
            _ => {}
        }
    }
    Err(match first_error {
        Some(e) => format!("the reply is not valid JSON ({e})"),
        None => "the reply holds no JSON object".into(),
    })
}

/// `text` without a reasoning model's `<think>…</think>` (or `<thinking>…`) blocks;
/// an unclosed block leaves what follows it out too.
fn without_thinking(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    loop {
        let open = ["<think>", "<thinking>"]
            .iter()
            .filter_map(|tag| rest.find(tag).map(|at| (at, tag.len())))
            .min();
        let Some((at, len)) = open else { break };
        changed = true;
        out.push_str(&rest[..at]);
        let after = &rest[at + len..];
        let close = ["</think>", "</thinking>"]
            .iter()
            .filter_map(|tag| after.find(tag).map(|end| end + tag.len()))
            .min();
        match close {
            Some(end) => rest = &after[end..],
            None => {
                rest = "";
                break;
            }
        }
    }
    if !changed {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The string field `key` of `reply`, which must be one of `allowed`.
pub fn choice<'a>(reply: &Value, key: &str, allowed: &[&'a str]) -> Result<&'a str, String> {
    let got = reply
        .get(key)
        .ok_or_else(|| format!("\"{key}\" is missing"))?
        .as_str()
        .ok_or_else(|| format!("\"{key}\" is not a string"))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(got.trim()))
        .copied()
        .ok_or_else(|| format!("\"{key}\" is {got:?}, not one of {allowed:?}"))
}

#[cfg(test)]
mod tests {
    use super::parse_json;
    use serde_json::json;

    #[test]
    fn replies_are_read_through_prose_fences_and_thinking() {
        let want = json!({"action": "accept", "message": "ok"});
        for text in [
            r#"{"action": "accept", "message": "ok"}"#,
            "Sure!\n```json\n{\"action\": \"accept\", \"message\": \"ok\"}\n```\nAnything else?",
            "<think>I could say {maybe} or {\"action\": \"reject\"}…</think>\n{\"action\": \"accept\", \"message\": \"ok\"}",
            "Options are {offer} or {accept}. I choose: {\"action\": \"accept\", \"message\": \"ok\"} — final.",
        ] {
            assert_eq!(parse_json(text).as_ref(), Ok(&want), "{text}");
        }
        assert_eq!(
            parse_json("no json here"),
            Err("the reply holds no JSON object".into())
        );
        assert!(parse_json("[1, 2]")
            .expect_err("an array is not an object")
            .contains("not an object"));
        assert!(parse_json("{\"action\": \"acc")
            .expect_err("cut off")
            .starts_with("the reply is not valid JSON"));
        assert_eq!(
            parse_json("<think>{\"action\": \"reject\"} and then"),
            Err("the reply holds no JSON object".into()),
            "an unclosed thought is not the answer"
        );
    }
}

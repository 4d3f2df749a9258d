//! Checking charger message logs: one OCPP-J frame per line, possibly after a prefix such as a
//! timestamp. Each CALLRESULT and CALLERROR is paired with the CALL it answers by message id, and
//! every payload is validated against the official schema of its action and direction.
//!
//! Both ends' messages share one log, and each end numbers its own ids, so an id may be open
//! twice at once; an answer pairs with the latest open CALL of its id.

use crate::OcppVersion;
use crate::error::ErrorCode;
use crate::frame::{self, Frame};
use crate::validate::{self, PayloadKind};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// One problem found in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line number.
    pub line: usize,
    /// Message id, when readable.
    pub id: Option<String>,
    /// Action, when known.
    pub action: Option<String>,
    /// JSON pointer into the payload, empty for the frame or payload as a whole.
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: id {}: {}: {}: {}",
            self.line,
            self.id.as_deref().unwrap_or("-"),
            self.action.as_deref().unwrap_or("-"),
            if self.pointer.is_empty() {
                "-"
            } else {
                &self.pointer
            },
            self.reason
        )
    }
}

/// Checks a log line by line.
#[derive(Debug)]
pub struct LogChecker {
    version: OcppVersion,
    open_calls: HashMap<String, Vec<String>>,
    frames: usize,
    invalid: usize,
}

impl LogChecker {
    /// A checker for a log of `version`.
    pub fn new(version: OcppVersion) -> Self {
        Self {
            version,
            open_calls: HashMap::new(),
            frames: 0,
            invalid: 0,
        }
    }

    /// Frames seen so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frames with at least one finding so far.
    pub fn invalid(&self) -> usize {
        self.invalid
    }

    /// Checks line `line` (1-based); blank lines are skipped.
    pub fn check_line(&mut self, line: usize, text: &str) -> Vec<Finding> {
        if text.trim().is_empty() {
            return Vec::new();
        }
        self.frames += 1;
        let findings = self.check_frame(line, text);
        if !findings.is_empty() {
            self.invalid += 1;
        }
        findings
    }

    fn check_frame(&mut self, line: usize, text: &str) -> Vec<Finding> {
        let finding =
            |id: Option<&str>, action: Option<&str>, pointer: &str, reason: String| Finding {
                line,
                id: id.map(str::to_string),
                action: action.map(str::to_string),
                pointer: pointer.to_string(),
                reason,
            };
        let Some(start) = text.find('[') else {
            return vec![finding(
                None,
                None,
                "",
                "no OCPP-J frame on this line".into(),
            )];
        };
        // The frame is the first JSON value after the prefix; anything after it is log decoration.
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        let value = match values.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                return vec![finding(None, None, "", format!("frame is not JSON: {e}"))];
            }
            None => {
                return vec![finding(
                    None,
                    None,
                    "",
                    "no OCPP-J frame on this line".into(),
                )];
            }
        };
        let frame = match frame::decode_value(value, self.version) {
            Ok(frame) => frame,
            Err(e) => return vec![finding(e.id.as_deref(), None, "", e.to_string())],
        };
        let (id, action, kind, payload) = match frame {
            Frame::Call {
                id,
                action,
                payload,
            } => {
                self.open_calls
                    .entry(id.clone())
                    .or_default()
                    .push(action.clone());
                (id, action, PayloadKind::Request, payload)
            }
            Frame::Send {
                id,
                action,
                payload,
            } => (id, action, PayloadKind::Request, payload),
            Frame::CallResult { id, payload } => match self.answered(&id) {
                Some(action) => (id, action, PayloadKind::Response, payload),
                None => {
                    return vec![finding(
                        Some(&id),
                        None,
                        "",
                        "CALLRESULT answers no earlier CALL; payload not checked".into(),
                    )];
                }
            },
            Frame::CallError(e) | Frame::CallResultError(e) => {
                let action = self.answered(&e.id);
                return self
                    .check_error_code(&e.code)
                    .map_or_else(Vec::new, |reason| {
                        vec![finding(Some(&e.id), action.as_deref(), "", reason)]
                    });
            }
        };
        validate::violations(self.version, &action, kind, &payload)
            .into_iter()
            .map(|v| {
                let reason = format!(
                    "{} [{}]",
                    v.reason,
                    v.code(self.version).as_str(self.version)
                );
                finding(Some(&id), Some(&action), &v.pointer, reason)
            })
            .collect()
    }

    /// Closes the latest open CALL with `id` and returns its action.
    fn answered(&mut self, id: &str) -> Option<String> {
        let stack = self.open_calls.get_mut(id)?;
        let action = stack.pop();
        if stack.is_empty() {
            self.open_calls.remove(id);
        }
        action
    }

    fn check_error_code(&self, code: &str) -> Option<String> {
        match ErrorCode::parse(code) {
            Some(known) if known.as_str(self.version) == code => None,
            Some(known) => Some(format!(
                "error code {code:?} is spelled {:?} in OCPP {}",
                known.as_str(self.version),
                self.version
            )),
            None => Some(format!("unknown error code {code:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(version: OcppVersion, log: &str) -> (Vec<String>, usize, usize) {
        let mut checker = LogChecker::new(version);
        let findings = log
            .lines()
            .enumerate()
            .flat_map(|(i, l)| checker.check_line(i + 1, l))
            .map(|f| f.to_string())
            .collect();
        (findings, checker.frames(), checker.invalid())
    }

    #[test]
    fn a_valid_log_with_prefixes_has_no_findings() {
        let log = r#"
2026-11-21T07:00:00Z >> [2,"1","BootNotification",{"chargePointVendor":"joule","chargePointModel":"DC"}]
2026-11-21T07:00:01Z << [3,"1",{"status":"Accepted","currentTime":"2026-11-21T07:00:01Z","interval":300}]
[2,"1","Heartbeat",{}]   (retry)
[4,"1","NotImplemented","",{}]
"#;
        let (findings, frames, invalid) = check(OcppVersion::V16, log);
        assert_eq!(findings, Vec::<String>::new());
        assert_eq!((frames, invalid), (4, 0));
    }

    #[test]
    fn responses_pair_with_the_latest_open_call_of_their_id() {
        let log = r#"[2,"7","Heartbeat",{}]
[2,"7","Authorize",{"idTag":"A"}]
[3,"7",{"idTagInfo":{"status":"Accepted"}}]
[3,"7",{"currentTime":"2026-11-21T07:00:01Z"}]"#;
        let (findings, _, invalid) = check(OcppVersion::V16, log);
        assert_eq!(findings, Vec::<String>::new());
        assert_eq!(invalid, 0);
    }

    #[test]
    fn violations_name_line_id_action_pointer_and_code() {
        let log = r#"[2,"1","Authorize",{}]
garbage
[3,"9",{}]
[2,"2","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Ready"}]
[4,"2","FormatViolation","",{}]"#;
        let (findings, frames, invalid) = check(OcppVersion::V16, log);
        assert_eq!(frames, 5);
        assert_eq!(invalid, 5);
        assert!(
            findings[0].starts_with("line 1: id 1: Authorize: /idTag: "),
            "{}",
            findings[0]
        );
        assert!(
            findings[0].ends_with("[OccurenceConstraintViolation]"),
            "{}",
            findings[0]
        );
        assert_eq!(
            findings[1],
            "line 2: id -: -: -: no OCPP-J frame on this line"
        );
        assert!(findings[2].contains("answers no earlier CALL"));
        assert!(findings[3].starts_with("line 4: id 2: StatusNotification: /status: "));
        assert!(findings[4].contains("spelled \"FormationViolation\" in OCPP 1.6"));
    }
}

//! Fault injection: answer some requests with an HTTP error, a GraphQL error, or late.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an injected fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this HTTP status and a plain-text body (a proxy or a crashed platform).
    Status(u16),
    /// Answer `{"errors": [{message, extensions: {code}}], "data": null}`, with HTTP 200 as
    /// OpenCTI does, or with another status (a 500 with this body is how an overloaded
    /// platform, or a proxy in front of it, can answer).
    GraphqlError {
        /// The error message.
        message: String,
        /// `extensions.code` (default `INTERNAL_SERVER_ERROR`).
        #[serde(default = "default_code")]
        code: String,
        /// The HTTP status (default 200).
        #[serde(default = "default_status")]
        status: u16,
    },
    /// Wait this long, then go on answering normally (JSON: `{"delay_ms": 1500}`).
    #[serde(rename = "delay_ms", with = "millis")]
    Delay(Duration),
}

fn default_code() -> String {
    "INTERNAL_SERVER_ERROR".into()
}

fn default_status() -> u16 {
    200
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A fault rule. Rules are checked in the order they were added; a matching request is first
/// let through `skip` times, then the action applies `times` times (`None`: until
/// [`clear_faults`](super::StandInHandle::clear_faults)). Delays add up and do not stop the
/// checking; the first status or GraphQL error answers the request.
///
/// ```
/// use opencti_standin::Fault;
/// // The third and fourth StixBundlePush answer 500; everything else is normal.
/// let f = Fault::status(500).on("StixBundlePush").skip(2).times(2);
/// # let _ = f;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Only requests of this operation (by name); `None` = every request.
    #[serde(default)]
    pub operation: Option<String>,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub skip: u64,
    /// Apply to this many matching requests, then stop; `None` = until cleared.
    #[serde(default)]
    pub times: Option<u64>,
    /// What to do.
    pub action: FaultAction,
    /// Apply after executing the request (its effects happen; only the answer is lost or
    /// late), instead of before (the request has no effect).
    #[serde(default)]
    pub after_execution: bool,
}

impl Fault {
    fn new(action: FaultAction) -> Self {
        Self {
            operation: None,
            skip: 0,
            times: None,
            action,
            after_execution: false,
        }
    }

    /// Answer with an HTTP status (e.g. 500).
    pub fn status(code: u16) -> Self {
        Self::new(FaultAction::Status(code))
    }

    /// Answer with a GraphQL error (HTTP 200).
    pub fn graphql_error(message: impl Into<String>, code: impl Into<String>) -> Self {
        Self::graphql_error_with_status(200, message, code)
    }

    /// Answer with a GraphQL error and the HTTP status `status` (e.g. 500).
    pub fn graphql_error_with_status(
        status: u16,
        message: impl Into<String>,
        code: impl Into<String>,
    ) -> Self {
        Self::new(FaultAction::GraphqlError {
            message: message.into(),
            code: code.into(),
            status,
        })
    }

    /// Answer late.
    pub fn delay(d: Duration) -> Self {
        Self::new(FaultAction::Delay(d))
    }

    /// Only for requests of operation `name`.
    pub fn on(mut self, name: impl Into<String>) -> Self {
        self.operation = Some(name.into());
        self
    }

    /// Let `n` matching requests through first.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Apply `n` times, then stop.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Apply after executing the request.
    pub fn after_execution(mut self) -> Self {
        self.after_execution = true;
        self
    }
}

/// A rule and how often it matched and fired.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    /// Its id (from [`add_fault`](super::StandInHandle::add_fault)).
    pub id: u64,
    /// The rule.
    pub fault: Fault,
    /// Matching requests seen.
    pub seen: u64,
    /// Times it applied.
    pub fired: u64,
    /// Whether it can still apply.
    pub active: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct FaultState {
    id: u64,
    fault: Fault,
    seen: u64,
    fired: u64,
}

/// The faults that apply to one request in one phase.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) delay: Duration,
    pub(crate) answer: Option<FaultAction>,
}

impl FaultState {
    pub(crate) fn new(id: u64, fault: Fault) -> Self {
        Self {
            id,
            fault,
            seen: 0,
            fired: 0,
        }
    }

    fn active(&self) -> bool {
        self.fault.times.is_none_or(|t| self.fired < t)
    }

    pub(crate) fn view(&self) -> FaultView {
        FaultView {
            id: self.id,
            fault: self.fault.clone(),
            seen: self.seen,
            fired: self.fired,
            active: self.active(),
        }
    }
}

/// Checks the rules of one phase (`after_execution` or not) against a request.
pub(crate) fn apply(rules: &mut [FaultState], operation: Option<&str>, after: bool) -> Applied {
    let mut out = Applied::default();
    for r in rules.iter_mut() {
        if r.fault.after_execution != after {
            continue;
        }
        if let Some(op) = &r.fault.operation {
            if operation != Some(op.as_str()) {
                continue;
            }
        }
        r.seen += 1;
        if r.seen <= r.fault.skip || !r.active() {
            continue;
        }
        r.fired += 1;
        match &r.fault.action {
            FaultAction::Delay(d) => out.delay += *d,
            other => {
                out.answer = Some(other.clone());
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(rules: &mut [FaultState], ops: &[&str]) -> Vec<Option<FaultAction>> {
        ops.iter()
            .map(|op| apply(rules, Some(op), false).answer)
            .collect()
    }

    #[test]
    fn skip_then_times_for_one_operation() {
        let mut rules = vec![FaultState::new(
            1,
            Fault::status(500).on("Push").skip(1).times(2),
        )];
        let got = statuses(&mut rules, &["Push", "Ping", "Push", "Push", "Push"]);
        let s500 = Some(FaultAction::Status(500));
        assert_eq!(got, vec![None, None, s500.clone(), s500, None]);
        let v = rules[0].view();
        assert_eq!((v.seen, v.fired, v.active), (4, 2, false));
    }

    #[test]
    fn delays_add_up_and_the_first_answer_wins() {
        let mut rules = vec![
            FaultState::new(1, Fault::delay(Duration::from_millis(5))),
            FaultState::new(2, Fault::delay(Duration::from_millis(7))),
            FaultState::new(3, Fault::status(503)),
            FaultState::new(4, Fault::status(500)),
            FaultState::new(5, Fault::status(502).after_execution()),
        ];
        let a = apply(&mut rules, None, false);
        assert_eq!(a.delay, Duration::from_millis(12));
        assert_eq!(a.answer, Some(FaultAction::Status(503)));
        assert_eq!(rules[3].view().seen, 0);
        let b = apply(&mut rules, None, true);
        assert_eq!(b.answer, Some(FaultAction::Status(502)));
    }

    #[test]
    fn json_form() {
        let f: Fault = serde_json::from_str(
            r#"{"operation":"StixBundlePush","times":3,"action":{"delay_ms":250}}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::delay(Duration::from_millis(250))
                .on("StixBundlePush")
                .times(3)
        );
        let g: Fault =
            serde_json::from_str(r#"{"action":{"graphql_error":{"message":"boom"}}}"#).unwrap();
        assert_eq!(g, Fault::graphql_error("boom", "INTERNAL_SERVER_ERROR"));
        let h: Fault = serde_json::from_str(
            r#"{"action":{"graphql_error":{"message":"boom","code":"LOCK_ERROR","status":500}}}"#,
        )
        .unwrap();
        assert_eq!(
            h,
            Fault::graphql_error_with_status(500, "boom", "LOCK_ERROR")
        );
    }
}

//! The comm registry: frontends may open comms (e.g. for widgets) and ask
//! which are open. rustpar has no comm targets of its own, so, as ipykernel
//! does for an unknown target, an opened comm is closed again at once, and
//! `comm_info` always answers, so no frontend waits.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Comms {
    /// Open comms by id, with their target names.
    open: BTreeMap<String, String>,
    /// Targets this kernel serves.
    targets: Vec<String>,
}

impl Comms {
    /// Registers a comm the frontend opened; returns the content of a
    /// comm_close to publish when no target serves it.
    pub fn open(&mut self, content: &Value) -> Option<Value> {
        let id = content.get("comm_id")?.as_str()?.to_owned();
        let target = content.get("target_name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if self.targets.contains(&target) {
            self.open.insert(id, target);
            None
        } else {
            tracing::info!("comm {id} asked for target {target:?}, which rustpar does not provide");
            Some(json!({ "comm_id": id, "data": {} }))
        }
    }

    pub fn receive(&mut self, msg_type: &str, content: &Value) {
        let Some(id) = content.get("comm_id").and_then(Value::as_str) else { return };
        match (msg_type, self.open.contains_key(id)) {
            ("comm_close", _) => drop(self.open.remove(id)),
            (_, true) => tracing::debug!("message for comm {id}"),
            (_, false) => tracing::info!("message for unknown comm {id}"),
        }
    }

    /// The `comms` of a comm_info_reply, filtered by target when one is given.
    pub fn info(&self, target: Option<&str>) -> Map<String, Value> {
        self.open
            .iter()
            .filter(|(_, name)| target.is_none_or(|target| target == name.as_str()))
            .map(|(id, name)| (id.clone(), json!({ "target_name": name })))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_targets_are_closed_and_not_listed() {
        let mut comms = Comms::default();
        let close = comms.open(&json!({ "comm_id": "c1", "target_name": "jupyter.widget" }));
        assert_eq!(close, Some(json!({ "comm_id": "c1", "data": {} })));
        assert!(comms.info(None).is_empty());
    }

    #[test]
    fn served_comms_are_listed_until_closed() {
        let mut comms = Comms { targets: vec!["t".into()], ..Comms::default() };
        assert_eq!(comms.open(&json!({ "comm_id": "c1", "target_name": "t" })), None);
        assert_eq!(comms.info(Some("t")).len(), 1);
        assert!(comms.info(Some("other")).is_empty());
        comms.receive("comm_close", &json!({ "comm_id": "c1" }));
        assert!(comms.info(None).is_empty());
    }
}

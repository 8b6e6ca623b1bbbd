//! The packet inspector's JSON: `engine::decode`'s layers of one frame (the decoder the nodes
//! themselves use), serialised for the browser. Never panics on any bytes.

use engine::decode::{self, DhcpOptionView, Layer};
use serde_json::{Value, json};

/// Every layer of `frame` as `{summary, class, bytes, hex, layers: [{name, fields: [[k, v]],
/// options?, error?}]}`; a layer that does not parse ends the list with an `error` layer.
pub fn packet(frame: &[u8]) -> Value {
    let layers: Vec<Value> = decode::layers(frame).iter().map(layer).collect();
    json!({
        "summary": decode::describe(frame),
        "class": decode::class(frame).name(),
        "bytes": frame.len(),
        "hex": decode::hex(frame),
        "layers": layers,
    })
}

fn layer(layer: &Layer) -> Value {
    let fields: Vec<Value> = layer
        .fields
        .iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    let mut value = json!({"name": layer.name, "fields": fields});
    if let Some(error) = &layer.error {
        value["error"] = json!(error);
    }
    if !layer.options.is_empty() {
        value["options"] = layer.options.iter().map(option).collect();
    }
    value
}

fn option(option: &DhcpOptionView) -> Value {
    let suboptions: Vec<Value> = option
        .suboptions
        .iter()
        .map(|sub| json!({"code": sub.code, "name": sub.name, "value": sub.value, "hex": sub.hex}))
        .collect();
    json!({
        "code": option.code,
        "name": option.name,
        "value": option.value,
        "hex": option.hex,
        "suboptions": suboptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_becomes_error_layers_without_panicking() {
        let mut bytes = vec![0u8; 64];
        for length in 0..bytes.len() {
            let _ = packet(&bytes[..length]);
        }
        bytes[12] = 0x08; // IPv4 ethertype with a zero header: an IPv4 error layer
        let value = packet(&bytes);
        assert_eq!(value["layers"][1]["name"], "IPv4");
        assert!(value["layers"][1]["error"].is_string());
    }
}

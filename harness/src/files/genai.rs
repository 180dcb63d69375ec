//! onnxruntime-genai's model builder output: `genai_config.json` beside the graph. The builder
//! leaves the caches' head size symbolic in the graph (`kv_cache_dim`) and names inputs and
//! outputs by patterns (`past_key_values.%d.key`), so shapes and names come from this file, and
//! what the graph does fix is checked against it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::HarnessError;

pub const CONFIG: &str = "genai_config.json";

#[derive(Debug, Clone, Default, Deserialize)]
struct File {
    #[serde(default)]
    model: Model,
    #[serde(default)]
    search: Search,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Search {
    #[serde(default)]
    past_present_share_buffer: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Model {
    #[serde(default)]
    context_length: Option<i64>,
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    vocab_size: Option<i64>,
    #[serde(default, rename = "type")]
    model_type: Option<String>,
    #[serde(default)]
    decoder: Decoder,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Decoder {
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    head_size: Option<i64>,
    #[serde(default)]
    hidden_size: Option<i64>,
    #[serde(default)]
    num_attention_heads: Option<i64>,
    #[serde(default)]
    num_hidden_layers: Option<i64>,
    #[serde(default)]
    num_key_value_heads: Option<i64>,
    #[serde(default)]
    inputs: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    outputs: std::collections::BTreeMap<String, String>,
}

/// Input and output names of a decoder-only step graph (Optimum's by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoNames {
    pub input_ids: String,
    pub attention_mask: String,
    pub position_ids: String,
    /// Patterns with `%d` for the layer.
    pub past_key: String,
    pub past_value: String,
    pub logits: String,
    pub present_key: String,
    pub present_value: String,
}

impl Default for IoNames {
    fn default() -> Self {
        IoNames {
            input_ids: "input_ids".into(),
            attention_mask: "attention_mask".into(),
            position_ids: "position_ids".into(),
            past_key: "past_key_values.%d.key".into(),
            past_value: "past_key_values.%d.value".into(),
            logits: "logits".into(),
            present_key: "present.%d.key".into(),
            present_value: "present.%d.value".into(),
        }
    }
}

/// `pattern` with the layer number in place of `%d`.
pub fn layer_name(pattern: &str, layer: usize) -> String {
    pattern.replacen("%d", &layer.to_string(), 1)
}

/// What `genai_config.json` says, validated.
#[derive(Debug, Clone)]
pub struct GenAiConfig {
    pub path: PathBuf,
    pub filename: String,
    pub names: IoNames,
    pub layers: Option<usize>,
    pub kv_heads: Option<usize>,
    pub head_size: Option<usize>,
    pub num_heads: Option<usize>,
    pub hidden_size: Option<usize>,
    pub vocab_size: Option<usize>,
    pub context_length: Option<usize>,
    pub eos_token_id: Option<i64>,
    pub model_type: Option<String>,
    /// `search.past_present_share_buffer`: the graph lets one fixed-size buffer be both the
    /// past and the present cache (its attention reads lengths from the mask).
    pub past_present_share_buffer: bool,
}

impl GenAiConfig {
    /// Reads `dir/genai_config.json`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<GenAiConfig>, HarnessError> {
        let path = dir.join(CONFIG);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        let bad = |reason: String| HarnessError::BadModel { path: path.clone(), reason };
        let f: File = serde_json::from_str(&text).map_err(|e| bad(format!("not an onnxruntime-genai config: {e}")))?;
        let d = &f.model.decoder;
        let size = |k: &str, v: Option<i64>| -> Result<Option<usize>, HarnessError> {
            match v {
                None => Ok(None),
                Some(x) if x > 0 => Ok(Some(x as usize)),
                Some(x) => Err(bad(format!("`{k}` is {x}; it must be a positive integer: correct it or remove it"))),
            }
        };
        let mut names = IoNames::default();
        // (section, key, the name it sets, whether it is a per-layer pattern)
        for (side, key, slot, patterned) in [
            ("inputs", "input_ids", &mut names.input_ids, false),
            ("inputs", "attention_mask", &mut names.attention_mask, false),
            ("inputs", "position_ids", &mut names.position_ids, false),
            ("inputs", "past_key_names", &mut names.past_key, true),
            ("inputs", "past_value_names", &mut names.past_value, true),
            ("outputs", "logits", &mut names.logits, false),
            ("outputs", "present_key_names", &mut names.present_key, true),
            ("outputs", "present_value_names", &mut names.present_value, true),
        ] {
            let map = if side == "inputs" { &d.inputs } else { &d.outputs };
            if let Some(v) = map.get(key) {
                if patterned && !v.contains("%d") {
                    return Err(bad(format!("model.decoder.{side}.{key} is `{v}`; it must hold %d for the layer")));
                }
                *slot = v.clone();
            }
        }
        let eos = match &f.model.eos_token_id {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(a)) => a.first().and_then(|x| x.as_i64()),
            Some(x) => x.as_i64(),
        };
        if let Some(e) = eos.filter(|&e| e < 0) {
            return Err(bad(format!("`eos_token_id` is {e}; it must be a token id (an integer ≥ 0)")));
        }
        Ok(Some(GenAiConfig {
            filename: d.filename.clone().unwrap_or_else(|| "model.onnx".into()),
            names,
            layers: size("model.decoder.num_hidden_layers", d.num_hidden_layers)?,
            kv_heads: size("model.decoder.num_key_value_heads", d.num_key_value_heads)?,
            head_size: size("model.decoder.head_size", d.head_size)?,
            num_heads: size("model.decoder.num_attention_heads", d.num_attention_heads)?,
            hidden_size: size("model.decoder.hidden_size", d.hidden_size)?,
            vocab_size: size("model.vocab_size", f.model.vocab_size)?,
            context_length: size("model.context_length", f.model.context_length)?,
            eos_token_id: eos,
            model_type: f.model.model_type.clone(),
            past_present_share_buffer: f.search.past_present_share_buffer.unwrap_or(false),
            path,
        }))
    }

    /// One value from the graph and the config: the graph's when it fixes it, the config's when
    /// the graph leaves it symbolic; both and different is an error saying which file says what.
    pub fn reconcile(
        &self,
        what: &str,
        graph_file: &Path,
        graph: Option<usize>,
        key: &str,
        config: Option<usize>,
    ) -> Result<Option<usize>, HarnessError> {
        match (graph, config) {
            (Some(g), Some(c)) if g != c => Err(HarnessError::BadModel {
                path: self.path.clone(),
                reason: format!(
                    "{what}: {} says {g} but {key} in {} says {c}; the config does not belong to this graph \
                     (rebuild it with the builder, or correct {key})",
                    graph_file.display(),
                    self.path.display()
                ),
            }),
            (g, c) => Ok(g.or(c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes_from_the_config_and_errors_that_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join(CONFIG), text).unwrap();
        assert!(GenAiConfig::read(dir.path()).unwrap().is_none());
        write(
            r#"{"model": {"vocab_size": 10, "eos_token_id": [3, 4], "context_length": 64, "decoder": {
                "head_size": 16, "num_hidden_layers": 2, "num_key_value_heads": 2,
                "inputs": {"past_key_names": "cache.%d.k", "past_value_names": "cache.%d.v"},
                "outputs": {"logits": "scores", "present_key_names": "out.%d.k", "present_value_names": "out.%d.v"}}}}"#,
        );
        let c = GenAiConfig::read(dir.path()).unwrap().unwrap();
        assert_eq!((c.head_size, c.layers, c.eos_token_id, c.context_length), (Some(16), Some(2), Some(3), Some(64)));
        assert_eq!(layer_name(&c.names.past_key, 1), "cache.1.k");
        assert_eq!(c.names.logits, "scores");
        assert_eq!(c.names.input_ids, "input_ids");
        assert!(!c.past_present_share_buffer, "absent means growing caches, as onnxruntime-genai reads it");
        let e = c.reconcile("head size", Path::new("m/model.onnx"), Some(8), "model.decoder.head_size", Some(16));
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("m/model.onnx says 8") && e.contains("model.decoder.head_size") && e.contains("says 16"),
            "{e}"
        );
        assert_eq!(c.reconcile("x", Path::new("g"), None, "k", Some(16)).unwrap(), Some(16));
        write(r#"{"model": {"decoder": {"head_size": -4}}}"#);
        let e = GenAiConfig::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("`model.decoder.head_size` is -4"), "{e}");
        write(r#"{"model": {"decoder": {"inputs": {"past_key_names": "past"}}}}"#);
        assert!(GenAiConfig::read(dir.path()).unwrap_err().to_string().contains("must hold %d"));
    }
}

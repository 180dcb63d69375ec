//! What a measurement is: where it ran (the machine), with which runtime and settings, of which
//! model, at which sweep point. Every command that matches records (readers keeping one per cell,
//! `--resume`, pairing, compare, gate, fits, predict, export, merge, history) takes its key from
//! [`Identity`] here, so that no two of them can disagree on what "the same cell" means, and no
//! cells of different machines or settings are ever paired, pooled, fitted or merged as one.

use serde::Serialize;

use crate::context::Context;
use crate::schema::{CellResult, ModelInfo, Settings, SweepPoint};

/// SHA-256 of the model's content: every regular file directly in `dir`, by name order, as
/// (name, size, bytes). Moving or renaming the directory keeps the id; editing a file changes it.
pub fn content_sha256(dir: &std::path::Path) -> Result<String, crate::error::ResultsError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| crate::error::ResultsError::Io { path, source }
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut file = std::fs::File::open(&f).map_err(io(&f))?;
        let len = file.metadata().map_err(io(&f))?.len();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(len.to_le_bytes());
        loop {
            let n = file.read(&mut buf).map_err(io(&f))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

/// FNV-1a over what identifies a cell on one machine, as 16 hex digits: the model's content (not
/// its path), layout, backend and its version, requested provider and options, session settings
/// and sweep point. The machine is not in it (a cell id names the same cell on every machine, so
/// that runs of one sweep on several devices can be set side by side); every key that spans
/// files adds the machine ([`Identity::record_key`]). ONNX Runtime's name is left out of the
/// hash, so ids from before backends existed stay.
pub fn cell_id(model: &ModelInfo, backend_version: &str, settings: &Settings, sweep: &SweepPoint) -> String {
    let content = model.content_sha256.as_deref().unwrap_or(&model.dir);
    let key = serde_json::json!([
        content,
        model.layout,
        backend_version,
        settings.ep_requested,
        settings.ep_options,
        settings.threads,
        settings.graph_optimization,
        settings.intra_op_spinning,
        sweep
    ]);
    // Only when set, so that ids of cells measured before these existed stay the same.
    let key = if settings.strict_placement { serde_json::json!([key, "strict-placement"]) } else { key };
    let key = if settings.io_binding { serde_json::json!([key, "io-binding"]) } else { key };
    let key =
        if settings.session_options.is_empty() { key } else { serde_json::json!([key, settings.session_options]) };
    let key = match &settings.ep_plugin {
        Some(p) => serde_json::json!([key, p]),
        None => key,
    };
    let key = if settings.backend != crate::schema::DEFAULT_BACKEND {
        serde_json::json!([key, settings.backend])
    } else {
        key
    };
    let key = key.to_string();
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{h:016x}")
}

/// The machine a record was measured on: its hardware fingerprint (CPU model, logical cores,
/// memory in GiB, OS, architecture) and the user's label for it (`--device-name`), if any. Two
/// devices of the same model are told apart by their labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Machine {
    pub label: Option<String>,
    pub cpu_model: String,
    pub logical_cores: usize,
    pub memory_gib: u64,
    pub os: String,
    pub arch: String,
}

impl Machine {
    pub fn of(c: &Context) -> Machine {
        Machine {
            label: c.device_name.clone(),
            cpu_model: c.cpu_model.clone(),
            logical_cores: c.cpu_logical_cores,
            memory_gib: c.memory_gib(),
            os: c.os.clone(),
            arch: c.arch.clone(),
        }
    }

    /// The name a table shows: the label, else the CPU model.
    pub fn short(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.cpu_model.clone())
    }

    /// Every fact of `self` that differs from `other`, in words (`CPU A, not B`); empty when
    /// they are the same machine.
    pub fn differences(&self, other: &Machine) -> Vec<String> {
        let label = |l: &Option<String>| l.clone().unwrap_or_else(|| "none".into());
        let facts: [(&str, String, String); 6] = [
            ("device name", label(&self.label), label(&other.label)),
            ("CPU", self.cpu_model.clone(), other.cpu_model.clone()),
            ("logical cores", self.logical_cores.to_string(), other.logical_cores.to_string()),
            ("memory", format!("{} GiB", self.memory_gib), format!("{} GiB", other.memory_gib)),
            ("OS", self.os.clone(), other.os.clone()),
            ("architecture", self.arch.clone(), other.arch.clone()),
        ];
        facts.into_iter().filter(|(_, a, b)| a != b).map(|(what, a, b)| format!("{what} {a}, not {b}")).collect()
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(l) = &self.label {
            write!(f, "{l}: ")?;
        }
        write!(
            f,
            "{} / {} cores / {} GiB / {} {}",
            self.cpu_model, self.logical_cores, self.memory_gib, self.os, self.arch
        )
    }
}

/// What identifies a cell within a model and machine: where it ran (the provider, with every
/// session setting that is not the default: [`where_run`]) and the sweep point.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Point {
    pub ep: String,
    pub threads: usize,
    pub batch: usize,
    pub input_tokens: usize,
    pub output_tokens: usize,
}

pub fn point(c: &CellResult) -> Point {
    point_of(&c.settings, &c.sweep)
}

pub fn point_of(s: &Settings, sweep: &SweepPoint) -> Point {
    Point {
        ep: where_run(s),
        threads: s.threads,
        batch: sweep.batch,
        input_tokens: sweep.input_tokens,
        output_tokens: sweep.output_tokens,
    }
}

/// `<model> <ep> t<threads> b<batch> p<input> n<output>`: how compare and gate name a cell.
pub fn point_name(model: &str, p: &Point) -> String {
    format!("{model} {} t{} b{} p{} n{}", p.ep, p.threads, p.batch, p.input_tokens, p.output_tokens)
}

/// A cell's name: its model (with the backend when it is not ONNX Runtime) and its point.
pub fn cell_name(c: &CellResult) -> String {
    point_name(&model_name(c), &point(c))
}

/// The model's name, with the backend when it is not ONNX Runtime (`tiny/decoder-only candle`).
fn model_name(c: &CellResult) -> String {
    if c.settings.backend == crate::schema::DEFAULT_BACKEND {
        c.model.name.clone()
    } else {
        format!("{} {}", c.model.name, c.settings.backend)
    }
}

/// Where a cell ran, as reports key and name it: the provider, and every session setting that is
/// not the default (`cpu`, `cpu opt=basic io-binding`), so that cells measured differently are
/// never paired, compared or fitted as one.
pub fn where_run(s: &Settings) -> String {
    match non_default(s).as_str() {
        "default" => s.ep_used.to_string(),
        extra => format!("{} {extra}", s.ep_used),
    }
}

/// The session settings that are not the default, or `default`: everything in the settings that
/// can change a timing besides the provider, threads and backend (which have columns of their own).
pub fn non_default(s: &Settings) -> String {
    let mut out: Vec<String> = vec![];
    if s.graph_optimization != crate::model::OptLevel::All {
        out.push(format!(
            "opt={}",
            serde_json::to_value(s.graph_optimization)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ));
    }
    out.extend(s.ep_options.iter().map(|o| format!("{}:{}={}", o.ep, o.key, o.value)));
    let flags =
        [(s.io_binding, "io-binding"), (s.intra_op_spinning, "spinning"), (s.strict_placement, "strict-placement")];
    out.extend(flags.iter().filter(|(on, _)| *on).map(|(_, name)| name.to_string()));
    out.extend(s.session_options.iter().map(|o| format!("{}={}", o.key, o.value)));
    if let Some(p) = &s.ep_plugin {
        out.push(format!("plugin={p}"));
    }
    if out.is_empty() { "default".into() } else { out.join(" ") }
}

/// A model's variant as pairing needs it: precision, graph variant and shapes. Records older
/// than the fields say `?`, and pair as they did before.
pub fn variant(m: &ModelInfo) -> String {
    let shapes = match m.layout {
        crate::model::Layout::DecoderOnlyStatic | crate::model::Layout::EncoderDecoderStatic => "static",
        _ => "dynamic",
    };
    format!("{} {} {shapes}", m.precision.as_deref().unwrap_or("?"), m.graph_variant.as_deref().unwrap_or("?"))
}

/// Everything that identifies a measurement, read off its record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub machine: Machine,
    pub backend: String,
    pub backend_version: String,
    pub model: String,
    pub kind: crate::model::ModelKind,
    pub pair: Option<String>,
    /// [`variant`]: precision, graph variant, shapes.
    pub variant: String,
    /// Provider, every non-default setting, threads and sweep point.
    pub point: Point,
    /// Model content, layout, runtime, settings and sweep point ([`cell_id`]).
    pub cell_id: String,
}

/// One record per cell: its machine and its [`cell_id`] (readers, merge, `--resume`).
pub type RecordKey = (Machine, String);

/// The two models of a pair at one sweep point: everything but which model it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartnerKey {
    pub machine: Machine,
    pub backend: String,
    pub backend_version: String,
    pub pair: Option<String>,
    pub variant: String,
    pub point: Point,
}

/// The same cell in two runs (compare, gate, history trends, dashboard names): model, backend,
/// variant, settings and point; not the machine, which the command checks itself and names, nor
/// the runtime's version, which is often the change being measured.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub model: String,
    pub backend: String,
    pub variant: String,
    pub point: Point,
}

/// What one fitted cost curve covers: a model on one machine, runtime and setting, over prompt
/// and output lengths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CurveKey {
    pub machine: String,
    /// The machine as a table names it ([`Machine::short`]).
    pub machine_short: String,
    pub model: String,
    pub kind: crate::model::ModelKind,
    pub pair: Option<String>,
    pub backend: String,
    pub backend_version: String,
    pub ep: String,
    pub threads: usize,
    pub batch: usize,
}

impl CurveKey {
    pub fn of(c: &CellResult) -> CurveKey {
        Identity::of(c).curve_key()
    }

    /// `model ep tN bN` (and the backend when not ONNX Runtime); the machine is named apart.
    pub fn label(&self) -> String {
        let backend =
            if self.backend == crate::schema::DEFAULT_BACKEND { String::new() } else { format!(" {}", self.backend) };
        format!("{}{backend} {} t{} b{}", self.model, self.ep, self.threads, self.batch)
    }

    /// The same model and setting, whatever the machine and runtime version (`predict --against`).
    pub fn same_setting(&self, other: &CurveKey) -> bool {
        (&self.model, &self.kind, &self.pair, &self.backend, &self.ep, self.threads, self.batch)
            == (&other.model, &other.kind, &other.pair, &other.backend, &other.ep, other.threads, other.batch)
    }

    /// The encoder-decoder and decoder-only of one pair on one machine, runtime and setting.
    pub fn partners(&self, other: &CurveKey) -> bool {
        self.pair.is_some()
            && (&self.machine, &self.pair, &self.backend, &self.backend_version, &self.ep, self.threads, self.batch)
                == (
                    &other.machine,
                    &other.pair,
                    &other.backend,
                    &other.backend_version,
                    &other.ep,
                    other.threads,
                    other.batch,
                )
    }
}

impl Identity {
    pub fn of(c: &CellResult) -> Identity {
        Identity::from_parts(&c.context, &c.model, &c.settings, &c.sweep, &c.cell_id)
    }

    pub fn from_parts(
        context: &Context,
        model: &ModelInfo,
        settings: &Settings,
        sweep: &SweepPoint,
        cell_id: &str,
    ) -> Identity {
        Identity {
            machine: Machine::of(context),
            backend: settings.backend.clone(),
            backend_version: settings.backend_version.clone().unwrap_or_else(|| context.ort_version.clone()),
            model: model.name.clone(),
            kind: model.kind,
            pair: model.pair.clone(),
            variant: variant(model),
            point: point_of(settings, sweep),
            cell_id: cell_id.to_string(),
        }
    }

    pub fn record_key(&self) -> RecordKey {
        (self.machine.clone(), self.cell_id.clone())
    }

    pub fn partner_key(&self) -> PartnerKey {
        PartnerKey {
            machine: self.machine.clone(),
            backend: self.backend.clone(),
            backend_version: self.backend_version.clone(),
            pair: self.pair.clone(),
            variant: self.variant.clone(),
            point: self.point.clone(),
        }
    }

    pub fn series_key(&self) -> SeriesKey {
        SeriesKey {
            model: self.model.clone(),
            backend: self.backend.clone(),
            variant: self.variant.clone(),
            point: self.point.clone(),
        }
    }

    pub fn curve_key(&self) -> CurveKey {
        CurveKey {
            machine: self.machine.to_string(),
            machine_short: self.machine.short(),
            model: self.model.clone(),
            kind: self.kind,
            pair: self.pair.clone(),
            backend: self.backend.clone(),
            backend_version: self.backend_version.clone(),
            ep: self.point.ep.clone(),
            threads: self.point.threads,
            batch: self.point.batch,
        }
    }
}

/// The machines of `contexts`, each once, in order of first appearance.
pub fn machines<'a>(contexts: impl IntoIterator<Item = &'a Context>) -> Vec<Machine> {
    let mut out: Vec<Machine> = vec![];
    for c in contexts {
        let m = Machine::of(c);
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

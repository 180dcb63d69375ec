//! Loading a block's model: the memory guard before it, the host's limits and the observed
//! placement with it; a block that cannot load has its cells recorded as failed.

use slmbench_results::ep::Ep;
use slmbench_results::placement::Placement;
use slmbench_results::roofline::HostLimits;
use slmbench_results::schema::FailureKind;

use super::{Flow, Runner};
use crate::backend::Generator;
use crate::context;
use crate::error::HarnessError;
use crate::failure::catch;
use crate::guard;
use crate::plan::Block;

/// A block's loaded model and what its cells' records get from the load.
pub(super) struct Loaded {
    pub(super) model: Box<dyn Generator>,
    pub(super) placement: Option<Placement>,
    pub(super) host_limits: Option<HostLimits>,
    /// What its cells' records must say (nodes that ran on another provider than the one asked for).
    pub(super) warnings: Vec<String>,
}

impl Runner<'_> {
    pub(super) fn weights(&self, block: &Block) -> guard::Estimate {
        guard::Estimate { weights: guard::weights(self.infos[block.model].bytes_on_disk), ..Default::default() }
    }

    pub(super) fn both_fit(&mut self, a: &Block, b: &Block) -> bool {
        let Some(avail) = self.available else { return true };
        let need = guard::Estimate { weights: self.weights(a).weights + self.weights(b).weights, ..Default::default() };
        let fits = guard::check("both models of the pair", &need, avail).is_none();
        if !fits {
            self.bar.note(&format!(
                "{} and {} do not fit in memory together: measured one after the other, not interleaved",
                self.plan.models[a.model].name, self.plan.models[b.model].name
            ));
        }
        fits
    }

    /// The host's limits for a block's settings, measured before its sessions exist (so nothing
    /// else holds the memory bus), once per thread count.
    pub(super) fn host_limits(&mut self, block: &Block) -> Option<HostLimits> {
        if !self.plan.roofline || block.requested.ep_requested != Ep::Cpu {
            return None;
        }
        let threads = match block.requested.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            t => t,
        };
        let (context, bar) = (self.context, &mut *self.bar);
        self.limits
            .entry(threads)
            .or_insert_with(|| {
                crate::roofline::cached(context, threads).or_else(|| {
                    bar.note(&format!(
                        "roofline: measuring this host's limits at {threads} threads (once, then cached)"
                    ));
                    crate::roofline::limits(context, threads)
                        .map_err(|e| bar.note(&format!("roofline not measured: {e}")))
                        .ok()
                })
            })
            .clone()
    }

    /// Loads a block's model; when that fails, its cells are recorded as failed and `Err(flow)`
    /// says whether the sweep goes on.
    pub(super) fn load(
        &mut self,
        block: &Block,
        host_limits: Option<HostLimits>,
    ) -> Result<Result<Loaded, Flow>, HarnessError> {
        let entry = &self.plan.models[block.model];
        if let Some(avail) = self.available
            && let Some(why) = guard::check(&format!("loading {}", entry.name), &self.weights(block), avail)
        {
            self.fail_all(block, FailureKind::Memory, &why)?;
            return Ok(Err(Flow::Go));
        }
        // ONNX Runtime cannot be stopped while it creates sessions (with many threads that
        // can take minutes); nothing unsaved is in memory then, so a signal ends the process.
        let (backend, decoder, bar) = (self.backend, self.plan.decoder, &mut *self.bar);
        let (placement, loaded) = self.stop.at_once(|| {
            bar.note(&format!(
                "loading {} on {} with {} threads",
                entry.name, block.requested.ep_requested, block.requested.threads
            ));
            slmbench_results::context::test_pause("LOAD");
            // Placement first, in profiled sessions of its own, dropped before the timed ones
            // are created (and before the peak-memory mark is reset for them).
            let placement = catch(|| backend.placement(&entry.dir, &block.requested, decoder));
            context::reset_peak_rss();
            (placement, catch(|| backend.load(&entry.dir, &block.requested, decoder)))
        });
        let placement = match (placement, &loaded) {
            (Ok(p), _) => Some(p),
            (Err((_, e)), Ok(_)) if self.plan.tuning.strict_placement => {
                let why = format!("--strict-placement: the placement could not be observed: {e}");
                self.fail_all(block, FailureKind::Provider, &why)?;
                return Ok(Err(Flow::Go));
            }
            (Err((_, e)), Ok(_)) => {
                self.bar.note(&format!("{}: placement not observed: {e}", entry.name));
                None
            }
            (Err(_), Err(_)) => None,
        };
        if self.interrupted() {
            return Ok(Err(Flow::Stop));
        }
        // Strict: every node must have run on the provider asked for.
        if let (true, Some(p)) = (self.plan.tuning.strict_placement, &placement)
            && let Some(off) = p.off_provider(block.requested.ep_requested.runtime_name())
        {
            let why = format!("--strict-placement: {off}");
            self.fail_all(block, FailureKind::Provider, &why)?;
            return Ok(Err(Flow::Go));
        }
        // Not strict: a fallback is measured, and said everywhere (stderr, each record, the report).
        let warnings: Vec<String> =
            placement.as_ref().and_then(|p| p.fallback_warning(block.requested.ep_requested)).into_iter().collect();
        for w in &warnings {
            self.bar.note(&format!("warning: {}: {w}", entry.name));
        }
        match loaded {
            Ok(model) => Ok(Ok(Loaded { model, placement, host_limits, warnings })),
            Err((kind, error)) => {
                self.fail_all(block, kind, &error)?;
                Ok(Err(Flow::Go))
            }
        }
    }
}

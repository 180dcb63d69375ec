//! A pair's two blocks run together: both models loaded, each sweep point they share measured
//! side by side ([`crate::interleave`]), the rest alone.

use super::{Flow, Loaded, Runner};
use crate::bench::Measuring;
use crate::error::HarnessError;
use crate::failure::{catch, kind_of};
use crate::interleave::{self, Side};
use crate::plan::{Block, PlannedCell};

impl Runner<'_> {
    /// A pair's two blocks: both loaded, every sweep point they share measured interleaved, the
    /// points only one of them has (a resumed file had the other) measured alone.
    pub(super) fn run_pair(&mut self, a: &Block, b: &Block) -> Result<Flow, HarnessError> {
        let limits = self.host_limits(a);
        let la = self.load(a, limits.clone())?;
        if matches!(la, Err(Flow::Stop)) {
            return Ok(Flow::Stop);
        }
        let lb = self.load(b, limits)?;
        let (mut la, mut lb) = match (la, lb) {
            (_, Err(Flow::Stop)) => return Ok(Flow::Stop),
            (Ok(mut la), Err(_)) => return self.run_cells(a, &mut la, &a.cells),
            (Err(_), Ok(mut lb)) => return self.run_cells(b, &mut lb, &b.cells),
            (Err(_), Err(_)) => return Ok(Flow::Go),
            (Ok(la), Ok(lb)) => (la, lb),
        };
        for ca in &a.cells {
            let flow = match b.cells.iter().find(|cb| cb.sweep == ca.sweep) {
                Some(cb) => self.run_interleaved([a, b], [&mut la, &mut lb], [ca, cb])?,
                None => self.run_single(a, &mut la, ca)?,
            };
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        let alone: Vec<PlannedCell> =
            b.cells.iter().filter(|cb| !a.cells.iter().any(|ca| ca.sweep == cb.sweep)).cloned().collect();
        self.run_cells(b, &mut lb, &alone)
    }

    fn run_interleaved(
        &mut self,
        blocks: [&Block; 2],
        loaded: [&mut Loaded; 2],
        cells: [&PlannedCell; 2],
    ) -> Result<Flow, HarnessError> {
        let [la, lb] = loaded;
        let sweep = &cells[0].sweep;
        if self.interrupted() {
            return Ok(Flow::Stop);
        }
        let labels = [self.label(blocks[0], sweep), self.label(blocks[1], sweep)];
        let needs = [
            la.model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens),
            lb.model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens),
        ];
        if let Err(why) = self.cell_fits(&format!("{} and {}", labels[0], labels[1]), &needs) {
            // Alone each may fit: measure them one after the other.
            self.bar.note(&format!("{why}; measuring them one after the other"));
            if self.run_single(blocks[0], la, cells[0])? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            return self.run_single(blocks[1], lb, cells[1]);
        }
        let prompts = [self.prompt(&*la.model, sweep), self.prompt(&*lb.model, sweep)];
        let pair = format!("{} + {} (interleaved)", labels[0], self.plan.models[blocks[1].model].name);
        self.bar.start_pair(pair.clone());
        let (plan, context, bar, stop, infos) = (self.plan, self.context, &mut *self.bar, self.stop, self.infos);
        let backend = self.backend;
        // `--reloads`: each side loaded again as it was loaded first.
        let loader = |block: &Block| {
            let dir = plan.models[block.model].dir.clone();
            let settings = block.requested.clone();
            move || backend.load(&dir, &settings, plan.decoder)
        };
        let (mut reload_a, mut reload_b) = (loader(blocks[0]), loader(blocks[1]));
        let measured = catch(|| {
            Ok(interleave::measure_pair(
                [
                    Side {
                        model: &mut la.model,
                        reload: Some(&mut reload_a),
                        info: &infos[blocks[0].model],
                        settings: &blocks[0].requested,
                        prompt: &prompts[0],
                    },
                    Side {
                        model: &mut lb.model,
                        reload: Some(&mut reload_b),
                        info: &infos[blocks[1].model],
                        settings: &blocks[1].requested,
                        prompt: &prompts[1],
                    },
                ],
                sweep,
                plan.order,
                plan.reloads,
                plan.seed,
                &mut Measuring { context, policy: &plan.policy, progress: bar, stop: &stop.signal },
            ))
        });
        match measured {
            Ok(Ok((ca, cb, ratio))) => {
                let (ca, cb) = (self.finish(blocks[0], la, ca), self.finish(blocks[1], lb, cb));
                let (keep, flow) = self.settle(&pair, &ca.repetitions);
                if flow == Flow::Go {
                    self.bar.end_cell(&format!(
                        "ED/DO TTFT {} (lower = ED sooner) over {} blocks; {} | {}",
                        slmbench_results::export::markdown::ratio_text(&ratio.ttft, ratio.blocks),
                        ratio.blocks,
                        Self::summary(&ca),
                        Self::summary(&cb)
                    ));
                }
                if keep {
                    self.writer.push_pair(ca, cb, ratio)?;
                }
                Ok(flow)
            }
            Ok(Err(_)) | Err(_) if self.interrupted() => {
                self.bar.note(&format!("interrupted during warm-up of {pair}; --resume measures it"));
                Ok(Flow::Stop)
            }
            // One model failed: its cell is recorded as failed, and the other is measured alone,
            // so what works is not lost with what does not.
            Ok(Err((side, e))) => {
                self.fail(blocks[side], cells[side], kind_of(&e), e.to_string())?;
                let other = 1 - side;
                self.run_single(blocks[other], if other == 0 { la } else { lb }, cells[other])
            }
            Err((kind, error)) => {
                self.fail(blocks[0], cells[0], kind, error.clone())?;
                self.fail(blocks[1], cells[1], kind, error)?;
                Ok(Flow::Go)
            }
        }
    }
}

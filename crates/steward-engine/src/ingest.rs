//! Taking samples: a batch is checked as a whole, admitted against the count limits, stored
//! durably, and only then counted.

use crate::{Engine, EngineError, STORE_BUCKET};
use std::collections::HashMap;
use steward_model::limits::MAX_HOUR_EVENTS;
use steward_model::slo::Measurement;
use steward_model::Counts;
use steward_store::SampleRow;

/// One sample as it arrives, before validation.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingSample {
    /// An SLO's name (every objective of it receives the sample), or one objective's name.
    pub slo: String,
    /// Unix seconds; `None` means now.
    pub time: Option<i64>,
    pub measurement: Measurement,
}

/// A sample that cannot be taken: its index in the batch and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleIssue {
    pub index: usize,
    pub message: String,
}

/// A checked sample's counts for one objective.
#[derive(Clone, Debug)]
pub struct Row {
    /// The sample's index in its batch.
    pub index: usize,
    /// The objective.
    pub unit: usize,
    /// Start of the 5-second bucket it is stored and counted in.
    pub bucket: i64,
    pub counts: Counts,
}

/// A batch that passed validation, ready for [`Engine::commit`].
#[derive(Clone, Debug)]
pub struct Checked {
    pub rows: Vec<Row>,
    /// How many samples the rows came from.
    pub samples: usize,
}

impl Engine {
    /// Checks a whole batch against the catalog and the clock; on success returns the rows to
    /// store, one per objective a sample feeds.
    pub fn validate(
        &self,
        samples: &[IncomingSample],
        now: i64,
    ) -> Result<Checked, Vec<SampleIssue>> {
        let mut rows = Vec::with_capacity(samples.len());
        let mut issues = Vec::new();
        for (index, s) in samples.iter().enumerate() {
            let Some(units) = self.targets.get(&s.slo) else {
                issues.push(SampleIssue {
                    index,
                    message: format!("unknown SLO `{}`; GET /api/v1/slos lists the SLOs", s.slo),
                });
                continue;
            };
            if let Measurement::Events { good, total } = s.measurement {
                if good.max(total) > MAX_HOUR_EVENTS {
                    issues.push(SampleIssue {
                        index,
                        message: format!(
                            "{} {} is more than the {MAX_HOUR_EVENTS} events a sample may carry",
                            if good > total { "good" } else { "total" },
                            good.max(total)
                        ),
                    });
                    continue;
                }
            }
            let t = s.time.unwrap_or(now);
            for &unit in units {
                let def = &self.defs[unit];
                let checked = def
                    .check_time(t, now)
                    .and_then(|()| def.judge(s.measurement));
                match checked {
                    Ok(counts) => rows.push(Row {
                        index,
                        unit,
                        bucket: t.div_euclid(STORE_BUCKET) * STORE_BUCKET,
                        counts,
                    }),
                    Err(e) => {
                        issues.push(SampleIssue {
                            index,
                            message: format!("{}: {e}", def.name),
                        });
                        break;
                    }
                }
            }
        }
        if issues.is_empty() {
            Ok(Checked {
                rows,
                samples: samples.len(),
            })
        } else {
            Err(issues)
        }
    }

    /// Validates, stores durably, then counts a batch. Returns the number of samples taken.
    /// Blocks on the store: call it from a blocking context.
    pub fn ingest(&self, samples: &[IncomingSample], now: i64) -> Result<usize, EngineError> {
        let checked = self.validate(samples, now).map_err(|issues| {
            self.metrics.samples_rejected.add(samples.len() as u64);
            EngineError::Invalid(issues)
        })?;
        self.commit(&checked)?;
        Ok(samples.len())
    }

    /// Admits checked rows against the count limits, stores them durably, then counts them.
    /// Blocks on the store.
    pub fn commit(&self, checked: &Checked) -> Result<(), EngineError> {
        let reserved = self.admit(&checked.rows).map_err(|issues| {
            self.metrics.samples_rejected.add(checked.samples as u64);
            EngineError::Invalid(issues)
        })?;
        let stored = self.store.append(
            checked
                .rows
                .iter()
                .map(|r| SampleRow {
                    slo: self.defs[r.unit].name.clone(),
                    bucket: r.bucket,
                    good: r.counts.good,
                    total: r.counts.total,
                })
                .collect(),
        );
        if let Err(e) = stored {
            self.release(&reserved);
            return Err(e.into());
        }
        self.apply(&checked.rows, &reserved);
        self.metrics.samples_accepted.add(checked.samples as u64);
        self.metrics.batches_accepted.add(1);
        Ok(())
    }

    /// Checks that no block (an hour, or a time slice) of any objective would pass its limit
    /// with these rows, counting what other batches have admitted and not yet counted, and
    /// reserves the rows' events: each objective is checked and reserved under its shard's
    /// lock, so concurrent batches cannot pass a limit together. Returns the reservations.
    fn admit(&self, rows: &[Row]) -> Result<Vec<(usize, u64)>, Vec<SampleIssue>> {
        // Per objective and block: events, the first sample in it, and a time within it.
        let mut blocks: HashMap<(usize, i64), (u64, usize, i64)> = HashMap::new();
        for r in rows {
            let block = self.defs[r.unit].block_of(r.bucket);
            let e = blocks
                .entry((r.unit, block))
                .or_insert((0, r.index, r.bucket));
            e.0 = e.0.saturating_add(r.counts.total);
        }
        let mut sorted: Vec<_> = blocks.into_iter().collect();
        sorted.sort_unstable_by_key(|(key, _)| *key);
        let mut issues = Vec::new();
        let mut reserved = Vec::new();
        for unit_blocks in sorted.chunk_by(|a, b| a.0 .0 == b.0 .0) {
            let unit = unit_blocks[0].0 .0;
            let def = &self.defs[unit];
            let cap = def.block_cap();
            let mut shard = self.shard(unit);
            let st = &mut shard[unit % crate::SHARD];
            let mut fits = true;
            for &(_, (events, index, t)) in unit_blocks {
                let held = st.slo.block_events(t).saturating_add(st.inflight);
                if held.saturating_add(events) > cap {
                    fits = false;
                    issues.push(SampleIssue {
                        index,
                        message: format!(
                            "{}: this would put more than {cap} events in one {} of the SLO ({held} counted or in flight already); check the sender's counts",
                            def.name,
                            if def.block_cap() == MAX_HOUR_EVENTS { "hour" } else { "time slice" }
                        ),
                    });
                }
            }
            if fits {
                let events = unit_blocks
                    .iter()
                    .fold(0u64, |sum, (_, (e, _, _))| sum.saturating_add(*e));
                st.inflight = st.inflight.saturating_add(events);
                reserved.push((unit, events));
            }
        }
        if issues.is_empty() {
            Ok(reserved)
        } else {
            self.release(&reserved);
            issues.sort_by_key(|i| i.index);
            issues.dedup_by_key(|i| i.index);
            Err(issues)
        }
    }

    fn release(&self, reserved: &[(usize, u64)]) {
        for &(unit, events) in reserved {
            let mut shard = self.shard(unit);
            let st = &mut shard[unit % crate::SHARD];
            st.inflight = st.inflight.saturating_sub(events);
        }
    }

    /// Counts stored rows in memory and releases their reservations, a shard at a time.
    fn apply(&self, rows: &[Row], reserved: &[(usize, u64)]) {
        let mut order: Vec<&Row> = rows.iter().collect();
        order.sort_by_key(|r| r.unit);
        for group in order.chunk_by(|a, b| a.unit / crate::SHARD == b.unit / crate::SHARD) {
            let mut shard = self.shard(group[0].unit);
            for r in group {
                shard[r.unit % crate::SHARD].slo.add(r.bucket, r.counts);
            }
        }
        self.release(reserved);
    }
}

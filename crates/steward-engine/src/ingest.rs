//! Taking samples: a batch is checked as a whole, admitted against the count limits, stored
//! durably (once per series, with its idempotency key), and only then counted.

use crate::{Engine, EngineError, SHARD, STORE_BUCKET};
use std::sync::atomic::Ordering;
use steward_model::limits::MAX_HOUR_EVENTS;
use steward_model::slo::{Measurement, SampleError};
use steward_model::Counts;
use steward_store::{Appended, IngestKey, SeriesRow, StoreError};

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

/// A checked sample's counts for one series.
#[derive(Clone, Debug)]
struct Stored {
    series: usize,
    bucket: i64,
    counts: Counts,
}

/// A batch that passed validation, ready for [`Engine::commit`].
#[derive(Clone, Debug)]
pub struct Checked {
    /// What each objective counts.
    pub rows: Vec<Row>,
    /// What each series stores.
    stored: Vec<Stored>,
    /// How many samples the rows came from.
    pub samples: usize,
}

/// A batch's events in one admission block of one objective.
#[derive(Clone, Copy)]
struct Block {
    unit: usize,
    block: i64,
    /// The first sample that falls in it.
    index: usize,
    /// A time within it.
    at: i64,
    events: u64,
}

/// What a commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committed {
    /// The samples were stored and counted.
    Stored { accepted: usize },
    /// The idempotency key had been stored before with this batch: nothing was stored again,
    /// and this is the first answer.
    Repeated { accepted: u64 },
}

/// FNV-1a of a request body: stable across builds, so a retry after an upgrade matches.
pub fn body_hash(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl Engine {
    /// Checks a whole batch against the catalog and the clock; on success returns the rows to
    /// store and count.
    pub fn validate(
        &self,
        samples: &[IncomingSample],
        now: i64,
    ) -> Result<Checked, Vec<SampleIssue>> {
        self.check(samples, now, true)
    }

    /// `late_slices`: whether samples too late for their time slice are refused (always,
    /// except for an import before the rebuild, which counts them as the rebuild does).
    fn check(
        &self,
        samples: &[IncomingSample],
        now: i64,
        late_slices: bool,
    ) -> Result<Checked, Vec<SampleIssue>> {
        let mut rows = Vec::with_capacity(samples.len());
        let mut stored = Vec::with_capacity(samples.len());
        let mut issues = Vec::new();
        'samples: for (index, s) in samples.iter().enumerate() {
            let Some(target) = self.targets.get(&s.slo) else {
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
            let bucket = t.div_euclid(STORE_BUCKET) * STORE_BUCKET;
            let first = rows.len();
            for &unit in &target.units {
                let def = &self.defs[unit];
                let checked = match def.check_time(t, now) {
                    Err(SampleError::SliceFinal { .. }) if !late_slices => Ok(()),
                    other => other,
                }
                .and_then(|()| def.judge(s.measurement));
                match checked {
                    Ok(counts) => rows.push(Row {
                        index,
                        unit,
                        bucket,
                        counts,
                    }),
                    Err(e) => {
                        rows.truncate(first);
                        issues.push(SampleIssue {
                            index,
                            message: format!("{}: {e}", def.name),
                        });
                        continue 'samples;
                    }
                }
            }
            match target.shared {
                // The objectives count the same events: stored once.
                Some(series) => stored.push(Stored {
                    series,
                    bucket,
                    counts: rows[first].counts,
                }),
                // Judged per objective: each in its own series.
                None => stored.extend(rows[first..].iter().map(|r| Stored {
                    series: r.unit,
                    bucket,
                    counts: r.counts,
                })),
            }
        }
        if issues.is_empty() {
            Ok(Checked {
                rows,
                stored,
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
        match self.commit(&checked, None, now)? {
            Committed::Stored { accepted } => Ok(accepted),
            Committed::Repeated { accepted } => Ok(accepted as usize),
        }
    }

    /// Stores history before the rebuild counts it (the demo's backfill, benchmarks): checked
    /// like any batch, except that time-slice samples may be older than an hour, as their
    /// slices are judged when the rebuild reads them.
    pub fn import(&self, samples: &[IncomingSample], now: i64) -> Result<usize, EngineError> {
        if self.is_ready() {
            return Err(EngineError::Invalid(vec![SampleIssue {
                index: 0,
                message: "history can only be imported before the engine rebuilds".into(),
            }]));
        }
        let checked = self
            .check(samples, now, false)
            .map_err(EngineError::Invalid)?;
        self.store.append(self.series_rows(&checked), None)?;
        Ok(samples.len())
    }

    fn series_rows(&self, checked: &Checked) -> Vec<SeriesRow> {
        checked
            .stored
            .iter()
            .map(|s| SeriesRow {
                series: self.series[s.series].id,
                bucket: s.bucket,
                good: s.counts.good,
                total: s.counts.total,
            })
            .collect()
    }

    /// The first answer to a batch whose idempotency key was stored before (a retry), before
    /// anything of it is checked again: a sample may have become too late since, or the
    /// catalog changed, and the retry still gets the answer the batch got.
    pub fn repeated(&self, key: &str, body_hash: i64) -> Result<Option<Committed>, EngineError> {
        match self.store.ingest_key(key)? {
            None => Ok(None),
            Some((hash, accepted)) if hash == body_hash => {
                self.metrics.batches_repeated.add(1);
                Ok(Some(Committed::Repeated { accepted }))
            }
            Some(_) => Err(EngineError::KeyReused),
        }
    }

    /// Admits checked rows against the count limits, stores them durably (with the batch's
    /// idempotency key and body hash, if it has one), then counts them. Blocks on the store.
    pub fn commit(
        &self,
        checked: &Checked,
        key: Option<(String, i64)>,
        now: i64,
    ) -> Result<Committed, EngineError> {
        let Some(_gate) = self.gate_shared() else {
            return Err(EngineError::Rebuilding);
        };
        if !self.is_ready() {
            return Err(EngineError::Rebuilding);
        }
        let reserved = self.admit(&checked.rows).map_err(|issues| {
            self.metrics.samples_rejected.add(checked.samples as u64);
            EngineError::Invalid(issues)
        })?;
        let hash = key.as_ref().map(|(_, h)| *h);
        let key = key.map(|(key, body_hash)| IngestKey {
            key,
            body_hash,
            accepted: checked.samples as u64,
            at: now,
        });
        let appended = match self.store.append(self.series_rows(checked), key) {
            Ok(a) => a,
            Err(e) => {
                self.release(&reserved);
                if let StoreError::CommitUnknown(_) = e {
                    // The batch may be stored: memory follows the store again after a
                    // rebuild, and a retry with the same idempotency key counts it once.
                    tracing::warn!(error = %e, "a commit's outcome is unknown; the engine will rebuild from the store");
                    self.needs_rebuild.store(true, Ordering::Release);
                    self.phase.store(crate::REBUILDING, Ordering::Release);
                }
                return Err(e.into());
            }
        };
        match appended {
            Appended::Stored => {
                self.apply(checked, &reserved);
                self.metrics.samples_accepted.add(checked.samples as u64);
                self.metrics.batches_accepted.add(1);
                self.nudge_evaluator();
                Ok(Committed::Stored {
                    accepted: checked.samples,
                })
            }
            Appended::Duplicate {
                body_hash,
                accepted,
            } => {
                self.release(&reserved);
                if Some(body_hash) == hash {
                    self.metrics.batches_repeated.add(1);
                    Ok(Committed::Repeated { accepted })
                } else {
                    Err(EngineError::KeyReused)
                }
            }
        }
    }

    /// Checks that no block (an hour, or a time slice) of any objective would pass its limit
    /// with these rows, counting what other batches have admitted and not yet counted, and
    /// reserves the rows' events: each objective is checked and reserved under its shard's
    /// lock, so concurrent batches cannot pass a limit together. Returns the reservations.
    fn admit(&self, rows: &[Row]) -> Result<Vec<(usize, u64)>, Vec<SampleIssue>> {
        // The batch's events per objective and block, with the first sample in each block.
        let mut keyed: Vec<Block> = rows
            .iter()
            .map(|r| Block {
                unit: r.unit,
                block: self.defs[r.unit].block_of(r.bucket),
                index: r.index,
                at: r.bucket,
                events: r.counts.total,
            })
            .collect();
        keyed.sort_unstable_by_key(|b| (b.unit, b.block, b.index));
        let blocks: Vec<Block> = keyed
            .chunk_by(|a, b| (a.unit, a.block) == (b.unit, b.block))
            .map(|g| Block {
                events: g.iter().fold(0u64, |sum, b| sum.saturating_add(b.events)),
                ..g[0]
            })
            .collect();
        let mut issues = Vec::new();
        let mut reserved = Vec::new();
        for unit_blocks in blocks.chunk_by(|a, b| a.unit == b.unit) {
            let unit = unit_blocks[0].unit;
            let def = &self.defs[unit];
            let cap = def.block_cap();
            let mut shard = self.shard(unit);
            let st = &mut shard.units[unit % SHARD];
            let mut fits = true;
            for b in unit_blocks {
                let held = st
                    .slo
                    .block_events(b.at)
                    .saturating_add(st.inflight)
                    .saturating_add(st.excluded_blocks.get(&b.block).copied().unwrap_or(0));
                if held.saturating_add(b.events) > cap {
                    fits = false;
                    issues.push(SampleIssue {
                        index: b.index,
                        message: format!(
                            "{}: this would put more than {cap} events in one {} of the SLO ({held} counted or in flight already); check the sender's counts",
                            def.name,
                            if def.method.slice().is_some() { "time slice" } else { "hour" }
                        ),
                    });
                }
            }
            if fits {
                let events = unit_blocks
                    .iter()
                    .fold(0u64, |sum, b| sum.saturating_add(b.events));
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
            let st = &mut shard.units[unit % SHARD];
            st.inflight = st.inflight.saturating_sub(events);
        }
    }

    /// Counts stored rows in memory, a shard at a time, releases their reservations, and
    /// marks their series for the next roll-up.
    fn apply(&self, checked: &Checked, reserved: &[(usize, u64)]) {
        let mut order: Vec<&Row> = checked.rows.iter().collect();
        order.sort_by_key(|r| r.unit);
        for group in order.chunk_by(|a, b| a.unit / SHARD == b.unit / SHARD) {
            let mut shard = self.shard(group[0].unit);
            for r in group {
                let st = &mut shard.units[r.unit % SHARD];
                // Stored, but counted in no figure: a budget adjustment excludes its time.
                if steward_model::adjustment::excluded(&st.excluded, r.bucket) {
                    let def = &self.defs[r.unit];
                    let oldest = def.block_of(def.history_start(r.bucket));
                    st.exclude(def.block_of(r.bucket), r.counts.total, oldest);
                } else {
                    st.slo.add(r.bucket, r.counts);
                }
            }
        }
        self.release(reserved);
        for s in &checked.stored {
            self.series[s.series]
                .dirty
                .fetch_min(s.bucket, Ordering::Relaxed);
        }
    }
}

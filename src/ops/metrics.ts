import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DqMetricsExporter } from '../data-quality/metrics.js';

/**
 * The daemon's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * tests and several daemons in one process do not collide). Other modules get this object and
 * call its methods; nobody else touches prom-client types.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly barsIngested = new Counter({ name: 'ibpipe_bars_ingested_total', help: 'Bars written to the raw store', labelNames: ['source'], registers: [this.registry] });
  readonly batchesWritten = new Counter({ name: 'ibpipe_batches_written_total', help: 'Raw batches committed', labelNames: ['source'], registers: [this.registry] });
  readonly pacingWaits = new Counter({ name: 'ibpipe_pacing_waits_total', help: 'Requests delayed by an IB pacing limiter', labelNames: ['rule'], registers: [this.registry] });
  readonly pacingViolations = new Counter({ name: 'ibpipe_pacing_violations_total', help: 'Pacing violations (error 162) received from IB', registers: [this.registry] });
  readonly jobDuration = new Histogram({ name: 'ibpipe_job_duration_seconds', help: 'Job run duration', labelNames: ['job', 'status'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800], registers: [this.registry] });
  readonly jobRuns = new Counter({ name: 'ibpipe_job_runs_total', help: 'Job runs by outcome', labelNames: ['job', 'status'], registers: [this.registry] });
  readonly eventLoopLag = new Gauge({ name: 'ibpipe_event_loop_lag_p99_seconds', help: 'Event-loop delay p99 over the last interval', registers: [this.registry] });
  readonly connected = new Gauge({ name: 'ibpipe_tws_connected', help: '1 when the TWS connection is up', registers: [this.registry] });
  readonly lastBarAge = new Gauge({ name: 'ibpipe_last_bar_age_seconds', help: 'Age of the newest stored bar per instrument', labelNames: ['symbol'], registers: [this.registry] });
  readonly featureRevisions = new Counter({
    name: 'ibpipe_feature_revisions_total',
    help: 'Published feature rows a later features run changed (values, is_imputed or available_ts): live/batch skew',
    labelNames: ['group', 'version'],
    registers: [this.registry],
  });
  readonly liveOpenGaps = new Gauge({ name: 'ibpipe_live_open_gaps', help: 'Live gaps not yet repaired (open, pending, repairing or failed) per instrument', labelNames: ['symbol'], registers: [this.registry] });
  readonly liveGapMissingBars = new Gauge({ name: 'ibpipe_live_gap_missing_bars', help: 'Bars the calendar expects in the unrepaired live gaps per instrument', labelNames: ['symbol'], registers: [this.registry] });
  readonly liveGapRepairs = new Counter({ name: 'ibpipe_live_gap_repairs_total', help: 'Live gap repairs by outcome (repaired, or failed after its attempts)', labelNames: ['symbol', 'outcome'], registers: [this.registry] });

  /** DQ rule failures, null rates and gap-fill counts, exported by every transform run. */
  readonly dq = new DqMetricsExporter(this.registry);

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'ibpipe_process_' });
  }

  observeJob(job: string, status: string, durationMs: number): void {
    this.jobDuration.labels(job, status).observe(durationMs / 1000);
    this.jobRuns.labels(job, status).inc();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

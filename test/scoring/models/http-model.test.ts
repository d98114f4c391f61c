import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, SystemClock } from '../../../src/core/clock.js';
import { RemoteServiceError, TimeoutError } from '../../../src/core/errors.js';
import { HttpModel, type HttpModelOptions, type HttpRetryEvent } from '../../../src/scoring/models/http-model.js';

interface Received {
  body: { model: string; version: string; feature_names: string[]; instances: number[][] };
  headers: IncomingMessage['headers'];
}

type Handler = (req: Received, n: number, res: ServerResponse) => void;

const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A real HTTP server on an ephemeral port; `handler` answers request number n (1-based). */
async function serve(handler: Handler): Promise<{ url: string; requests: Received[] }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'], headers: req.headers };
      requests.push(r);
      handler(r, requests.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return { url: `http://127.0.0.1:${port}/v1/predict`, requests };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/** The test service's model: score = a + 10·b per instance. */
function sumModel(req: Received, res: ServerResponse): void {
  json(res, 200, { predictions: req.body.instances.map(([a, b]) => a! + 10 * b!) });
}

/** Polls a condition; the bound only turns a hang into a readable failure. */
async function until(cond: () => boolean): Promise<void> {
  for (const end = Date.now() + 60_000; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error('condition not reached');
}

const rows = [
  { symbol: 'AAPL', ts: 1, a: 1, b: 2 },
  { symbol: 'MSFT', ts: 1, a: 3, b: 4 },
  { symbol: 'SPY', ts: 1, a: 5, b: 6 },
];

function model(url: string, o: Partial<HttpModelOptions> = {}): HttpModel {
  return new HttpModel({ url, id: 'remote', version: '7', featureNames: ['a', 'b'], clock: new SystemClock(), backoffMs: 1, ...o });
}

describe('HttpModel', () => {
  it('posts the batch and returns the scores in order', async () => {
    const srv = await serve((req, _n, res) => sumModel(req, res));
    const m = model(srv.url, { batchSize: 2, headers: { authorization: 'Bearer t0k' } });
    expect(await m.predict(rows)).toEqual([21, 43, 65]);
    expect(srv.requests.map((r) => r.body.instances)).toEqual([[[1, 2], [3, 4]], [[5, 6]]]);
    expect(srv.requests[0]!.body).toMatchObject({ model: 'remote', version: '7', feature_names: ['a', 'b'] });
    expect(srv.requests[0]!.headers.authorization).toBe('Bearer t0k');
    expect(srv.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('retries a 500 after a clock-driven backoff and then succeeds', async () => {
    const srv = await serve((req, n, res) => (n === 1 ? json(res, 500, { error: 'warming up' }) : sumModel(req, res)));
    const clock = new ManualClock();
    const retries: HttpRetryEvent[] = [];
    const m = model(srv.url, { clock, backoffMs: 400, onRetry: (e) => retries.push(e) });
    const result = m.predict(rows);
    await until(() => retries.length === 1);
    expect(retries[0]!.delayMs).toBe(400);
    expect(retries[0]!.error).toBeInstanceOf(RemoteServiceError);
    expect(retries[0]!.error.details['status']).toBe(500);
    await clock.advance(399);
    expect(srv.requests).toHaveLength(1); // still sleeping
    await clock.advance(1);
    expect(await result).toEqual([21, 43, 65]);
    expect(srv.requests).toHaveLength(2);
  });

  it('backs off exponentially with a cap, honours Retry-After, and gives up with a retryable error', async () => {
    const srv = await serve((_req, n, res) => (n === 2 ? json(res, 429, 'slow down', { 'retry-after': '3' }) : json(res, 503, 'busy')));
    const clock = new ManualClock();
    const delays: number[] = [];
    const m = model(srv.url, {
      clock,
      retries: 3,
      backoffMs: 100,
      maxBackoffMs: 250,
      onRetry: (e) => {
        delays.push(e.delayMs);
        setImmediate(() => void clock.advance(e.delayMs));
      },
    });
    const err = await m.predict(rows).catch((e: unknown) => e);
    expect(delays).toEqual([100, 3000, 250]);
    expect(srv.requests).toHaveLength(4);
    expect(err).toBeInstanceOf(RemoteServiceError);
    const e = err as RemoteServiceError;
    expect(e.retryable).toBe(true);
    expect(e.details).toMatchObject({ status: 503, attempts: 4 });
    expect(e.message).toMatch(/v1\/predict answered HTTP 503: busy$/);
  });

  it('fails at once, not retryable, on a garbage body or the wrong number of predictions', async () => {
    const garbage = await serve((_req, _n, res) => json(res, 200, '<html>oops</html>'));
    const err = await model(garbage.url, { retries: 3 }).predict(rows).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteServiceError);
    expect((err as RemoteServiceError).retryable).toBe(false);
    expect((err as RemoteServiceError).code).toBe('REMOTE_BAD_RESPONSE');
    expect((err as Error).message).toMatch(/bad response: body is not JSON/);
    expect(garbage.requests).toHaveLength(1);

    const short = await serve((_req, _n, res) => json(res, 200, { predictions: [1, 2] }));
    await expect(model(short.url, { retries: 3 }).predict(rows)).rejects.toThrow('2 predictions for 3 instances');
    expect(short.requests).toHaveLength(1);

    const nulls = await serve((_req, _n, res) => json(res, 200, { predictions: [1, null, 3] }));
    await expect(model(nulls.url).predict(rows)).rejects.toThrow('predictions[1] is null, expected a finite number');

    const wrongShape = await serve((_req, _n, res) => json(res, 200, [1, 2, 3]));
    await expect(model(wrongShape.url).predict(rows)).rejects.toThrow(/"predictions" array/);

    const badRequest = await serve((_req, _n, res) => json(res, 400, { error: 'unknown feature b' }));
    const e400 = await model(badRequest.url, { retries: 3 }).predict(rows).catch((e: unknown) => e);
    expect((e400 as RemoteServiceError).retryable).toBe(false);
    expect((e400 as Error).message).toContain('unknown feature b');
    expect(badRequest.requests).toHaveLength(1);
  });

  it('times out on the clock when the service does not answer', async () => {
    const srv = await serve(() => {
      /* never answers */
    });
    const clock = new ManualClock();
    const m = model(srv.url, { clock, timeoutMs: 5_000, retries: 0 });
    const result = m.predict(rows).catch((e: unknown) => e);
    await until(() => srv.requests.length === 1);
    await clock.advance(4_999);
    await clock.advance(1);
    const err = await result;
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/did not answer within 5000 ms/);
  });

  it('retries connection errors and reports them as unreachable', async () => {
    const srv = await serve(() => undefined);
    await servers.pop()!.close(); // the port is now closed
    const retries: HttpRetryEvent[] = [];
    const err = await model(srv.url, { retries: 2, onRetry: (e) => retries.push(e) }).predict(rows).catch((e: unknown) => e);
    expect(retries).toHaveLength(2);
    expect(err).toBeInstanceOf(RemoteServiceError);
    expect((err as RemoteServiceError).code).toBe('REMOTE_UNAVAILABLE');
    expect((err as RemoteServiceError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/unreachable: ECONNREFUSED/);
  });

  it('stops promptly when the caller aborts during a backoff', async () => {
    const srv = await serve((_req, _n, res) => json(res, 503, 'busy'));
    const clock = new ManualClock();
    const ac = new AbortController();
    const m = model(srv.url, { clock, backoffMs: 60_000, onRetry: () => setImmediate(() => ac.abort(new Error('shutdown'))) });
    await expect(m.predict(rows, ac.signal)).rejects.toThrow('shutdown');
    expect(srv.requests).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('refuses rows with NULL features before calling the service', async () => {
    const srv = await serve((req, _n, res) => sumModel(req, res));
    await expect(model(srv.url).predict([{ a: 1, b: null }])).rejects.toThrow(/feature b of row 0 is NULL/);
    expect(srv.requests).toHaveLength(0);
  });
});

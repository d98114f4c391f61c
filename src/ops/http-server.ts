import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';

/** A route handler: returns status, content type and body. */
export type RouteHandler = (req: IncomingMessage, url: URL) => Promise<{ status: number; type: string; body: string | Buffer; headers?: Record<string, string> }>;

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  routes: Readonly<Record<string, RouteHandler>>;
  /** Handler for paths under a prefix, e.g. the dashboard's `/dashboard/…`. */
  prefixRoutes?: Readonly<Record<string, RouteHandler>>;
}

/**
 * The daemon's loopback HTTP endpoint: GET only, read-only, one small route table. Binds to
 * 127.0.0.1 by default; exposing it wider is the operator's explicit choice in config.
 */
export class HttpServer {
  readonly #server: Server;
  readonly #opts: HttpServerOptions;

  private constructor(server: Server, opts: HttpServerOptions) {
    this.#server = server;
    this.#opts = opts;
  }

  static async listen(opts: HttpServerOptions): Promise<HttpServer> {
    const server = createServer((req, res) => void handle(opts, req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new HttpServer(server, opts);
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://${this.#opts.host}:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

async function handle(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const route =
      opts.routes[url.pathname] ??
      Object.entries(opts.prefixRoutes ?? {}).find(([prefix]) => url.pathname === prefix || url.pathname.startsWith(`${prefix}/`))?.[1];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const out = await route(req, url);
    res.writeHead(out.status, { 'content-type': out.type, 'cache-control': 'no-store', ...out.headers });
    res.end(req.method === 'HEAD' ? undefined : out.body);
  } catch (err) {
    opts.logger.error({ err, path: url.pathname }, 'http handler failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal error\n');
  }
}

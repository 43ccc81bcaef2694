/** @jest-environment node */
import { ServerConnection } from '@jupyterlab/services';
import * as http from 'http';
import { AddressInfo } from 'net';

import { query } from '../api';
import { AssetHubRequestError, requestAPI } from '../request';

/** A real HTTP server answering each path below /assethub/api/ as the table says. */
const answers: Record<string, { status: number; body: string }> = {
  ok: { status: 200, body: '{"version": "0.1.0"}' },
  refused: { status: 403, body: '{"error": "Forbidden", "message": "bob may not edit in folder cv."}' },
  'no-message': { status: 404, body: '{"error": "NotFound"}' },
  'not-json': { status: 200, body: '<html>login</html>' },
  'html-error': { status: 502, body: '<html>bad gateway</html>' },
  empty: { status: 200, body: '' }
};

let server: http.Server;
let settings: ServerConnection.ISettings;
const seen: { method?: string; url?: string; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', chunk => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body });
      const name = (req.url ?? '').split('?')[0].replace('/assethub/api/', '');
      const answer = answers[name] ?? { status: 404, body: '' };
      res.writeHead(answer.status, { 'Content-Type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  settings = ServerConnection.makeSettings({ baseUrl: `http://127.0.0.1:${port}/`, token: 't' });
});

afterAll(() => new Promise(resolve => server.close(resolve)));

async function failure(endPoint: string, use = settings): Promise<AssetHubRequestError> {
  try {
    await requestAPI(endPoint, {}, use);
  } catch (error) {
    expect(error).toBeInstanceOf(AssetHubRequestError);
    return error as AssetHubRequestError;
  }
  throw new Error(`${endPoint} did not fail`);
}

describe('requestAPI', () => {
  it('decodes a JSON answer and sends the method and body it is given', async () => {
    expect(await requestAPI('ok', {}, settings)).toEqual({ version: '0.1.0' });
    await requestAPI('ok', { method: 'POST', body: '{"a": 1}' }, settings);
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ method: 'POST', body: '{"a": 1}' });
    expect(last.url).toMatch(/^\/assethub\/api\/ok(\?|$)/);
  });

  it("carries the server's own sentence and status on a refusal", async () => {
    const error = await failure('refused');
    expect(error.message).toBe('bob may not edit in folder cv.');
    expect(error.status).toBe(403);
    expect(error.endPoint).toBe('refused');
    expect(error.body).toEqual({ error: 'Forbidden', message: 'bob may not edit in folder cv.' });
  });

  it('names the status and the URL when the server sent no message', async () => {
    expect((await failure('no-message')).message).toMatch(/^404 .* from http:\/\/127\.0\.0\.1:\d+\/assethub\/api\/no-message$/);
    expect((await failure('html-error')).status).toBe(502);
  });

  it('refuses a 200 that is not JSON (a login page, a proxy)', async () => {
    const error = await failure('not-json');
    expect(error.message).toMatch(/not JSON/);
    expect(error.body).toBe('<html>login</html>');
  });

  it('returns undefined for an empty 200', async () => {
    expect(await requestAPI('empty', {}, settings)).toBeUndefined();
  });

  it('says the server could not be reached, with status 0', async () => {
    const closed = http.createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise(resolve => closed.close(resolve));
    const gone = ServerConnection.makeSettings({ baseUrl: `http://127.0.0.1:${port}/` });
    const error = await failure('ok', gone);
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/^Could not reach the Asset Hub server/);
  });
});

describe('query', () => {
  it('keeps set arguments only and escapes them', () => {
    expect(query({ ref: 'a/b:v1', cursor: undefined, q: '', limit: 50 })).toBe('?ref=a%2Fb%3Av1&limit=50');
    expect(query({ q: '' })).toBe('');
  });
});

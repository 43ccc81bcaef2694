import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * The error thrown by `requestAPI` when the Asset Hub server cannot be reached or
 * answers with an error. `message` is the server's own JSON `message` when it sent one.
 */
export class AssetHubRequestError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 when the server could not be reached at all. */
    readonly status: number,
    /** The end point below `assethub/api/` that was called. */
    readonly endPoint: string,
    /** The decoded response body, when there was one. */
    readonly body?: unknown
  ) {
    super(message);
    this.name = 'AssetHubRequestError';
  }
}

function serverMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'message' in body) {
    const message = (body as { message: unknown }).message;
    if (typeof message === 'string' && message.length > 0) {
      return message;
    }
  }
  return undefined;
}

/**
 * Call the Asset Hub REST API at `<base url>/assethub/api/<endPoint>`.
 *
 * @param endPoint - path below `assethub/api/`, e.g. `version`
 * @param init - fetch options (method, body, headers)
 * @param settings - the server connection (JupyterLab's own unless given)
 * @returns the decoded JSON body
 * @throws {AssetHubRequestError} on a network failure or a non-2xx answer
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'assethub', 'api', endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new AssetHubRequestError(
      `Could not reach the Asset Hub server: ${String(error)}`,
      0,
      endPoint
    );
  }

  const text = await response.text();
  let body: unknown = undefined;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }

  if (!response.ok) {
    const message =
      serverMessage(body) ?? `${response.status} ${response.statusText || 'error'} from ${url}`;
    throw new AssetHubRequestError(message, response.status, endPoint, body);
  }
  if (typeof body === 'string') {
    throw new AssetHubRequestError(
      `The Asset Hub server sent something that is not JSON from ${url}`,
      response.status,
      endPoint,
      body
    );
  }
  return body as T;
}

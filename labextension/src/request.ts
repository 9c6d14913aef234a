// The one helper every request of the sidebar goes through: it builds the URL
// from the server settings (base URL, XSRF), and turns a failed response into
// a ServerConnection.ResponseError carrying the server's own message.
//
// Requests go out with `cache: 'no-cache'`: with JupyterLab's default
// ('no-store') ServerConnection appends a timestamp as a query parameter,
// which the jobs API refuses as an unknown parameter (400). 'no-cache' still
// asks the server every time (the API sends no validators).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'mlops/api/v1';

export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_PATH, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, { cache: 'no-cache', ...init }, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON: keep the text, so the message below still says something.
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && (data.message || data.reason)) ||
      `${response.status} ${response.statusText}`;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

/**
 * GET a streaming endpoint (logs, server-sent events) through the same
 * settings and error handling; `onText` receives the decoded chunks as they
 * arrive. Resolves when the server ends the stream; abort `signal` to stop.
 */
export async function streamAPI(
  endPoint: string,
  onText: (text: string) => void,
  signal: AbortSignal
): Promise<void> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_PATH, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, { cache: 'no-cache', signal }, settings);
  } catch (error) {
    if (signal.aborted) {
      return;
    }
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    const text = await response.text();
    let message = `${response.status} ${response.statusText}`;
    try {
      message = JSON.parse(text).message || message;
    } catch {
      // keep the status line
    }
    throw new ServerConnection.ResponseError(response, message);
  }
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      onText(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    if (!signal.aborted) {
      throw error;
    }
  }
}

// The one helper every request of the sidebar goes through: it builds the URL
// from the server settings (base URL, XSRF), and turns a failed response into
// a ServerConnection.ResponseError carrying the server's own message.
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
    response = await ServerConnection.makeRequest(url, init, settings);
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

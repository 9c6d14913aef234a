// Small building blocks every panel uses: status badges, in-place errors,
// empty states and a confirmation dialog.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { JobState } from './model';

export function StateBadge(props: { state: JobState | string }): JSX.Element {
  return (
    <span
      className={`jp-mlops-badge jp-mlops-badge-${props.state.toLowerCase()}`}
      data-testid="mlops-state"
    >
      {props.state}
    </span>
  );
}

/** A server error shown where it happened, as the sentence the server sent. */
export function ErrorMessage(props: { message: string | null }): JSX.Element | null {
  if (!props.message) {
    return null;
  }
  return (
    <p className="jp-mlops-error" role="alert">
      {props.message}
    </p>
  );
}

export function Empty(props: { children: React.ReactNode }): JSX.Element {
  return <p className="jp-mlops-empty jp-mlops-muted">{props.children}</p>;
}

/** Ask before doing something that cannot be undone; resolves true when confirmed. */
export async function confirm(title: string, body: string, action: string): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton({ label: 'Keep it' }), Dialog.warnButton({ label: action })]
  });
  return result.button.accept;
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Re-render every `ms` so that ages ("3m") stay true. */
export function useNow(ms: number): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * Actions (revoke, purge, pool grow, ...): every one asks for confirmation in a modal dialog,
 * then POSTs with the session's CSRF token and reports the outcome in a toast. In read-only
 * mode no action button is rendered at all (the server refuses them with 403 as well).
 */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { postAction } from '../api.ts';

export interface ActionRequest {
  /** The dialog's title, e.g. "Revoke task". */
  title: string;
  /** What will happen, in a sentence the user can check before confirming. */
  description: ComponentChildren;
  path: string;
  params?: Record<string, string | number | boolean | null | undefined>;
  danger?: boolean;
  confirmLabel?: string;
  /** Called with the server's reply after a successful action. */
  onDone?: (reply: unknown) => void;
  /** The toast shown on success (default: "<title>: done"). */
  success?: (reply: unknown) => string;
}

interface Toast {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

interface ActionsApi {
  readOnly: boolean;
  run: (request: ActionRequest) => void;
}

const ActionsContext = createContext<ActionsApi>({ readOnly: true, run: () => {} });

export function ActionsProvider({ readOnly, children }: { readOnly: boolean; children: ComponentChildren }) {
  const [pending, setPending] = useState<ActionRequest | null>(null);
  const [busy, setBusy] = useState(false);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const dialog = useRef<HTMLDialogElement>(null);
  const nextId = useRef(1);

  const toast = useCallback((kind: Toast['kind'], text: string) => {
    const id = nextId.current++;
    setToasts((list) => [...list, { id, kind, text }]);
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), kind === 'ok' ? 4000 : 8000);
  }, []);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (pending && !element.open) element.showModal();
    if (!pending && element.open) element.close();
  }, [pending]);

  const confirm = async () => {
    if (!pending) return;
    setBusy(true);
    try {
      const reply = await postAction(pending.path, pending.params);
      toast('ok', pending.success ? pending.success(reply) : `${pending.title}: done`);
      pending.onDone?.(reply);
    } catch (err) {
      toast('error', `${pending.title} failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
      setPending(null);
    }
  };

  return (
    <ActionsContext.Provider value={{ readOnly, run: setPending }}>
      {children}
      <dialog ref={dialog} class="confirm" aria-labelledby="confirm-title" onClose={() => setPending(null)}>
        {pending && (
          <form method="dialog" onSubmit={(event) => { event.preventDefault(); void confirm(); }}>
            <h2 id="confirm-title">{pending.title}</h2>
            <div class="confirm-body">{pending.description}</div>
            <div class="confirm-buttons">
              <button type="button" class="btn" onClick={() => setPending(null)} disabled={busy}>Cancel</button>
              <button type="submit" class={`btn ${pending.danger ? 'btn-danger' : 'btn-primary'}`} disabled={busy} autofocus>
                {pending.confirmLabel ?? 'Confirm'}
              </button>
            </div>
          </form>
        )}
      </dialog>
      <div class="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} class={`toast toast-${t.kind}`}>{t.text}</div>
        ))}
      </div>
    </ActionsContext.Provider>
  );
}

export function useActions(): ActionsApi {
  return useContext(ActionsContext);
}

/** A button that runs an action after confirmation; renders nothing in read-only mode. */
export function ActionButton({ label, request, small, disabled }: { label: string; request: ActionRequest | (() => ActionRequest | null); small?: boolean; disabled?: boolean }) {
  const { readOnly, run } = useActions();
  if (readOnly) return null;
  const onClick = () => {
    const value = typeof request === 'function' ? request() : request;
    if (value) run(value);
  };
  const danger = typeof request === 'function' ? false : request.danger;
  return (
    <button type="button" class={`btn ${small ? 'btn-small' : ''} ${danger ? 'btn-danger-outline' : ''}`} data-action={label} onClick={onClick} disabled={disabled}>
      {label}
    </button>
  );
}

/** Children shown only when actions are allowed (forms with inputs for an action). */
export function IfWritable({ children }: { children: ComponentChildren }) {
  return useActions().readOnly ? null : <>{children}</>;
}

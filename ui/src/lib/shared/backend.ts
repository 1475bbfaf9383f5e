// The one way views reach the engine. `TauriBackend` talks IPC to the desktop shell; a
// remote (HTTP) implementation against the server comes with remote mode. Views receive a
// `Backend` and never call `invoke` themselves.
import { invoke } from '@tauri-apps/api/core';
import type { Commands, IpcError, IpcErrorCode } from './ipc/bindings';

export type CommandName = keyof Commands;
export type Req<K extends CommandName> = Commands[K]['req'];
export type Res<K extends CommandName> = Commands[K]['res'];

export interface Backend {
  call<K extends CommandName>(
    command: K,
    ...req: Req<K> extends void ? [] : [Req<K>]
  ): Promise<Res<K>>;
}

/** A failed command: the engine's (or console's) code, a message for people, the field. */
export class BackendError extends Error {
  readonly code: IpcErrorCode;
  readonly field: string | null;
  constructor(e: IpcError) {
    super(e.message);
    this.name = 'BackendError';
    this.code = e.code;
    this.field = e.field;
  }
}

function isIpcError(e: unknown): e is IpcError {
  return typeof e === 'object' && e !== null && 'code' in e && 'message' in e;
}

/** Turn whatever a call threw into a BackendError. */
export function toBackendError(e: unknown): BackendError {
  if (e instanceof BackendError) return e;
  if (isIpcError(e)) return new BackendError(e);
  return new BackendError({
    code: 'internal',
    message: e instanceof Error ? e.message : String(e),
    field: null,
  });
}

export class TauriBackend implements Backend {
  async call<K extends CommandName>(
    command: K,
    ...req: Req<K> extends void ? [] : [Req<K>]
  ): Promise<Res<K>> {
    try {
      const args = req.length > 0 ? { req: req[0] } : {};
      return await invoke<Res<K>>(command, args);
    } catch (e) {
      throw toBackendError(e);
    }
  }
}

/** Codes after which the console must go back to the sign-in screen. */
export function endsSession(code: IpcErrorCode): boolean {
  return code === 'not_signed_in' || code === 'idle_locked';
}

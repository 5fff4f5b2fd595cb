// etl-task: types for etl tasks written in TypeScript.
export interface InitialEvent<P = unknown> {
  type: string;
  payload: P;
  meta?: Record<string, unknown>;
}
export interface FinalEvent<R = unknown> {
  type: `${string}:FINAL`;
  payload?: R;
  meta?: Record<string, unknown>;
}
export interface Etl {
  dispatch(type: string, payload?: unknown): void;
  progress(done: number, total: number, message?: string): void;
  contextId?: string;
  jobId?: string;
  task?: string;
  /** the INITIAL event as it was read, numbers exact */
  initialText: string;
}
export type Main<P = unknown, R = unknown> =
  (initial: InitialEvent<P>, etl: Etl) => R | FinalEvent<R> | void | Promise<R | FinalEvent<R> | void>;
export function run<P = unknown, R = unknown>(main: Main<P, R>): Promise<void>;
export function dispatch(type: string, payload?: unknown): void;
export function progress(done: number, total: number, message?: string): void;
/** thrown: the job fails for good (exit 65) */
export class BadInput extends Error { exitCode: 65; }
/** thrown: the job is retried (exit 75) */
export class Retry extends Error { exitCode: 75; }

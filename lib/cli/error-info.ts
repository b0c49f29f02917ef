// One JSON-friendly form of any thrown value, for error lines and reports.
// Imports nothing from the library: a cold call loads this file, and its
// measured start must not include warmpool's own import.

import { inspect } from 'node:util';

export interface ErrorInfo {
  name: string;
  message: string;
  code: string | null;
}

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, code: typeof code === 'string' ? code : null };
  }
  return { name: 'Error', message: typeof error === 'string' ? error : inspect(error, { breakLength: Infinity }), code: null };
}

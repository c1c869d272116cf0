/** A byte limit as people read it in error details: "2097152 bytes (2 MiB)". */
export function limitText(bytes: number): string {
  return `${bytes} bytes (${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 2)} MiB)`;
}

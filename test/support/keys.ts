/**
 * Keys no other test (or earlier run against the same server) uses: the
 * prefix, the process, a counter and a random tail.
 */
let counter = 0

export const freshKey = (prefix: string, name: string): string =>
  `${prefix}-${name}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

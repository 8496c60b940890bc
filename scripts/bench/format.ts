/** Formats of figures in the printed lines and reports. */

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
export const signedMib = (bytes: number) => `${bytes >= 0 ? "+" : ""}${mib(bytes)}`

/** `n` to `digits` decimals, or "n/a". */
export const fmt = (n: number | undefined, digits = 0) => n === undefined ? "n/a" : n.toFixed(digits)

/** The order of the modes in each repeat of a comparison: rows of a Williams design. */

/**
 * The order of `n` modes in repeat `rep`: a row of a Williams design (a
 * balanced Latin square). Over `n` repeats (`2n` for an odd `n`) every mode
 * runs once in every position and once right after every other mode, so
 * neither a cold or warm server nor what the previous run left behind (1.11's
 * pattern leaves thousands of closed connections) keeps favouring one mode.
 */
export const williamsOrder = (n: number, rep: number): Array<number> => {
  const base = [0]
  for (let i = 1; base.length < n; i++) {
    base.push(i)
    if (base.length < n) base.push(n - i)
  }
  const row = rep % (n % 2 === 0 ? n : 2 * n)
  const shifted = base.map((b) => (b + row) % n)
  return row >= n ? shifted.reverse() : shifted
}

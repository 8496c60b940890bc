/**
 * Reading a child process's or a socket's output line by line, for the test
 * helpers: feed it every chunk as it arrives, and it hands over each complete
 * line (without its "\n", nothing else stripped) in order. A partial line waits
 * for the chunk that ends it; a character split across chunks is decoded whole.
 *
 * Plain and synchronous, so that a process of its own (test/support/contender.ts)
 * can use it too. Not the client's splitter (src/internal/protocol/lines.ts): the code
 * under test does not read the harness's lines.
 */
export const lineReader = (onLine: (line: string) => void): (chunk: Uint8Array | string) => void => {
  const utf8 = new TextDecoder("utf-8")
  let buffer = ""
  return (chunk) => {
    buffer += typeof chunk === "string" ? chunk : utf8.decode(chunk, { stream: true })
    let nl = buffer.indexOf("\n")
    while (nl !== -1) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      onLine(line)
      nl = buffer.indexOf("\n")
    }
  }
}

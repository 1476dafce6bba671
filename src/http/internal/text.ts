/** Measures of text for the HTTP views: a bounded prefix, and a size in bytes without encoding the text. */

/** The first `max` UTF-16 units of `text`, never ending on half of a surrogate pair. */
export const cut = (text: string, max: number): string => {
  if (text.length <= max) return text
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max
  return text.slice(0, end)
}

/**
 * The length of `text` in UTF-8, as `TextEncoder` would write it (a lone surrogate as the 3 bytes of U+FFFD), counted
 * without allocating the encoded copy: a list of large snapshots only needs their sizes.
 */
export const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4 // a surrogate pair: one code point from U+10000 up
      i++
    } else bytes += 3
  }
  return bytes
}

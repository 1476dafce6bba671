/** Text for the HTTP views: a bounded prefix. */

/** True when the text holds a control character (which no name, id or session may). */
export const hasControlCharacter = (text: string): boolean => /\p{Cc}/u.test(text)

/** The first `max` UTF-16 units of `text`, never ending on half of a surrogate pair. */
export const cut = (text: string, max: number): string => {
  if (text.length <= max) return text
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max
  return text.slice(0, end)
}

/** Text for the HTTP views: a bounded prefix. */

/** The first `max` UTF-16 units of `text`, never ending on half of a surrogate pair. */
export const cut = (text: string, max: number): string => {
  if (text.length <= max) return text
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max
  return text.slice(0, end)
}

/** The base64 the service accepts in JSON strings (images, token rows): the standard or URL-safe alphabet, optional padding. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** True for base64 text without white space that decodes to whole bytes. */
export function isBase64Text(compact: string): boolean {
  return BASE64.test(compact) && compact.replace(/=+$/, '').length % 4 !== 1;
}

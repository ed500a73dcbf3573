/**
 * The one redaction of secrets in text that leaves the process (log lines, error messages,
 * --print-config): the user information of every URL in `text`. `nats://user:pass@host` becomes
 * `nats://user:***@host`, and a token URL `nats://secret@host` becomes `nats://***@host`.
 *
 * The user information runs from `://` to the last `@` before a `/`, `?`, `#`, quote, white space
 * or the end, as URL parsers read it (an unencoded `@` in a password is part of the password);
 * so a list joined by commas (`nats://a:b@h1,nats://c:d@h2`) has each URL redacted alone, and a
 * comma inside a password is still hidden. domainmgr's configuration holds no other secret: the
 * credentials and TLS key are files, named by path.
 */
export function redactSecrets(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(URL_USERINFO, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `${scheme}${HIDDEN}@` : `${scheme}${userinfo.slice(0, colon)}:${HIDDEN}@`;
  });
}

const HIDDEN = '***';
/** A backslash takes the next character along, so a quote escaped in a JSON log line stays inside. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)((?:[^\s/?#"'`\\]|\\.)*)@/gi;

// Package sip is SIP access control for a multi-tenant voice gateway, on
// top of github.com/emiago/sipgo: the checks an operator configures in
// seed 002 ("SIP": IP allowlist, SIP username and password) applied to
// every request before a handler sees it.
//
// The pieces, each usable alone:
//
//   - Allowlist and Entry: IP allowlists built on net/netip (single IPv4,
//     wildcard 203.0.113.* and 10.1.*.*, CIDR, range
//     203.0.113.10-203.0.113.20, IPv6 address and prefix). An empty list
//     allows every address; a malformed entry is an error naming it, never
//     an "allow": the list returned with a parse error is DenyAll, which
//     refuses every address. Lookups binary-search merged ranges and do not
//     allocate.
//   - Authorization and Challenge: the Digest header values (RFC 3261
//     §20.7, §20.27, §20.28, §20.44, §25.1; RFC 7616 §3.3–3.4), parsed and
//     printed losslessly.
//   - DigestServer: server-side digest authentication (RFC 3261 §22.4,
//     RFC 7616, RFC 8760) with MD5, SHA-256 and SHA-512-256, several
//     challenges strongest first (order configurable), qop=auth and the
//     RFC 2069 form, stateless HMAC nonces (bound to the realm and to the
//     source address they were sent to) with expiry and stale=true,
//     nonce-count replay rejection, constant-time comparison, and the same
//     error for an unknown user as for a wrong password. Credentials come
//     from a CredentialSource (plaintext password or stored HA1 per
//     algorithm), or from a tenant's registration webhook (WebhookClient),
//     which receives the digest parameters in a signed POST and answers
//     {"status":"ok"} or {"status":"fail"}.
//   - Guard: wraps handlers. Per request: a source blocked after repeated
//     failures, the tenant (TenantLookup, by realm), the tenant's allowlist
//     (403), then digest (401 with WWW-Authenticate for REGISTER, 407 with
//     Proxy-Authenticate otherwise), then the handler with the caller's
//     Identity in its context. See Guard for every answer it gives.
//
// # Composing with sipgo
//
// sipgo handlers carry no context, so this package defines Handler, a
// sipgo handler with a ctx first. Guard.Wrap(Handler) returns a Handler;
// Handler.Sipgo(ctx) turns it into the sipgo.RequestHandler that
// sipgo.Server.OnRequest takes; IdentityFrom(ctx) gives the wrapped
// handler the authenticated user, tenant, realm and source address. The
// SIPREC server and the reference gateway put the Guard in front of their
// handlers this way.
//
// # Choices worth knowing
//
//   - Realm: the Guard picks the tenant by the Request-URI host
//     (RequestURIHost), the domain the request is addressed to; FromHost is
//     the alternative (GuardConfig.Realm). The challenge realm is the
//     tenant's Realm.
//   - Digest uri: HA2 is computed over the uri parameter as the client sent
//     it (sipp always sends sip:REMOTE_IP:REMOTE_PORT, not the
//     Request-URI). The uri must be a sip: or sips: URI whose host is the
//     Request-URI's host or the realm; anything else gets 400.
//   - ACK and CANCEL cannot be challenged (RFC 3261 §22.1) and pass after the
//     allowlist. In-dialog requests (To tag) pass after the allowlist only
//     with GuardConfig.PassInDialog; the dialog owner must then answer 481
//     for dialogs it does not know.
//   - Lockout: failed digest answers (wrong password, unknown user, replayed
//     nonce count) are counted per source address (IPv6 per /64); too many
//     within a window block the source (403) for a while. A nonce is good
//     only from the address it was sent to, so an answer under a spoofed
//     source (UDP) gets a fresh challenge and counts no failure against it.
//   - sipp answers only MD5 and only the first challenge: offer MD5 first
//     (DigestConfig.Algorithms) for it.
//   - Passwords, HA1 values, nonce keys and webhook secrets are Secret
//     values, redacted in every printed form; the Authorization response is
//     not logged either.
package sip

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
//     challenges strongest first (order configurable), qop=auth (required
//     by default; the RFC 2069 form on request), stateless HMAC nonces (bound to the realm and to the
//     source address they were sent to) with expiry and stale=true,
//     nonce-count replay rejection, constant-time comparison, and the same
//     error for an unknown user as for a wrong password. Credentials come
//     from a CredentialSource (plaintext password or stored HA1 per
//     algorithm), or from a tenant's registration webhook (WebhookClient),
//     which receives the digest parameters in a signed POST and answers
//     {"status":"ok"} or {"status":"fail"}.
//   - Guard: wraps handlers. Per request: a source blocked after repeated
//     failures, the tenant (TenantLookup, by realm; for an in-dialog
//     request, the dialog's, through a DialogOwner), the tenant's allowlist
//     (403), then digest (401 with WWW-Authenticate for REGISTER, 407 with
//     Proxy-Authenticate otherwise), then the handler with the caller's
//     Identity in its context. Its answers go out statelessly, once. Each
//     outcome can be observed as a Decision (GuardConfig.OnDecision). See
//     Guard for every answer it gives.
//   - Listener and PacketConn: the TCP listener and UDP socket handed to
//     sipgo, which keep a flood, a refused source or an oversized message
//     from reaching it (see "At the edge"); the PacketConn also carries
//     the Guard's fast path and stateless handlers (see "The fast path").
//   - NewLogFilter and FilterLogger: the logger handed to sipgo, with
//     digest material redacted and peer input bounded.
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
//     allowlist. In-dialog requests (To tag) are decided by their dialog's
//     owner with GuardConfig.Dialogs (see "In-dialog requests" below), or
//     pass after the allowlist with GuardConfig.PassInDialog, or are
//     challenged like any other.
//   - Lockout: failed digest answers (wrong password, unknown user, replayed
//     nonce count) are counted per source address (IPv6 per /64); too many
//     within a window block the source (403) for a while. A nonce is good
//     only from the address it was sent to, so an answer under a spoofed
//     source (UDP) gets a fresh challenge and counts no failure against it.
//     A request naming a realm no tenant serves counts too, but only over
//     a connection (TCP, TLS, WS: a source that cannot be forged) and
//     never in a dialog, so a scanner naming realm after realm costs at
//     most MaxFailures tenant lookups.
//   - sipp answers only MD5 and only the first challenge: offer MD5 first
//     (DigestConfig.Algorithms) for it.
//   - Passwords, HA1 values, nonce keys and webhook secrets are
//     [secret.String] values, redacted in every printed form; the Authorization response is
//     not logged either.
//
// # In-dialog requests
//
// A request inside a dialog (a To tag) names in its Request-URI whatever
// the dialog's remote target was, not necessarily its tenant's realm, and
// anyone who learns a dialog's Call-ID and tags can send one. With
// GuardConfig.Dialogs the Guard asks the dialog's owner (a DialogOwner,
// such as the SIPREC server) for the Identity the dialog was created with,
// and checks the request against that tenant: its allowlist (403), and,
// when the dialog was digest-authenticated and the request comes from
// another IP address than the dialog's first request, digest credentials
// of the same user (407; another user's 403; an ACK or CANCEL, which
// cannot be challenged, refused). The request then reaches the owner with
// the dialog's Identity (PassedInDialog); a dialog the owner does not know
// reaches it too, to be answered 481.
//
// # Observing decisions
//
// GuardConfig.OnDecision receives a Decision for every request: the
// Identity or the error, the status code sent, whether the request was an
// initial INVITE, and a Reason (ReasonSourceNotAllowed,
// ReasonCredentialsRequired…), a stable string fit for a metric label.
// Listener and PacketConn report TransportEvents to their OnEvent and
// count them in Stats. None of these needs a metrics library.
//
// # At the edge
//
// A gateway faces the internet: nothing a peer sends before it is
// authenticated may cost the gateway more than it cost the peer. Each
// defence below has a test that runs the attack (in this package, and
// against the built examples/registrar).
//
// Connection floods. sipgo's ServeTCP returns on the first failed Accept,
// so a flood of idle connections that exhausts the file descriptors
// ("accept4: too many open files") stops the server, and sipgo never
// closes an idle connection. Give ServeTCP a Listener instead of the
// net.Listener: it survives accept errors (a pause of 5 ms doubling to 1
// s, a log line at most once a minute; only Close ends Accept), caps the
// connections in total (MaxConns, 4096) and per source (MaxConnsPerSource,
// 128; IPv6 per /64), closes a connection that delivers no complete SIP
// message within MessageTimeout (30 s from accept, or from the first byte
// of a later message, so neither a silent connection nor a trickled
// message holds a place) and one idle for IdleTimeout (2 h, longer than a
// quiet recording session; RFC 5626 CRLF keep-alives and any message
// count as activity, and ListenerConfig.InUse can keep a connection that
// carries live dialogs), and bounds writes (WriteTimeout, 10 s) so a peer
// that does not read cannot hold the goroutines writing to it. It also
// limits the rate at which one source opens connections (NewConnRate, 10
// a second with a burst of NewConnBurst, 20): a source that connects,
// starts a TLS handshake (a key exchange and a signature of the server's)
// and closes, thousands of times a second, stays under the per-source cap
// but not under the rate; its connections past the rate are closed at
// accept, before any handshake or read. (It reads the SIP framing of
// plain TCP; TLS would need it above the TLS layer.) A program raises its
// open-file limit to the hard limit at start and sets MaxConns below it
// (examples/registrar does both).
//
// The allowlist at the transport. ListenerConfig.Allow and
// PacketConnConfig.Allow refuse sources before sipgo parses a byte: a TCP
// connection is closed at accept, a UDP datagram dropped unanswered. A
// multi-tenant gateway passes the union of its tenants' allowlists; the
// Guard still checks each tenant's own.
//
// Reflection. Over UDP a request's source can be spoofed, so its answer
// can be aimed at a victim. sipgo retransmits a final answer to an INVITE
// until it is acknowledged (a 407 was sent 12 times, 20.7 times the bytes
// of the request). The Guard sends its challenges and refusals
// statelessly, as Kamailio's sl_send_reply does (RespondStateless): once,
// outside the transaction, whose state sipgo drops when the handler
// returns; a retransmitted request is answered again, once per copy. The
// answer's To tag is the Guard's, so the ACK that follows is recognised
// and dropped before any other work (ErrStatelessACK), never reaching a
// handler or a log above Debug. Over UDP an answer is written with compact
// header names and keeps, of its challenges after the first, only those
// within GuardConfig.MaxAmplification (1.5) times the request's size:
// measured, 1.3 times for sipp's INVITE, 1.1 times for a REGISTER, 0.5
// times for a 403; a request crafted small (a 156-byte INVITE in compact
// form in the test) gets the smallest answer, with one challenge: 2.35
// times its size, where it was 12 answers of 2.3 times.
//
// Retransmissions are not replays. An answer sent statelessly keeps no
// copy: a client that misses it sends its request again. Over UDP the
// Guard passes a retransmission of a request it accepted (the same
// Call-ID, CSeq, top Via branch, source and digest answer, within 32 s,
// 64·T1) again, marked Identity.Retransmission, so a stateless handler
// answers it again without acting twice (examples/registrar does not
// apply a retransmitted REGISTER again); any other reuse of a nonce count
// is a replay (401, counted towards the lockout), and over TCP, where
// clients never retransmit, every reuse is.
//
// Digest replay. An answer without qop (RFC 2069) has no nonce count: the
// same header is valid for every copy of the request until its nonce
// expires. qop=auth is required unless DigestConfig.AllowRFC2069 is set,
// and then each qop-less answer is accepted once (a bounded table keyed by
// nonce and response).
//
// Logs. sipgo logs a message that fails to parse whole, at ERROR (any UDP
// datagram over its 32 KiB read buffer does), header lines inside parse
// errors, and so digest responses, nonces and cnonces that an offline
// password check can use. Hand sipgo a logger made by FilterLogger (to
// sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(…)),
// the transaction layer's, the server's, and sipgosip.SetDefaultLogger in
// main): authentication headers and digest parameters are redacted in
// every value, every value is cut to an excerpt (200 bytes), and lines
// are rate-limited per message (10 a minute). In the test, 357 KB of
// random datagrams and a few requests carrying digest answers that fail to
// parse (604 KB in all) made sipgo write 1.2 MB of log unfiltered, with
// the answers in it; filtered, 7 KB without them.
//
// Message sizes. sipgo reads UDP datagrams into a 32 KiB buffer
// (TransportBufferReadSize), hands on the rest cut and logs it as
// unparsable; it writes none over 1,300 bytes (UDPMTUSize less 200); and
// its TCP parser closes the connection, without an answer, above 65,535
// bytes (its Parser's MaxMessageLength). These are package variables a
// library may not set. A program that documents a limit of N bytes (at
// most 65,535 over UDP) makes it hold both ways with, in main:
//
//	sipgosip.TransportBufferReadSize = 65535 // read datagrams whole
//	sipgosip.UDPMTUSize = N + 200            // send answers up to N bytes
//
// and gives the same N to ListenerConfig.MaxMessageSize,
// PacketConnConfig.MaxMessageSize and sipgo.WithUserAgentParser(NewSipgoParser(N)).
// A request over N then gets 513 Message Too Large: over UDP from the
// PacketConn (also for a datagram larger than sipgo's buffer, with a log
// line saying which variable to raise), over TCP from the Listener, which
// drops the message whole and goes on with the next one on the same
// connection. Within N, the handlers apply their own limits (the SIPREC
// server answers 413 for metadata over its MaxMetadataSize, which N must
// exceed for that answer to be possible).
//
// # The fast path
//
// Most of what reaches a registrar over UDP needs no transaction: the
// first REGISTER of every registration is challenged, a refused one is
// answered 403, the authenticated one 200. Through sipgo, each costs a
// full parse, a goroutine, a server transaction with its timers and a
// response object, and a 200 sent through the transaction is kept for
// 32 s. A PacketConn with PacketConnConfig.Guard answers the Guard's own
// cases from the datagram as it arrives, before sipgo: it reads the few
// headers the answer needs (only in the plain forms sipgo reads the same
// way; FuzzRawRequest compares the two), builds the same answer Wrap would
// send, and allocates nothing on the way. With PacketConnConfig.Stateless,
// requests of the methods given (REGISTER, OPTIONS) are parsed by sipgo's
// parser and handed to their handlers (Guard.Wrap in front) on the
// PacketConn's reading goroutine, with a transaction that keeps no state;
// everything else goes to sipgo as before. On Linux the PacketConn takes
// the socket out of Go's network poller, and the readers wait in the
// kernel's recvmmsg(2), as Kamailio's UDP workers wait in recvfrom(2),
// taking up to 8 queued datagrams per call, and send the fast path's
// answers to one such batch (and the Stateless handlers' with
// PacketConnConfig.BatchStateless) together with sendmmsg(2), before a
// handler that may block runs and before they read again.
// BENCHMARKS.md ("CPU per registration") has the figures and the profiles
// they were chosen from.
package sip

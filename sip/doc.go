// Package sip is SIP access control for a multi-tenant voice gateway, on top
// of github.com/emiago/sipgo.
//
// It provides IP allowlists (single IPv4, wildcard, CIDR, range, IPv6 address
// and prefix), server-side digest authentication (RFC 3261 §22, RFC 7616,
// RFC 8760: MD5, SHA-256, SHA-512-256) with stateless nonces, a Guard that
// wraps sipgo request handlers and applies the checks in order (source address,
// then digest), and a registration webhook as an alternative credential check.
package sip

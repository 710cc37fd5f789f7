// Package tenancy models the tenants of a voice gateway (seeds "Accounts",
// "Settings", "SMTP", "Call Attached Data"): accounts and their
// applications, limits (licensed sessions, minutes), the call recording
// configuration, signed webhooks, SMTP settings and call attached data, with
// stores over a driver interface.
//
// # Accounts and applications
//
// An Account has a generated SID (a random UUID, RFC 9562), a unique name, a
// unique SIP realm (a DNS domain, RFC 1035/1123), billing unit and limits, a
// generated and rotatable webhook secret, the applications that handle SIP
// device and SIPREC (RFC 7866) calls, webhooks, a RecordingConfig holding the
// bucket configuration of package storage, and Call Attached Data mappings.
// Validation returns one FieldError per bad field, named as in JSON
// ("sip_realm", "recording.bucket.s3.region").
//
// Store is the portable type over a Driver (gocloud style): tenancy/memstore
// keeps everything in memory, tenancy/sqlitestore in SQLite (the embedded
// durable default), and both pass tenancy/storetest. Every driver package
// has the same constructors: NewStore (memstore: in memory; SQL drivers:
// over a database their OpenDB opened, perhaps shared), for SQL drivers
// OpenStore (a database file of its own), and NewDriver / OpenDriver for the
// bare driver. Names and realms stay unique under concurrent writers;
// updates carry a revision, so a concurrent change fails with ErrConflict
// instead of being lost. The SIP guard finds an account by realm with
// Store.AccountByRealm.
//
// # SIP access
//
// Account.SIP holds what seed 002 ("SIP") lets an operator configure for the
// account's SIP peers: the IP allowlist (entries as text, in package sip's
// forms; this package checks their shape only and a SIP server parses them
// with sip.ParseAllowlistEntries) and the SIP users with their digest
// passwords. Passwords are never stored: the Store keeps their digests
// for the account's digest realm (SIPUser.HA1, a DigestHA1 per user for
// MD5, SHA-256 and SHA-512-256: Kamailio's ha1 model), which is what a
// digest server needs (package sip's Credential takes them as HA1). Empty
// passwords submitted to Store.UpdateAccount keep the stored digests of the
// same username; when the digest realm changes (Account.DigestRealm: the
// SIP realm, or the name of an account without one), the passwords are
// needed again and an update without them fails with a FieldError per user
// wrapping ErrPasswordNeeded. Account.SessionWebhook is the URL a gateway
// notifies, signed, of the account's recording sessions (one event when a
// session ends).
//
// # Recording policy
//
// Decide applies seeds 000/001: nothing is recorded unless the account's
// recording is enabled; the account's "record all calls" records every
// application; otherwise the application's own setting decides; the format
// (WAV or MP3) comes from the account. RecordingKey gives the object key
// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav.
//
// # Limits
//
// A SessionLimiter counts calls in progress against Account.SessionLimit:
// acquire on call start, release on end, keyed by session ID so a recorded
// call counts once. Past the limit it returns ErrLimitReached; SIPStatus maps
// that to 486 Busy Here and a limiter failure to 503 Service Unavailable.
// LocalLimiter serves one process; sqlitestore.Limiter keeps expiring leases
// in a database file shared by several gateway processes (renewing only the
// leases of sessions still in progress, and retrying releases that failed);
// the interface documents the contract for a shared server (Redis, SQL). UsageCounter and
// CheckQuota do the same for accounts billed by minutes.
//
// # Webhooks
//
// Every webhook request carries
//
//	Voicegw-Signature: t=UNIX_SECONDS,v1=hex(HMAC-SHA256(secret, t + "." + body))
//
// over the exact body bytes (HMAC: RFC 2104; SHA-256: FIPS 180-4), the form
// voice platforms already use. WebhookSender signs and POSTs (with both the
// current and the previous secret during a rotation); WebhookVerifier checks
// requests as net/http middleware, with a tolerance in both directions,
// several secrets during a rotation and constant-time comparison.
//
// # SMTP
//
// SMTPSettings validates the outgoing mail settings and Test dials the
// server, secures the connection (implicit TLS, RFC 8314, or STARTTLS, RFC
// 3207), authenticates (AUTH PLAIN, RFC 4616, or LOGIN; RFC 4954) and can
// send a test message (RFC 5321, 5322).
//
// # Secrets
//
// Secrets (webhook secrets, SMTP passwords, bucket credentials) are held in
// [secret.String]: redacted in every printed form, masked in JSON. A durable store
// keeps the ones that must stay usable sealed with a SealingKey
// (AES-256-GCM, the key outside the database: a key file of mode 0600 or a
// key from a secrets manager), and SIP passwords only as digests; see
// tenancy/sqlitestore. SMTPSettings are not kept by Store today; a store
// that keeps them seals SMTPSettings.Password the same way.
package tenancy

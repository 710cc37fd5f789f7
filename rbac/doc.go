// Package rbac answers who may do what on a voice gateway: scopes (Admin,
// Service Provider, Account) with containment, roles with Read, Update,
// Delete and Create privileges per entity plus the advanced privileges of the
// "Access Control" page, members, API keys, and the authorizer.
//
// # Scopes and containment
//
// A Principal (a member, or the holder of an API key) has a Scope. An Admin
// reaches every account; a Service Provider principal reaches only the
// accounts of its service provider; an Account principal reaches only its own
// account. Settings that only an Admin may change (an account's unit, its
// maximum and its licensed sessions) are refused to other scopes field by
// field (CheckFields with AccountFieldRules).
//
// # Authorizer
//
// Authorizer.Decide answers "may this principal do this action on this entity
// of this account" without allocating (Policy, the default, takes a few
// nanoseconds, 5–7 ns on the build machine; see BENCHMARKS.md). It is an interface so integrators can plug
// in their own policy engine; Authorize turns a refusal into an error
// wrapping ErrForbidden.
//
// # API keys
//
// An API key is created with a name and a service type by a member, whose
// email is recorded. KeyStore.Create generates its secret (256 random bits)
// and returns it once; the store keeps only an HMAC-SHA256 of it (FIPS
// 198-1) and a masked hint. Nobody chooses a secret through Create, so a
// clash can never tell one tenant that another's key exists. A secret is
// chosen only by a trusted configuration, through KeyStore.Bootstrap, which
// checks it with CheckSecretStrength and owns the keys of its origin (a
// key removed from the configuration is deleted at the next Bootstrap).
// KeyStore.VerifyKey checks a presented secret, expiry and revocation on
// every call and reads the driver every time (no cache), so deleting or
// revoking a key makes the very next request fail, across every process
// sharing the store; *KeyStore is an insights.KeyVerifier as it is. Secrets
// are sent by clients in the X-Vgai-Key header (see the insights package).
//
// FailureLimiter throttles failed credential checks per source address
// (a token bucket per IPv4 address or IPv6 /64), for every API that checks
// keys or passwords: the Insights API answers 429 with Retry-After once a
// source has used its allowance.
//
// # Stores
//
// MemberStore (members and roles) and KeyStore (API keys) are portable types
// over driver interfaces (MemberDriver, KeyDriver), gocloud style: rbac/memstore
// holds them in memory, rbac/sqlitestore in SQLite (modernc.org/sqlite, pure
// Go) as the embedded durable default, and both pass the conformance suites
// of rbac/storetest. Unique names, emails and secrets are enforced by the
// drivers under concurrent writers. Every driver package has the same
// constructors: NewKeyStore and NewMemberStore (memstore: in memory; SQL
// drivers: over a database their OpenDB opened, perhaps shared), for SQL
// drivers OpenKeyStore and OpenMemberStore (a database file of their own),
// and NewDriver / OpenDriver for the bare driver (conformance suites,
// wrapping).
package rbac

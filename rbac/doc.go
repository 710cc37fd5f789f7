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
// email is recorded. Its secret is returned once, by KeyStore.Create; the
// store keeps only an HMAC-SHA256 of it (FIPS 198-1) and a masked hint.
// KeyStore.Lookup checks expiry and revocation on every call and reads the
// driver every time (no cache), so deleting or revoking a key makes the very
// next request with it fail, across every process sharing the store. Secrets
// are sent by clients in the X-Vgai-Key header (see the insights package).
//
// # Stores
//
// MemberStore (members and roles) and KeyStore (API keys) are portable types
// over driver interfaces (MemberDriver, KeyDriver), gocloud style: rbac/memstore
// holds them in memory, rbac/sqlitestore in SQLite (modernc.org/sqlite, pure
// Go) as the embedded durable default, and both pass the conformance suites
// of rbac/storetest. Unique names, emails and secrets are enforced by the
// drivers under concurrent writers.
package rbac

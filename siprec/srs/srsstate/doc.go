// Package srsstate opens everything a multi-tenant recording gateway keeps
// between calls, on SQLite or on PostgreSQL, as one [State]: the account
// store ([tenancy.Store]), the API keys and the members with their
// passwords ([rbac.KeyStore], [rbac.MemberStore]), the admin API's store
// ([admin.Store]), the licensed-session limiter, the crash journal of
// [srs.Server] ([srs.SQLiteJournal]) and the session documents
// ([insights.Index]).
//
//	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: "/var/lib/gw"})
//	...
//	defer st.Close()
//	srv, err := srs.New(ctx, srs.Config{Tenants: st.Tenants, Limiter: st.Limiter,
//		Index: st.Index, Journal: st.Journal, ...})
//
// # Engines
//
// Without [Options.DatabaseURL] everything lives in SQLite files under
// [Options.DataDir]: state.db (accounts, keys, members, admin store, leases,
// journal; its secrets sealed with the key in state.db.key) and insights.db
// (session documents). The limiter is then shared only by the processes of
// one machine.
//
// With a postgres:// URL, every store but the journal lives in that
// database, one connection pool for all (tenancy/pgstore.OpenPool), the
// schemas brought up to date at open (safe when several processes start at
// once); the journal — the sessions this process is recording — stays in
// DataDir/state.db. Several gateways then share one state: the limiter's
// leases bound an account's sessions across all of them. They must share
// two secrets as well: the sealing key of the database's secrets
// ([Options.KeyFile], made by the first process) and the API key pepper
// ([Options.Pepper]); a process given others fails to open. [State.Watch]
// reports the changes other processes commit, so caches can drop them.
//
// # Declarations
//
// [State.Apply] brings declared accounts (tenancy's Store.Bootstrap) and
// API keys with known secrets (rbac's KeyStore.Bootstrap, origin
// [DeclaredKeyOrigin]) to what a configuration file says at each start;
// [State.EnsureDemo] makes a demo account with generated credentials on an
// empty store. On PostgreSQL both retry a few times when another process
// applies the same declarations at the same moment.
//
// A configuration file holding such declarations is read by [DecodeYAML]:
// strictly (an unknown key is an error), every problem a [YAMLError] named
// by its key's path and line, secrets never quoted; [YAMLDoc.Given] lists
// the keys each declared account gives (tenancy.DeclaredAccount.Set).
// tenancy's SIPAccess, SIPUser and DeclaredApplication, bucketconfig's
// types and [DeclaredKey] carry YAML tags, so a file declares them as they
// are; [AccountConfig] is a whole account as a file declares it, made a
// declaration by [AccountConfig.Declared], and [FileErrors] names the
// problems of such declarations by the file's keys.
//
// [State.ReadyChecks] are the readiness checks of the databases, for
// srs.ReadinessConfig.
//
// Errors name what they refuse: a declaration's problems are
// [tenancy.FieldError] values whose Field is the declaration's path
// ("accounts[0].sip_realm", "admin.api_keys[1].secret"), and no error holds
// the database URL's password.
//
// # Where it sits
//
// srsstate sits above the stores it opens — tenancy, rbac, insights,
// tenancy/admin and their SQLite and PostgreSQL drivers — and beside
// siprec/srs, whose journal it opens; nothing in the module imports it but
// programs (examples/gateway is built on it).
package srsstate
